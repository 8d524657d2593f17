package broker_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestClusterCreatesTopicWithFullISROnEveryNode: a 3-node cluster elects a
// leader; a topic of 6 partitions and RF 3 created through node 2 carries,
// on every node, its assignment, a leader and ISR = all three replicas.
func TestClusterCreatesTopicWithFullISROnEveryNode(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	// Straight to node 2, whoever leads raft (kadm would route to the controller).
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "replicated", 6, 3
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 5000
	kcreate, err := c.Client(1).Broker(2).Request(testharness.Context(t, 10*time.Second), create)
	if err != nil {
		t.Fatal(err)
	}
	if code := kcreate.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create through node 2: error %d", code)
	}
	check := func(i int) error {
		md := c.MetadataOf(i, "replicated")
		if len(md.Brokers) != 3 {
			return fmt.Errorf("node %d lists %d brokers", i+1, len(md.Brokers))
		}
		if md.ControllerID < 1 {
			return fmt.Errorf("node %d knows no controller", i+1)
		}
		tp := md.Topics[0]
		if tp.ErrorCode != 0 || len(tp.Partitions) != 6 {
			return fmt.Errorf("node %d: topic error %d, %d partitions", i+1, tp.ErrorCode, len(tp.Partitions))
		}
		leaders := map[int32]int{}
		for _, p := range tp.Partitions {
			if !slices.Equal(sorted(p.Replicas), []int32{1, 2, 3}) || !slices.Equal(sorted(p.ISR), []int32{1, 2, 3}) {
				return fmt.Errorf("node %d partition %d: replicas %v isr %v", i+1, p.Partition, p.Replicas, p.ISR)
			}
			if p.Leader != p.Replicas[0] {
				return fmt.Errorf("node %d partition %d: leader %d, first replica %d", i+1, p.Partition, p.Leader, p.Replicas[0])
			}
			leaders[p.Leader]++
		}
		if len(leaders) != 3 {
			return fmt.Errorf("node %d: leaders not spread: %v", i+1, leaders)
		}
		return nil
	}
	// On the node that took the request, at once.
	if err := check(1); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		var last error
		testharness.Eventually(t, 2*time.Second, fmt.Sprintf("node %d to apply the topic", i+1), func() bool {
			last = check(i)
			return last == nil
		})
	}

	// Every node runs its replicas, and deleting the topic removes their
	// directories everywhere.
	dirs := func(i int) []string {
		m, _ := filepath.Glob(filepath.Join(c.Cfgs[i].DataDir, "logs", "replicated-*"))
		return m
	}
	for i := range 3 {
		testharness.Eventually(t, 2*time.Second, fmt.Sprintf("node %d to host 6 replicas", i+1), func() bool { return len(dirs(i)) == 6 })
	}
	// Straight to node 2 (kadm would route to the controller).
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{"replicated"}                                             // v0-5
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("replicated")}} // v6
	del.TimeoutMillis = 5000
	kresp, err := c.Client(1).Broker(2).Request(testharness.Context(t, 10*time.Second), del)
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("delete through node 2: error %d", code)
	}
	if got := dirs(1); len(got) != 0 {
		t.Fatalf("node 2 still has %v right after the delete it answered", got)
	}
	for i := range 3 {
		testharness.Eventually(t, 2*time.Second, fmt.Sprintf("node %d to delete its replicas", i+1), func() bool { return len(dirs(i)) == 0 })
	}
}

// TestClusterLeaderFailover: the raft leader stops; a new one is elected
// within 3 s and metadata changes continue; the old leader, restarted,
// catches up.
func TestClusterLeaderFailover(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := int(c.Nodes[0].ControllerID()) - 1
	c.Stop(leader)
	other := (leader + 1) % 3
	start := time.Now()
	testharness.Eventually(t, 3*time.Second, "a new raft leader", func() bool {
		id := c.Nodes[other].ControllerID()
		return id > 0 && int(id)-1 != leader
	})
	t.Logf("new leader after %v", time.Since(start))
	adm := inproc.NodeAdmin(t, c.Nodes[other])
	resp, err := adm.CreateTopic(testharness.Context(t, 10*time.Second), 2, 2, nil, "after-failover")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create after failover: %v", err)
	}
	// The stopped node is fenced: gone from the brokers clients see.
	testharness.Eventually(t, 5*time.Second, "the stopped broker to be fenced", func() bool {
		return len(c.MetadataOf(other).Brokers) == 2
	})
	c.Start(leader)
	testharness.Eventually(t, 10*time.Second, "the old leader to catch up and be unfenced", func() bool {
		md := c.MetadataOf(leader, "after-failover")
		return len(md.Brokers) == 3 && md.Topics[0].ErrorCode == 0
	})
}

