package kafka

// AlterPartitionAssignments, versions 0-0.
// (Kafka's AlterPartitionReassignments; franz-go names it without the "Re".)
//
// Moves each named partition to the replicas given (Kafka's KIP-455): the
// new replicas copy the log as followers, and once all of them are in the
// ISR the controller installs the target (state/reassign.go). A new target
// for a partition already being reassigned replaces the old one; null
// replicas cancel the reassignment, back to the original replicas
// (NO_REASSIGNMENT_IN_PROGRESS when there is none). An empty target, a
// broker named twice or an unregistered broker is INVALID_REPLICA_ASSIGNMENT;
// an unknown partition UNKNOWN_TOPIC_OR_PARTITION; a partition named twice
// in one request INVALID_REQUEST. Each partition is one metadata command,
// committed before the answer. With an authorizer it needs ALTER on the
// cluster (else CLUSTER_AUTHORIZATION_FAILED for the whole request).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// alterPartitionReassignmentsAPI declares AlterPartitionReassignments (key 45): its served versions and handler.
func (b *Backend) alterPartitionReassignmentsAPI() served {
	return served{key: 45, API: API{Min: 0, Max: 0, Handle: b.handleAlterPartitionReassignments}}
}

func (b *Backend) handleAlterPartitionReassignments(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	if !b.authorizeCluster(c, acl.OpAlter) {
		resp := respond[*kmsg.AlterPartitionAssignmentsResponse](req)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		msg := "ALTER on the cluster is needed to reassign partitions"
		resp.ErrorMessage = &msg
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.AlterPartitionAssignmentsResponse {
		ctx, cancel := withTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		return b.alterPartitionReassignments(ctx, req)
	}), nil
}

func (b *Backend) alterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := respond[*kmsg.AlterPartitionAssignmentsResponse](req)
	type slot struct{ topic, partition int }
	seen := map[state.PartitionRef]int{}
	var (
		reqs  []controller.ReassignRequest
		slots []slot
	)
	for ti, rt := range req.Topics {
		t := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			p.Partition = rp.Partition
			t.Partitions = append(t.Partitions, p)
			ref := state.PartitionRef{Topic: rt.Topic, Partition: rp.Partition}
			seen[ref]++
			reqs = append(reqs, controller.ReassignRequest{Ref: ref, Target: rp.Replicas})
			slots = append(slots, slot{ti, len(t.Partitions) - 1})
		}
		resp.Topics = append(resp.Topics, t)
	}
	// A partition named twice is refused in every place it appears, so no
	// order between its two targets is guessed.
	var run []controller.ReassignRequest
	var runSlots []slot
	for i, r := range reqs {
		if seen[r.Ref] > 1 {
			p := &resp.Topics[slots[i].topic].Partitions[slots[i].partition]
			p.ErrorCode = kerr.InvalidRequest.Code
			msg := "the partition is named more than once in the request"
			p.ErrorMessage = &msg
			continue
		}
		run = append(run, r)
		runSlots = append(runSlots, slots[i])
	}
	for i, err := range b.Controller.AlterReassignments(ctx, run) {
		if err == nil {
			continue
		}
		p := &resp.Topics[runSlots[i].topic].Partitions[runSlots[i].partition]
		p.ErrorCode = code(err)
		p.ErrorMessage = controller.Message(err)
	}
	return resp
}
