package broker_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// produceBytes writes n bytes of 16 KiB records to topic with acks=all and
// returns how long that took.
func produceBytes(t *testing.T, c *inproc.Cluster, topic string, n int) time.Duration {
	t.Helper()
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	start := time.Now()
	ctx := testharness.Context(t, 60*time.Second)
	v := make([]byte, 16<<10)
	if _, err := rand.Read(v); err != nil { // incompressible: kgo compresses batches
		t.Fatal(err)
	}
	for range n / len(v) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	return time.Since(start)
}

// TestReassignmentThrottle: with --reassignment-throttle 256 KiB/s, copying
// 1 MiB to an added replica takes at least (1 MiB − the 256 KiB burst) /
// 256 KiB/s = 3 s, while an acks=all produce to a normal RF-2 partition
// meanwhile is not slowed; the metrics show the limit and the bytes copied.
func TestReassignmentThrottle(t *testing.T) {
	const rate = 256 << 10
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.ReassignmentThrottle = rate
	})
	c.StartAll()
	createAssigned(t, c, "slow", 1)
	createAssigned(t, c, "normal", 1, 2)
	produceBytes(t, c, "slow", 1<<20)
	adm := inproc.Admin(t, c.KafkaAddrs())

	start := time.Now()
	reassign(t, adm, "slow", 1, 2)
	// Normal replication to node 2 runs at full speed meanwhile: 512 KiB
	// acks=all would take 2 s at the throttled rate.
	if took := produceBytes(t, c, "normal", 512<<10); took > 1500*time.Millisecond {
		t.Fatalf("acks=all to an unthrottled partition took %v during the throttled copy", took)
	}
	// The leader shows the copy in progress: the adding replica, advancing.
	var seen string
	testharness.Eventually(t, 5*time.Second, "the leader's view of the adding replica", func() bool {
		for _, v := range c.Nodes[0].Partitions() {
			if v.Topic != "slow" {
				continue
			}
			for _, f := range v.Followers {
				seen = fmt.Sprintf("adding %v removing %v follower %+v log bytes %d", v.AddingReplicas, v.RemovingReplicas, f, v.LogBytes)
				if slices.Equal(v.AddingReplicas, []int32{2}) && f.ID == 2 && f.OffsetsPerSecond > 0 && !f.LastAdvance.IsZero() && v.LogBytes >= 1<<20 {
					return true
				}
			}
		}
		return false
	}, func() string { return seen })
	waitReplicas(t, c, adm, "slow", 30*time.Second, 1, 2)
	took := time.Since(start)
	if took < 2500*time.Millisecond {
		t.Fatalf("1 MiB copied in %v at %d B/s; the throttle did not hold", took, rate)
	}
	t.Logf("1 MiB copied in %v at a %d B/s throttle", took, rate)

	m := scrape(t, c.Nodes[1])
	if got := m.must(t, "chronik_reassignment_throttle_bytes_per_second"); got != rate {
		t.Fatalf("throttle gauge %v, want %d", got, rate)
	}
	if got := m.must(t, "chronik_reassignment_fetched_bytes_total"); got < 1<<20 || got > 2<<20 {
		t.Fatalf("fetched %v bytes for the added replica, want about 1 MiB", got)
	}
	// Node 1 added no replica: nothing throttled there.
	if got := scrape(t, c.Nodes[0]).must(t, "chronik_reassignment_fetched_bytes_total"); got != 0 {
		t.Fatalf("node 1 fetched %v bytes as an adding replica", got)
	}
}

// TestReassignTargetKilledMidCopy: the broker a partition moves to is
// stopped while it copies (the throttle keeps the copy slow enough to stop
// it halfway), restarted, resumes from its log end and completes the move;
// the moved replica holds the same bytes as the one that stayed.
func TestReassignTargetKilledMidCopy(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.ReassignmentThrottle = 256 << 10 })
	c.StartAll()
	createAssigned(t, c, "mid", 1)
	produceBytes(t, c, "mid", 1<<20)
	end, _ := c.Nodes[0].LogEndOffset("mid", 0)
	adm := inproc.Admin(t, c.KafkaAddrs())
	reassign(t, adm, "mid", 1, 3)
	var leo int64
	testharness.Eventually(t, 10*time.Second, "node 3 halfway through the copy", func() bool {
		leo, _ = c.Nodes[2].LogEndOffset("mid", 0)
		return leo > 0
	})
	c.Stop(2)
	if leo >= end {
		t.Fatalf("node 3 had copied everything (%d of %d) before it stopped", leo, end)
	}
	ls, err := adm.ListPartitionReassignments(testharness.Context(t, 10*time.Second), kadm.TopicsSet{"mid": {0: {}}})
	if err != nil || len(ls.Sorted()) != 1 {
		t.Fatalf("the move is not in progress with its target down: %v %+v", err, ls.Sorted())
	}
	c.Start(2)
	waitReplicas(t, c, inproc.Admin(t, c.KafkaAddrs()), "mid", 30*time.Second, 1, 3)
	sameLogs(t, c, "mid", 1, 3)
}
