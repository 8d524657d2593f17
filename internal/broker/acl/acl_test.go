package acl

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
)

// bind builds a binding from the short form tests read best.
func bind(rt ResourceType, pt PatternType, name, principal, host string, op Operation, perm Permission) Binding {
	return Binding{ResourceType: rt, PatternType: pt, ResourceName: name, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func allowTopic(name, principal string, op Operation) Binding {
	return bind(ResourceTopic, PatternLiteral, name, principal, "*", op, PermissionAllow)
}

func denyTopic(name, principal string, op Operation) Binding {
	return bind(ResourceTopic, PatternLiteral, name, principal, "*", op, PermissionDeny)
}

func TestAuthorize(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	read := func(name string) Action {
		return Action{Principal: alice, Host: "10.0.0.1", Operation: OpRead, Resource: ResourceTopic, Name: name}
	}
	with := func(a Action, f func(*Action)) Action { f(&a); return a }
	tests := []struct {
		name     string
		cfg      Config
		acls     []Binding
		act      Action
		want     bool
		wantRule Rule
	}{
		{name: "no acls, default denies", act: read("t"), want: false, wantRule: RuleNoACL},
		{name: "no acls, allow.everyone", cfg: Config{AllowEveryoneIfNoACL: true}, act: read("t"), want: true, wantRule: RuleNoACL},
		{name: "acls only on another topic leave this one to allow.everyone", cfg: Config{AllowEveryoneIfNoACL: true},
			acls: []Binding{allowTopic("other", bob, OpRead)}, act: read("t"), want: true, wantRule: RuleNoACL},
		{name: "an acl for another principal on the resource disables allow.everyone", cfg: Config{AllowEveryoneIfNoACL: true},
			acls: []Binding{allowTopic("t", bob, OpRead)}, act: read("t"), want: false, wantRule: RuleNoAllowACL},
		{name: "literal allow", acls: []Binding{allowTopic("t", alice, OpRead)}, act: read("t"), want: true, wantRule: RuleAllowACL},
		{name: "literal is exact", acls: []Binding{allowTopic("t", alice, OpRead)}, act: read("t2"), want: false, wantRule: RuleNoACL},
		{name: "other operation", acls: []Binding{allowTopic("t", alice, OpWrite)}, act: read("t"), want: false, wantRule: RuleNoAllowACL},
		{name: "ALL allows every operation", acls: []Binding{allowTopic("t", alice, OpAll)},
			act: with(read("t"), func(a *Action) { a.Operation = OpAlterConfigs }), want: true, wantRule: RuleAllowACL},
		{name: "deny before allow", acls: []Binding{allowTopic("t", alice, OpRead), denyTopic("t", alice, OpRead)},
			act: read("t"), want: false, wantRule: RuleDenyACL},
		{name: "deny ALL denies", acls: []Binding{allowTopic("t", alice, OpRead), denyTopic("t", alice, OpAll)},
			act: read("t"), want: false, wantRule: RuleDenyACL},
		{name: "deny of User:* denies alice", acls: []Binding{allowTopic("t", alice, OpRead), denyTopic("t", WildcardPrincipal, OpRead)},
			act: read("t"), want: false, wantRule: RuleDenyACL},
		{name: "deny for bob leaves alice allowed", acls: []Binding{allowTopic("t", alice, OpRead), denyTopic("t", bob, OpRead)},
			act: read("t"), want: true, wantRule: RuleAllowACL},
		{name: "wildcard principal allows", acls: []Binding{allowTopic("t", WildcardPrincipal, OpRead)}, act: read("t"), want: true, wantRule: RuleAllowACL},
		// Kafka compares the session principal with User:* whatever its type.
		{name: "wildcard principal matches any principal type", acls: []Binding{allowTopic("t", WildcardPrincipal, OpRead)},
			act: with(read("t"), func(a *Action) { a.Principal = "Group:ops" }), want: true, wantRule: RuleAllowACL},
		{name: "wildcard resource", acls: []Binding{allowTopic(WildcardResource, alice, OpRead)}, act: read("anything"), want: true, wantRule: RuleAllowACL},
		{name: "deny on the wildcard resource beats a literal allow",
			acls: []Binding{allowTopic("t", alice, OpRead), denyTopic(WildcardResource, alice, OpRead)}, act: read("t"), want: false, wantRule: RuleDenyACL},
		{name: "prefixed allow", acls: []Binding{bind(ResourceTopic, PatternPrefixed, "orders-", alice, "*", OpRead, PermissionAllow)},
			act: read("orders-eu"), want: true, wantRule: RuleAllowACL},
		{name: "prefixed covers the prefix itself", acls: []Binding{bind(ResourceTopic, PatternPrefixed, "orders-", alice, "*", OpRead, PermissionAllow)},
			act: read("orders-"), want: true, wantRule: RuleAllowACL},
		{name: "prefixed does not cover a shorter name", acls: []Binding{bind(ResourceTopic, PatternPrefixed, "orders-", alice, "*", OpRead, PermissionAllow)},
			act: read("orders"), want: false, wantRule: RuleNoACL},
		{name: "prefixed deny beats literal allow", acls: []Binding{allowTopic("orders-eu", alice, OpRead),
			bind(ResourceTopic, PatternPrefixed, "orders", alice, "*", OpRead, PermissionDeny)},
			act: read("orders-eu"), want: false, wantRule: RuleDenyACL},
		{name: "prefixed star is not the wildcard", acls: []Binding{bind(ResourceTopic, PatternPrefixed, "*", alice, "*", OpRead, PermissionAllow)},
			act: read("t"), want: false, wantRule: RuleNoACL},
		{name: "host must match", acls: []Binding{bind(ResourceTopic, PatternLiteral, "t", alice, "10.0.0.2", OpRead, PermissionAllow)},
			act: read("t"), want: false, wantRule: RuleNoAllowACL},
		{name: "host matches", acls: []Binding{bind(ResourceTopic, PatternLiteral, "t", alice, "10.0.0.1", OpRead, PermissionAllow)},
			act: read("t"), want: true, wantRule: RuleAllowACL},
		{name: "IPv6 hosts compare as addresses", acls: []Binding{bind(ResourceTopic, PatternLiteral, "t", alice, "0:0:0:0:0:0:0:1", OpRead, PermissionAllow)},
			act: with(read("t"), func(a *Action) { a.Host = "::1" }), want: true, wantRule: RuleAllowACL},
		{name: "deny from one host only", acls: []Binding{allowTopic("t", alice, OpRead),
			bind(ResourceTopic, PatternLiteral, "t", alice, "10.0.0.9", OpRead, PermissionDeny)},
			act: read("t"), want: true, wantRule: RuleAllowACL},
		{name: "read implies describe", acls: []Binding{allowTopic("t", alice, OpRead)},
			act: with(read("t"), func(a *Action) { a.Operation = OpDescribe }), want: true, wantRule: RuleAllowACL},
		{name: "write, delete, alter imply describe", acls: []Binding{allowTopic("a", alice, OpWrite), allowTopic("b", alice, OpDelete), allowTopic("c", alice, OpAlter)},
			act: with(read("c"), func(a *Action) { a.Operation = OpDescribe }), want: true, wantRule: RuleAllowACL},
		{name: "create does not imply describe", acls: []Binding{allowTopic("t", alice, OpCreate)},
			act: with(read("t"), func(a *Action) { a.Operation = OpDescribe }), want: false, wantRule: RuleNoAllowACL},
		{name: "describe does not imply read", acls: []Binding{allowTopic("t", alice, OpDescribe)}, act: read("t"), want: false, wantRule: RuleNoAllowACL},
		{name: "alter_configs implies describe_configs", acls: []Binding{allowTopic("t", alice, OpAlterConfigs)},
			act: with(read("t"), func(a *Action) { a.Operation = OpDescribeConfigs }), want: true, wantRule: RuleAllowACL},
		{name: "a deny of read does not deny describe", acls: []Binding{allowTopic("t", alice, OpRead), denyTopic("t", alice, OpRead)},
			act: with(read("t"), func(a *Action) { a.Operation = OpDescribe }), want: true, wantRule: RuleAllowACL},
		{name: "resource types are apart", acls: []Binding{bind(ResourceGroup, PatternLiteral, "t", alice, "*", OpRead, PermissionAllow)},
			act: read("t"), want: false, wantRule: RuleNoACL},
		{name: "super user bypasses deny", cfg: Config{SuperUsers: []string{alice}}, acls: []Binding{denyTopic("t", alice, OpAll)},
			act: read("t"), want: true, wantRule: RuleSuperUser},
		{name: "super user is exact", cfg: Config{SuperUsers: []string{"User:Alice"}}, act: read("t"), want: false, wantRule: RuleNoACL},
		{name: "cluster resource", acls: []Binding{bind(ResourceCluster, PatternLiteral, ClusterName, alice, "*", OpCreate, PermissionAllow)},
			act: Action{Principal: alice, Host: "h", Operation: OpCreate, Resource: ResourceCluster, Name: ClusterName}, want: true, wantRule: RuleAllowACL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewAuthorizer(tt.cfg).Authorize(NewSet(tt.acls), tt.act)
			if d.Allowed != tt.want || d.Rule != tt.wantRule {
				t.Fatalf("Authorize(%v) = %v (%s), want %v (rule %d)", tt.act, d.Allowed, d.Reason(), tt.want, tt.wantRule)
			}
		})
	}
}

func TestAuthorizeAny(t *testing.T) {
	const alice = "User:alice"
	write := Action{Principal: alice, Host: "10.0.0.1", Operation: OpWrite, Resource: ResourceTopic}
	prefixed := func(name string, perm Permission) Binding {
		return bind(ResourceTopic, PatternPrefixed, name, alice, "*", OpWrite, perm)
	}
	tests := []struct {
		name string
		cfg  Config
		acls []Binding
		want bool
	}{
		{name: "nothing", want: false},
		{name: "allow.everyone", cfg: Config{AllowEveryoneIfNoACL: true}, want: true},
		{name: "allow.everyone loses to a wildcard deny", cfg: Config{AllowEveryoneIfNoACL: true},
			acls: []Binding{denyTopic(WildcardResource, alice, OpWrite)}, want: false},
		{name: "one literal allow", acls: []Binding{allowTopic("t", alice, OpWrite)}, want: true},
		{name: "ALL counts", acls: []Binding{allowTopic("t", alice, OpAll)}, want: true},
		{name: "read does not count", acls: []Binding{allowTopic("t", alice, OpRead)}, want: false},
		{name: "another type does not count", acls: []Binding{bind(ResourceGroup, PatternLiteral, "t", alice, "*", OpWrite, PermissionAllow)}, want: false},
		{name: "literal allow denied by the same literal", acls: []Binding{allowTopic("t", alice, OpWrite), denyTopic("t", alice, OpWrite)}, want: false},
		{name: "literal allow denied by a prefix", acls: []Binding{allowTopic("t1", alice, OpWrite), prefixed("t", PermissionDeny)}, want: false},
		{name: "prefixed allow dominated by a shorter prefixed deny", acls: []Binding{prefixed("ab", PermissionAllow), prefixed("a", PermissionDeny)}, want: false},
		{name: "prefixed allow not dominated by a longer deny", acls: []Binding{prefixed("a", PermissionAllow), prefixed("ab", PermissionDeny)}, want: true},
		{name: "wildcard allow", acls: []Binding{allowTopic(WildcardResource, alice, OpWrite), denyTopic("x", alice, OpWrite)}, want: true},
		{name: "wildcard deny", acls: []Binding{allowTopic("t", alice, OpWrite), denyTopic(WildcardResource, alice, OpWrite)}, want: false},
		{name: "super user", cfg: Config{SuperUsers: []string{alice}}, acls: []Binding{denyTopic(WildcardResource, alice, OpWrite)}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewAuthorizer(tt.cfg).AuthorizeAny(NewSet(tt.acls), write)
			if d.Allowed != tt.want {
				t.Fatalf("AuthorizeAny = %v (%s), want %v", d.Allowed, d.Reason(), tt.want)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	str := func(s string) *string { return &s }
	lit := bind(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead, PermissionAllow)
	wild := bind(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpRead, PermissionAllow)
	pre := bind(ResourceTopic, PatternPrefixed, "ord", "User:alice", "*", OpRead, PermissionAllow)
	other := bind(ResourceGroup, PatternLiteral, "orders", "User:bob", "10.0.0.1", OpWrite, PermissionDeny)
	all := []Binding{lit, wild, pre, other}
	f := func(mod func(*Filter)) Filter { x := AnyFilter(); mod(&x); return x }
	tests := []struct {
		name   string
		filter Filter
		want   []Binding
	}{
		{name: "any", filter: AnyFilter(), want: all},
		{name: "resource type", filter: f(func(x *Filter) { x.ResourceType = ResourceGroup }), want: []Binding{other}},
		{name: "ANY with a name is exact over every pattern type", filter: f(func(x *Filter) { x.ResourceName = str("ord") }), want: []Binding{pre}},
		{name: "LITERAL with a name", filter: f(func(x *Filter) { x.PatternType = PatternLiteral; x.ResourceName = str("orders") }), want: []Binding{lit, other}},
		{name: "LITERAL without a name", filter: f(func(x *Filter) { x.PatternType = PatternLiteral }), want: []Binding{lit, wild, other}},
		{name: "PREFIXED", filter: f(func(x *Filter) { x.PatternType = PatternPrefixed }), want: []Binding{pre}},
		{name: "MATCH finds what applies", filter: f(func(x *Filter) {
			x.PatternType = PatternMatch
			x.ResourceType = ResourceTopic
			x.ResourceName = str("orders")
		}), want: []Binding{lit, wild, pre}},
		{name: "MATCH of another name", filter: f(func(x *Filter) { x.PatternType = PatternMatch; x.ResourceName = str("x") }), want: []Binding{wild}},
		{name: "principal", filter: f(func(x *Filter) { x.Principal = str("User:bob") }), want: []Binding{other}},
		{name: "host", filter: f(func(x *Filter) { x.Host = str("10.0.0.1") }), want: []Binding{other}},
		{name: "operation", filter: f(func(x *Filter) { x.Operation = OpWrite }), want: []Binding{other}},
		{name: "operation ALL is literal in a filter", filter: f(func(x *Filter) { x.Operation = OpAll }), want: nil},
		{name: "permission", filter: f(func(x *Filter) { x.Permission = PermissionDeny }), want: []Binding{other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Binding
			for _, b := range all {
				if tt.filter.Matches(b) {
					got = append(got, b)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("%v matched %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := allowTopic("t", "User:alice", OpRead)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Binding){
		"resource ANY":        func(b *Binding) { b.ResourceType = ResourceAny },
		"resource UNKNOWN":    func(b *Binding) { b.ResourceType = ResourceUnknown },
		"resource 99":         func(b *Binding) { b.ResourceType = 99 },
		"pattern MATCH":       func(b *Binding) { b.PatternType = PatternMatch },
		"pattern ANY":         func(b *Binding) { b.PatternType = PatternAny },
		"empty name":          func(b *Binding) { b.ResourceName = "" },
		"cluster name":        func(b *Binding) { b.ResourceType = ResourceCluster; b.ResourceName = "c" },
		"principal no type":   func(b *Binding) { b.Principal = "alice" },
		"principal no name":   func(b *Binding) { b.Principal = "User:" },
		"empty host":          func(b *Binding) { b.Host = "" },
		"operation ANY":       func(b *Binding) { b.Operation = OpAny },
		"operation UNKNOWN":   func(b *Binding) { b.Operation = OpUnknown },
		"operation 77":        func(b *Binding) { b.Operation = 77 },
		"permission ANY":      func(b *Binding) { b.Permission = PermissionAny },
		"permission negative": func(b *Binding) { b.Permission = -1 },
	}
	for name, mod := range bad {
		b := good
		mod(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	if err := AnyFilter().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Filter){
		"resource":   func(f *Filter) { f.ResourceType = ResourceUnknown },
		"pattern":    func(f *Filter) { f.PatternType = 9 },
		"operation":  func(f *Filter) { f.Operation = OpUnknown },
		"permission": func(f *Filter) { f.Permission = PermissionUnknown },
	} {
		f := AnyFilter()
		mod(&f)
		if err := f.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("filter %s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestSetWithWithoutAndJSON(t *testing.T) {
	a := allowTopic("a", "User:x", OpRead)
	b := denyTopic("b", "User:x", OpRead)
	s := NewSet([]Binding{b, a, a})
	if s.Len() != 2 || !s.Contains(a) || !s.Contains(b) {
		t.Fatalf("set %v", s.All())
	}
	s2 := s.With([]Binding{a, bind(ResourceGroup, PatternLiteral, "g", "User:x", "*", OpRead, PermissionAllow)})
	if s.Len() != 2 || s2.Len() != 3 {
		t.Fatalf("With changed the old set or added a duplicate: %d %d", s.Len(), s2.Len())
	}
	topicFilter := AnyFilter()
	topicFilter.ResourceType = ResourceTopic
	allowFilter := AnyFilter()
	allowFilter.Permission = PermissionAllow
	s3, matched := s2.Without([]Filter{topicFilter, allowFilter})
	if s3.Len() != 0 || len(matched[0]) != 2 || len(matched[1]) != 2 {
		t.Fatalf("Without: %v left, matched %v", s3.All(), matched)
	}
	if s2.Len() != 3 {
		t.Fatal("Without changed the old set")
	}
	raw, err := json.Marshal(s2)
	if err != nil {
		t.Fatal(err)
	}
	var back Set
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.All(), s2.All()) {
		t.Fatalf("round trip %s: %v", raw, back.All())
	}
	if d := NewAuthorizer(Config{}).Authorize(&back, Action{Principal: "User:x", Host: "h", Operation: OpRead, Resource: ResourceTopic, Name: "a"}); !d.Allowed {
		t.Fatalf("a decoded set is not indexed: %s", d.Reason())
	}
	var nilSet *Set
	if nilSet.Len() != 0 || nilSet.Match(AnyFilter()) != nil || nilSet.With([]Binding{a}).Len() != 1 {
		t.Fatal("the nil set is not empty")
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Operation{"Read": OpRead, "IdempotentWrite": OpIdempotentWrite, "idempotent-write": OpIdempotentWrite, "DESCRIBE_CONFIGS": OpDescribeConfigs} {
		if got, err := ParseOperation(in); err != nil || got != want {
			t.Errorf("ParseOperation(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseOperation("fly"); err == nil {
		t.Error("ParseOperation(fly) succeeded")
	}
	users, err := ParseSuperUsers(" User:admin ; User:CN=ops,O=example;")
	if err != nil || !slices.Equal(users, []string{"User:admin", "User:CN=ops,O=example"}) {
		t.Fatalf("ParseSuperUsers = %v, %v", users, err)
	}
	if _, err := ParseSuperUsers("admin"); err == nil {
		t.Fatal("a super user without a type was accepted")
	}
}

// BenchmarkAuthorize decides against 10,000 bindings (literal and
// prefixed, over 1,000 principals): the index keeps it to the bindings of
// one resource.
func BenchmarkAuthorize(b *testing.B) {
	var bs []Binding
	for i := range 10_000 {
		p := "User:u" + strconv.Itoa(i%1000)
		bs = append(bs, allowTopic("topic-"+strconv.Itoa(i), p, OpRead),
			bind(ResourceTopic, PatternPrefixed, "team-"+strconv.Itoa(i%100)+"-", p, "*", OpWrite, PermissionAllow))
	}
	s := NewSet(bs)
	a := NewAuthorizer(Config{})
	act := Action{Principal: "User:u7", Host: "10.0.0.1", Operation: OpRead, Resource: ResourceTopic, Name: "topic-7"}
	b.ReportAllocs()
	for b.Loop() {
		if !a.Authorize(s, act).Allowed {
			b.Fatal("denied")
		}
	}
}
