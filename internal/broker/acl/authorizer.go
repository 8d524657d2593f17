package acl

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Config is how a broker authorizes, Kafka's authorizer settings.
type Config struct {
	// SuperUsers are principals (Type:Name) allowed everything, whatever
	// the ACLs say: Kafka's super.users.
	SuperUsers []string
	// AllowEveryoneIfNoACL allows an operation on a resource no binding
	// applies to (of any principal): Kafka's
	// allow.everyone.if.no.acl.found. False (Kafka's default) denies it.
	AllowEveryoneIfNoACL bool
}

// ParseSuperUsers reads Kafka's super.users syntax: principals separated by
// semicolons ("User:admin;User:CN=ops,O=example"), since a certificate's
// distinguished name holds commas.
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := ValidatePrincipal(p); err != nil {
			return nil, fmt.Errorf("super user: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Authorizer decides with Kafka's rules over a Set it is handed, so the
// caller passes the ACLs of the metadata it currently sees.
type Authorizer struct {
	superUsers    map[string]bool
	allowEveryone bool
}

// NewAuthorizer returns an authorizer for cfg.
func NewAuthorizer(cfg Config) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowEveryone: cfg.AllowEveryoneIfNoACL}
	for _, p := range cfg.SuperUsers {
		a.superUsers[p] = true
	}
	return a
}

// AllowEveryoneIfNoACL reports the allow.everyone.if.no.acl.found setting.
func (a *Authorizer) AllowEveryoneIfNoACL() bool { return a.allowEveryone }

