package state

import (
	"github.com/chronik-dev/chronik/internal/broker/acl"
)

// MaxAcls bounds the bindings the metadata holds, so CreateAcls cannot grow
// every node's memory and snapshots without limit. Kafka sets no limit;
// clusters with more than a few thousand bindings are rare.
const MaxAcls = 100_000

// MaxAclFilters bounds the filters of one DeleteAcls command: each is
// matched against every binding on every node.
const MaxAclFilters = 1000

// CreateAcls adds bindings (CreateAcls). Every binding must be valid
// (acl.Binding.Validate): the proposer validates each one and proposes only
// the valid ones, so a rejection here means a proposer that skipped it.
// Creating a binding that exists already changes nothing, as in Kafka.
type CreateAcls struct {
	Bindings []acl.Binding `json:"bindings"`
}

// DeleteAcls removes every binding any of the filters selects (DeleteAcls).
// The command carries the filters, not the bindings, so each node deletes
// what its own state holds at that point of the log; the Result tells the
// proposer which bindings each filter selected.
type DeleteAcls struct {
	Filters []acl.Filter `json:"filters"`
}

func (s *State) applyCreateAcls(c CreateAcls) error {
	if len(c.Bindings) == 0 {
		return rejectf("no ACL bindings to create")
	}
	for _, b := range c.Bindings {
		if err := b.Validate(); err != nil {
			return rejectf("create ACL %v: %v", b, err)
		}
	}
	next := s.Acls.With(c.Bindings)
	if next.Len() > MaxAcls {
		return rejectf("the cluster would hold %d ACL bindings, the limit is %d", next.Len(), MaxAcls)
	}
	s.Acls = next
	return nil
}

func (s *State) applyDeleteAcls(c DeleteAcls) (Result, error) {
	if len(c.Filters) > MaxAclFilters {
		return Result{}, rejectf("%d ACL filters in one deletion, the limit is %d", len(c.Filters), MaxAclFilters)
	}
	for _, f := range c.Filters {
		if err := f.Validate(); err != nil {
			return Result{}, rejectf("delete ACLs %v: %v", f, err)
		}
	}
	next, matched := s.Acls.Without(c.Filters)
	s.Acls = next
	return Result{DeletedAcls: matched}, nil
}
