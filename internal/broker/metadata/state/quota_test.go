package state

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func set(key string, v float64) QuotaOp { return QuotaOp{Key: key, Value: v} }
func remove(key string) QuotaOp         { return QuotaOp{Key: key, Remove: true} }

func TestAlterClientQuotasSetsRemovesAndSurvivesSnapshot(t *testing.T) {
	s := securityState(t)
	alice := QuotaEntity{User: Named("alice")}
	aliceApp := QuotaEntity{User: Named("alice"), ClientID: Named("app")}
	defClients := QuotaEntity{ClientID: DefaultQuotaName()}
	applyOK(t, s, TypeAlterClientQuotas, AlterClientQuotas{Alterations: []QuotaAlteration{
		{Entity: alice, Ops: []QuotaOp{set(QuotaProducerByteRate, 1024), set(QuotaRequestPercentage, 12.5)}},
		{Entity: aliceApp, Ops: []QuotaOp{set(QuotaConsumerByteRate, 2048)}},
		{Entity: defClients, Ops: []QuotaOp{set(QuotaProducerByteRate, 4096)}},
	}})
	if v, ok := s.ClientQuotas.Value(alice, QuotaRequestPercentage); !ok || v != 12.5 {
		t.Fatalf("alice request_percentage %v %v", v, ok)
	}
	if got := aliceApp.Key(); got != "/users/alice/clients/app" {
		t.Fatalf("key %q", got)
	}
	if got := defClients.Key(); got != "/clients/<default>" {
		t.Fatalf("key %q", got)
	}

	r := restored(t, s)
	if v, ok := r.ClientQuotas.Value(defClients, QuotaProducerByteRate); !ok || v != 4096 {
		t.Fatalf("restored default client quota %v %v", v, ok)
	}
	cl := s.Clone()

	// Removing an entity's last value removes the entity.
	applyOK(t, s, TypeAlterClientQuotas, AlterClientQuotas{Alterations: []QuotaAlteration{
		{Entity: aliceApp, Ops: []QuotaOp{remove(QuotaConsumerByteRate)}},
		{Entity: alice, Ops: []QuotaOp{remove(QuotaRequestPercentage), set(QuotaProducerByteRate, 10)}},
	}})
	if _, ok := s.ClientQuotas[aliceApp.Key()]; ok {
		t.Fatal("entity with no values left is still stored")
	}
	if v, _ := s.ClientQuotas.Value(alice, QuotaProducerByteRate); v != 10 {
		t.Fatalf("alice producer rate %v", v)
	}
	if _, ok := s.ClientQuotas.Value(alice, QuotaRequestPercentage); ok {
		t.Fatal("removed value still there")
	}
	if v, ok := cl.ClientQuotas.Value(aliceApp, QuotaConsumerByteRate); !ok || v != 2048 {
		t.Fatal("a change to the state reached its clone")
	}
}

// A client id that spells the default, or holds a path separator, is its own
// entity and cannot pass for another.
func TestQuotaEntityKeysDoNotCollide(t *testing.T) {
	keys := map[string]QuotaEntity{}
	for _, e := range []QuotaEntity{
		{ClientID: DefaultQuotaName()},
		{ClientID: Named("<default>")},
		{User: Named("a"), ClientID: Named("b")},
		{User: Named("a/clients/b")},
		{User: Named("a")},
		{ClientID: Named("a")},
	} {
		if prev, ok := keys[e.Key()]; ok {
			t.Fatalf("%+v and %+v share key %q", prev, e, e.Key())
		}
		keys[e.Key()] = e
	}
}

