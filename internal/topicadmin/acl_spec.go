package topicadmin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterResourceName is the one name of the CLUSTER resource.
const ClusterResourceName = "kafka-cluster"

// ACLSpec is what kafka-acls style flags say: principals and hosts,
// operations, resources and a pattern type, or the --producer / --consumer
// shortcuts. Bindings expands it for create, Filters for list and delete.
type ACLSpec struct {
	AllowPrincipals  []string
	DenyPrincipals   []string
	AllowHosts       []string
	DenyHosts        []string
	Principals       []string // list: principals of either permission
	Operations       []string
	Topics           []string
	Groups           []string
	TransactionalIDs []string
	Cluster          bool
	PatternType      string // "" means Kafka's default: LITERAL when a resource is named
	Producer         bool   // WRITE, DESCRIBE, CREATE on the topics; WRITE, DESCRIBE on the transactional ids
	Idempotent       bool   // with Producer: IDEMPOTENT_WRITE on the cluster
	Consumer         bool   // READ, DESCRIBE on the topics; READ on the groups
}

type resource struct{ typ, name string }

func (s ACLSpec) resources() []resource {
	var rs []resource
	for _, t := range s.Topics {
		rs = append(rs, resource{"TOPIC", t})
	}
	for _, g := range s.Groups {
		rs = append(rs, resource{"GROUP", g})
	}
	for _, x := range s.TransactionalIDs {
		rs = append(rs, resource{"TRANSACTIONAL_ID", x})
	}
	if s.Cluster {
		rs = append(rs, resource{"CLUSTER", ClusterResourceName})
	}
	return rs
}

// resourceOps is the operations per resource: the shortcuts' fixed sets,
// else the same --operation list for every resource.
func (s ACLSpec) resourceOps(defaultOps []string) ([]resource, map[resource][]string, error) {
	ops := map[resource][]string{}
	if s.Producer || s.Consumer {
		if len(s.Operations) > 0 {
			return nil, nil, errors.New("--operation cannot be combined with --producer or --consumer, which choose the operations")
		}
		if len(s.Topics) == 0 {
			return nil, nil, errors.New("--producer and --consumer need --topic")
		}
		if s.Consumer && len(s.Groups) == 0 {
			return nil, nil, errors.New("--consumer needs --group")
		}
		if s.Cluster {
			return nil, nil, errors.New("--cluster cannot be combined with --producer or --consumer (--idempotent adds the cluster's IDEMPOTENT_WRITE)")
		}
		var order []resource
		add := func(r resource, o ...string) {
			if _, ok := ops[r]; !ok {
				order = append(order, r)
			}
			for _, op := range o {
				if !slices.Contains(ops[r], op) {
					ops[r] = append(ops[r], op)
				}
			}
		}
		for _, t := range s.Topics {
			if s.Producer {
				add(resource{"TOPIC", t}, "WRITE", "DESCRIBE", "CREATE")
			}
			if s.Consumer {
				add(resource{"TOPIC", t}, "READ", "DESCRIBE")
			}
		}
		for _, x := range s.TransactionalIDs {
			if !s.Producer {
				return nil, nil, errors.New("--transactional-id with --consumer alone: only --producer uses transactional ids")
			}
			add(resource{"TRANSACTIONAL_ID", x}, "WRITE", "DESCRIBE")
		}
		for _, g := range s.Groups {
			if !s.Consumer {
				return nil, nil, errors.New("--group with --producer alone: only --consumer uses groups")
			}
			add(resource{"GROUP", g}, "READ")
		}
		if s.Idempotent {
			add(resource{"CLUSTER", ClusterResourceName}, "IDEMPOTENT_WRITE")
		}
		return order, ops, nil
	}
	if s.Idempotent {
		return nil, nil, errors.New("--idempotent goes with --producer")
	}
	names, err := normalizeOps(s.Operations, defaultOps)
	if err != nil {
		return nil, nil, err
	}
	rs := s.resources()
	for _, r := range rs {
		ops[r] = names
	}
	return rs, ops, nil
}

func normalizeOps(in, def []string) ([]string, error) {
	if len(in) == 0 {
		return def, nil
	}
	var out []string
	for _, o := range in {
		v, err := kmsg.ParseACLOperation(o)
		if err != nil || v == kmsg.ACLOperationAny && len(def) > 0 {
			return nil, fmt.Errorf("--operation %q: want one of %s", o, strings.Join(Operations(), ", "))
		}
		if !slices.Contains(out, v.String()) {
			out = append(out, v.String())
		}
	}
	return out, nil
}

