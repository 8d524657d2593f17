package kafka

// CreatePartitions, versions 0-3.
//
// The partition count can only grow (INVALID_PARTITIONS otherwise). New
// partitions are spread over the live brokers with the topic's replication
// factor; an explicit assignment must name registered brokers, at least one
// of them alive per partition (INVALID_REPLICA_ASSIGNMENT). A request
// adding more partitions, over all its topics, than
// --max-partitions-per-request, or putting a broker over
// --max-partitions-per-broker (or over what its open-files limit serves),
// gets POLICY_VIOLATION with a message naming the limit. ValidateOnly
// checks without changing. With an authorizer each topic needs ALTER
// (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createPartitionsAPI declares CreatePartitions (key 37): its served versions and handler.
func (b *Backend) createPartitionsAPI() served {
	return served{key: 37, API: API{Min: 0, Max: 3, Handle: b.handleCreatePartitions}}
}

func (b *Backend) handleCreatePartitions(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	return nil, pending(func(ctx context.Context) *kmsg.CreatePartitionsResponse {
		ctx, cancel := withTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		return b.createPartitions(ctx, c, req)
	}), nil
}

func (b *Backend) createPartitions(ctx context.Context, c *Conn, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := respond[*kmsg.CreatePartitionsResponse](req)
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	denied := b.deniedTopics(c, acl.OpAlter, names)
	var total int64
	for _, rt := range req.Topics {
		if !denied[rt.Topic] {
			total += b.Controller.AddedPartitions(rt.Topic, rt.Count)
		}
	}
	tooMany := b.Controller.CheckRequestPartitions("create partitions", total)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if denied[rt.Topic] {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if tooMany != nil {
			st.ErrorCode = code(tooMany)
			st.ErrorMessage = message(tooMany)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var assignment [][]int32
		for _, a := range rt.Assignment {
			assignment = append(assignment, a.Replicas)
		}
		err := b.Controller.CreatePartitions(ctx, rt.Topic, rt.Count, assignment, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = code(err)
			st.ErrorMessage = message(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
