package topicadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one ACL binding: a principal from a host may (ALLOW) or may not
// (DENY) do an operation on the resources a pattern names. Names are
// Kafka's (TOPIC, PREFIXED, IDEMPOTENT_WRITE ...).
type ACL struct {
	Principal    string `json:"principal"` // "User:alice", "User:*"
	Host         string `json:"host"`      // "*" or an IP address
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`    // ALLOW or DENY
	ResourceType string `json:"resource_type"` // TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"` // LITERAL or PREFIXED
}

// ACLFilter selects ACLs to list or delete; an empty string or nil
// pointer matches anything.
type ACLFilter struct {
	ResourceType string
	ResourceName *string
	// PatternType is LITERAL, PREFIXED, MATCH (every pattern that applies
	// to the named resource) or ANY.
	PatternType string
	Principal   *string
	Host        *string
	Operation   string
	Permission  string
}

func (f ACLFilter) String() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	if f.ResourceType != "" {
		add("resource_type", f.ResourceType)
	}
	if f.ResourceName != nil {
		add("resource_name", *f.ResourceName)
	}
	if f.PatternType != "" {
		add("pattern_type", f.PatternType)
	}
	if f.Principal != nil {
		add("principal", *f.Principal)
	}
	if f.Host != nil {
		add("host", *f.Host)
	}
	if f.Operation != "" {
		add("operation", f.Operation)
	}
	if f.Permission != "" {
		add("permission", f.Permission)
	}
	if len(parts) == 0 {
		return "every ACL"
	}
	return strings.Join(parts, " ")
}

// SortACLs orders ACLs by resource, then principal, host, operation and
// permission, as `chronik acl list` prints them.
func SortACLs(acls []ACL) {
	slices.SortFunc(acls, func(a, b ACL) int {
		return cmp.Or(
			cmp.Compare(a.ResourceType, b.ResourceType),
			cmp.Compare(a.ResourceName, b.ResourceName),
			cmp.Compare(a.PatternType, b.PatternType),
			cmp.Compare(a.Principal, b.Principal),
			cmp.Compare(a.Host, b.Host),
			cmp.Compare(a.Operation, b.Operation),
			cmp.Compare(a.Permission, b.Permission),
		)
	})
}

// CreateACLs creates the bindings, all in one request. The broker answers
// per binding; if any failed, the error names the first and how many
// others were created anyway (Kafka applies each on its own).
func (c *Client) CreateACLs(ctx context.Context, acls []ACL) ([]ACL, error) {
	op := "create ACLs"
	if len(acls) == 0 {
		return nil, errors.New("create ACLs: no ACL to create")
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		cr := kmsg.NewCreateACLsRequestCreation()
		var err error
		if cr.ResourceType, err = kmsg.ParseACLResourceType(a.ResourceType); err != nil {
			return nil, fmt.Errorf("%s: resource type %q", op, a.ResourceType)
		}
		if cr.ResourcePatternType, err = kmsg.ParseACLResourcePatternType(a.PatternType); err != nil {
			return nil, fmt.Errorf("%s: pattern type %q", op, a.PatternType)
		}
		if cr.Operation, err = kmsg.ParseACLOperation(a.Operation); err != nil {
			return nil, fmt.Errorf("%s: operation %q", op, a.Operation)
		}
		if cr.PermissionType, err = kmsg.ParseACLPermissionType(a.Permission); err != nil {
			return nil, fmt.Errorf("%s: permission %q", op, a.Permission)
		}
		cr.ResourceName, cr.Principal, cr.Host = a.ResourceName, a.Principal, a.Host
		req.Creations = append(req.Creations, cr)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.explainAPI(ctx, op, "CreateAcls", err, "")
	}
	if len(resp.Results) != len(acls) {
		return nil, c.newError(op, "", fmt.Errorf("the broker answered %d results for %d ACLs", len(resp.Results), len(acls)))
	}
	var created []ACL
	var first error
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			if first == nil {
				msg := derefOr(r.ErrorMessage, "")
				first = c.explainAPI(ctx, fmt.Sprintf("%s (%s %s %s on %s %s %s from %s)", op, acls[i].Permission, acls[i].Principal,
					acls[i].Operation, acls[i].PatternType, acls[i].ResourceType, acls[i].ResourceName, acls[i].Host), "CreateAcls", err, msg)
			}
			continue
		}
		created = append(created, acls[i])
	}
	if first != nil {
		if len(created) > 0 {
			return created, fmt.Errorf("%w (the other %d of %d ACLs were created)", first, len(created), len(acls))
		}
		return nil, first
	}
	return created, nil
}

