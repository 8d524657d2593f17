package kafka

// ListPartitionReassignments, versions 0-0.
//
// Lists the reassignments in progress: for each partition, its replicas
// (the target followed by the replicas being removed), the adding and the
// removing replicas. Null topics lists every partition; named partitions
// that do not exist or are not being reassigned are left out, as in Kafka.
// With an authorizer it needs DESCRIBE on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// listPartitionReassignmentsAPI declares ListPartitionReassignments (key 46): its served versions and handler.
func (b *Backend) listPartitionReassignmentsAPI() served {
	return served{key: 46, API: API{Min: 0, Max: 0, Handle: b.handleListPartitionReassignments}}
}

func (b *Backend) handleListPartitionReassignments(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := respond[*kmsg.ListPartitionReassignmentsResponse](req)
	if !b.authorizeCluster(c, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		msg := "DESCRIBE on the cluster is needed to list partition reassignments"
		resp.ErrorMessage = &msg
		return done(resp)
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
	byTopic := map[string]int{}
	listed := map[state.PartitionRef]bool{}
	for _, r := range b.Controller.ListReassignments(refs) {
		if listed[r.Ref] {
			continue // named twice
		}
		listed[r.Ref] = true
		i, ok := byTopic[r.Ref.Topic]
		if !ok {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = r.Ref.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			byTopic[r.Ref.Topic] = i
		}
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas = r.Ref.Partition, r.Replicas, r.Adding, r.Removing
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return done(resp)
}