// TestAlterClientQuotasValidation: every invalid alteration is rejected as a
// whole, with the state unchanged.
func TestAlterClientQuotasValidation(t *testing.T) {
	user := QuotaEntity{User: Named("u")}
	for name, tc := range map[string]struct {
		a    QuotaAlteration
		want string
	}{
		"empty entity":        {QuotaAlteration{Ops: []QuotaOp{set(QuotaProducerByteRate, 1)}}, "empty client quota entity"},
		"empty user name":     {QuotaAlteration{Entity: QuotaEntity{User: Named("")}, Ops: []QuotaOp{set(QuotaProducerByteRate, 1)}}, "empty user"},
		"named default":       {QuotaAlteration{Entity: QuotaEntity{ClientID: &QuotaName{Default: true, Name: "x"}}, Ops: []QuotaOp{set(QuotaProducerByteRate, 1)}}, "default has no name"},
		"unknown key":         {QuotaAlteration{Entity: user, Ops: []QuotaOp{set("fetch_rate", 1)}}, "invalid quota key"},
		"mutation rate":       {QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaControllerMutationRate, 1)}}, "not supported"},
		"zero":                {QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaProducerByteRate, 0)}}, "greater than 0"},
		"negative":            {QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaRequestPercentage, -5)}}, "greater than 0"},
		"fractional bytes":    {QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaConsumerByteRate, 1.5)}}, "whole number"},
		"duplicate key":       {QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaProducerByteRate, 1), remove(QuotaProducerByteRate)}}, "duplicate quota key"},
		"unknown key removed": {QuotaAlteration{Entity: user, Ops: []QuotaOp{remove("bogus")}}, "invalid quota key"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := ValidateQuotaAlteration(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateQuotaAlteration: %v, want %q", err, tc.want)
			}
			s := securityState(t)
			good := QuotaAlteration{Entity: QuotaEntity{User: Named("ok")}, Ops: []QuotaOp{set(QuotaProducerByteRate, 5)}}
			_, err := s.Apply(mustEncode(t, TypeAlterClientQuotas, AlterClientQuotas{Alterations: []QuotaAlteration{good, tc.a}}))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("apply: %v, want a rejection", err)
			}
			if len(s.ClientQuotas) != 0 {
				t.Fatalf("a rejected command changed the state: %v", s.ClientQuotas)
			}
		})
	}
	// JSON cannot carry an infinity into the log; the controller's check
	// refuses it before anything is encoded.
	if err := ValidateQuotaAlteration(QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaRequestPercentage, math.Inf(1))}}); err == nil ||
		!strings.Contains(err.Error(), "finite") {
		t.Fatalf("infinite value: %v", err)
	}
	// The same entity twice in one command is refused too.
	s := securityState(t)
	a := QuotaAlteration{Entity: user, Ops: []QuotaOp{set(QuotaProducerByteRate, 5)}}
	if _, err := s.Apply(mustEncode(t, TypeAlterClientQuotas, AlterClientQuotas{Alterations: []QuotaAlteration{a, a}})); !errors.Is(err, ErrRejected) {
		t.Fatalf("duplicate entity: %v", err)
	}
}

// Quotas need the security metadata version: on a cluster still at version
// 1 the command is refused by every node alike.
func TestAlterClientQuotasNeedsSecurityMetadataVersion(t *testing.T) {
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: 1})
	_, err := s.Apply(mustEncode(t, TypeAlterClientQuotas, AlterClientQuotas{Alterations: []QuotaAlteration{
		{Entity: QuotaEntity{User: Named("u")}, Ops: []QuotaOp{set(QuotaProducerByteRate, 5)}},
	}}))
	if !errors.Is(err, ErrRejected) || len(s.ClientQuotas) != 0 {
		t.Fatalf("apply at metadata version 1: %v, quotas %v", err, s.ClientQuotas)
	}
}

