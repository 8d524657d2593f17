package topicadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Quota entity types and keys, as Kafka names them.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"

	QuotaProducerByteRate   = "producer_byte_rate"
	QuotaConsumerByteRate   = "consumer_byte_rate"
	QuotaRequestPercentage  = "request_percentage"
	QuotaControllerMutation = "controller_mutation_rate"
)

// QuotaKeys lists the quota keys `chronik quota set` knows.
func QuotaKeys() []string {
	return []string{QuotaProducerByteRate, QuotaConsumerByteRate, QuotaRequestPercentage, QuotaControllerMutation}
}

// NormalizeQuotaKey accepts a key with dashes or underscores
// (producer-byte-rate) and returns Kafka's name.
func NormalizeQuotaKey(k string) (string, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
	if slices.Contains(QuotaKeys(), n) {
		return n, nil
	}
	return "", fmt.Errorf("quota %q: want one of %s", k, strings.Join(QuotaKeys(), ", "))
}

// QuotaEntityPart is one part of the entity a quota applies to: a named
// user or client id, or the default one (Default, no Name).
type QuotaEntityPart struct {
	Type    string `json:"type"` // "user" or "client-id"
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

func (p QuotaEntityPart) String() string {
	if p.Default {
		return p.Type + "=<default>"
	}
	return p.Type + "=" + p.Name
}

// QuotaEntity is who a quota applies to: a user, a client id, or a user's
// client id.
type QuotaEntity []QuotaEntityPart

func (e QuotaEntity) String() string {
	parts := make([]string, len(e))
	for i, p := range e {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Part returns the entity's part of type typ.
func (e QuotaEntity) Part(typ string) (QuotaEntityPart, bool) {
	for _, p := range e {
		if p.Type == typ {
			return p, true
		}
	}
	return QuotaEntityPart{}, false
}

// Check validates an entity: a user, a client id or both, each once.
func (e QuotaEntity) Check() error {
	if len(e) == 0 {
		return errors.New("name who the quota is for: --user, --client-id or --default")
	}
	seen := map[string]bool{}
	for _, p := range e {
		if p.Type != QuotaEntityUser && p.Type != QuotaEntityClientID {
			return fmt.Errorf("quota entity type %q: want user or client-id", p.Type)
		}
		if seen[p.Type] {
			return fmt.Errorf("%s given twice (a name and the default?)", p.Type)
		}
		seen[p.Type] = true
		if !p.Default && p.Name == "" {
			return fmt.Errorf("empty %s name (use --default %s for the default)", p.Type, p.Type)
		}
	}
	return nil
}

// Quota is the quotas set for one entity: `chronik quota list`.
type Quota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// QuotaChange is what `chronik quota set` changed.
type QuotaChange struct {
	Entity  QuotaEntity        `json:"entity"`
	Set     map[string]float64 `json:"set,omitempty"`
	Deleted []string           `json:"deleted,omitempty"`
}

func (e QuotaEntity) kadm() kadm.ClientQuotaEntity {
	out := make(kadm.ClientQuotaEntity, 0, len(e))
	for _, p := range e {
		c := kadm.ClientQuotaEntityComponent{Type: p.Type}
		if !p.Default {
			name := p.Name
			c.Name = &name
		}
		out = append(out, c)
	}
	return out
}

func fromKadmEntity(e kadm.ClientQuotaEntity) QuotaEntity {
	out := make(QuotaEntity, 0, len(e))
	for _, c := range e {
		p := QuotaEntityPart{Type: c.Type, Default: c.Name == nil}
		if c.Name != nil {
			p.Name = *c.Name
		}
		out = append(out, p)
	}
	// user before client-id, as Kafka prints them.
	sort.Slice(out, func(i, j int) bool { return out[i].Type > out[j].Type })
	return out
}

// AlterQuotas sets the quotas in set and removes those in del for the
// entity, in one AlterClientQuotas request.
func (c *Client) AlterQuotas(ctx context.Context, entity QuotaEntity, set map[string]float64, del []string) (QuotaChange, error) {
	op := fmt.Sprintf("set quotas of %s", entity)
	if err := entity.Check(); err != nil {
		return QuotaChange{}, err
	}
	if len(set)+len(del) == 0 {
		return QuotaChange{}, errors.New("nothing to change")
	}
	var ops []kadm.AlterClientQuotaOp
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if set[k] < 0 {
			return QuotaChange{}, fmt.Errorf("%s: %s %v: must not be negative", op, k, set[k])
		}
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: set[k]})
	}
	for _, k := range del {
		if _, ok := set[k]; ok {
			return QuotaChange{}, fmt.Errorf("%s: %s is both set and deleted", op, k)
		}
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	res, err := c.adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity.kadm(), Ops: ops}})
	if err != nil {
		return QuotaChange{}, c.explainAPI(ctx, op, "AlterClientQuotas", err, "")
	}
	if len(res) != 1 {
		return QuotaChange{}, c.newError(op, "", fmt.Errorf("the broker answered %d entries for 1", len(res)))
	}
	if res[0].Err != nil {
		return QuotaChange{}, c.explainAPI(ctx, op, "AlterClientQuotas", res[0].Err, res[0].ErrMessage)
	}
	return QuotaChange{Entity: entity, Set: set, Deleted: del}, nil
}

// ListQuotas lists the quotas of the entities filter matches (every
// entity when it is empty), sorted by entity. A part with a Name matches
// exactly, a Default part matches the default; strict leaves out entities
// with parts the filter does not name.
func (c *Client) ListQuotas(ctx context.Context, filter QuotaEntity, strict bool) ([]Quota, error) {
	op := "list quotas"
	var comps []kadm.DescribeClientQuotaComponent
	for _, p := range filter {
		dc := kadm.DescribeClientQuotaComponent{Type: p.Type, MatchType: 1} // 1: the default
		if !p.Default {
			name := p.Name
			dc.MatchName, dc.MatchType = &name, 0 // 0: exactly this name
		}
		comps = append(comps, dc)
	}
	res, err := c.adm.DescribeClientQuotas(ctx, strict, comps)
	if err != nil {
		var em *kadm.ErrAndMessage
		msg := ""
		if errors.As(err, &em) {
			msg = em.ErrMessage
		}
		return nil, c.explainAPI(ctx, op, "DescribeClientQuotas", err, msg)
	}
	out := make([]Quota, 0, len(res))
	for _, q := range res {
		vals := map[string]float64{}
		for _, v := range q.Values {
			vals[v.Key] = v.Value
		}
		out = append(out, Quota{Entity: fromKadmEntity(q.Entity), Values: vals})
	}
	slices.SortFunc(out, func(a, b Quota) int {
		return cmp.Compare(a.Entity.String(), b.Entity.String())
	})
	return out, nil
}