// Operations lists the ACL operations a binding may name.
func Operations() []string {
	return []string{"ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
		"DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}
}

// PatternTypes lists the --resource-pattern-type values.
func PatternTypes() []string { return []string{"literal", "prefixed", "match", "any"} }

func checkPrincipals(ps []string) error {
	for _, p := range ps {
		typ, name, ok := strings.Cut(p, ":")
		if !ok || typ == "" || name == "" {
			return fmt.Errorf("principal %q: want TYPE:NAME, e.g. User:alice (User:* for everyone)", p)
		}
	}
	return nil
}

func patternName(p string) (string, error) {
	v, err := kmsg.ParseACLResourcePatternType(p)
	if err != nil {
		return "", fmt.Errorf("--resource-pattern-type %q: want one of %s", p, strings.Join(PatternTypes(), ", "))
	}
	return v.String(), nil
}

// Bindings expands the spec into the ACLs to create: every principal (with
// its hosts, "*" when none are given) times every operation (ALL when none
// are given) on every resource.
func (s ACLSpec) Bindings() ([]ACL, error) {
	if len(s.Principals) > 0 {
		return nil, errors.New("--principal filters lists; to create, give --allow-principal or --deny-principal")
	}
	if len(s.AllowPrincipals)+len(s.DenyPrincipals) == 0 {
		return nil, errors.New("give --allow-principal or --deny-principal (e.g. User:alice)")
	}
	if err := checkPrincipals(append(slices.Clone(s.AllowPrincipals), s.DenyPrincipals...)); err != nil {
		return nil, err
	}
	if len(s.AllowHosts) > 0 && len(s.AllowPrincipals) == 0 {
		return nil, errors.New("--allow-host needs --allow-principal")
	}
	if len(s.DenyHosts) > 0 && len(s.DenyPrincipals) == 0 {
		return nil, errors.New("--deny-host needs --deny-principal")
	}
	pattern := "LITERAL"
	if s.PatternType != "" {
		p, err := patternName(s.PatternType)
		if err != nil {
			return nil, err
		}
		if p != "LITERAL" && p != "PREFIXED" {
			return nil, fmt.Errorf("--resource-pattern-type %s: an ACL is literal or prefixed (match and any only filter)", strings.ToLower(p))
		}
		pattern = p
	}
	rs, ops, err := s.resourceOps([]string{"ALL"})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
	}
	var out []ACL
	emit := func(perm string, principals, hosts []string) {
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		for _, r := range rs {
			rp := pattern
			if r.typ == "CLUSTER" {
				rp = "LITERAL" // the cluster has one name
			}
			for _, p := range principals {
				for _, h := range hosts {
					for _, o := range ops[r] {
						out = append(out, ACL{Principal: p, Host: h, Operation: o, Permission: perm,
							ResourceType: r.typ, ResourceName: r.name, PatternType: rp})
					}
				}
			}
		}
	}
	emit("ALLOW", s.AllowPrincipals, s.AllowHosts)
	emit("DENY", s.DenyPrincipals, s.DenyHosts)
	return out, nil
}

// Filters turns the spec into filters for list (forDelete false) or
// delete. Unnamed parts match anything; with no resource, a list covers
// every resource while a delete is refused (as kafka-acls refuses it).
func (s ACLSpec) Filters(forDelete bool) ([]ACLFilter, error) {
	if err := checkPrincipals(slices.Concat(s.AllowPrincipals, s.DenyPrincipals, s.Principals)); err != nil {
		return nil, err
	}
	if !forDelete && len(s.AllowPrincipals)+len(s.DenyPrincipals)+len(s.AllowHosts)+len(s.DenyHosts) > 0 {
		return nil, errors.New("to list, filter with --principal (and the resource flags)")
	}
	if forDelete && len(s.Principals) > 0 {
		return nil, errors.New("to delete, name principals with --allow-principal or --deny-principal")
	}
	if len(s.AllowHosts) > 0 && len(s.AllowPrincipals) == 0 {
		return nil, errors.New("--allow-host needs --allow-principal")
	}
	if len(s.DenyHosts) > 0 && len(s.DenyPrincipals) == 0 {
		return nil, errors.New("--deny-host needs --deny-principal")
	}
	rs, ops, err := s.resourceOps(nil)
	if err != nil {
		return nil, err
	}
	pattern := ""
	switch {
	case s.PatternType != "":
		if pattern, err = patternName(s.PatternType); err != nil {
			return nil, err
		}
	case len(rs) > 0:
		pattern = "LITERAL"
	}
	if len(rs) == 0 {
		if forDelete {
			return nil, errors.New("name the resource whose ACLs to delete: --topic, --group, --transactional-id or --cluster")
		}
		rs = []resource{{}} // every resource
		if ops[resource{}], err = normalizeOps(s.Operations, nil); err != nil {
			return nil, err
		}
	}
	type who struct {
		perm      string
		principal *string
		host      *string
	}
	var whos []who
	hostsOf := func(hs []string) []*string {
		if len(hs) == 0 {
			return []*string{nil}
		}
		out := make([]*string, len(hs))
		for i := range hs {
			out[i] = &hs[i]
		}
		return out
	}
	for i := range s.AllowPrincipals {
		for _, h := range hostsOf(s.AllowHosts) {
			whos = append(whos, who{"ALLOW", &s.AllowPrincipals[i], h})
		}
	}
	for i := range s.DenyPrincipals {
		for _, h := range hostsOf(s.DenyHosts) {
			whos = append(whos, who{"DENY", &s.DenyPrincipals[i], h})
		}
	}
	for i := range s.Principals {
		whos = append(whos, who{"", &s.Principals[i], nil})
	}
	if len(whos) == 0 {
		whos = []who{{}}
	}
	var out []ACLFilter
	for _, r := range rs {
		rops := ops[r]
		if len(rops) == 0 {
			rops = []string{""}
		}
		for _, w := range whos {
			for _, o := range rops {
				f := ACLFilter{ResourceType: r.typ, PatternType: pattern, Principal: w.principal, Host: w.host,
					Operation: o, Permission: w.perm}
				if r.typ != "" {
					name := r.name
					f.ResourceName = &name
				}
				if r.typ == "CLUSTER" && pattern == "PREFIXED" {
					f.PatternType = "LITERAL"
				}
				out = append(out, f)
			}
		}
	}
	return out, nil
}
