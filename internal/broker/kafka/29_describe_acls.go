package kafka

// DescribeACLs, versions 0-3.
//
// Answers the ACL bindings the filter selects, grouped by resource, as
// Kafka's authorizer matches them (acl.Filter): ANY and null match
// everything, MATCH every binding that applies to the named resource. v0
// filters only LITERAL patterns. Needs DESCRIBE on the cluster
// (CLUSTER_AUTHORIZATION_FAILED); SECURITY_DISABLED when the broker runs
// without an authorizer (--authorizer none), as Kafka does; a filter with an
// UNKNOWN element is INVALID_REQUEST.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeAclsAPI declares DescribeAcls (key 29): its served versions and handler.
func (b *Backend) describeAclsAPI() served {
	return served{key: 29, API: API{Min: 0, Max: 3, Handle: b.handleDescribeAcls}}
}

func (b *Backend) handleDescribeAcls(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := respond[*kmsg.DescribeACLsResponse](req)
	fail := func(err *kerr.Error, msg string) (kmsg.Response, Pending, error) {
		resp.ErrorCode, resp.ErrorMessage = err.Code, &msg
		return done(resp)
	}
	if refusal, msg := b.aclRefusal(c, acl.OpDescribe, "describe"); refusal != nil {
		return fail(refusal, msg)
	}
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType), ResourceName: req.ResourceName, PatternType: aclPattern(req, req.ResourcePatternType),
		Principal: req.Principal, Host: req.Host,
		Operation: acl.Operation(req.Operation), Permission: acl.Permission(req.PermissionType),
	}
	if err := f.Validate(); err != nil {
		return fail(kerr.InvalidRequest, err.Error())
	}
	// Matches are sorted by resource, so each resource's bindings are adjacent.
	for _, m := range b.Meta.State().Acls.Match(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(m.ResourceType) ||
			resp.Resources[n-1].ResourceName != m.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(m.PatternType) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType = kmsg.ACLResourceType(m.ResourceType)
			r.ResourceName = m.ResourceName
			r.ResourcePatternType = kmsg.ACLResourcePatternType(m.PatternType)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = m.Principal, m.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(m.Operation), kmsg.ACLPermissionType(m.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return done(resp)
}

// noAuthorizer is the message of SECURITY_DISABLED answers.
const noAuthorizer = "no authorizer is configured on the broker (start it with --authorizer acl)"

// aclRefusal is why c may not verb ACLs (describe, create, delete), which
// needs op on the cluster: CLUSTER_AUTHORIZATION_FAILED without it, then
// SECURITY_DISABLED when the broker runs without an authorizer; nil when it
// may.
func (b *Backend) aclRefusal(c *Conn, op acl.Operation, verb string) (*kerr.Error, string) {
	if !b.authorizeCluster(c, op) {
		return kerr.ClusterAuthorizationFailed, op.String() + " on the cluster is needed to " + verb + " ACLs"
	}
	if b.Authorizer == nil {
		return kerr.SecurityDisabled, noAuthorizer
	}
	return nil, ""
}

// aclPattern is the pattern type of a binding or filter of an ACL request:
// v0 has none and means LITERAL.
func aclPattern(req kmsg.Request, p kmsg.ACLResourcePatternType) acl.PatternType {
	if req.GetVersion() == 0 {
		return acl.PatternLiteral
	}
	return acl.PatternType(p)
}
