package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// createAssigned creates a one-partition topic on the given replicas.
func createAssigned(t *testing.T, c *inproc.Cluster, name string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	cl := inproc.Client(t, c.KafkaAddrs())
	resp, err := req.RequestWith(testharness.Context(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	partitionOf(t, c, name)
}

// reassign asks for topic/0 to move to target and fails on any error.
func reassign(t *testing.T, adm *kadm.Client, topic string, target ...int32) {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, target)
	resp, err := adm.AlterPartitionAssignments(testharness.Context(t, 15*time.Second), req)
	if err != nil {
		t.Fatalf("reassign %s to %v: %v", topic, target, err)
	}
	if r := resp[topic][0]; r.Err != nil {
		t.Fatalf("reassign %s to %v: %v %s", topic, target, r.Err, r.ErrMessage)
	}
}

// waitReplicas waits until the metadata shows topic/0 on exactly replicas
// with all of them in the ISR and no reassignment listed.
func waitReplicas(t *testing.T, c *inproc.Cluster, adm *kadm.Client, topic string, within time.Duration, replicas ...int32) {
	t.Helper()
	var last kmsg.MetadataResponseTopicPartition
	var listed kadm.ListPartitionReassignmentsResponses
	testharness.Eventually(t, within, fmt.Sprintf("%s on %v", topic, replicas), func() bool {
		last = partitionOf(t, c, topic)
		ls, err := adm.ListPartitionReassignments(testharness.Context(t, 5*time.Second), kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false
		}
		listed = ls
		isr := slices.Clone(last.ISR)
		slices.Sort(isr)
		want := slices.Clone(replicas)
		slices.Sort(want)
		return len(ls.Sorted()) == 0 && slices.Equal(last.Replicas, replicas) && slices.Equal(isr, want)
	}, func() string {
		return fmt.Sprintf("replicas %v ISR %v leader %d; listed %+v", last.Replicas, last.ISR, last.Leader, listed.Sorted())
	})
}

// sameLogs stops the given nodes once they hold the same log end and
// compares their segment files byte for byte.
func sameLogs(t *testing.T, c *inproc.Cluster, topic string, nodes ...int32) {
	t.Helper()
	var ends []int64
	testharness.Eventually(t, 15*time.Second, "replicas at the same log end", func() bool {
		ends = ends[:0]
		for _, id := range nodes {
			leo, _ := c.Nodes[id-1].LogEndOffset(topic, 0)
			ends = append(ends, leo)
		}
		return slices.Min(ends) == slices.Max(ends) && ends[0] > 0
	}, func() string { return fmt.Sprintf("log ends %v", ends) })
	for _, id := range nodes {
		c.Stop(int(id - 1))
	}
	want := logBytes(t, c.Cfgs[nodes[0]-1].DataDir, topic, 0)
	for _, id := range nodes[1:] {
		if got := logBytes(t, c.Cfgs[id-1].DataDir, topic, 0); !bytes.Equal(got, want) {
			t.Fatalf("node %d's log differs from node %d's (%d vs %d bytes)", id, nodes[0], len(got), len(want))
		}
	}
}

// TestReassignUnderLoad moves a partition from [1,2] to [2,3] while an
// idempotent acks=all producer writes: no acknowledged record is lost or
// duplicated, node 1 drops its replica, and the new replica on node 3
// holds the same bytes as node 2.
func TestReassignUnderLoad(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	createAssigned(t, c, "mv", 1, 2)
	adm := inproc.Admin(t, c.KafkaAddrs())
	s := startStream(t, c.KafkaAddrs(), "mv")
	testharness.Eventually(t, 20*time.Second, "500 acks", func() bool { return s.count() >= 500 })

	reassign(t, adm, "mv", 2, 3)
	waitReplicas(t, c, adm, "mv", 30*time.Second, 2, 3)
	before := s.count()
	testharness.Eventually(t, 15*time.Second, "acks after the move", func() bool { return s.count() >= before+500 })
	s.finish()
	checkExactlyOnce(t, c.KafkaAddrs(), "mv", s.acked)
	testharness.Eventually(t, 10*time.Second, "node 1 dropped its replica", func() bool {
		_, ok := c.Nodes[0].LogEndOffset("mv", 0)
		return !ok
	})
	sameLogs(t, c, "mv", 2, 3)
}

// TestReassignAPIErrors: Kafka's error codes for refused reassignments,
// and a cancel of a running one.
func TestReassignAPIErrors(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	createAssigned(t, c, "bad", 1, 2)
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 30*time.Second)

	cl := inproc.Client(t, c.KafkaAddrs())
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 10000
	add := func(topic string, p int32, replicas []int32) {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = p, replicas
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	add("bad", 0, nil)           // cancel of none
	add("bad", 0, []int32{})     // named twice (and empty)
	add("bad", 1, []int32{1})    // no partition 1
	add("nope", 0, []int32{1})   // no topic
	add("bad", 5, []int32{1, 1}) // unknown partition wins over duplicates
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got = append(got, fmt.Sprintf("%s/%d:%d", rt.Topic, p.Partition, p.ErrorCode))
		}
	}
	want := []string{
		fmt.Sprintf("bad/0:%d", kerr.InvalidRequest.Code), fmt.Sprintf("bad/0:%d", kerr.InvalidRequest.Code),
		fmt.Sprintf("bad/1:%d", kerr.UnknownTopicOrPartition.Code), fmt.Sprintf("nope/0:%d", kerr.UnknownTopicOrPartition.Code),
		fmt.Sprintf("bad/5:%d", kerr.UnknownTopicOrPartition.Code),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}

	for _, tc := range []struct {
		target []int32
		want   error
	}{
		{nil, kerr.NoReassignmentInProgress},
		{[]int32{}, kerr.InvalidReplicaAssignment},
		{[]int32{2, 2}, kerr.InvalidReplicaAssignment},
		{[]int32{2, 9}, kerr.InvalidReplicaAssignment},
	} {
		var r kadm.AlterPartitionAssignmentsReq
		if tc.target == nil {
			r.CancelAssign("bad", 0)
		} else {
			r.Assign("bad", 0, tc.target)
		}
		resp, err := adm.AlterPartitionAssignments(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp["bad"][0].Err; !errors.Is(got, tc.want) {
			t.Fatalf("target %v: %v, want %v", tc.target, got, tc.want)
		}
	}
	if p := partitionOf(t, c, "bad"); !slices.Equal(p.Replicas, []int32{1, 2}) {
		t.Fatalf("refusals changed the replicas: %v", p.Replicas)
	}

	// A running reassignment (its target is down, so it waits) is listed,
	// and a cancel reverts it.
	c.Stop(2)
	reassign(t, adm, "bad", 1, 3)
	ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"bad": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if l := ls.Sorted(); len(l) != 1 || !slices.Equal(l[0].Replicas, []int32{1, 3, 2}) || !slices.Equal(l[0].AddingReplicas, []int32{3}) || !slices.Equal(l[0].RemovingReplicas, []int32{2}) {
		t.Fatalf("listed %+v", l)
	}
	var cancel kadm.AlterPartitionAssignmentsReq
	cancel.CancelAssign("bad", 0)
	if resp, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || resp["bad"][0].Err != nil {
		t.Fatalf("cancel: %v %+v", err, resp)
	}
	if ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"bad": {0: {}}}); err != nil || len(ls.Sorted()) != 0 {
		t.Fatalf("after cancel: %v %+v", err, ls.Sorted())
	}
	// The cancel is committed; the node asked may apply it a moment later.
	testharness.Eventually(t, 10*time.Second, "replicas [1 2] after cancel", func() bool {
		return slices.Equal(partitionOf(t, c, "bad").Replicas, []int32{1, 2})
	})
}

