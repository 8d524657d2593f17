package acl

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// Set is an immutable set of bindings, indexed by resource for Authorize.
// A nil *Set is the empty set. Changes return a new Set, so the metadata
// state's clones share one and readers never see it change.
type Set struct {
	bindings []Binding // sorted (compare), no duplicates
	index    map[ResourceType]*typeIndex
}

// typeIndex holds one resource type's bindings by pattern.
type typeIndex struct {
	literal  map[string][]Binding // by name, WildcardResource included
	prefixed map[string][]Binding // by prefix
	// prefixLens are the distinct prefix lengths, ascending, so a name is
	// matched with one map lookup per length rather than per binding.
	prefixLens []int
}

// NewSet returns a set of bs, without duplicates. It does not validate them.
func NewSet(bs []Binding) *Set {
	if len(bs) == 0 {
		return nil
	}
	sorted := slices.Clone(bs)
	slices.SortFunc(sorted, compare)
	sorted = slices.CompactFunc(sorted, func(a, b Binding) bool { return a == b })
	s := &Set{bindings: sorted, index: map[ResourceType]*typeIndex{}}
	for _, b := range sorted {
		ti := s.index[b.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]Binding{}, prefixed: map[string][]Binding{}}
			s.index[b.ResourceType] = ti
		}
		switch b.PatternType {
		case PatternLiteral:
			ti.literal[b.ResourceName] = append(ti.literal[b.ResourceName], b)
		case PatternPrefixed:
			if _, seen := ti.prefixed[b.ResourceName]; !seen {
				ti.prefixLens = append(ti.prefixLens, len(b.ResourceName))
			}
			ti.prefixed[b.ResourceName] = append(ti.prefixed[b.ResourceName], b)
		}
	}
	for _, ti := range s.index {
		slices.Sort(ti.prefixLens)
		ti.prefixLens = slices.Compact(ti.prefixLens)
	}
	return s
}

// compare orders bindings by resource, then entry: the order Describe
// answers in and the snapshot stores.
func compare(a, b Binding) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType),
		cmp.Compare(a.Principal, b.Principal),
		cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// Len is the number of bindings.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.bindings)
}

// Contains reports whether b is in the set.
func (s *Set) Contains(b Binding) bool {
	if s == nil {
		return false
	}
	_, ok := slices.BinarySearchFunc(s.bindings, b, compare)
	return ok
}

// All returns the bindings, sorted; the caller must not modify them.
func (s *Set) All() []Binding {
	if s == nil {
		return nil
	}
	return s.bindings
}

// Match returns the bindings f selects, sorted.
func (s *Set) Match(f Filter) []Binding {
	var out []Binding
	for _, b := range s.All() {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// With returns the set plus bs.
func (s *Set) With(bs []Binding) *Set {
	return NewSet(append(slices.Clone(s.All()), bs...))
}

// Without returns the set minus every binding any filter selects, and per
// filter the bindings it selected. A binding two filters select is listed
// under both, as Kafka's controller answers DeleteAcls.
func (s *Set) Without(filters []Filter) (*Set, [][]Binding) {
	matched := make([][]Binding, len(filters))
	var keep []Binding
	for _, b := range s.All() {
		hit := false
		for i, f := range filters {
			if f.Matches(b) {
				matched[i] = append(matched[i], b)
				hit = true
			}
		}
		if !hit {
			keep = append(keep, b)
		}
	}
	return NewSet(keep), matched
}

// forResource calls fn with every binding that applies to the named
// resource of type rt: LITERAL ones of that name or the wildcard, and
// PREFIXED ones whose prefix the name starts with. fn returns false to stop.
func (s *Set) forResource(rt ResourceType, name string, fn func(Binding) bool) {
	if s == nil {
		return
	}
	ti := s.index[rt]
	if ti == nil {
		return
	}
	for _, b := range ti.literal[name] {
		if !fn(b) {
			return
		}
	}
	if name != WildcardResource {
		for _, b := range ti.literal[WildcardResource] {
			if !fn(b) {
				return
			}
		}
	}
	for _, n := range ti.prefixLens {
		if n > len(name) {
			break
		}
		for _, b := range ti.prefixed[name[:n]] {
			if !fn(b) {
				return
			}
		}
	}
}

// MarshalJSON stores the bindings as a list.
func (s *Set) MarshalJSON() ([]byte, error) {
	bs := s.All()
	if bs == nil {
		bs = []Binding{}
	}
	return json.Marshal(bs)
}

// UnmarshalJSON reads a list of bindings and rebuilds the index.
func (s *Set) UnmarshalJSON(b []byte) error {
	var bs []Binding
	if err := json.Unmarshal(b, &bs); err != nil {
		return fmt.Errorf("decode ACL set: %w", err)
	}
	if n := NewSet(bs); n != nil {
		*s = *n
	} else {
		*s = Set{}
	}
	return nil
}
