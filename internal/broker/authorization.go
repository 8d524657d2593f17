package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
)

// The --authorizer values.
const (
	// AuthorizerNone checks nothing, as Kafka without authorizer.class.name:
	// every principal may do everything and the ACL APIs answer
	// SECURITY_DISABLED.
	AuthorizerNone = "none"
	// AuthorizerACL checks every request against the ACLs in the raft
	// metadata with Kafka's semantics (internal/broker/acl).
	AuthorizerACL = "acl"
)

// AuthorizerModes are the --authorizer values.
func AuthorizerModes() []string { return []string{AuthorizerNone, AuthorizerACL} }

// validateAuthorization checks --authorizer, --super-users and
// --allow-everyone-if-no-acl-found.
func (c *Config) validateAuthorization() error {
	if c.Authorizer != "" && !slices.Contains(AuthorizerModes(), c.Authorizer) {
		return fmt.Errorf("authorizer: must be one of %s, got %q", strings.Join(AuthorizerModes(), ", "), c.Authorizer)
	}
	if _, err := acl.ParseSuperUsers(c.SuperUsers); err != nil {
		return fmt.Errorf("super-users: %w (Kafka's super.users syntax: \"User:admin;User:CN=ops\")", err)
	}
	return nil
}

// newAuthorizer builds the Kafka listeners' authorizer; nil for
// --authorizer none.
func (c *Config) newAuthorizer() (*acl.Authorizer, error) {
	if c.Authorizer == "" || c.Authorizer == AuthorizerNone {
		return nil, nil
	}
	users, err := acl.ParseSuperUsers(c.SuperUsers)
	if err != nil {
		return nil, fmt.Errorf("super-users: %w", err)
	}
	return acl.NewAuthorizer(acl.Config{SuperUsers: users, AllowEveryoneIfNoACL: c.AllowEveryoneIfNoACLFound}), nil
}

// AuthorizerInfo is how the Kafka listeners authorize and how many ACL
// bindings the metadata holds, for the admin API and the doctor.
func (n *Node) AuthorizerInfo() kafka.AuthorizerInfo { return n.backend.AuthorizerInfo() }