// TestReassignSurvivesControllerAndTargetLoss: with the target broker down
// the reassignment cannot complete; the controller that started it is then
// stopped; once the target is back, the new controller completes it, and
// the moved replica holds the same bytes as the one that stayed.
func TestReassignSurvivesControllerAndTargetLoss(t *testing.T) {
	c := inproc.NewCluster(t, 5, nil)
	c.StartAll()
	ctrl := c.Nodes[0].ControllerID()
	if ctrl < 1 {
		t.Fatal("no controller")
	}
	var others []int32
	for id := int32(1); id <= 5; id++ {
		if id != ctrl {
			others = append(others, id)
		}
	}
	stay, target := others[0], others[1]
	createAssigned(t, c, "fo", ctrl, stay)
	s := startStream(t, c.KafkaAddrs(), "fo")
	testharness.Eventually(t, 20*time.Second, "300 acks", func() bool { return s.count() >= 300 })

	c.Stop(int(target - 1))
	adm := inproc.Admin(t, c.KafkaAddrs())
	reassign(t, adm, "fo", stay, target)
	before := s.count()
	testharness.Eventually(t, 15*time.Second, "acks during the reassignment", func() bool { return s.count() >= before+300 })
	c.Stop(int(ctrl - 1))
	ls, err := inproc.Admin(t, c.KafkaAddrs()).ListPartitionReassignments(testharness.Context(t, 15*time.Second), kadm.TopicsSet{"fo": {0: {}}})
	if err != nil || len(ls.Sorted()) != 1 {
		t.Fatalf("the reassignment is not in progress after the controller stopped: %v %+v", err, ls.Sorted())
	}

	c.Start(int(target - 1))
	adm = inproc.Admin(t, c.KafkaAddrs())
	waitReplicas(t, c, adm, "fo", 30*time.Second, stay, target)
	before = s.count()
	testharness.Eventually(t, 15*time.Second, "acks after the move", func() bool { return s.count() >= before+300 })
	s.finish()
	checkExactlyOnce(t, c.KafkaAddrs(), "fo", s.acked)
	sameLogs(t, c, "fo", stay, target)
}