// ListACLs lists the ACLs any of the filters match, each once, sorted.
func (c *Client) ListACLs(ctx context.Context, filters []ACLFilter) ([]ACL, error) {
	op := "list ACLs"
	seen := map[ACL]bool{}
	out := []ACL{}
	for _, f := range filters {
		req := kmsg.NewPtrDescribeACLsRequest()
		var err error
		if req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType, err = f.kmsg(); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		req.ResourceName, req.Principal, req.Host = f.ResourceName, f.Principal, f.Host
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return nil, c.explainAPI(ctx, op, "DescribeAcls", err, "")
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, c.explainAPI(ctx, op, "DescribeAcls", err, derefOr(resp.ErrorMessage, ""))
		}
		for _, r := range resp.Resources {
			for _, a := range r.ACLs {
				acl := ACL{
					Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(), Permission: a.PermissionType.String(),
					ResourceType: r.ResourceType.String(), ResourceName: r.ResourceName, PatternType: r.ResourcePatternType.String(),
				}
				if !seen[acl] {
					seen[acl] = true
					out = append(out, acl)
				}
			}
		}
	}
	SortACLs(out)
	return out, nil
}

// DeleteACLs deletes the ACLs any of the filters match and returns them.
func (c *Client) DeleteACLs(ctx context.Context, filters []ACLFilter) ([]ACL, error) {
	op := "delete ACLs"
	if len(filters) == 0 {
		return nil, errors.New("delete ACLs: no filter")
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, f := range filters {
		df := kmsg.NewDeleteACLsRequestFilter()
		var err error
		if df.ResourceType, df.ResourcePatternType, df.Operation, df.PermissionType, err = f.kmsg(); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		df.ResourceName, df.Principal, df.Host = f.ResourceName, f.Principal, f.Host
		req.Filters = append(req.Filters, df)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.explainAPI(ctx, op, "DeleteAcls", err, "")
	}
	if len(resp.Results) != len(filters) {
		return nil, c.newError(op, "", fmt.Errorf("the broker answered %d results for %d filters", len(resp.Results), len(filters)))
	}
	seen := map[ACL]bool{}
	out := []ACL{}
	var first error
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			if first == nil {
				first = c.explainAPI(ctx, fmt.Sprintf("%s (%s)", op, filters[i]), "DeleteAcls", err, derefOr(r.ErrorMessage, ""))
			}
			continue
		}
		for _, m := range r.MatchingACLs {
			if err := kerr.ErrorForCode(m.ErrorCode); err != nil {
				if first == nil {
					first = c.explainAPI(ctx, fmt.Sprintf("%s (%s %s on %s %s)", op, m.PermissionType, m.Principal, m.ResourceType, m.ResourceName),
						"DeleteAcls", err, derefOr(m.ErrorMessage, ""))
				}
				continue
			}
			acl := ACL{
				Principal: m.Principal, Host: m.Host, Operation: m.Operation.String(), Permission: m.PermissionType.String(),
				ResourceType: m.ResourceType.String(), ResourceName: m.ResourceName, PatternType: m.ResourcePatternType.String(),
			}
			if !seen[acl] {
				seen[acl] = true
				out = append(out, acl)
			}
		}
	}
	SortACLs(out)
	if first != nil {
		if len(out) > 0 {
			return out, fmt.Errorf("%w (%d other ACLs were deleted)", first, len(out))
		}
		return nil, first
	}
	return out, nil
}

// kmsg converts the filter's enumerations; empty means ANY.
func (f ACLFilter) kmsg() (kmsg.ACLResourceType, kmsg.ACLResourcePatternType, kmsg.ACLOperation, kmsg.ACLPermissionType, error) {
	parse := func(v string, p func(string) (int8, error), what string) (int8, error) {
		if v == "" {
			v = "ANY"
		}
		n, err := p(v)
		if err != nil {
			return 0, fmt.Errorf("%s %q", what, v)
		}
		return n, nil
	}
	rt, err := parse(f.ResourceType, func(s string) (int8, error) { v, err := kmsg.ParseACLResourceType(s); return int8(v), err }, "resource type")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	pt, err := parse(f.PatternType, func(s string) (int8, error) { v, err := kmsg.ParseACLResourcePatternType(s); return int8(v), err }, "pattern type")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	op, err := parse(f.Operation, func(s string) (int8, error) { v, err := kmsg.ParseACLOperation(s); return int8(v), err }, "operation")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	perm, err := parse(f.Permission, func(s string) (int8, error) { v, err := kmsg.ParseACLPermissionType(s); return int8(v), err }, "permission")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	return kmsg.ACLResourceType(rt), kmsg.ACLResourcePatternType(pt), kmsg.ACLOperation(op), kmsg.ACLPermissionType(perm), nil
}

func derefOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
