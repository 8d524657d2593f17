package kafka

// Metadata, versions 0-12.
//
// Lists the live (registered, unfenced) brokers and the controller (the raft
// leader); partitions carry leader, leader epoch, replicas, ISR and the
// replicas that are offline, all from the replicated metadata. A null topic list
// (or an empty one at v0) means every topic, internal ones included. A
// requested topic that does not exist is created when auto-creation is on
// and the request allows it (v4+ AllowAutoTopicCreation; always before v4)
// — synchronously, so the answer already carries its partitions. Invalid
// names get INVALID_TOPIC_EXCEPTION, unknown ones UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID when asked by id, v10+).
//
// A partition whose leader this node knows is gone answers
// LEADER_NOT_AVAILABLE with leader -1, as Kafka does for a partition
// without a leader, before the controller has moved the leadership: the
// leader is fenced, or its cluster address refused this node's last dial
// (BackendConfig.PeerRefusedDials; its process is gone). Clients retry
// such an error within a few hundred milliseconds (franz-go every 250 ms,
// up to 8 times) instead of waiting for their next periodic refresh (5 s
// in franz-go), so they find the new leader soon after it is elected.
// Silence alone (a stopped or slow leader) changes nothing here.

import (
	"context"
	"sort"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const authorizedOpsUnknown = -2147483648 // Kafka's "not requested" sentinel

// metadataAPI declares Metadata (key 3): its served versions and handler.
func (b *Backend) metadataAPI() served {
	return served{key: 3, API: API{Min: 0, Max: 12, Handle: b.handleMetadata}}
}

func (b *Backend) handleMetadata(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := respond[*kmsg.MetadataResponse](req)
	s := b.Meta.State()
	for _, br := range liveBrokers(s) {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID = br.ID
		rb.Host, rb.Port = splitHostPort(br.KafkaAddr)
		resp.Brokers = append(resp.Brokers, rb)
	}
	cid := s.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = authorizedOpsUnknown

	all := req.Topics == nil || (req.GetVersion() == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, len(s.Topics))
		for name := range s.Topics {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			resp.Topics = append(resp.Topics, b.metadataTopic(s, s.Topics[name]))
		}
		return done(resp)
	}
	autoCreate := req.GetVersion() < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var (
			t   *state.Topic
			err error
		)
		if rt.Topic == nil {
			var ok bool
			if t, ok = s.TopicByID(rt.TopicID); !ok {
				err = kerr.UnknownTopicID
			}
		} else {
			t, err = b.lookupTopic(ctx, *rt.Topic, autoCreate)
		}
		if err != nil {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			st.ErrorCode = code(err)
			st.AuthorizedOperations = authorizedOpsUnknown
			resp.Topics = append(resp.Topics, st)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(b.Meta.State(), t))
	}
	return done(resp)
}

// metadataTopic describes a topic as the metadata says: each partition's
// leader, leader epoch, replicas and ISR; replicas on fenced brokers are
// offline. A leader that is gone (leaderGone) is answered as no leader.
func (b *Backend) metadataTopic(s *state.State, t *state.Topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic = &name
	st.TopicID = t.ID
	st.IsInternal = t.Internal
	st.AuthorizedOperations = authorizedOpsUnknown
	for i, p := range t.Partitions {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = int32(i)
		sp.Leader = p.Leader
		sp.LeaderEpoch = p.LeaderEpoch
		sp.Replicas = append([]int32(nil), p.Replicas...)
		sp.ISR = append([]int32(nil), p.ISR...)
		for _, r := range p.Replicas {
			if b, ok := s.Brokers[r]; !ok || b.Fenced {
				sp.OfflineReplicas = append(sp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 || b.leaderGone(s, p.Leader) {
			sp.Leader = -1
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}

// leaderGone reports whether this node has evidence that broker id, a
// partition leader in the metadata, no longer runs: it is fenced, or its cluster address refused this node's last dial. Never
// this node itself, which is answering.
func (b *Backend) leaderGone(s *state.State, id int32) bool {
	if id == b.NodeID {
		return false
	}
	if br, ok := s.Brokers[id]; ok && br.Fenced {
		return true
	}
	return b.PeerRefusedDials != nil && b.PeerRefusedDials(id) > 0
}
