package state

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
)

// Client quotas, Kafka's way (KIP-13, KIP-55, KIP-124, KIP-546): values keyed
// by an entity made of a user, a client id, or both, where each part is a
// name or the default ("<default>", which applies to every user or client id
// without a quota of its own). The enforcement (internal/broker/quota)
// resolves which entity's value applies to a connection.

// Quota entity types, as the Kafka protocol names them.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	// QuotaEntityIP is Kafka's IP entity (connection_creation_rate); chronik
	// refuses it: its connection limits are --max-connections-per-ip.
	QuotaEntityIP = "ip"
)

// Quota keys: the values a quota entity can set.
const (
	// QuotaProducerByteRate bounds the bytes per second of the Produce
	// requests of a user or client id.
	QuotaProducerByteRate = "producer_byte_rate"
	// QuotaConsumerByteRate bounds the record bytes per second of the Fetch
	// responses sent to a user or client id.
	QuotaConsumerByteRate = "consumer_byte_rate"
	// QuotaRequestPercentage bounds the time request handlers spend on a
	// user or client id, in percent of one thread.
	QuotaRequestPercentage = "request_percentage"
	// QuotaControllerMutationRate is Kafka's KIP-599 quota on topic and
	// partition creations and deletions; chronik refuses it.
	QuotaControllerMutationRate = "controller_mutation_rate"
)

// QuotaKeys are the quota keys chronik stores and enforces.
func QuotaKeys() []string {
	return []string{QuotaProducerByteRate, QuotaConsumerByteRate, QuotaRequestPercentage}
}

// QuotaDefaultName is how Kafka's tools print the default entity name (the
// protocol sends a null name); also the path segment of Key.
const QuotaDefaultName = "<default>"

// QuotaName is one part of a quota entity: a user or client id, or the
// default.
type QuotaName struct {
	Default bool   `json:"default,omitempty"`
	Name    string `json:"name,omitempty"` // empty when Default
}

// Named is a QuotaName for name; DefaultQuotaName the default.
func Named(name string) *QuotaName { return &QuotaName{Name: name} }

// DefaultQuotaName is the default entity of its type.
func DefaultQuotaName() *QuotaName { return &QuotaName{Default: true} }

func (n *QuotaName) String() string {
	if n.Default {
		return QuotaDefaultName
	}
	return n.Name
}

// segment is the name in Key: escaped, so that a client id spelled
// "<default>" or holding a "/" cannot pass for another entity.
func (n *QuotaName) segment() string {
	if n.Default {
		return QuotaDefaultName
	}
	return url.PathEscape(n.Name)
}

func (n *QuotaName) clone() *QuotaName {
	if n == nil {
		return nil
	}
	c := *n
	return &c
}

// QuotaEntity is whom quota values apply to: a user, a client id, or a
// user's client id. A nil part is absent from the entity.
type QuotaEntity struct {
	User     *QuotaName `json:"user,omitempty"`
	ClientID *QuotaName `json:"client_id,omitempty"`
}

// Key is the entity's path in Kafka's notation, e.g.
// "/users/alice/clients/<default>": the key of State.ClientQuotas and what
// logs and errors show.
func (e QuotaEntity) Key() string {
	var b strings.Builder
	if e.User != nil {
		b.WriteString("/users/")
		b.WriteString(e.User.segment())
	}
	if e.ClientID != nil {
		b.WriteString("/clients/")
		b.WriteString(e.ClientID.segment())
	}
	return b.String()
}

func (e QuotaEntity) String() string { return e.Key() }

func (e QuotaEntity) clone() QuotaEntity {
	return QuotaEntity{User: e.User.clone(), ClientID: e.ClientID.clone()}
}

// ClientQuota is one entity's quota values, by key.
type ClientQuota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// ClientQuotas is every entity with at least one quota value, by
// QuotaEntity.Key.
type ClientQuotas map[string]*ClientQuota

// Clone returns a deep copy.
func (q ClientQuotas) Clone() ClientQuotas {
	if q == nil {
		return nil
	}
	c := make(ClientQuotas, len(q))
	for k, v := range q {
		c[k] = &ClientQuota{Entity: v.Entity.clone(), Values: maps.Clone(v.Values)}
	}
	return c
}

// Value is the quota value of key set for exactly entity, if any.
func (q ClientQuotas) Value(entity QuotaEntity, key string) (float64, bool) {
	cq, ok := q[entity.Key()]
	if !ok {
		return 0, false
	}
	v, ok := cq.Values[key]
	return v, ok
}

// QuotaOp sets (Remove false) or removes one quota value.
type QuotaOp struct {
	Key    string  `json:"key"`
	Value  float64 `json:"value,omitempty"`
	Remove bool    `json:"remove,omitempty"`
}

