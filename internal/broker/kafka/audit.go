package kafka

// The audit log of Kafka-side admin changes: every request that changes
// topics, configs, leaders or groups is logged once it is answered, with who
// sent it (principal, address, listener, client id), what it named and how
// each named resource fared. ACL, quota and SCRAM changes log their own,
// more detailed lines (30_create_acls.go, 31_delete_acls.go,
// 49_alter_client_quotas.go, 51_alter_user_scram_credentials.go).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// isAudited reports the admin APIs whose answers audited logs:
// CreateTopics, DeleteTopics, CreatePartitions, DeleteGroups, ElectLeaders,
// IncrementalAlterConfigs, AlterPartitionReassignments and OffsetDelete.
func isAudited(key int16) bool {
	switch key {
	case 19, 20, 37, 42, 43, 44, 45, 47:
		return true
	}
	return false
}

// audited wraps the handler of an admin API so its answer is logged.
func (b *Backend) audited(h HandlerFunc) HandlerFunc {
	return func(ctx context.Context, c *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		resp, p, err := h(ctx, c, req)
		switch {
		case err != nil:
		case p != nil:
			inner := p
			p = func(ctx context.Context) kmsg.Response {
				resp := inner(ctx)
				b.audit(c, req, resp)
				return resp
			}
		default:
			b.audit(c, req, resp)
		}
		return resp, p, err
	}
}

// audit logs one answered admin request.
func (b *Backend) audit(c *Conn, req kmsg.Request, resp kmsg.Response) {
	outcomes := auditOutcomes(req, resp)
	if len(outcomes) == 0 {
		return
	}
	attrs := []any{"api", kmsg.NameForKey(req.Key()), "principal", c.Principal().String(), "remote", addrString(c.Remote),
		"listener", c.Listener, "client_id", c.ClientID, "outcome", outcomes}
	if validateOnly(req) {
		attrs = append(attrs, "validate_only", true)
	}
	b.Logger.Info("kafka admin request", attrs...)
}

// auditOutcomes is "resource: result" for every resource the answer
// names, "ok" or the error's name.
func auditOutcomes(req kmsg.Request, resp kmsg.Response) []string {
	var out []string
	add := func(what string, code int16) {
		result := "ok"
		if err := kerr.ErrorForCode(code); err != nil {
			result = err.Error()
			if ke, ok := err.(*kerr.Error); ok {
				result = ke.Message
			}
		}
		out = append(out, what+": "+result)
	}
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			add("topic "+t.Topic, t.ErrorCode)
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			name := fmt.Sprintf("%x", t.TopicID)
			if t.Topic != nil {
				name = *t.Topic
			}
			add("topic "+name, t.ErrorCode)
		}
	case *kmsg.CreatePartitionsResponse:
		for _, t := range r.Topics {
			add("topic "+t.Topic, t.ErrorCode)
		}
	case *kmsg.DeleteGroupsResponse:
		for _, g := range r.Groups {
			add("group "+g.Group, g.ErrorCode)
		}
	case *kmsg.ElectLeadersResponse:
		if r.ErrorCode != 0 {
			add("cluster", r.ErrorCode)
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(fmt.Sprintf("partition %s/%d", t.Topic, p.Partition), p.ErrorCode)
			}
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		for _, rr := range r.Resources {
			add(fmt.Sprintf("%s %s", rr.ResourceType, rr.ResourceName), rr.ErrorCode)
		}
	case *kmsg.AlterPartitionAssignmentsResponse:
		if r.ErrorCode != 0 {
			add("cluster", r.ErrorCode)
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(fmt.Sprintf("partition %s/%d", t.Topic, p.Partition), p.ErrorCode)
			}
		}
	case *kmsg.OffsetDeleteResponse:
		g := req.(*kmsg.OffsetDeleteRequest).Group
		if r.ErrorCode != 0 {
			add("group "+g, r.ErrorCode)
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(fmt.Sprintf("group %s offsets %s/%d", g, t.Topic, p.Partition), p.ErrorCode)
			}
		}
	}
	return out
}

// validateOnly reports a request that only checks what it would change.
func validateOnly(req kmsg.Request) bool {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		return r.ValidateOnly
	case *kmsg.CreatePartitionsRequest:
		return r.ValidateOnly
	case *kmsg.IncrementalAlterConfigsRequest:
		return r.ValidateOnly
	}
	return false
}
