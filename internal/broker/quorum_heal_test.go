package broker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// produceOnce sends one single-record acks=all produce to broker id and
// returns the partition's error code (-1 when the request itself failed:
// a node just starting may refuse connections). No client retries or
// backoff: the answer is the broker's.
func produceOnce(t *testing.T, cl *kgo.Client, id int32, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(1, 10)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(id)).Request(testharness.Context(t, 5*time.Second), req)
	if err != nil {
		return -1
	}
	return kresp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// TestReplicationAcksResumeWhenQuorumLossHeals: two of three nodes stop
// uncontrolled (the metadata quorum is lost with them) and come back. Once
// the partition's leader sees its ISR full again, an acks=all produce is
// acknowledged within one fetch round: nothing on the broker waits longer
// (a client's own retry backoff after NOT_ENOUGH_REPLICAS is on top).
func TestReplicationAcksResumeWhenQuorumLossHeals(t *testing.T) {
	for _, c := range []struct {
		name       string
		killLeader bool
	}{{"followers", false}, {"leader and a follower", true}} {
		t.Run(c.name, func(t *testing.T) { acksResumeAfterQuorumLoss(t, c.killLeader) })
	}
}

func acksResumeAfterQuorumLoss(t *testing.T, killLeader bool) {
	const topic = "heal"
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, topic, nil)
	cl := inproc.Client(t, c.KafkaAddrs())
	var code int16
	testharness.Eventually(t, 5*time.Second, "acks=all with the full ISR", func() bool {
		code = produceOnce(t, cl, leader, topic)
		return code == 0
	}, func() string { return kerr.ErrorForCode(code).Error() })

	survivor := leader
	if killLeader {
		survivor = leader%3 + 1
	}
	var killed []int
	for i, n := range c.Nodes {
		if int32(i+1) == survivor {
			continue
		}
		if err := n.CrashForTest(testharness.Context(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		c.Nodes[i] = nil
		killed = append(killed, i)
	}
	time.Sleep(2 * time.Second)
	restarted := time.Now()
	for _, i := range killed {
		c.Start(i)
	}

	// Poll the leader as it sees itself: its ISR and one produce.
	var fullAt, ackedAt time.Duration
	var history []string
	testharness.Eventually(t, 20*time.Second, "an acks=all produce acknowledged", func() bool {
		md := c.MetadataOf(int(survivor-1), topic)
		l := md.Topics[0].Partitions[0].Leader
		if l < 1 || c.Nodes[l-1] == nil || !c.Nodes[l-1].Ready() {
			return false
		}
		own := c.MetadataOf(int(l-1), topic).Topics[0].Partitions[0]
		now := time.Since(restarted)
		switch {
		case own.Leader != l:
		case len(own.ISR) == 3 && fullAt == 0:
			fullAt = now
		case len(own.ISR) < 3:
			fullAt = 0 // shrunk by the restarts' fencing: wait for it full again
		}
		code := produceOnce(t, cl, l, topic)
		history = append(history, fmt.Sprintf("%v leader %d isr %v: %v", now.Round(time.Millisecond), l, own.ISR, kerr.ErrorForCode(code)))
		if code == 0 && ackedAt == 0 {
			ackedAt = time.Since(restarted) // when the acknowledgement arrived
		}
		return ackedAt != 0 && fullAt != 0
	}, func() string { return strings.Join(history, "\n") })
	t.Logf("after the restart: leader's ISR full at %v, first acks=all at %v", fullAt.Round(time.Millisecond), ackedAt.Round(time.Millisecond))
	if ackedAt > fullAt+time.Second {
		t.Fatalf("acks=all resumed %v after the ISR was full:\n%s", ackedAt-fullAt, strings.Join(history, "\n"))
	}
}