// QuotaAlteration is the operations on one entity.
type QuotaAlteration struct {
	Entity QuotaEntity `json:"entity"`
	Ops    []QuotaOp   `json:"ops"`
}

// AlterClientQuotas applies a batch of alterations, all or nothing. The
// controller proposes only alterations that passed ValidateQuotaAlteration;
// Apply checks them again, so a log entry that slipped through is refused by
// every node alike.
type AlterClientQuotas struct {
	Alterations []QuotaAlteration `json:"alterations"`
}

// ValidateQuotaEntity checks an entity is one Kafka allows: a user, a client
// id or both, each a non-empty name or the default.
func ValidateQuotaEntity(e QuotaEntity) error {
	if e.User == nil && e.ClientID == nil {
		return rejectf("empty client quota entity")
	}
	for _, p := range []struct {
		typ string
		n   *QuotaName
	}{{QuotaEntityUser, e.User}, {QuotaEntityClientID, e.ClientID}} {
		typ, n := p.typ, p.n
		switch {
		case n == nil:
		case n.Default && n.Name != "":
			return rejectf("%s entity: the default has no name, got %q", typ, n.Name)
		case !n.Default && n.Name == "":
			return rejectf("empty %s not supported", typ)
		}
	}
	return nil
}

// ValidateQuotaAlteration checks one entity's operations: a valid entity,
// known keys, each at most once, and values that are positive and, for the
// byte rates, whole numbers (Kafka's LONG quotas).
func ValidateQuotaAlteration(a QuotaAlteration) error {
	if err := ValidateQuotaEntity(a.Entity); err != nil {
		return err
	}
	seen := make(map[string]bool, len(a.Ops))
	for _, op := range a.Ops {
		if seen[op.Key] {
			return rejectf("duplicate quota key %s for entity %s", op.Key, a.Entity)
		}
		seen[op.Key] = true
		if err := validQuotaKey(op.Key); err != nil {
			return err
		}
		if op.Remove {
			continue
		}
		if err := validQuotaValue(op.Key, op.Value); err != nil {
			return err
		}
	}
	return nil
}

func validQuotaKey(key string) error {
	switch key {
	case QuotaProducerByteRate, QuotaConsumerByteRate, QuotaRequestPercentage:
		return nil
	case QuotaControllerMutationRate:
		return rejectf("quota %s (KIP-599) is not supported by chronik", key)
	default:
		return rejectf("invalid quota key %q: chronik knows %s", key, strings.Join(QuotaKeys(), ", "))
	}
}

func validQuotaValue(key string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return rejectf("quota %s must be a finite number, got %v", key, v)
	case v <= 0:
		return rejectf("quota %s must be greater than 0, got %v", key, v)
	case key != QuotaRequestPercentage && (v != math.Trunc(v) || v > math.MaxInt64):
		return rejectf("quota %s must be a whole number of bytes per second (a Long), got %v", key, v)
	}
	return nil
}

func (s *State) applyAlterClientQuotas(c AlterClientQuotas) error {
	seen := make(map[string]bool, len(c.Alterations))
	for _, a := range c.Alterations {
		if err := ValidateQuotaAlteration(a); err != nil {
			return err
		}
		key := a.Entity.Key()
		if seen[key] {
			return rejectf("client quota entity %s appears twice", key)
		}
		seen[key] = true
	}
	next := s.ClientQuotas.Clone()
	if next == nil {
		next = ClientQuotas{}
	}
	for _, a := range c.Alterations {
		key := a.Entity.Key()
		cq := next[key]
		if cq == nil {
			cq = &ClientQuota{Entity: a.Entity.clone(), Values: map[string]float64{}}
		}
		for _, op := range a.Ops {
			if op.Remove {
				delete(cq.Values, op.Key)
			} else {
				cq.Values[op.Key] = op.Value
			}
		}
		if len(cq.Values) == 0 {
			delete(next, key)
		} else {
			next[key] = cq
		}
	}
	s.ClientQuotas = next
	return nil
}

// SortedClientQuotas lists the entities with quotas in key order, for
// deterministic answers.
func (s *State) SortedClientQuotas() []*ClientQuota {
	keys := slices.Sorted(maps.Keys(s.ClientQuotas))
	out := make([]*ClientQuota, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.ClientQuotas[k])
	}
	return out
}

