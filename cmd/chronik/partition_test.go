package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

func TestParsePartitionArg(t *testing.T) {
	tests := []struct {
		in    string
		topic string
		part  int32
		ok    bool
	}{
		{"orders/0", "orders", 0, true},
		{"a/b/12", "a/b", 12, true},
		{"orders", "", 0, false},
		{"/0", "", 0, false},
		{"orders/", "", 0, false},
		{"orders/-1", "", 0, false},
		{"orders/x", "", 0, false},
		{"orders/99999999999", "", 0, false},
	}
	for _, tt := range tests {
		topic, p, err := parsePartitionArg(tt.in)
		if (err == nil) != tt.ok || topic != tt.topic || p != tt.part {
			t.Errorf("parsePartitionArg(%q) = %q, %d, %v", tt.in, topic, p, err)
		}
	}
}

func TestPartitionMoveUsage(t *testing.T) {
	for _, args := range [][]string{
		{"partition", "move", "orders/0"},                                // no --replicas
		{"partition", "move", "orders/0", "--replicas", "1", "--cancel"}, // both
		{"partition", "move", "orders/0", "--cancel", "--wait"},          // wait on a cancel
		{"partition", "move", "orders", "--replicas", "1"},               // no partition
		{"partition", "move", "orders/0", "--replicas", "1,x"},           // not a number
		{"partition", "move", "orders/0", "--replicas", "-3"},            // negative
		{"partition", "reassignments", "extra"},                          // no args
	} {
		e := newTestEnv(t)
		if code := e.run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, e.errOut.String())
		}
	}
}

// TestPartitionMoveEndToEnd runs the commands against a 3-node cluster:
// a move with --wait, a listing, a cancel, and Kafka's errors.
func TestPartitionMoveEndToEnd(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.OffsetsTopicPartitions = 1 })
	c.StartAll()
	addr := strings.Join(c.KafkaAddrs(), ",")
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "mv", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testharness.Context(t, 15*time.Second), inproc.Client(t, c.KafkaAddrs()))
	if err != nil || kerr.ErrorForCode(resp.Topics[0].ErrorCode) != nil {
		t.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitTopic("mv", 1) // the CLI may ask any node

	e := newTestEnv(t)
	if code := e.run(t, "partition", "move", "mv/0", "--replicas", "2,3", "--wait", "--timeout", "60s", "--brokers", addr); code != exitOK {
		t.Fatalf("move: exit %d: %s", code, e.errOut.String())
	}
	if got, want := e.out.String(), "Moved mv/0 to replicas 2,3.\n"; got != want {
		t.Fatalf("move printed %q, want %q", got, want)
	}
	// Node 1 applies the completion a moment after the node that answered.
	testharness.Eventually(t, 10*time.Second, "node 1 sees the moved replicas", func() bool {
		md := c.MetadataOf(0, "mv")
		return len(md.Topics) == 1 && slicesEqual(md.Topics[0].Partitions[0].Replicas, []int32{2, 3})
	}, func() string { return fmt.Sprintf("%+v", c.MetadataOf(0, "mv").Topics) })

	// A move that waits (its target broker is down) is listed, then cancelled.
	c.Stop(0)
	e = newTestEnv(t)
	if code := e.run(t, "partition", "move", "mv/0", "--replicas", "3,1", "--brokers", addr); code != exitOK {
		t.Fatalf("move to a stopped broker: exit %d: %s", code, e.errOut.String())
	}
	if !strings.HasPrefix(e.out.String(), "Started moving mv/0 to replicas 3,1;") {
		t.Fatalf("move printed %q", e.out.String())
	}
	e = newTestEnv(t)
	if code := e.run(t, "partition", "reassignments", "-o", "json", "--brokers", addr); code != exitOK {
		t.Fatalf("reassignments: exit %d: %s", code, e.errOut.String())
	}
	var listed []topicadmin.PartitionReassignment
	if err := json.Unmarshal([]byte(e.out.String()), &listed); err != nil {
		t.Fatalf("%v: %s", err, e.out.String())
	}
	if len(listed) != 1 || listed[0].Topic != "mv" || !slicesEqual(listed[0].Replicas, []int32{3, 1, 2}) ||
		!slicesEqual(listed[0].Adding, []int32{1}) || !slicesEqual(listed[0].Removing, []int32{2}) {
		t.Fatalf("listed %+v", listed)
	}
	e = newTestEnv(t)
	if code := e.run(t, "partition", "reassignments", "--brokers", addr); code != exitOK {
		t.Fatalf("reassignments: exit %d: %s", code, e.errOut.String())
	}
	if want := "mv\t0\t3,1,2\t1\t2\n"; e.out.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", e.out.String(), want)
	}
	e = newTestEnv(t)
	if code := e.run(t, "partition", "move", "mv/0", "--cancel", "--brokers", addr); code != exitOK {
		t.Fatalf("cancel: exit %d: %s", code, e.errOut.String())
	}
	e = newTestEnv(t)
	if code := e.run(t, "partition", "move", "mv/0", "--cancel", "--brokers", addr); code != exitError ||
		!strings.Contains(e.errOut.String(), "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Fatalf("second cancel: exit %d: %s", code, e.errOut.String())
	}
	e = newTestEnv(t)
	if code := e.run(t, "partition", "move", "mv/0", "--replicas", "2,2", "--brokers", addr); code != exitError ||
		!strings.Contains(e.errOut.String(), "INVALID_REPLICA_ASSIGNMENT") {
		t.Fatalf("duplicate replicas: exit %d: %s", code, e.errOut.String())
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// isr describe names a partition's reassignment, and -v an adding
// replica's copy progress.
func TestISRTableShowsReassignment(t *testing.T) {
	left, rate, ago := int64(12_500_000), 1_048_576.0, 0.3
	rep := diagnose.ISRReport{Partitions: []api.PartitionRow{{
		Topic: "orders", Partition: 0, Leader: 2, Replicas: []int32{3, 2, 1}, ISR: []int32{2, 1}, MinISR: 1,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}, HighWatermark: 10, LogEndOffset: 10, MaxLag: 7,
		Status: api.StatusUnderReplicated,
		ReplicaStates: []api.ReplicaState{
			{ID: 3, LogEndOffset: 3, Lag: 7, Adding: true, BytesLeft: &left, CopyBytesPerSecond: &rate, LastAdvanceSeconds: &ago},
			{ID: 1, LogEndOffset: 10, InISR: true},
		},
	}}}
	var b strings.Builder
	if err := RenderISRTable(&b, rep, true, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "\t3,2,1 (adding 3, removing 1)\t") ||
		!strings.HasSuffix(lines[0], "\tno (adding: 12.5 MB left, 1.0 MB/s)") || !strings.HasSuffix(lines[1], "\tyes") {
		t.Fatalf("table:\n%s", b.String())
	}
}
