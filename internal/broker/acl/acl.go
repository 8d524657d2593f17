// Package acl is Kafka's access control model: ACL bindings (a resource
// pattern and an access control entry), the filters DescribeAcls and
// DeleteAcls match them with, an immutable indexed Set of bindings, and the
// authorization decision as Kafka's AclAuthorizer and StandardAuthorizer make
// it. It is pure: no I/O, no clocks, no globals, so the raft state machine
// stores Sets and every node decides the same way.
//
// The numeric values of the enums are Kafka's wire codes (kmsg converts by a
// plain int8 conversion); their text form, used in the metadata snapshot and
// in configuration, is Kafka's upper-case name (TOPIC, PREFIXED, READ...).
package acl

import (
	"errors"
	"fmt"
	"strings"
)

// ResourceType is what an ACL protects.
type ResourceType int8

// Kafka's resource type codes.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType says how a binding's resource name matches resource names.
type PatternType int8

// Kafka's pattern type codes. LITERAL and PREFIXED are what bindings hold;
// ANY and MATCH exist only in filters.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1 // filter: any pattern type, names compared exactly
	PatternMatch    PatternType = 2 // filter: every binding that would apply to the name
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is what a principal does to a resource.
type Operation int8

// Kafka's operation codes.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is whether a matching entry allows or denies.
type Permission int8

// Kafka's permission type codes.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1 // filters only
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// Names Kafka gives special meaning.
const (
	// ClusterName is the only name of the CLUSTER resource.
	ClusterName = "kafka-cluster"
	// WildcardResource as a LITERAL binding's name matches every resource
	// of its type.
	WildcardResource = "*"
	// WildcardPrincipal matches every principal (Kafka compares it whatever
	// the principal type).
	WildcardPrincipal = "User:*"
	// WildcardHost matches every client address.
	WildcardHost = "*"
)

var (
	resourceNames = map[ResourceType]string{
		ResourceUnknown: "UNKNOWN", ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP",
		ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID",
		ResourceDelegationToken: "DELEGATION_TOKEN", ResourceUser: "USER",
	}
	patternNames = map[PatternType]string{
		PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH",
		PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED",
	}
	operationNames = map[Operation]string{
		OpUnknown: "UNKNOWN", OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE",
		OpCreate: "CREATE", OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE",
		OpClusterAction: "CLUSTER_ACTION", OpDescribeConfigs: "DESCRIBE_CONFIGS",
		OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE",
		OpCreateTokens: "CREATE_TOKENS", OpDescribeTokens: "DESCRIBE_TOKENS",
	}
	permissionNames = map[Permission]string{
		PermissionUnknown: "UNKNOWN", PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW",
	}
)

func (t ResourceType) String() string { return name(resourceNames, t) }
func (t PatternType) String() string  { return name(patternNames, t) }
func (o Operation) String() string    { return name(operationNames, o) }
func (p Permission) String() string   { return name(permissionNames, p) }

func name[T ~int8](names map[T]string, v T) string {
	if s, ok := names[v]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN(%d)", int8(v))
}

