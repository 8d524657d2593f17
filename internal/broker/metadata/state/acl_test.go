package state

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/acl"
)

func aclBinding(name, principal string, op acl.Operation, perm acl.Permission) acl.Binding {
	return acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: name, PatternType: acl.PatternLiteral,
		Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func TestAclsCreateDeleteSnapshotClone(t *testing.T) {
	s := securityState(t)
	a := aclBinding("orders", "User:alice", acl.OpRead, acl.PermissionAllow)
	b := aclBinding("orders", "User:bob", acl.OpWrite, acl.PermissionDeny)
	g := acl.Binding{ResourceType: acl.ResourceGroup, ResourceName: "app", PatternType: acl.PatternPrefixed,
		Principal: "User:alice", Host: "*", Operation: acl.OpRead, Permission: acl.PermissionAllow}
	applyOK(t, s, TypeCreateAcls, CreateAcls{Bindings: []acl.Binding{a, b, g}})
	applyOK(t, s, TypeCreateAcls, CreateAcls{Bindings: []acl.Binding{a}}) // exists: no change, no error
	if s.Acls.Len() != 3 {
		t.Fatalf("%d bindings, want 3: %v", s.Acls.Len(), s.Acls.All())
	}

	// A clone shares the immutable set; a change to either does not reach the other.
	c := s.Clone()
	r := restored(t, s)
	if !reflect.DeepEqual(r.Acls.All(), s.Acls.All()) {
		t.Fatalf("restored %v, want %v", r.Acls.All(), s.Acls.All())
	}
	if d := acl.NewAuthorizer(acl.Config{}).Authorize(r.Acls, acl.Action{Principal: "User:alice", Host: "h",
		Operation: acl.OpRead, Resource: acl.ResourceGroup, Name: "app-1"}); !d.Allowed {
		t.Fatalf("restored set is not indexed: %s", d.Reason())
	}

	// Delete by filters: alice's topic ACLs and every DENY; the result lists
	// each filter's matches (the deny of bob under the second only).
	alice := "User:alice"
	f1 := acl.AnyFilter()
	f1.ResourceType, f1.Principal = acl.ResourceTopic, &alice
	f2 := acl.AnyFilter()
	f2.Permission = acl.PermissionDeny
	res, err := s.Apply(mustEncode(t, TypeDeleteAcls, DeleteAcls{Filters: []acl.Filter{f1, f2}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]acl.Binding{{a}, {b}}; !reflect.DeepEqual(res.DeletedAcls, want) {
		t.Fatalf("deleted %v, want %v", res.DeletedAcls, want)
	}
	if got := s.Acls.All(); !reflect.DeepEqual(got, []acl.Binding{g}) {
		t.Fatalf("left %v, want %v", got, []acl.Binding{g})
	}
	if c.Acls.Len() != 3 {
		t.Fatalf("the clone changed with the original: %v", c.Acls.All())
	}
	// Deleting what is not there is a success with no matches.
	res, err = s.Apply(mustEncode(t, TypeDeleteAcls, DeleteAcls{Filters: []acl.Filter{f1}}))
	if err != nil || len(res.DeletedAcls) != 1 || len(res.DeletedAcls[0]) != 0 {
		t.Fatalf("second delete: %v %v", res, err)
	}

	// The same log gives the same snapshot on another node.
	s2 := securityState(t)
	applyOK(t, s2, TypeCreateAcls, CreateAcls{Bindings: []acl.Binding{g, b, a}})
	if _, err := s2.Apply(mustEncode(t, TypeDeleteAcls, DeleteAcls{Filters: []acl.Filter{f1, f2}})); err != nil {
		t.Fatal(err)
	}
	x, _ := s.Snapshot()
	y, _ := s2.Snapshot()
	if !bytes.Equal(x, y) {
		t.Fatalf("diverged:\n%s\n%s", x, y)
	}
}

func TestAclsRejected(t *testing.T) {
	s := securityState(t)
	good := aclBinding("t", "User:a", acl.OpRead, acl.PermissionAllow)
	for name, cmd := range map[string]CreateAcls{
		"empty":             {},
		"no principal type": {Bindings: []acl.Binding{good, aclBinding("t", "alice", acl.OpRead, acl.PermissionAllow)}},
		"ANY operation":     {Bindings: []acl.Binding{aclBinding("t", "User:a", acl.OpAny, acl.PermissionAllow)}},
		"ANY permission":    {Bindings: []acl.Binding{aclBinding("t", "User:a", acl.OpRead, acl.PermissionAny)}},
		"MATCH pattern": {Bindings: []acl.Binding{{ResourceType: acl.ResourceTopic, ResourceName: "t", PatternType: acl.PatternMatch,
			Principal: "User:a", Host: "*", Operation: acl.OpRead, Permission: acl.PermissionAllow}}},
		"cluster name": {Bindings: []acl.Binding{{ResourceType: acl.ResourceCluster, ResourceName: "c", PatternType: acl.PatternLiteral,
			Principal: "User:a", Host: "*", Operation: acl.OpAlter, Permission: acl.PermissionAllow}}},
	} {
		if _, err := s.Apply(mustEncode(t, TypeCreateAcls, cmd)); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v, want a rejection", name, err)
		}
	}
	if s.Acls.Len() != 0 {
		t.Fatalf("a rejected command left bindings: %v", s.Acls.All())
	}
	bad := acl.AnyFilter()
	bad.Operation = acl.OpUnknown
	if _, err := s.Apply(mustEncode(t, TypeDeleteAcls, DeleteAcls{Filters: []acl.Filter{acl.AnyFilter(), bad}})); !errors.Is(err, ErrRejected) {
		t.Errorf("unknown filter: %v, want a rejection", err)
	}

	// A cluster still at metadata version 1 refuses ACL commands on every node alike.
	old := New()
	applyOK(t, old, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: 1})
	if _, err := old.Apply(mustEncode(t, TypeCreateAcls, CreateAcls{Bindings: []acl.Binding{good}})); !errors.Is(err, ErrRejected) {
		t.Fatalf("version 1 cluster: %v, want a rejection", err)
	}
}