// TestClusterMajorityDown: with two of three nodes down, CreateTopics on the
// survivor answers REQUEST_TIMED_OUT or NOT_CONTROLLER within its timeout
// instead of hanging; once a node returns, changes commit again.
func TestClusterMajorityDown(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	c.Stop(1)
	c.Stop(2)
	cl := c.Client(0)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "no-quorum", 1, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 2000
	start := time.Now()
	// Straight to node 1: the client would otherwise look for a controller.
	kresp, err := cl.Broker(1).Request(testharness.Context(t, 10*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	code := kresp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
	if code != kerr.RequestTimedOut.Code && code != kerr.NotController.Code {
		t.Fatalf("without quorum: error %d, want REQUEST_TIMED_OUT or NOT_CONTROLLER", code)
	}
	if took > 5*time.Second {
		t.Fatalf("answered after %v; the request timeout was 2 s", took)
	}
	c.Start(1)
	testharness.Eventually(t, 10*time.Second, "quorum back", func() bool { return c.Nodes[0].ControllerID() > 0 })
	adm := inproc.NodeAdmin(t, c.Nodes[0])
	testharness.Eventually(t, 10*time.Second, "create to succeed with quorum back", func() bool {
		resp, err := adm.CreateTopic(testharness.Context(t, 5*time.Second), 1, 1, nil, "quorum-back")
		return err == nil && (resp.Err == nil || errors.Is(resp.Err, kerr.TopicAlreadyExists))
	})
}

// TestClusterPeerUnreachableAtStart: a node whose peers are not up waits and
// retries, and is not ready until a quorum forms.
func TestClusterPeerUnreachableAtStart(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	first := c.Start(0)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if first.Ready() {
			t.Fatal("ready without a quorum")
		}
		time.Sleep(50 * time.Millisecond) // observing that nothing happens
	}
	c.Start(1)
	testharness.Eventually(t, 10*time.Second, "ready once two of three are up", first.Ready)
}

// TestClusterRestartAllKeepsMetadata: every node stops (each raft write was
// fsynced, so this is what kill -9 of all three leaves) and restarts: the
// topics and assignments are all there, and every replica rejoins its ISR
// without operator action (restarts move leaderships, so leaders may differ).
func TestClusterRestartAllKeepsMetadata(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	adm := inproc.NodeAdmin(t, c.Nodes[0])
	resp, err := adm.CreateTopic(testharness.Context(t, 10*time.Second), 6, 3, nil, "kept")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	before := c.MetadataOf(0, "kept").Topics[0]
	for i := range 3 {
		c.Stop(i)
	}
	c.StartAll()
	for i := range 3 {
		var last string
		testharness.Eventually(t, 15*time.Second, "full ISRs after restart", func() bool {
			after := c.MetadataOf(i, "kept").Topics[0]
			if after.ErrorCode != 0 || len(after.Partitions) != 6 {
				last = fmt.Sprintf("node %d: error %d, %d partitions", i+1, after.ErrorCode, len(after.Partitions))
				return false
			}
			for p := range after.Partitions {
				a, b := after.Partitions[p], before.Partitions[p]
				if !slices.Equal(a.Replicas, b.Replicas) {
					t.Fatalf("node %d partition %d: replicas changed across restart: %v vs %v", i+1, p, a.Replicas, b.Replicas)
				}
				if !slices.Equal(sorted(a.ISR), sorted(b.ISR)) || !slices.Contains(a.ISR, a.Leader) {
					last = fmt.Sprintf("node %d partition %d: ISR %v leader %d", i+1, p, a.ISR, a.Leader)
					return false
				}
			}
			return true
		}, func() string { return last })
	}
}

// TestClusterSnapshotCatchUp: a node that was down while more metadata
// changes than the snapshot interval were made catches up from a snapshot.
func TestClusterSnapshotCatchUp(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.RaftSnapshotEntries = 5 })
	c.StartAll()
	c.Stop(2)
	adm := inproc.NodeAdmin(t, c.Nodes[0])
	for i := range 20 {
		resp, err := adm.CreateTopic(testharness.Context(t, 10*time.Second), 1, 1, nil, fmt.Sprintf("snap-%d", i))
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Start(2)
	testharness.Eventually(t, 15*time.Second, "node 3 to converge", func() bool {
		md := c.MetadataOf(2)
		return len(md.Topics) >= 20
	})
	if st := c.Nodes[2].RaftStatus(); st.SnapshotIndex == 0 {
		t.Errorf("node 3 caught up without installing a snapshot (status %+v)", st)
	}
}

// TestClusterReplicatesAcksAll: with every replica up, an acks=all produce
// to an RF 3 topic is acknowledged once all three have the batch; the
// followers hold exactly the leader's records, and consumers read them.
func TestClusterReplicatesAcksAll(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	adm := inproc.NodeAdmin(t, c.Nodes[0])
	resp, err := adm.CreateTopic(testharness.Context(t, 10*time.Second), 3, 3, nil, "copied")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	p := inproc.NodeClient(t, c.Nodes[0], kgo.DefaultProduceTopic("copied"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := testharness.Context(t, 30*time.Second)
	const n = 3000
	for i := 0; i < n; i++ {
		p.Produce(ctx, &kgo.Record{Value: recordValue(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "copied")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for part := int32(0); part < 3; part++ {
		o, _ := ends.Lookup("copied", part)
		total += o.Offset
		for i, node := range c.Nodes {
			testharness.Eventually(t, 5*time.Second, fmt.Sprintf("node %d to hold partition %d up to %d", i+1, part, o.Offset), func() bool {
				leo, ok := node.LogEndOffset("copied", part)
				return ok && leo == o.Offset
			})
		}
	}
	if total != n {
		t.Fatalf("high watermarks sum to %d, want %d", total, n)
	}
	consumeN(t, c.Nodes[1], "copied", n)
}