// parse reads a Kafka enum name, case-insensitively and with '-' for '_'
// (kafka-acls.sh spells them both ways: "Describe", "IdempotentWrite",
// "idempotent-write").
func parse[T ~int8](names map[T]string, what, s string) (T, error) {
	norm := strings.ReplaceAll(strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", ""), "_", "")
	for v, n := range names {
		if strings.ReplaceAll(n, "_", "") == norm {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", what, s)
}

// ParseResourceType, ParsePatternType, ParseOperation and ParsePermission
// read Kafka's names ("TOPIC", "Prefixed", "idempotent-write", "Allow").
func ParseResourceType(s string) (ResourceType, error) {
	return parse(resourceNames, "resource type", s)
}
func ParsePatternType(s string) (PatternType, error) { return parse(patternNames, "pattern type", s) }
func ParseOperation(s string) (Operation, error)     { return parse(operationNames, "operation", s) }
func ParsePermission(s string) (Permission, error)   { return parse(permissionNames, "permission", s) }

// The text forms make JSON (the metadata snapshot and commands) readable
// and independent of the codes' order.
func (t ResourceType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }
func (t PatternType) MarshalText() ([]byte, error)  { return []byte(t.String()), nil }
func (o Operation) MarshalText() ([]byte, error)    { return []byte(o.String()), nil }
func (p Permission) MarshalText() ([]byte, error)   { return []byte(p.String()), nil }

func (t *ResourceType) UnmarshalText(b []byte) (err error) {
	*t, err = parse(resourceNames, "resource type", string(b))
	return err
}

func (t *PatternType) UnmarshalText(b []byte) (err error) {
	*t, err = parse(patternNames, "pattern type", string(b))
	return err
}

func (o *Operation) UnmarshalText(b []byte) (err error) {
	*o, err = parse(operationNames, "operation", string(b))
	return err
}

func (p *Permission) UnmarshalText(b []byte) (err error) {
	*p, err = parse(permissionNames, "permission", string(b))
	return err
}

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName string       `json:"resource_name"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    string       `json:"principal"` // Type:Name, e.g. User:alice or User:*
	Host         string       `json:"host"`      // a client IP address or *
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

func (b Binding) String() string {
	return fmt.Sprintf("(%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// ErrInvalid marks a binding or filter Kafka answers INVALID_REQUEST.
var ErrInvalid = errors.New("invalid ACL")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate applies Kafka's rules for a binding to be created (KafkaApis'
// CreateAcls checks and the controller's validateNewAcl): a concrete
// resource type, LITERAL or PREFIXED, a non-empty name (kafka-cluster for
// CLUSTER), a principal of the form Type:Name, a host, a concrete operation
// and ALLOW or DENY.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return invalidf("resource type %s cannot be bound", b.ResourceType)
	}
	switch b.PatternType {
	case PatternLiteral, PatternPrefixed:
	default:
		return invalidf("pattern type %s cannot be bound; use LITERAL or PREFIXED", b.PatternType)
	}
	switch {
	case b.ResourceName == "":
		return invalidf("empty resource name")
	case b.ResourceType == ResourceCluster && b.ResourceName != ClusterName:
		return invalidf("the only valid name for the CLUSTER resource is %s, not %q", ClusterName, b.ResourceName)
	}
	if err := ValidatePrincipal(b.Principal); err != nil {
		return err
	}
	if b.Host == "" {
		return invalidf("empty host; use %s for every host", WildcardHost)
	}
	if b.Operation <= OpAny || operationNames[b.Operation] == "" {
		return invalidf("operation %s cannot be bound", b.Operation)
	}
	if b.Permission != PermissionAllow && b.Permission != PermissionDeny {
		return invalidf("permission %s cannot be bound; use ALLOW or DENY", b.Permission)
	}
	return nil
}

// ValidatePrincipal checks the Type:Name form of a principal (User:alice).
func ValidatePrincipal(p string) error {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return invalidf("principal %q is not of the form Type:Name (e.g. User:alice)", p)
	}
	return nil
}

// Filter selects bindings, as DescribeAcls and DeleteAcls carry it: ANY
// (or a nil name, principal or host) matches everything; pattern type MATCH
// selects every binding that applies to the named resource.
type Filter struct {
	ResourceType ResourceType `json:"resource_type"`
	ResourceName *string      `json:"resource_name,omitempty"`
	PatternType  PatternType  `json:"pattern_type"`
	Principal    *string      `json:"principal,omitempty"`
	Host         *string      `json:"host,omitempty"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permission"`
}

// AnyFilter matches every binding.
func AnyFilter() Filter {
	return Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
}

func (f Filter) String() string {
	s := func(p *string) string {
		if p == nil {
			return "<any>"
		}
		return *p
	}
	return fmt.Sprintf("(%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		f.ResourceType, f.PatternType, s(f.ResourceName), s(f.Principal), s(f.Host), f.Operation, f.Permission)
}

// Validate refuses a filter with an UNKNOWN (or out of range) element, as
// Kafka does for DescribeAcls and DeleteAcls.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResourceUnknown || resourceNames[f.ResourceType] == "":
		return invalidf("filter has resource type %s", f.ResourceType)
	case f.PatternType <= PatternUnknown || patternNames[f.PatternType] == "":
		return invalidf("filter has pattern type %s", f.PatternType)
	case f.Operation <= OpUnknown || operationNames[f.Operation] == "":
		return invalidf("filter has operation %s", f.Operation)
	case f.Permission <= PermissionUnknown || permissionNames[f.Permission] == "":
		return invalidf("filter has permission %s", f.Permission)
	}
	return nil
}

// Matches reports whether f selects b, as Kafka's AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool {
	return f.matchesPattern(b) &&
		(f.Principal == nil || *f.Principal == b.Principal) &&
		(f.Host == nil || *f.Host == b.Host) &&
		(f.Operation == OpAny || f.Operation == b.Operation) &&
		(f.Permission == PermissionAny || f.Permission == b.Permission)
}

func (f Filter) matchesPattern(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	name := *f.ResourceName
	if f.PatternType != PatternMatch {
		return name == b.ResourceName
	}
	switch b.PatternType {
	case PatternLiteral:
		return name == b.ResourceName || b.ResourceName == WildcardResource
	case PatternPrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	default:
		return false
	}
}
