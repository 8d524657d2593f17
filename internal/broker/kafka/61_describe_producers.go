package kafka

// DescribeProducers, versions 0-0.
//
// For each partition this node leads, the producers its replica keeps
// state for (KIP-664, what kafka-transactions.sh describe-producers and
// find-hanging read): producer id and epoch, the last sequence and
// timestamp, the coordinator epoch of the producer's last marker (-1 for
// none) and the first offset of its transaction open on the partition (-1
// for none). Per partition: TOPIC_AUTHORIZATION_FAILED without READ on the
// topic (as Kafka), UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeProducersAPI declares DescribeProducers (key 61): its served versions and handler.
func (b *Backend) describeProducersAPI() served {
	return served{key: 61, API: API{Min: 0, Max: 0, Handle: b.handleDescribeProducers}}
}

func (b *Backend) handleDescribeProducers(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := respond[*kmsg.DescribeProducersResponse](req)
	topics := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		topics[i] = rt.Topic
	}
	denied := b.deniedTopics(c, acl.OpRead, topics)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, partition := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = partition
			if denied[rt.Topic] {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, err := b.servedReplica(rt.Topic, partition)
			if err == nil && !p.IsLeader() {
				err = kerr.NotLeaderForPartition
			}
			if err != nil {
				sp.ErrorCode = code(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pi := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.ProducerEpoch)
				ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.TxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}
