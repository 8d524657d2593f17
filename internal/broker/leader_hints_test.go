package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestProduceToFollowerCarriesLeaderHint: a Produce v10+ that reaches a
// replica which does not lead the partition is answered
// NOT_LEADER_OR_FOLLOWER with KIP-951's hint: the current leader and its
// epoch, and that leader's endpoint among the response's brokers.
func TestProduceToFollowerCarriesLeaderHint(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, "hinted", nil)
	waitFullISR(t, c, "hinted", 10*time.Second)
	part := partitionOf(t, c, "hinted")
	follower := c.Nodes[int(leader)%3] // node leader+1 (0-based index leader)

	cl := inproc.NodeClient(t, follower, kgo.DisableIdempotentWrite())
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "hinted"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(1, 10)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(follower.NodeID())).Request(testharness.Context(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if resp.GetVersion() < 10 {
		t.Fatalf("produce answered at v%d; the hint needs v10+", resp.GetVersion())
	}
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("error %d from follower %d, want NOT_LEADER_OR_FOLLOWER", got.ErrorCode, follower.NodeID())
	}
	if got.CurrentLeader.LeaderID != leader || got.CurrentLeader.LeaderEpoch != part.LeaderEpoch {
		t.Fatalf("hint %+v, want leader %d epoch %d", got.CurrentLeader, leader, part.LeaderEpoch)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != leader {
		t.Fatalf("brokers %+v, want only the leader %d", resp.Brokers, leader)
	}
	// The endpoint is the one Metadata advertises for the leader.
	b := resp.Brokers[0]
	for _, mb := range c.MetadataOf(0, "hinted").Brokers {
		if mb.NodeID == leader && (mb.Host != b.Host || mb.Port != b.Port) {
			t.Fatalf("leader endpoint %s:%d, Metadata says %s:%d", b.Host, b.Port, mb.Host, mb.Port)
		}
	}
	if b.Host == "" || b.Port <= 0 {
		t.Fatalf("leader endpoint %+v", b)
	}
}

// TestPartitionNotServedHereIsNotLeader: a node that does not host a
// partition the metadata has answers NOT_LEADER_OR_FOLLOWER (with the
// leader's hint on Produce), as Kafka does, so clients retry against the
// leader instead of treating the partition as unknown. A partition beyond
// the topic's count stays UNKNOWN_TOPIC_OR_PARTITION.
func TestPartitionNotServedHereIsNotLeader(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	resp, err := inproc.NodeAdmin(t, c.Nodes[0]).CreateTopic(testharness.Context(t, 10*time.Second), 1, 1, nil, "single")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	part := partitionOf(t, c, "single")
	idx := int(part.Leader) % 3 // node leader+1, 0-based
	other := c.Nodes[idx]
	testharness.Eventually(t, 10*time.Second, "the other node knows the topic", func() bool {
		md := c.MetadataOf(idx, "single")
		return len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 && len(md.Topics[0].Partitions) == 1
	})
	cl := inproc.NodeClient(t, other, kgo.DisableIdempotentWrite())
	got := rawProduce(t, cl, "single", 0, buildBatch(1, 10))
	if got.ErrorCode != kerr.NotLeaderForPartition.Code || got.CurrentLeader.LeaderID != part.Leader {
		t.Fatalf("produce to non-replica %d: error %d, hint %+v; want NOT_LEADER_OR_FOLLOWER naming %d",
			other.NodeID(), got.ErrorCode, got.CurrentLeader, part.Leader)
	}
	if got := rawProduce(t, cl, "single", 7, buildBatch(1, 10)); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to partition 7 of 1: error %d, want UNKNOWN_TOPIC_OR_PARTITION", got.ErrorCode)
	}

	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "single"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	// Broker(id) sends it there: a plain request would be routed to the leader.
	kresp, err := cl.Broker(int(other.NodeID())).Request(testharness.Context(t, 10*time.Second), lreq)
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("list offsets at non-replica: error %d, want NOT_LEADER_OR_FOLLOWER", code)
	}
}
