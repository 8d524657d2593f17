package kafka

// Metadata, versions 0-12.
//
// Lists this node as the only broker and the controller. A null topic list
// (or an empty one at v0) means every topic, internal ones included. A
// requested topic that does not exist is created when auto-creation is on
// and the request allows it (v4+ AllowAutoTopicCreation; always before v4)
// — synchronously, so the answer already carries its partitions. Invalid
// names get INVALID_TOPIC_EXCEPTION, unknown ones UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID when asked by id, v10+).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/meta"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const authorizedOpsUnknown = -2147483648 // Kafka's "not requested" sentinel

func (b *Backend) handleMetadata(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := respond[*kmsg.MetadataResponse](req)
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.NodeID, b.Host, b.Port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	cid := b.Store.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.NodeID
	resp.AuthorizedOperations = authorizedOpsUnknown

	all := req.Topics == nil || (req.GetVersion() == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.Store.Topics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		return done(resp)
	}
	autoCreate := req.GetVersion() < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var (
			t   meta.Topic
			err error
		)
		if rt.Topic == nil {
			var ok bool
			if t, ok = b.Store.TopicByID(meta.TopicID(rt.TopicID)); !ok {
				err = kerr.UnknownTopicID
			}
		} else {
			t, err = b.lookupTopic(*rt.Topic, autoCreate)
		}
		if err != nil {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			st.ErrorCode = code(err)
			st.AuthorizedOperations = authorizedOpsUnknown
			resp.Topics = append(resp.Topics, st)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	return done(resp)
}

func (b *Backend) metadataTopic(t meta.Topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic = &name
	st.TopicID = t.ID
	st.IsInternal = t.Internal
	st.AuthorizedOperations = authorizedOpsUnknown
	for i := int32(0); i < t.Partitions; i++ {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = i
		p := b.Replicas.Get(t.Name, i)
		if p == nil {
			// Metadata says the partition exists but it is not running here.
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
			sp.Leader = -1
			sp.Replicas = []int32{b.NodeID}
			sp.OfflineReplicas = []int32{b.NodeID}
		} else {
			sp.Leader = b.NodeID
			sp.LeaderEpoch = p.LeaderEpoch()
			sp.Replicas = []int32{b.NodeID}
			sp.ISR = []int32{b.NodeID}
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}
