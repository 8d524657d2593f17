package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
	"github.com/chronik-dev/chronik/bench/internal/workload"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.kinds, allKinds) || o.client != workload.FranzGo || o.duration != 2*time.Minute || !o.proxies {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseOptions([]string{"--faults", "kill, cut,kill", "--rounds", "1"}, io.Discard)
	if err != nil || !slices.Equal(o.kinds, []kind{killAny, cutNode}) || o.rounds != 1 {
		t.Fatalf("faults kill,cut: %v %v", o.kinds, err)
	}
	if got := o.reproduce(7); !strings.Contains(got, "--seed 7 --rounds 1 --faults kill,cut") {
		t.Fatalf("reproduce: %s", got)
	}
	for _, bad := range [][]string{
		{"--faults", "meteor"},
		{"--client", "telnet"},
		{"--rounds", "-1"},
		{"--seeds", "0"},
		{"--probe-after", "5s"}, // longer than the shortest hold
		{"--records-per-sec", "0"},
		{"extra"},
	} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// fakeCluster has node slots but no processes: enough to draw faults.
func fakeCluster() *nodes.Cluster {
	return &nodes.Cluster{Nodes: []*nodes.Node{{ID: 1}, {ID: 2}, {ID: 3}}}
}

func drawn(t *testing.T, seed uint64, kinds []kind, rounds bool, n int) []string {
	t.Helper()
	m := newNemesis(seed, kinds, rounds)
	m.c = fakeCluster()
	m.meta = func(context.Context) (clusterMeta, error) {
		return clusterMeta{controller: 2, leaders: map[int32]int32{0: 1, 1: 2, 2: 3}}, nil
	}
	var out []string
	for range n {
		f, err := m.next(context.Background(), 3)
		if err != nil {
			t.Fatal(err)
		}
		r := holdRange[f.kind]
		if f.hold < r[0] || f.hold >= r[1] {
			t.Fatalf("%s: hold %s outside %v", f.kind, f.hold, r)
		}
		switch f.kind {
		case killTwo, cutLink:
			if len(f.targets) != 2 || f.targets[0] == f.targets[1] {
				t.Fatalf("%s: targets %v", f.kind, f.targetIDs())
			}
		case killController:
			if f.targetIDs()[0] != 2 {
				t.Fatalf("kill-controller picked %v, the controller is 2", f.targetIDs())
			}
		case killLeader:
			if want := f.partition + 1; f.targetIDs()[0] != want {
				t.Fatalf("kill-leader of partition %d picked %v, its leader is %d", f.partition, f.targetIDs(), want)
			}
		}
		out = append(out, f.describe())
	}
	return out
}

func TestNemesisIsSeeded(t *testing.T) {
	a := drawn(t, 42, allKinds, false, 30)
	if b := drawn(t, 42, allKinds, false, 30); !slices.Equal(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	if c := drawn(t, 43, allKinds, false, 30); slices.Equal(a, c) {
		t.Fatal("seeds 42 and 43 drew the same schedule")
	}
}

func TestNemesisRounds(t *testing.T) {
	got := drawn(t, 5, allKinds, true, 2*len(allKinds))
	for round := range 2 {
		var kinds []string
		for _, d := range got[round*len(allKinds) : (round+1)*len(allKinds)] {
			kinds = append(kinds, strings.Fields(d)[0])
		}
		slices.Sort(kinds)
		want := strings.Fields(strings.ReplaceAll(kindList(allKinds), ",", " "))
		slices.Sort(want)
		if !slices.Equal(kinds, want) {
			t.Fatalf("round %d: kinds %v, want each once", round, kinds)
		}
	}
}

func ack(seq int64, p int32, off int64) workload.Ack {
	return workload.Ack{Seq: seq, Partition: p, Offset: off}
}

func TestCheckRecords(t *testing.T) {
	final := []seen{{at{0, 0}, 0}, {at{0, 1}, 1}, {at{1, 0}, 2}, {at{1, 1}, 3}}
	outcomes := []workload.Ack{ack(0, 0, 0), ack(1, 0, 1), ack(2, 1, 0), ack(3, 1, 1), {Seq: 4, Offset: -1, Err: "boom"}}
	v := checkRecords(outcomes, 6, final[:2], final, 0)
	if !v.ok() || v.acked != 4 || v.failed != 1 || v.unanswered != 1 || !slices.Equal(v.failures, []string{"boom"}) {
		t.Fatalf("clean run: %+v", v)
	}

	cases := map[string]struct {
		outcomes []workload.Ack
		consumed []seen
		final    []seen
		check    func(verdict) bool
	}{
		"lost": {[]workload.Ack{ack(0, 0, 0), ack(1, 0, 1)}, nil, final[:1],
			func(v verdict) bool { return v.lost == 1 }},
		"moved": {[]workload.Ack{ack(0, 0, 0), ack(1, 0, 1)}, nil, []seen{{at{0, 0}, 0}, {at{0, 2}, 1}},
			func(v verdict) bool { return v.moved == 1 }},
		"duplicated": {[]workload.Ack{ack(0, 0, 0)}, nil, []seen{{at{0, 0}, 0}, {at{0, 1}, 0}},
			func(v verdict) bool { return v.duplicated == 1 }},
		"reordered": {[]workload.Ack{ack(0, 0, 1), ack(1, 0, 0)}, nil, []seen{{at{0, 0}, 1}, {at{0, 1}, 0}},
			func(v verdict) bool { return v.reordered == 1 }},
		"vanished": {nil, []seen{{at{0, 5}, 9}}, final,
			func(v verdict) bool { return v.vanished == 1 }},
		"replaced": {nil, []seen{{at{0, 0}, 9}}, final,
			func(v verdict) bool { return v.vanished == 1 }},
	}
	for name, c := range cases {
		v := checkRecords(c.outcomes, int64(len(c.outcomes)), c.consumed, c.final, 0)
		if v.ok() || !c.check(v) || len(v.examples) == 0 {
			t.Errorf("%s: %+v", name, v)
		}
	}
	if v := checkRecords(nil, 0, nil, nil, 1); v.ok() {
		t.Error("a malformed record passed")
	}
}

func TestCompareReplicas(t *testing.T) {
	d := func(node int32, end int64, sums ...byte) replicaDigest {
		r := replicaDigest{node: node, end: end}
		for i, s := range sums {
			r.batches = append(r.batches, batchDigest{base: int64(i), sum: [32]byte{s}})
		}
		return r
	}
	var v verdict
	compareReplicas(&v, 0, 2, []replicaDigest{d(1, 2, 1, 2), d(2, 2, 1, 2), d(3, 2, 1, 2)})
	if v.replicas != 0 {
		t.Fatalf("equal replicas: %+v", v)
	}
	compareReplicas(&v, 0, 2, []replicaDigest{d(1, 2, 1, 2), d(2, 2, 1, 3), d(3, 1, 1)})
	if v.replicas != 2 || len(v.examples) != 2 {
		t.Fatalf("a differing and a short replica: %+v", v)
	}
}

func TestStallsAndTimeline(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	outcomes := []workload.Ack{
		{Seq: 0, Sent: at(0), Done: at(10)},
		{Seq: 1, Sent: at(1000), Done: at(2500)}, // in flight when the fault hit
		{Seq: 2, Sent: at(1500), Done: at(2600)},
		{Seq: 3, Sent: at(2700), Done: at(2710)},
		{Seq: 4, Sent: at(5000), Done: at(5800)},
		{Seq: 5, Sent: at(1600), Err: "failed"},
	}
	f := &fault{kind: killAny, start: at(1200), healed: at(2000), healthyAt: at(3000)}
	stalls([]*fault{f}, outcomes, time.Minute)
	if f.stall != 1500*time.Millisecond || f.resumed != 500*time.Millisecond {
		t.Fatalf("stall %s, resumed %s; want 1.5s, 500ms (no ack from 0.01 s to the heal at 2 s)", f.stall, f.resumed)
	}
	f.healed = at(2550) // an ack 50 ms before: acks had not stopped
	stalls([]*fault{f}, outcomes, time.Minute)
	if f.resumed != -1 {
		t.Fatalf("resumed %s, want -1", f.resumed)
	}
	q := &fault{kind: killTwo, start: at(3000), healed: at(5500), healthyAt: at(6000)}
	stalls([]*fault{q}, outcomes, time.Minute)
	if q.resumed != 300*time.Millisecond {
		t.Fatalf("resumed %s after a heal that ended 2.3 s without acks, want 300ms", q.resumed)
	}
	tl := stallTimeline(t0, outcomes, 500*time.Millisecond)
	want := []interval{{time.Second, 2600 * time.Millisecond}, {5 * time.Second, 5800 * time.Millisecond}}
	if !slices.Equal(tl, want) {
		t.Fatalf("timeline %v, want %v", tl, want)
	}
	if got := activeFault([]*fault{f}, t0, tl[1]); got != "no fault active" {
		t.Fatalf("second stall: %s", got)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for q, want := range map[float64]time.Duration{0.5: 3, 0.9: 5, 1: 5, 0.2: 1} {
		if got := percentile(ds, q); got != want {
			t.Errorf("p%v = %v, want %v", q*100, got, want)
		}
	}
	if percentile(nil, .5) != 0 {
		t.Error("empty")
	}
}

func TestScoreDoctor(t *testing.T) {
	id := func(v int32) *int32 { return &v }
	n2, n3 := &nodes.Node{ID: 2}, &nodes.Node{ID: 3}
	rep := diagnose.DoctorReport{
		Causes: []api.Cause{
			{Code: diagnose.CauseNodeDown, Node: id(2), Partitions: []string{"chaos-1"}},
			{Code: diagnose.CauseRaftQuorumLost, Nodes: []int32{2, 3}},
		},
		Findings: []api.Finding{{Code: "AT_MIN_ISR", Topic: topic, Partition: id(1)}, {Code: "BROKER_FENCED", Node: id(2)}},
	}
	p := score(rep, &fault{kind: killLeader, targets: []*nodes.Node{n2}, partition: 1})
	if !p.namedNode || !p.namedRule || !p.namedPart || !slices.Equal(p.causes, []string{"NODE_DOWN", "RAFT_QUORUM_LOST"}) {
		t.Fatalf("kill-leader of node 2: %+v", p)
	}
	if p := score(rep, &fault{kind: pauseNode, targets: []*nodes.Node{n3}, partition: -1}); !p.namedNode || p.namedRule {
		t.Fatalf("pause of node 3 (named only by the quorum loss): %+v", p)
	}
	if p := score(rep, &fault{kind: killTwo, targets: []*nodes.Node{n2, n3}, partition: -1}); !p.namedRule {
		t.Fatalf("kill-two: %+v", p)
	}
	if p := score(diagnose.DoctorReport{}, &fault{kind: slowFsync, targets: []*nodes.Node{n3}, partition: -1}); p.namedNode || p.namedRule {
		t.Fatalf("empty report: %+v", p)
	}
}
