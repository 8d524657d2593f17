package kafka

// CreatePartitions, versions 0-3.
//
// The partition count can only grow (INVALID_PARTITIONS otherwise). New
// partitions are spread over the live brokers with the topic's replication
// factor; an explicit assignment must name registered brokers, at least one
// of them alive per partition (INVALID_REPLICA_ASSIGNMENT). ValidateOnly
// checks without changing.

import (
	"context"

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
		return b.createPartitions(ctx, req)
	}), nil
}

func (b *Backend) createPartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := respond[*kmsg.CreatePartitionsResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
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