// QuotaEntityFromParts builds an entity from Kafka's wire form: (type,
// name) pairs with a nil name for the default. Unknown or repeated types are
// an error; the IP type is refused as unsupported.
func QuotaEntityFromParts(parts []QuotaEntityPart) (QuotaEntity, error) {
	var e QuotaEntity
	for _, p := range parts {
		n := DefaultQuotaName()
		if p.Name != nil {
			n = Named(*p.Name)
		}
		switch p.Type {
		case QuotaEntityUser:
			if e.User != nil {
				return e, rejectf("entity type %s appears twice", p.Type)
			}
			e.User = n
		case QuotaEntityClientID:
			if e.ClientID != nil {
				return e, rejectf("entity type %s appears twice", p.Type)
			}
			e.ClientID = n
		case QuotaEntityIP:
			return e, rejectf("ip quotas (connection_creation_rate) are not supported by chronik; use --max-connections-per-ip")
		default:
			return e, rejectf("unhandled client quota entity type %q", p.Type)
		}
	}
	return e, nil
}

// QuotaEntityPart is one (type, name) pair of Kafka's wire form; Name nil is
// the default.
type QuotaEntityPart struct {
	Type string
	Name *string
}

// Parts is the entity in Kafka's wire form, user first.
func (e QuotaEntity) Parts() []QuotaEntityPart {
	var out []QuotaEntityPart
	add := func(typ string, n *QuotaName) {
		if n == nil {
			return
		}
		p := QuotaEntityPart{Type: typ}
		if !n.Default {
			name := n.Name
			p.Name = &name
		}
		out = append(out, p)
	}
	add(QuotaEntityUser, e.User)
	add(QuotaEntityClientID, e.ClientID)
	return out
}

// Kafka's DescribeClientQuotas match types.
const (
	QuotaMatchExact   int8 = 0 // the entity type with exactly this name
	QuotaMatchDefault int8 = 1 // the entity type's default
	QuotaMatchAny     int8 = 2 // the entity type with any name, the default included
)

// QuotaFilterComponent is one component of a DescribeClientQuotas filter.
type QuotaFilterComponent struct {
	Type  string
	Match int8
	Name  *string // only with QuotaMatchExact
}

// ErrQuotaFilterUnsupported marks a filter naming an entity type Kafka does
// not know (Kafka answers UNSUPPORTED_VERSION); other filter errors are
// INVALID_REQUEST.
var ErrQuotaFilterUnsupported = errors.New("unsupported entity type")

// MatchClientQuotas answers a DescribeClientQuotas filter as Kafka does: an
// entity matches when it has every component's type with the name the
// component asks for (an exact name, the default, or any); strict also
// requires it to have no other part. No components match everything unless
// strict. An ip component is valid alone and matches nothing: chronik
// stores no ip quotas.
func (q ClientQuotas) MatchClientQuotas(components []QuotaFilterComponent, strict bool) ([]*ClientQuota, error) {
	types := make(map[string]QuotaFilterComponent, len(components))
	for _, c := range components {
		switch {
		case c.Type == "":
			return nil, fmt.Errorf("invalid empty entity type")
		case hasType(types, c.Type):
			return nil, fmt.Errorf("entity type %s cannot appear more than once in the filter", c.Type)
		case c.Type != QuotaEntityUser && c.Type != QuotaEntityClientID && c.Type != QuotaEntityIP:
			return nil, fmt.Errorf("%w %q", ErrQuotaFilterUnsupported, c.Type)
		}
		switch c.Match {
		case QuotaMatchExact:
			if c.Name == nil {
				return nil, fmt.Errorf("%s: match type EXACT needs a name", c.Type)
			}
		case QuotaMatchDefault, QuotaMatchAny:
			if c.Name != nil {
				return nil, fmt.Errorf("%s: match type %d takes no name, got %q", c.Type, c.Match, *c.Name)
			}
		default:
			return nil, fmt.Errorf("%s: unknown match type %d", c.Type, c.Match)
		}
		types[c.Type] = c
	}
	if _, ip := types[QuotaEntityIP]; ip {
		if len(types) > 1 {
			return nil, fmt.Errorf("an ip filter component cannot be combined with user or client-id")
		}
		return nil, nil
	}
	if len(components) == 0 && strict {
		return nil, nil
	}
	var out []*ClientQuota
	for _, k := range slices.Sorted(maps.Keys(q)) {
		cq := q[k]
		parts := map[string]*QuotaName{QuotaEntityUser: cq.Entity.User, QuotaEntityClientID: cq.Entity.ClientID}
		ok := true
		for typ, c := range types {
			n := parts[typ]
			switch {
			case n == nil:
				ok = false
			case c.Match == QuotaMatchDefault:
				ok = ok && n.Default
			case c.Match == QuotaMatchExact:
				ok = ok && !n.Default && n.Name == *c.Name
			}
		}
		if strict && len(cq.Entity.Parts()) != len(types) {
			ok = false
		}
		if ok {
			out = append(out, cq)
		}
	}
	return out, nil
}

func hasType(types map[string]QuotaFilterComponent, typ string) bool {
	_, ok := types[typ]
	return ok
}

// Reason is a rejection's message without the "rejected: " prefix, for a
// client's error message.
func Reason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrRejected.Error()+": ")
}
