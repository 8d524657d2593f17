package topicadmin

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/certs"
)

func acl(principal, host, op, perm, typ, name, pattern string) ACL {
	return ACL{Principal: principal, Host: host, Operation: op, Permission: perm, ResourceType: typ, ResourceName: name, PatternType: pattern}
}

func TestACLSpecBindings(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec ACLSpec
		want []ACL
	}{
		{"defaults: every host, ALL, literal",
			ACLSpec{AllowPrincipals: []string{"User:alice"}, Topics: []string{"orders"}},
			[]ACL{acl("User:alice", "*", "ALL", "ALLOW", "TOPIC", "orders", "LITERAL")}},
		{"operations normalized, repeated once",
			ACLSpec{AllowPrincipals: []string{"User:alice"}, Operations: []string{"read", "Describe", "READ"}, Groups: []string{"g"}},
			[]ACL{acl("User:alice", "*", "READ", "ALLOW", "GROUP", "g", "LITERAL"), acl("User:alice", "*", "DESCRIBE", "ALLOW", "GROUP", "g", "LITERAL")}},
		{"allow and deny with their hosts, prefixed",
			ACLSpec{AllowPrincipals: []string{"User:a"}, AllowHosts: []string{"10.0.0.1"}, DenyPrincipals: []string{"User:b"},
				DenyHosts: []string{"10.0.0.2", "10.0.0.3"}, Operations: []string{"WRITE"}, Topics: []string{"t-"}, PatternType: "prefixed"},
			[]ACL{acl("User:a", "10.0.0.1", "WRITE", "ALLOW", "TOPIC", "t-", "PREFIXED"),
				acl("User:b", "10.0.0.2", "WRITE", "DENY", "TOPIC", "t-", "PREFIXED"),
				acl("User:b", "10.0.0.3", "WRITE", "DENY", "TOPIC", "t-", "PREFIXED")}},
		{"cluster is always literal",
			ACLSpec{AllowPrincipals: []string{"User:ops"}, Operations: []string{"ALTER"}, Cluster: true, PatternType: "prefixed"},
			[]ACL{acl("User:ops", "*", "ALTER", "ALLOW", "CLUSTER", "kafka-cluster", "LITERAL")}},
		{"producer with a transactional id and idempotence",
			ACLSpec{AllowPrincipals: []string{"User:p"}, Producer: true, Idempotent: true, Topics: []string{"t"}, TransactionalIDs: []string{"tx"}},
			[]ACL{acl("User:p", "*", "WRITE", "ALLOW", "TOPIC", "t", "LITERAL"), acl("User:p", "*", "DESCRIBE", "ALLOW", "TOPIC", "t", "LITERAL"),
				acl("User:p", "*", "CREATE", "ALLOW", "TOPIC", "t", "LITERAL"),
				acl("User:p", "*", "WRITE", "ALLOW", "TRANSACTIONAL_ID", "tx", "LITERAL"), acl("User:p", "*", "DESCRIBE", "ALLOW", "TRANSACTIONAL_ID", "tx", "LITERAL"),
				acl("User:p", "*", "IDEMPOTENT_WRITE", "ALLOW", "CLUSTER", "kafka-cluster", "LITERAL")}},
		{"consumer",
			ACLSpec{AllowPrincipals: []string{"User:c"}, Consumer: true, Topics: []string{"t"}, Groups: []string{"g"}},
			[]ACL{acl("User:c", "*", "READ", "ALLOW", "TOPIC", "t", "LITERAL"), acl("User:c", "*", "DESCRIBE", "ALLOW", "TOPIC", "t", "LITERAL"),
				acl("User:c", "*", "READ", "ALLOW", "GROUP", "g", "LITERAL")}},
		{"producer and consumer share DESCRIBE once",
			ACLSpec{AllowPrincipals: []string{"User:pc"}, Producer: true, Consumer: true, Topics: []string{"t"}, Groups: []string{"g"}},
			[]ACL{acl("User:pc", "*", "WRITE", "ALLOW", "TOPIC", "t", "LITERAL"), acl("User:pc", "*", "DESCRIBE", "ALLOW", "TOPIC", "t", "LITERAL"),
				acl("User:pc", "*", "CREATE", "ALLOW", "TOPIC", "t", "LITERAL"), acl("User:pc", "*", "READ", "ALLOW", "TOPIC", "t", "LITERAL"),
				acl("User:pc", "*", "READ", "ALLOW", "GROUP", "g", "LITERAL")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.spec.Bindings()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestACLSpecBindingsErrors(t *testing.T) {
	alice := []string{"User:alice"}
	for _, tc := range []struct {
		spec ACLSpec
		want string
	}{
		{ACLSpec{Topics: []string{"t"}}, "give --allow-principal or --deny-principal"},
		{ACLSpec{AllowPrincipals: []string{"alice"}, Topics: []string{"t"}}, `principal "alice": want TYPE:NAME`},
		{ACLSpec{AllowPrincipals: alice}, "name a resource"},
		{ACLSpec{AllowPrincipals: alice, Topics: []string{"t"}, PatternType: "match"}, "an ACL is literal or prefixed"},
		{ACLSpec{AllowPrincipals: alice, Topics: []string{"t"}, PatternType: "glob"}, "--resource-pattern-type \"glob\""},
		{ACLSpec{AllowPrincipals: alice, Topics: []string{"t"}, Operations: []string{"ANY"}}, `--operation "ANY"`},
		{ACLSpec{AllowPrincipals: alice, Topics: []string{"t"}, Operations: []string{"fly"}}, `--operation "fly"`},
		{ACLSpec{AllowPrincipals: alice, DenyHosts: []string{"h"}, Topics: []string{"t"}}, "--deny-host needs --deny-principal"},
		{ACLSpec{AllowPrincipals: alice, Consumer: true, Topics: []string{"t"}}, "--consumer needs --group"},
		{ACLSpec{AllowPrincipals: alice, Producer: true}, "need --topic"},
		{ACLSpec{AllowPrincipals: alice, Producer: true, Topics: []string{"t"}, Operations: []string{"READ"}}, "--operation cannot be combined"},
		{ACLSpec{AllowPrincipals: alice, Producer: true, Topics: []string{"t"}, Groups: []string{"g"}}, "only --consumer uses groups"},
		{ACLSpec{AllowPrincipals: alice, Idempotent: true, Topics: []string{"t"}}, "--idempotent goes with --producer"},
		{ACLSpec{Principals: alice, Topics: []string{"t"}}, "--principal filters lists"},
	} {
		_, err := tc.spec.Bindings()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }

func TestACLSpecFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   ACLSpec
		delete bool
		want   []ACLFilter
	}{
		{"list everything", ACLSpec{}, false, []ACLFilter{{}}},
		{"list a principal's everywhere", ACLSpec{Principals: []string{"User:a"}}, false,
			[]ACLFilter{{Principal: ptr("User:a")}}},
		{"list an operation everywhere", ACLSpec{Operations: []string{"read"}}, false,
			[]ACLFilter{{Operation: "READ"}}},
		{"a named topic is literal by default", ACLSpec{Topics: []string{"t"}}, false,
			[]ACLFilter{{ResourceType: "TOPIC", ResourceName: ptr("t"), PatternType: "LITERAL"}}},
		{"match", ACLSpec{Topics: []string{"t"}, PatternType: "match"}, false,
			[]ACLFilter{{ResourceType: "TOPIC", ResourceName: ptr("t"), PatternType: "MATCH"}}},
		{"delete a principal's ACLs on a group from a host", ACLSpec{DenyPrincipals: []string{"User:m"}, DenyHosts: []string{"h"}, Groups: []string{"g"}}, true,
			[]ACLFilter{{ResourceType: "GROUP", ResourceName: ptr("g"), PatternType: "LITERAL", Principal: ptr("User:m"), Host: ptr("h"), Permission: "DENY"}}},
		{"delete what --consumer created", ACLSpec{AllowPrincipals: []string{"User:c"}, Consumer: true, Topics: []string{"t"}, Groups: []string{"g"}}, true,
			[]ACLFilter{
				{ResourceType: "TOPIC", ResourceName: ptr("t"), PatternType: "LITERAL", Principal: ptr("User:c"), Operation: "READ", Permission: "ALLOW"},
				{ResourceType: "TOPIC", ResourceName: ptr("t"), PatternType: "LITERAL", Principal: ptr("User:c"), Operation: "DESCRIBE", Permission: "ALLOW"},
				{ResourceType: "GROUP", ResourceName: ptr("g"), PatternType: "LITERAL", Principal: ptr("User:c"), Operation: "READ", Permission: "ALLOW"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.spec.Filters(tc.delete)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		spec   ACLSpec
		delete bool
		want   string
	}{
		{ACLSpec{AllowPrincipals: []string{"User:a"}}, true, "name the resource whose ACLs to delete"},
		{ACLSpec{AllowPrincipals: []string{"User:a"}, Topics: []string{"t"}}, false, "to list, filter with --principal"},
		{ACLSpec{Principals: []string{"User:a"}, Topics: []string{"t"}}, true, "to delete, name principals with --allow-principal"},
		{ACLSpec{Principals: []string{"a"}}, false, "want TYPE:NAME"},
	} {
		if _, err := tc.spec.Filters(tc.delete); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestSecurityProtocolAndCheck(t *testing.T) {
	for _, tc := range []struct {
		s     Security
		proto string
		err   string
	}{
		{Security{}, "PLAINTEXT", ""},
		{Security{TLS: true}, "SSL", ""},
		{Security{SASLMechanism: "scram-sha-256", SASLUser: "u", SASLPassword: "p"}, "SASL_PLAINTEXT", ""},
		{Security{TLS: true, SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"}, "SASL_SSL", ""},
		{Security{SASLMechanism: "GSSAPI", SASLUser: "u", SASLPassword: "p"}, "SASL_PLAINTEXT", `SASL mechanism "GSSAPI"`},
		{Security{SASLMechanism: "PLAIN", SASLPassword: "p"}, "SASL_PLAINTEXT", "needs a user"},
		{Security{SASLMechanism: "PLAIN", SASLUser: "u"}, "SASL_PLAINTEXT", "needs a password"},
		{Security{SASLUser: "u"}, "PLAINTEXT", "needs a SASL mechanism"},
	} {
		if got := tc.s.Protocol(); got != tc.proto {
			t.Errorf("%+v: protocol %s, want %s", tc.s, got, tc.proto)
		}
		err := tc.s.Check()
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: Check %v, want %q", tc.s, err, tc.err)
		}
		if _, kerr := tc.s.KgoOpts(); (kerr == nil) != (err == nil) {
			t.Errorf("%+v: KgoOpts %v, Check %v", tc.s, kerr, err)
		}
	}
	// A TLS file that is not there fails when the options are built, naming it.
	_, err := Security{TLS: true, TLSFile: certs.ClientFiles{CAFile: "/nonexistent/ca.crt"}}.KgoOpts()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.crt") {
		t.Errorf("missing CA file: %v", err)
	}
}
