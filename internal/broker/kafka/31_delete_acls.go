package kafka

// DeleteACLs, versions 0-3.
//
// Deletes every ACL binding each filter selects (matched as DescribeAcls
// does) and answers per filter the bindings it selected, a binding selected
// by two filters under both, as Kafka's controller does. The filters go
// into one metadata command and every node matches them against its state at
// that point of the log. A filter with an UNKNOWN element gets
// INVALID_REQUEST; v0 filters only LITERAL patterns. Needs ALTER on the
// cluster (CLUSTER_AUTHORIZATION_FAILED for every filter); SECURITY_DISABLED
// when the broker runs without an authorizer. The deleting principal is
// logged.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteAclsAPI declares DeleteAcls (key 31): its served versions and handler.
func (b *Backend) deleteAclsAPI() served {
	return served{key: 31, API: API{Min: 0, Max: 3, Handle: b.handleDeleteAcls}}
}

func (b *Backend) handleDeleteAcls(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := respond[*kmsg.DeleteACLsResponse](req)
	if refusal, msg := b.aclRefusal(c, acl.OpAlter, "delete"); refusal != nil {
		for range req.Filters {
			r := kmsg.NewDeleteACLsResponseResult()
			r.ErrorCode, r.ErrorMessage = refusal.Code, &msg
			resp.Results = append(resp.Results, r)
		}
		return done(resp)
	}
	filters := make([]acl.Filter, len(req.Filters))
	for i, f := range req.Filters {
		filters[i] = acl.Filter{
			ResourceType: acl.ResourceType(f.ResourceType), ResourceName: f.ResourceName, PatternType: aclPattern(req, f.ResourcePatternType),
			Principal: f.Principal, Host: f.Host,
			Operation: acl.Operation(f.Operation), Permission: acl.Permission(f.PermissionType),
		}
	}
	principal := c.Principal().String()
	return nil, pending(func(ctx context.Context) *kmsg.DeleteACLsResponse {
		ctx, cancel := context.WithTimeout(ctx, aclChangeTimeout)
		defer cancel()
		matched, errs := b.Controller.DeleteAcls(ctx, filters)
		for i := range filters {
			r := kmsg.NewDeleteACLsResponseResult()
			if errs[i] != nil {
				r.ErrorCode, r.ErrorMessage = code(errs[i]), message(errs[i])
			}
			for _, m := range matched[i] {
				ma := kmsg.NewDeleteACLsResponseResultMatchingACL()
				ma.ResourceType, ma.ResourceName = kmsg.ACLResourceType(m.ResourceType), m.ResourceName
				ma.ResourcePatternType = kmsg.ACLResourcePatternType(m.PatternType)
				ma.Principal, ma.Host = m.Principal, m.Host
				ma.Operation, ma.PermissionType = kmsg.ACLOperation(m.Operation), kmsg.ACLPermissionType(m.Permission)
				r.MatchingACLs = append(r.MatchingACLs, ma)
				b.Logger.Info("ACL deleted", "principal", principal, "remote", c.Remote, "acl", m.String())
			}
			resp.Results = append(resp.Results, r)
		}
		return resp
	}), nil
}