// SuperUsers lists the super users, sorted.
func (a *Authorizer) SuperUsers() []string {
	out := make([]string, 0, len(a.superUsers))
	for p := range a.superUsers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Action is one operation a principal asks for on one named resource.
type Action struct {
	Principal string // Type:Name
	Host      string // the client's IP address
	Operation Operation
	Resource  ResourceType
	Name      string
}

func (a Action) String() string {
	return fmt.Sprintf("principal %s from %s: %s on %s:%s", a.Principal, a.Host, a.Operation, a.Resource, a.Name)
}

// Rule is why a Decision went the way it did.
type Rule int

// The rules a decision can rest on.
const (
	RuleSuperUser      Rule = iota // the principal is a super user
	RuleNoACL                      // no binding applies to the resource: allow.everyone.if.no.acl.found decides
	RuleDenyACL                    // a DENY binding matches
	RuleAllowACL                   // an ALLOW binding matches and no DENY does
	RuleNoAllowACL                 // bindings apply to the resource, none allows this principal
	RuleResourceDenied             // by resource type: a DENY on the wildcard resource
)

// Decision is an authorization answer and the binding it rests on.
type Decision struct {
	Allowed bool
	Rule    Rule
	Binding Binding // the DENY or ALLOW binding for RuleDenyACL / RuleAllowACL
}

// Reason says in words why, for logs.
func (d Decision) Reason() string {
	switch d.Rule {
	case RuleSuperUser:
		return "super user"
	case RuleNoACL:
		return fmt.Sprintf("no ACL applies to the resource and allow.everyone.if.no.acl.found is %t", d.Allowed)
	case RuleDenyACL:
		return "denied by ACL " + d.Binding.String()
	case RuleAllowACL:
		return "allowed by ACL " + d.Binding.String()
	case RuleResourceDenied:
		return "denied by ACL " + d.Binding.String() + " on every resource of the type"
	default:
		return "no ACL allows it"
	}
}

// impliedBy lists the ALLOW operations that grant op: Kafka's ACL
// inheritance (READ, WRITE, DELETE or ALTER imply DESCRIBE; ALTER_CONFIGS
// implies DESCRIBE_CONFIGS). ALL grants everything and is checked apart.
// DENY is never inherited: a DENY of READ does not deny DESCRIBE.
func impliedBy(op Operation, granted Operation) bool {
	switch op {
	case OpDescribe:
		return granted == OpDescribe || granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpDescribeConfigs || granted == OpAlterConfigs
	default:
		return granted == op
	}
}

// Authorize decides act against acls as Kafka's AclAuthorizer does: super
// users are allowed; otherwise the bindings that apply to the resource
// (literal of its name, the literal wildcard "*", prefixes of its name) are
// taken; none at all leaves it to allow.everyone.if.no.acl.found; a DENY
// matching the principal (or User:*), the host (or *) and the operation (or
// ALL) denies; else an ALLOW matching them, with implied operations,
// allows; else it is denied.
func (a *Authorizer) Authorize(s *Set, act Action) Decision {
	if a.superUsers[act.Principal] {
		return Decision{Allowed: true, Rule: RuleSuperUser}
	}
	applies := false
	var deny, allow *Binding
	s.forResource(act.Resource, act.Name, func(b Binding) bool {
		applies = true
		if !principalMatches(b.Principal, act.Principal) || !hostMatches(b.Host, act.Host) {
			return true
		}
		switch b.Permission {
		case PermissionDeny:
			if b.Operation == OpAll || b.Operation == act.Operation {
				deny = &b
				return false // deny wins: nothing else can change the answer
			}
		case PermissionAllow:
			if allow == nil && (b.Operation == OpAll || impliedBy(act.Operation, b.Operation)) {
				allow = &b
			}
		}
		return true
	})
	switch {
	case !applies:
		return Decision{Allowed: a.allowEveryone, Rule: RuleNoACL}
	case deny != nil:
		return Decision{Rule: RuleDenyACL, Binding: *deny}
	case allow != nil:
		return Decision{Allowed: true, Rule: RuleAllowACL, Binding: *allow}
	default:
		return Decision{Rule: RuleNoAllowACL}
	}
}

// AuthorizeAny decides whether act's principal may do act's operation on at
// least one resource of act's type (act.Name is ignored), as Kafka's
// AclAuthorizer.authorizeByResourceType: for KIP-679's idempotent producer
// (WRITE on any topic). Super users may; a DENY on the literal wildcard
// denies; allow.everyone.if.no.acl.found allows; otherwise some ALLOW
// (literal or prefixed) must not be covered by a DENY of the same literal
// name or of a prefix of its name. Operations are not implied here.
func (a *Authorizer) AuthorizeAny(s *Set, act Action) Decision {
	if a.superUsers[act.Principal] {
		return Decision{Allowed: true, Rule: RuleSuperUser}
	}
	all := s.All()
	matches := func(b Binding) bool {
		return b.ResourceType == act.Resource && principalMatches(b.Principal, act.Principal) &&
			hostMatches(b.Host, act.Host) && (b.Operation == OpAll || b.Operation == act.Operation)
	}
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	for _, b := range all {
		if b.Permission != PermissionDeny || !matches(b) {
			continue
		}
		if b.PatternType == PatternLiteral {
			if b.ResourceName == WildcardResource {
				return Decision{Rule: RuleResourceDenied, Binding: b}
			}
			denyLiteral[b.ResourceName] = true
		} else {
			denyPrefix[b.ResourceName] = true
		}
	}
	if a.allowEveryone {
		return Decision{Allowed: true, Rule: RuleNoACL}
	}
	dominated := func(name string) bool {
		for i := 0; i <= len(name); i++ {
			if denyPrefix[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, b := range all {
		if b.Permission != PermissionAllow || !matches(b) {
			continue
		}
		switch {
		case b.PatternType == PatternLiteral && b.ResourceName == WildcardResource:
			return Decision{Allowed: true, Rule: RuleAllowACL, Binding: b}
		case b.PatternType == PatternLiteral && (denyLiteral[b.ResourceName] || dominated(b.ResourceName)):
		case b.PatternType == PatternPrefixed && dominated(b.ResourceName):
		default:
			return Decision{Allowed: true, Rule: RuleAllowACL, Binding: b}
		}
	}
	return Decision{Rule: RuleNoAllowACL}
}

// principalMatches: the binding names the principal, or User:*.
func principalMatches(bound, principal string) bool {
	return bound == principal || bound == WildcardPrincipal
}

// hostMatches: the binding's host is * or the client's address. Addresses
// are compared as IPs when both parse, so "::1" and "0:0:0:0:0:0:0:1" (as
// Java writes it) are one host, and an IPv4-mapped client is its IPv4.
func hostMatches(bound, host string) bool {
	if bound == WildcardHost || bound == host {
		return true
	}
	b, err1 := netip.ParseAddr(bound)
	h, err2 := netip.ParseAddr(host)
	return err1 == nil && err2 == nil && b.Unmap() == h.Unmap()
}