func TestMatchClientQuotas(t *testing.T) {
	s := securityState(t)
	var alts []QuotaAlteration
	for _, e := range []QuotaEntity{
		{User: Named("alice")},
		{User: DefaultQuotaName()},
		{User: Named("alice"), ClientID: Named("app")},
		{User: Named("alice"), ClientID: DefaultQuotaName()},
		{User: DefaultQuotaName(), ClientID: DefaultQuotaName()},
		{ClientID: Named("app")},
		{ClientID: DefaultQuotaName()},
	} {
		alts = append(alts, QuotaAlteration{Entity: e, Ops: []QuotaOp{set(QuotaProducerByteRate, 100)}})
	}
	applyOK(t, s, TypeAlterClientQuotas, AlterClientQuotas{Alterations: alts})

	name := func(n string) *string { return &n }
	keys := func(cqs []*ClientQuota) string {
		var out []string
		for _, cq := range cqs {
			out = append(out, cq.Entity.Key())
		}
		return strings.Join(out, " ")
	}
	for desc, tc := range map[string]struct {
		comps  []QuotaFilterComponent
		strict bool
		want   string
	}{
		"everything": {nil, false, "/clients/<default> /clients/app /users/<default> /users/<default>/clients/<default> " +
			"/users/alice /users/alice/clients/<default> /users/alice/clients/app"},
		"nothing strict":      {nil, true, ""},
		"user alice":          {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchExact, Name: name("alice")}}, false, "/users/alice /users/alice/clients/<default> /users/alice/clients/app"},
		"user alice strict":   {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchExact, Name: name("alice")}}, true, "/users/alice"},
		"default user strict": {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchDefault}}, true, "/users/<default>"},
		"any client strict":   {[]QuotaFilterComponent{{Type: "client-id", Match: QuotaMatchAny}}, true, "/clients/<default> /clients/app"},
		"alice any client": {[]QuotaFilterComponent{
			{Type: "user", Match: QuotaMatchExact, Name: name("alice")}, {Type: "client-id", Match: QuotaMatchAny}}, true,
			"/users/alice/clients/<default> /users/alice/clients/app"},
		"default both": {[]QuotaFilterComponent{
			{Type: "client-id", Match: QuotaMatchDefault}, {Type: "user", Match: QuotaMatchDefault}}, false,
			"/users/<default>/clients/<default>"},
		"unknown name": {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchExact, Name: name("bob")}}, false, ""},
		"ip alone":     {[]QuotaFilterComponent{{Type: "ip", Match: QuotaMatchAny}}, false, ""},
	} {
		got, err := s.ClientQuotas.MatchClientQuotas(tc.comps, tc.strict)
		if err != nil || keys(got) != tc.want {
			t.Errorf("%s: got %q (%v), want %q", desc, keys(got), err, tc.want)
		}
	}

	for desc, tc := range map[string]struct {
		comps       []QuotaFilterComponent
		unsupported bool
	}{
		"empty type":     {[]QuotaFilterComponent{{Match: QuotaMatchAny}}, false},
		"twice":          {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchAny}, {Type: "user", Match: QuotaMatchDefault}}, false},
		"exact no name":  {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchExact}}, false},
		"default a name": {[]QuotaFilterComponent{{Type: "user", Match: QuotaMatchDefault, Name: name("x")}}, false},
		"bad match":      {[]QuotaFilterComponent{{Type: "user", Match: 7}}, false},
		"ip and user":    {[]QuotaFilterComponent{{Type: "ip", Match: QuotaMatchAny}, {Type: "user", Match: QuotaMatchAny}}, false},
		"unknown type":   {[]QuotaFilterComponent{{Type: "group", Match: QuotaMatchAny}}, true},
	} {
		_, err := s.ClientQuotas.MatchClientQuotas(tc.comps, false)
		if err == nil || errors.Is(err, ErrQuotaFilterUnsupported) != tc.unsupported {
			t.Errorf("%s: err %v, unsupported %v", desc, err, tc.unsupported)
		}
	}
}

func TestQuotaEntityFromParts(t *testing.T) {
	name := func(n string) *string { return &n }
	e, err := QuotaEntityFromParts([]QuotaEntityPart{{Type: "client-id", Name: nil}, {Type: "user", Name: name("u")}})
	if err != nil || e.Key() != "/users/u/clients/<default>" {
		t.Fatalf("%v %v", e, err)
	}
	if parts := e.Parts(); len(parts) != 2 || parts[0].Type != "user" || *parts[0].Name != "u" || parts[1].Name != nil {
		t.Fatalf("parts %+v", parts)
	}
	for _, bad := range [][]QuotaEntityPart{
		{{Type: "user", Name: name("a")}, {Type: "user", Name: name("b")}},
		{{Type: "ip", Name: name("1.2.3.4")}},
		{{Type: "group", Name: name("g")}},
	} {
		if _, err := QuotaEntityFromParts(bad); !errors.Is(err, ErrRejected) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
