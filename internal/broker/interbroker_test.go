package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// A node's inter-broker client reaches a peer and itself over connections
// the serving side knows as this broker's: a Fetch claiming the sender's
// replica id is served there, one claiming another broker's is refused.
func TestInterbrokerRequestsServedAsBroker(t *testing.T) {
	c := inproc.NewCluster(t, 2, nil)
	c.StartAll()
	createTopic(t, inproc.Admin(t, c.KafkaAddrs()), "ib", 1, nil)
	c.WaitTopic("ib", 1)
	n1 := c.Nodes[0]
	ctx := testharness.Context(t, 20*time.Second)
	for _, to := range []int32{1, 2} {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		resp, err := n1.InterbrokerRequestForTest(ctx, to, md)
		if err != nil {
			t.Fatalf("metadata to node %d: %v", to, err)
		}
		if got := len(resp.(*kmsg.MetadataResponse).Brokers); got != 2 {
			t.Fatalf("node %d lists %d brokers", to, got)
		}
		for claim, want := range map[int32]int16{1: 0, 2: kerr.TopicAuthorizationFailed.Code} {
			f := kmsg.NewPtrFetchRequest()
			f.Version = 12
			f.ReplicaID = claim
			f.MaxWaitMillis = 0
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "ib"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 10
			fp.CurrentLeaderEpoch = -1
			ft.Partitions = append(ft.Partitions, fp)
			f.Topics = append(f.Topics, ft)
			resp, err := n1.InterbrokerRequestForTest(ctx, to, f)
			if err != nil {
				t.Fatalf("fetch to node %d claiming replica %d: %v", to, claim, err)
			}
			fr := resp.(*kmsg.FetchResponse)
			got := fr.Topics[0].Partitions[0].ErrorCode
			if want == 0 && got == kerr.TopicAuthorizationFailed.Code || want != 0 && got != want {
				t.Fatalf("fetch to node %d claiming replica %d: error code %d, want %d", to, claim, got, want)
			}
		}
	}

	// The peer restarts: its old connection is gone, a new one is dialed.
	c.Restart(1)
	var last error
	testharness.Eventually(t, 10*time.Second, "a request to the restarted node", func() bool {
		_, last = n1.InterbrokerRequestForTest(testharness.Context(t, 2*time.Second), 2, kmsg.NewPtrMetadataRequest())
		return last == nil
	}, func() string { return fmt.Sprint("last error: ", last) })
}
