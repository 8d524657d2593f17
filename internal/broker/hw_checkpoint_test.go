package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// highWatermarkOn is the high watermark node n's replica of topic-0 has.
func highWatermarkOn(n *broker.Node, topic string) int64 {
	for _, v := range n.Partitions() {
		if v.Topic == topic && v.Partition == 0 {
			return v.HighWatermark
		}
	}
	return -1
}

// listLatest asks node n for topic-0's latest offset (ListOffsets -1).
func listLatest(t *testing.T, n *broker.Node, topic string) (int64, int16) {
	t.Helper()
	cl := inproc.NodeClient(t, n)
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(n.NodeID())).Request(testharness.Context(t, 5*time.Second), req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	p := kresp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestRestartedLeaderServesCommittedDataAtOnce: every node of a three-node
// cluster stops at once, uncontrolled (no leadership moves), after 50
// records were committed on all three replicas. Two come back; the third
// stays down but, silent and not fenced yet (long session timeout), stays
// in the ISR, so no follower fetch can raise the leader's high watermark. The
// restarted leader starts from its checkpointed high watermark: ListOffsets
// latest answers 50 at once, never OFFSET_NOT_AVAILABLE, and a consumer reads
// the 50 records. (Without the checkpoint its high watermark stays at the
// log start until the down node is fenced.)
func TestRestartedLeaderServesCommittedDataAtOnce(t *testing.T) {
	const topic, records = "restarted", 50
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.BrokerSessionTimeout = time.Minute
		cfg.LeaderRebalanceInterval = 0
		broker.WithTestCommands(cfg)
	})
	c.StartAll()
	leader := createRF3(t, c, topic, nil)
	cl := c.Client(0, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range records {
		if err := cl.ProduceSync(testharness.Context(t, 10*time.Second), kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	testharness.Eventually(t, 10*time.Second, "every replica's high watermark at 50", func() bool {
		for _, n := range c.Nodes {
			if highWatermarkOn(n, topic) != records {
				return false
			}
		}
		return true
	})

	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.CrashForTest(testharness.Context(t, 10*time.Second)); err != nil {
				t.Errorf("stop node %d: %v", i+1, err)
			}
		}()
	}
	wg.Wait()
	for i := range c.Nodes {
		c.Nodes[i] = nil
	}

	follower := leader%3 + 1 // another replica; the third stays down
	down := follower%3 + 1
	// Its cluster address accepts and stays mute: a paused node, not a gone
	// one, so the controller keeps it (and its ISR membership) until the
	// session timeout.
	testharness.Silence(t, c.Cfgs[down-1].ClusterAddr)
	restarted := time.Now()
	ln, fn := c.Start(int(leader-1)), c.Start(int(follower-1))
	for _, n := range []*broker.Node{ln, fn} {
		testharness.Eventually(t, 20*time.Second, fmt.Sprintf("node %d ready", n.NodeID()), n.Ready)
	}
	// The restart may have moved the leadership (re-registration counts as
	// a fencing); put it back on the restarted leader, with the down node
	// still in the ISR.
	if err := ln.SetPartitionForTest(testharness.Context(t, 10*time.Second), topic, 0, leader, []int32{leader, follower, down}); err != nil {
		t.Fatal(err)
	}
	var off int64
	var code int16
	testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d leads again", leader), func() bool {
		off, code = listLatest(t, ln, topic)
		if code == kerr.OffsetNotAvailable.Code {
			t.Fatalf("restarted leader answered OFFSET_NOT_AVAILABLE (high watermark %d)", highWatermarkOn(ln, topic))
		}
		return code != kerr.NotLeaderForPartition.Code
	}, func() string { return kerr.ErrorForCode(code).Error() })
	if code != 0 || off != records {
		t.Fatalf("restarted leader: latest offset %d (%v), want %d", off, kerr.ErrorForCode(code), records)
	}
	t.Logf("ListOffsets latest answered %d %v after the restart", off, time.Since(restarted).Round(time.Millisecond))
	if got := consumeN(t, ln, topic, records); string(got[records-1].Value) != fmt.Sprint(records-1) {
		t.Fatalf("last record %q", got[records-1].Value)
	}
}
