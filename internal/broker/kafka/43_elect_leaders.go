package kafka

// ElectLeaders, versions 0-2.
//
// ElectionType 0 (preferred, the only type of v0) moves each partition's
// leadership to its first assigned replica when that replica is alive and in
// the ISR: ELECTION_NOT_NEEDED when it already leads,
// PREFERRED_LEADER_NOT_AVAILABLE when it is fenced or out of the ISR.
// ElectionType 1 (unclean) gives a partition without a leader to its first
// live replica even outside the ISR (acknowledged writes may be lost):
// ELECTION_NOT_NEEDED when it has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE
// when no replica is alive. Null topics means every partition. All changes
// are one metadata command, committed before the answer. With an authorizer
// it needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// electLeadersAPI declares ElectLeaders (key 43): its served versions and handler.
func (b *Backend) electLeadersAPI() served {
	return served{key: 43, API: API{Min: 0, Max: 2, Handle: b.handleElectLeaders}}
}

func (b *Backend) handleElectLeaders(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ElectLeadersRequest)
	if !b.authorizeCluster(c, acl.OpAlter) {
		// Kafka answers the request and every partition it names.
		resp := respond[*kmsg.ElectLeadersResponse](req)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, rt := range req.Topics {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				t.Partitions = append(t.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.ElectLeadersResponse {
		ctx, cancel := withTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		return b.electLeaders(ctx, req)
	}), nil
}

func (b *Backend) electLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := respond[*kmsg.ElectLeadersResponse](req)
	if req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	var refs []state.PartitionRef
	if req.Topics != nil {
		refs = []state.PartitionRef{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				refs = append(refs, state.PartitionRef{Topic: rt.Topic, Partition: p})
			}
		}
	}
	results, err := b.Controller.ElectLeaders(ctx, req.ElectionType == 1, refs)
	if err != nil {
		resp.ErrorCode = code(err)
		return resp
	}
	byTopic := map[string]int{}
	for _, r := range results {
		i, ok := byTopic[r.Ref.Topic]
		if !ok {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = r.Ref.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			byTopic[r.Ref.Topic] = i
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition = r.Ref.Partition
		if r.Err != nil {
			p.ErrorCode = controller.Code(r.Err).Code
			p.ErrorMessage = controller.Message(r.Err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return resp
}
