package kafka

// OffsetForLeaderEpoch, versions 0-4.
//
// For each partition: the largest leader epoch <= the requested one that
// this replica knows and the offset where the next epoch starts (the log end
// for the latest epoch), from the on-disk leader-epoch cache; -1/-1 when
// unknown. CurrentLeaderEpoch (v2+) is checked like Fetch's. Needs
// CLUSTER_ACTION on the cluster or DESCRIBE on each topic
// (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetForLeaderEpochAPI declares OffsetForLeaderEpoch (key 23): its served versions and handler.
func (b *Backend) offsetForLeaderEpochAPI() served {
	return served{key: 23, API: API{Min: 0, Max: 4, Handle: b.handleOffsetForLeaderEpoch}}
}

func (b *Backend) handleOffsetForLeaderEpoch(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := respond[*kmsg.OffsetForLeaderEpochResponse](req)
	// Kafka: CLUSTER_ACTION on the cluster (brokers) or DESCRIBE on each
	// topic (consumers checking for truncation, KIP-320).
	var denied map[string]bool
	if !b.authorizeQuiet(c, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName) {
		topics := make([]string, len(req.Topics))
		for i, rt := range req.Topics {
			topics[i] = rt.Topic
		}
		denied = b.deniedTopics(c, acl.OpDescribe, topics)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, perr := b.servedReplica(rt.Topic, rp.Partition)
			switch {
			case denied[rt.Topic]:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case perr != nil:
				sp.ErrorCode = code(perr)
			default:
				if err := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); err != nil {
					sp.ErrorCode = code(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}
