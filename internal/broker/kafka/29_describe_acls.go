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
	if !b.authorizeCluster(c, acl.OpDescribe) {
		return fail(kerr.ClusterAuthorizationFailed, "DESCRIBE on the cluster is needed to describe ACLs")
	}
	if b.Authorizer == nil {
		return fail(kerr.SecurityDisabled, noAuthorizer)
	}
	pattern := acl.PatternType(req.ResourcePatternType)
	if req.GetVersion() == 0 {
		pattern = acl.PatternLiteral
	}
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType), ResourceName: req.ResourceName, PatternType: pattern,
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
