package kafka

// CreatePartitions, versions 0-3.
//
// The partition count can only grow (INVALID_PARTITIONS otherwise). An
// explicit assignment must name only existing brokers
// (INVALID_REPLICA_ASSIGNMENT). ValidateOnly checks without changing.

import (
	"context"
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) handleCreatePartitions(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := respond[*kmsg.CreatePartitionsResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := b.checkAssignment(rt.Assignment)
		if err == nil {
			err = b.Controller.CreatePartitions(rt.Topic, rt.Count, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = code(err)
			st.ErrorMessage = message(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}

func (b *Backend) checkAssignment(as []kmsg.CreatePartitionsRequestTopicAssignment) error {
	for _, a := range as {
		for _, r := range a.Replicas {
			if r != b.NodeID {
				return &controller.Error{Code: kerr.InvalidReplicaAssignment, Message: fmt.Sprintf("broker %d does not exist (brokers: [%d])", r, b.NodeID)}
			}
		}
		if len(a.Replicas) != 1 {
			return &controller.Error{Code: kerr.InvalidReplicaAssignment, Message: fmt.Sprintf("%d replicas asked; this cluster has 1 broker", len(a.Replicas))}
		}
	}
	return nil
}
