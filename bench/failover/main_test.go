package main

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/bench/internal/workload"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want spread
	}{
		{nil, spread{}},
		{ms(7), spread{n: 1, min: 7 * time.Millisecond, median: 7 * time.Millisecond, max: 7 * time.Millisecond}},
		{ms(30, 10, 20), spread{n: 3, min: 10 * time.Millisecond, median: 20 * time.Millisecond, max: 30 * time.Millisecond}},
		{ms(40, 10, 30, 20), spread{n: 4, min: 10 * time.Millisecond, median: 25 * time.Millisecond, max: 40 * time.Millisecond}},
		{ms(5, 5, 1, 9, 5), spread{n: 5, min: time.Millisecond, median: 5 * time.Millisecond, max: 9 * time.Millisecond}},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := spreadOf(tt.in); got != tt.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("spreadOf reordered its input: %v", tt.in)
		}
	}
}

func TestLongestGap(t *testing.T) {
	tests := []struct {
		name string
		acks []time.Duration
		from time.Duration
		want time.Duration
	}{
		{"no acks", nil, 100 * time.Millisecond, 0},
		{"nothing after the kill", ms(10, 20, 30), 100 * time.Millisecond, 0},
		{"gap spanning the kill", ms(10, 20, 95, 1500, 1510, 1530), 100 * time.Millisecond, 1405 * time.Millisecond},
		{"gap after the kill is longer", ms(90, 300, 2300, 2310), 100 * time.Millisecond, 2000 * time.Millisecond},
		{"gaps before the kill do not count", ms(0, 5000, 5100, 5150), 5050 * time.Millisecond, 100 * time.Millisecond},
		{"no ack before the kill measures from it", ms(400, 410), 100 * time.Millisecond, 300 * time.Millisecond},
		{"unsorted input", ms(1500, 95, 20, 1510), 100 * time.Millisecond, 1405 * time.Millisecond},
		{"ack exactly at the kill is before it", ms(100, 250), 100 * time.Millisecond, 150 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := longestGap(tt.acks, tt.from); got != tt.want {
			t.Errorf("%s: longestGap = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func so(pairs ...int64) []seqOffset {
	out := make([]seqOffset, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, seqOffset{seq: pairs[i], offset: pairs[i+1]})
	}
	return out
}

func TestCheckDelivery(t *testing.T) {
	tests := []struct {
		name     string
		acked    []seqOffset
		consumed []seqOffset
		want     deliveryReport
		ok       bool
	}{
		{name: "nothing", want: deliveryReport{}, ok: true},
		{
			name:     "exactly once",
			acked:    so(0, 0, 1, 1, 2, 2),
			consumed: so(0, 0, 1, 1, 2, 2),
			want:     deliveryReport{acked: 3, consumed: 3},
			ok:       true,
		},
		{
			name:     "unacknowledged records may be there, once or more",
			acked:    so(0, 0, 1, 1),
			consumed: so(0, 0, 1, 1, 2, 2, 3, 3, 3, 4),
			want:     deliveryReport{acked: 2, consumed: 5, unacked: 2},
			ok:       true,
		},
		{
			name:     "lost",
			acked:    so(0, 0, 1, 1, 2, 2, 3, 3),
			consumed: so(0, 0, 2, 1),
			want:     deliveryReport{acked: 4, consumed: 2, lost: []int64{1, 3}, moved: []int64{2}},
		},
		{
			name:     "duplicated",
			acked:    so(0, 0, 1, 1),
			consumed: so(0, 0, 1, 1, 1, 2, 0, 3),
			want:     deliveryReport{acked: 2, consumed: 4, duplicated: []int64{0, 1}},
		},
		{
			name:     "moved",
			acked:    so(5, 10, 6, 11),
			consumed: so(5, 10, 6, 12),
			want:     deliveryReport{acked: 2, consumed: 2, moved: []int64{6}},
		},
		{
			name:     "consumed in another order than acknowledged",
			acked:    so(2, 2, 0, 0, 1, 1),
			consumed: so(1, 1, 2, 2, 0, 0),
			want:     deliveryReport{acked: 3, consumed: 3},
			ok:       true,
		},
	}
	for _, tt := range tests {
		got := checkDelivery(tt.acked, tt.consumed)
		if got.acked != tt.want.acked || got.consumed != tt.want.consumed || got.unacked != tt.want.unacked ||
			!slices.Equal(got.lost, tt.want.lost) || !slices.Equal(got.duplicated, tt.want.duplicated) ||
			!slices.Equal(got.moved, tt.want.moved) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
		if got.ok() != tt.ok {
			t.Errorf("%s: ok() = %t, want %t", tt.name, got.ok(), tt.ok)
		}
	}
	if (deliveryReport{malformed: 1}).ok() {
		t.Error("a malformed record must fail the check")
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	at := func(d time.Duration) time.Time { return tr.start.Add(d) }
	ack := func(seq, off int64, sent time.Duration) workload.Ack {
		return workload.Ack{Seq: seq, Offset: off, Sent: at(sent), Done: at(tr.since())}
	}
	tr.done(ack(0, 0, 0))
	tr.done(ack(1, 1, 0))
	if pg := tr.progress(); pg.acked != 2 || pg.firstPostKillAck != -1 || pg.lastAck < 0 {
		t.Fatalf("before the kill: %+v", pg)
	}
	killAt := tr.markKill()
	// Produced before the kill, acknowledged after it: not the failover's end.
	tr.done(ack(2, 2, killAt-time.Millisecond))
	tr.done(workload.Ack{Seq: 3, Offset: -1, Sent: at(killAt + time.Nanosecond), Done: at(tr.since()), Err: "boom"})
	if pg := tr.progress(); pg.firstPostKillAck != -1 || pg.failed != 1 || pg.firstErr == nil || pg.firstErr.Error() != "record 3: boom" {
		t.Fatalf("after pre-kill acks: %+v", pg)
	}
	tr.done(ack(4, 3, killAt+time.Nanosecond))
	tr.done(ack(5, 4, killAt+2*time.Nanosecond))
	pg := tr.progress()
	if pg.firstPostKillAck < killAt {
		t.Fatalf("first post-kill ack %v, kill at %v", pg.firstPostKillAck, killAt)
	}
	acked, times := tr.results()
	if want := so(0, 0, 1, 1, 2, 2, 4, 3, 5, 4); !slices.Equal(acked, want) {
		t.Errorf("acked %v, want %v", acked, want)
	}
	if len(times) != 5 || !slices.IsSorted(times) || pg.firstPostKillAck != times[3] {
		t.Errorf("ack times %v, first post-kill %v", times, pg.firstPostKillAck)
	}

	// A driver's Sent has no monotonic reading; it still compares.
	tr2 := newTracker()
	kill2 := tr2.markKill()
	wall := tr2.start.Round(0).Add(kill2 + time.Millisecond)
	tr2.done(workload.Ack{Seq: 0, Offset: 0, Sent: wall, Done: time.Now()})
	if pg := tr2.progress(); pg.firstPostKillAck < 0 {
		t.Errorf("a wall-clock Sent after the kill was not taken as post-kill: %+v", pg)
	}
}

func metadataResponse(topic string, partition, leader, epoch int32, topicErr, partErr int16) *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	tp := kmsg.NewMetadataResponseTopic()
	tp.Topic = kmsg.StringPtr(topic)
	tp.ErrorCode = topicErr
	p := kmsg.NewMetadataResponseTopicPartition()
	p.Partition, p.Leader, p.LeaderEpoch, p.ErrorCode = partition, leader, epoch, partErr
	tp.Partitions = append(tp.Partitions, p)
	resp.Topics = append(resp.Topics, tp)
	return resp
}

func TestPartitionLeader(t *testing.T) {
	leader, epoch, err := partitionLeader(metadataResponse("failover", 0, 3, 2, 0, 0), "failover", 0)
	if err != nil || leader != 3 || epoch != 2 {
		t.Errorf("healthy: %d %d %v", leader, epoch, err)
	}
	_, epoch, err = partitionLeader(metadataResponse("failover", 0, -1, 4, 0, kerr.LeaderNotAvailable.Code), "failover", 0)
	if !errors.Is(err, kerr.LeaderNotAvailable) || epoch != 4 {
		t.Errorf("no leader: epoch %d, %v", epoch, err)
	}
	if _, _, err = partitionLeader(metadataResponse("failover", 0, 1, 1, kerr.UnknownTopicOrPartition.Code, 0), "failover", 0); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("topic error: %v", err)
	}
	if _, _, err = partitionLeader(metadataResponse("failover", 1, 1, 1, 0, 0), "failover", 0); err == nil || !strings.Contains(err.Error(), "partition failover/0 missing") {
		t.Errorf("missing partition: %v", err)
	}
	if _, _, err = partitionLeader(metadataResponse("other", 0, 1, 1, 0, 0), "failover", 0); err == nil || !strings.Contains(err.Error(), "topic failover missing") {
		t.Errorf("missing topic: %v", err)
	}
}

func TestFailoverError(t *testing.T) {
	res := &runResult{newLeader: -1}
	err := failoverError(30*time.Second, res, leaderAnswer{node: 2, leader: 1, epoch: 0}, progress{acked: 100, failed: 3, firstErr: errors.New("boom")})
	want := "no new leader after 30s (node 2 still names leader 1, leader epoch 0); " +
		"no record produced after the kill was acknowledged within 30s (100 acknowledged in all, 3 failed, first error: boom)"
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
	res = &runResult{newLeader: 3, failoverMeasured: false}
	err = failoverError(time.Second, res, leaderAnswer{}, progress{acked: 5})
	if err.Error() != "no record produced after the kill was acknowledged within 1s (5 acknowledged in all, 0 failed)" {
		t.Errorf("got %q", err)
	}
	res = &runResult{newLeader: -1, failoverMeasured: true}
	err = failoverError(time.Second, res, leaderAnswer{node: 3, err: errors.New("metadata from node 3: refused")}, progress{})
	if err.Error() != "no new leader after 1s (last answer: metadata from node 3: refused)" {
		t.Errorf("got %q", err)
	}
}

func TestSummarizeAndLines(t *testing.T) {
	ok := runResult{index: 1, killed: 1, controller: 2, oldEpoch: 0, newLeader: 3, newEpoch: 1,
		newLeaderAfter: 900 * time.Millisecond, failover: 1200 * time.Millisecond, failoverMeasured: true,
		maxAckGap: 1250 * time.Millisecond, counted: true, produced: 10, acked: 10, checked: true,
		delivery: deliveryReport{acked: 10, consumed: 10}}
	lossy := ok
	lossy.index = 2
	lossy.failover, lossy.newLeaderAfter, lossy.maxAckGap = 3*time.Second, 2*time.Second, 3*time.Second
	lossy.delivery = deliveryReport{acked: 10, consumed: 9, lost: []int64{4}}
	failed := runResult{index: 3, killed: 2, controller: 2, newLeader: -1, err: errors.New("no new leader after 30s")}
	interruptedEarly := runResult{index: 4, killed: -1, newLeader: -1, err: errors.New("context canceled")}
	stopped := ok
	stopped.index, stopped.fault = 5, faultStop

	s := summarize([]runResult{ok, lossy, failed, interruptedEarly})
	if s.runs != 4 || s.ok != 1 || s.failed != 2 || s.violations != 1 || s.checked != 2 || s.lost != 1 {
		t.Errorf("summary counts %+v", s)
	}
	if s.failover != (spread{n: 2, min: 1200 * time.Millisecond, median: 2100 * time.Millisecond, max: 3 * time.Second}) {
		t.Errorf("failover spread %+v", s.failover)
	}
	if s.newLeader.n != 2 || s.maxAckGap.n != 2 {
		t.Errorf("spreads %+v %+v", s.newLeader, s.maxAckGap)
	}

	for _, tt := range []struct {
		r    runResult
		want []string
	}{
		{ok, []string{"run 1/4 ok killed=1 controller=2 failover=1.200s new_leader=3 epoch=0->1 new_leader_after=0.900s", "max_ack_gap=1.250s", "lost=0 duplicated=0"}},
		{lossy, []string{"run 2/4 NOT-EXACTLY-ONCE", "lost=1", "lost_seqs=4"}},
		{failed, []string{"run 3/4 FAILED killed=2 controller=2: no new leader after 30s"}},
		{stopped, []string{"run 5/4 ok stopped=1 controller=2"}},
		{interruptedEarly, []string{"run 4/4 FAILED: context canceled"}},
	} {
		line := tt.r.line(4)
		for _, w := range tt.want {
			if !strings.Contains(line, w) {
				t.Errorf("line %q lacks %q", line, w)
			}
		}
	}

	var sb strings.Builder
	writeSummary(&sb, s)
	for _, w := range []string{
		"summary: 4 runs, 1 ok, 2 failed, 1 not exactly-once",
		"failover     min 1.200s  median 2.100s  max 3.000s  n=2",
		"lost 1, duplicated 0, moved 0, malformed 0 (2 runs checked)",
	} {
		if !strings.Contains(sb.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, sb.String())
		}
	}
	sb.Reset()
	writeSummary(&sb, summarize(nil))
	if !strings.Contains(sb.String(), "failover     no measurement") {
		t.Errorf("empty summary:\n%s", sb.String())
	}
}

func TestFirstSeqs(t *testing.T) {
	if got := firstSeqs([]int64{1, 2, 3}, 10); got != "1,2,3" {
		t.Errorf("got %q", got)
	}
	if got := firstSeqs([]int64{1, 2, 3, 4}, 2); got != "1,2,...(2 more)" {
		t.Errorf("got %q", got)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.runs != 5 || o.rate != 2000 || o.recordSize != 1024 || o.sessionTimeout != 0 || o.keep ||
		o.chronik != "" || o.warmup != 2*time.Second || o.failoverTimeout != 30*time.Second {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseOptions([]string{"--chronik", "/x/chronik", "--runs", "1", "--session-timeout", "1s", "--keep"}, io.Discard)
	if err != nil || o.chronik != "/x/chronik" || o.runs != 1 || o.sessionTimeout != time.Second || !o.keep {
		t.Errorf("%+v %v", o, err)
	}
	o, err = parseOptions([]string{"--client-defaults"}, io.Discard)
	if err != nil || !o.clientDefaults || o.warmup != defaultsWarmup {
		t.Errorf("--client-defaults: %+v %v", o, err)
	}
	o, err = parseOptions([]string{"--client-defaults", "--warmup", "3s"}, io.Discard)
	if err != nil || o.warmup != 3*time.Second {
		t.Errorf("--client-defaults --warmup 3s: %+v %v", o, err)
	}
	if o, err = parseOptions(nil, io.Discard); o.clientDefaults || o.client != workload.FranzGo || o.fault != faultKill || o.clientLog {
		t.Errorf("tuned franz-go, kill, by default: %+v %v", o, err)
	}
	o, err = parseOptions([]string{"--client", "kafka-python", "--fault", "sigstop", "--client-log"}, io.Discard)
	if err != nil || o.client != workload.KafkaPython || o.fault != faultStop || !o.clientLog {
		t.Errorf("--client kafka-python --fault sigstop --client-log: %+v %v", o, err)
	}
	if o.failoverTimeout != stopFailoverTimeout {
		t.Errorf("--fault sigstop: failover timeout %v, want %v", o.failoverTimeout, stopFailoverTimeout)
	}
	if o, err := parseOptions([]string{"--fault", "sigstop", "--failover-timeout", "5s"}, io.Discard); err != nil || o.failoverTimeout != 5*time.Second {
		t.Errorf("--fault sigstop --failover-timeout 5s: %+v %v", o, err)
	}
	if got := o.describe(); got != "client kafka-python, tuned (100 ms metadata refresh and retry backoff); fault sigstop; broker session timeout default; 2000 records/s of 1024 bytes" {
		t.Errorf("describe = %q", got)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--client", "sarama"}, `--client: unknown client "sarama"`},
		{[]string{"--fault", "reboot"}, "--fault: want kill or sigstop"},
		{[]string{"--runs", "0"}, "--runs"},
		{[]string{"--records-per-sec", "0"}, "--records-per-sec"},
		{[]string{"--record-size", "-1"}, "--record-size"},
		{[]string{"--session-timeout", "-1s"}, "--session-timeout"},
		{[]string{"--warmup", "0s"}, "--warmup"},
		{[]string{"--failover-timeout", "0s"}, "--failover-timeout"},
		{[]string{"--node-log-level", "loud"}, "--node-log-level"},
		{[]string{"extra"}, "unexpected arguments: extra"},
	} {
		if _, err := parseOptions(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestRunUsageError(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"--runs", "0"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "Error: --runs") {
		t.Errorf("stderr %q", stderr.String())
	}
	if code := run([]string{"--help"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("--help: exit code %d, want 0", code)
	}
}

func TestRunMissingBinary(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where run puts its run directory
	var stdout, stderr strings.Builder
	missing := filepath.Join(t.TempDir(), "no-such-chronik")
	if code := run([]string{"--chronik", missing, "--runs", "1"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), "run 1/1 FAILED: start node 1:") || !strings.Contains(stdout.String(), "summary: 1 runs, 0 ok, 1 failed") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}
