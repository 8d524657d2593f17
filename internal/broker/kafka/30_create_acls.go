package kafka

// CreateACLs, versions 0-3.
//
// Creates ACL bindings in the raft metadata, answering per binding: one
// that Kafka refuses (an UNKNOWN, ANY or MATCH element, an empty resource
// name, a CLUSTER name other than kafka-cluster, a principal without a type,
// an empty host) gets INVALID_REQUEST with the reason; the valid ones are
// committed together in one metadata command. A binding that exists already
// is a success. v0 creates only LITERAL patterns. Needs ALTER on the cluster
// (CLUSTER_AUTHORIZATION_FAILED for every binding); SECURITY_DISABLED when
// the broker runs without an authorizer. The creating principal is logged.

import (
	"context"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclChangeTimeout bounds the commit of an ACL change: the ACL requests
// carry no timeout of their own.
const aclChangeTimeout = 30 * time.Second

// createAclsAPI declares CreateAcls (key 30): its served versions and handler.
func (b *Backend) createAclsAPI() served {
	return served{key: 30, API: API{Min: 0, Max: 3, Handle: b.handleCreateAcls}}
}

func (b *Backend) handleCreateAcls(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := respond[*kmsg.CreateACLsResponse](req)
	if refusal, msg := b.aclRefusal(c, acl.OpAlter, "create"); refusal != nil {
		for range req.Creations {
			r := kmsg.NewCreateACLsResponseResult()
			r.ErrorCode, r.ErrorMessage = refusal.Code, &msg
			resp.Results = append(resp.Results, r)
		}
		return done(resp)
	}
	bindings := make([]acl.Binding, len(req.Creations))
	for i, cr := range req.Creations {
		bindings[i] = acl.Binding{
			ResourceType: acl.ResourceType(cr.ResourceType), ResourceName: cr.ResourceName, PatternType: aclPattern(req, cr.ResourcePatternType),
			Principal: cr.Principal, Host: cr.Host,
			Operation: acl.Operation(cr.Operation), Permission: acl.Permission(cr.PermissionType),
		}
	}
	principal := c.Principal().String()
	return nil, pending(func(ctx context.Context) *kmsg.CreateACLsResponse {
		ctx, cancel := context.WithTimeout(ctx, aclChangeTimeout)
		defer cancel()
		errs := b.Controller.CreateAcls(ctx, bindings)
		created := 0
		for i, err := range errs {
			r := kmsg.NewCreateACLsResponseResult()
			if err != nil {
				r.ErrorCode, r.ErrorMessage = code(err), message(err)
			} else {
				created++
				b.Logger.Info("ACL created", "principal", principal, "remote", c.Remote, "acl", bindings[i].String())
			}
			resp.Results = append(resp.Results, r)
		}
		if created < len(errs) {
			b.Logger.Info("ACL creations refused", "principal", principal, "refused", len(errs)-created, "created", created)
		}
		return resp
	}), nil
}
