package controller

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// aclErr is how a binding or filter Kafka refuses is answered.
func aclErr(err error) error {
	if errors.Is(err, acl.ErrInvalid) {
		return errorf(kerr.InvalidRequest, "%v", err)
	}
	return err
}

// validAcls parts bindings or filters into the valid ones, with their
// indexes, and errs answering each invalid one (aclErr).
func validAcls[T interface{ Validate() error }](items []T) (valid []T, at []int, errs []error) {
	errs = make([]error, len(items))
	for i, it := range items {
		if err := it.Validate(); err != nil {
			errs[i] = aclErr(err)
			continue
		}
		valid = append(valid, it)
		at = append(at, i)
	}
	return valid, at, errs
}

// failAt answers err at each index of at.
func failAt(errs []error, at []int, err error) {
	for _, i := range at {
		errs[i] = err
	}
}

// CreateAcls creates bindings as Kafka's CreateAcls does, answering per
// binding (nil: created, or already there): each invalid one gets
// INVALID_REQUEST, the valid ones are committed together in one raft
// command and share its outcome.
func (c *Controller) CreateAcls(ctx context.Context, bindings []acl.Binding) []error {
	valid, at, errs := validAcls(bindings)
	if len(valid) == 0 {
		return errs
	}
	if _, err := c.propose(ctx, state.TypeCreateAcls, state.CreateAcls{Bindings: valid}); err != nil {
		failAt(errs, at, proposeErr(ctx, "create ACLs", err))
	}
	return errs
}

// DeleteAcls deletes every binding the filters select, answering per filter
// the bindings it selected or why it failed: an invalid filter gets
// INVALID_REQUEST, the valid ones go in one raft command, whose apply on
// every node decides the matches against the state at that point of the
// log (so a binding created concurrently is deleted on every node or none).
func (c *Controller) DeleteAcls(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error) {
	matched := make([][]acl.Binding, len(filters))
	valid, at, errs := validAcls(filters)
	if len(valid) == 0 {
		return matched, errs
	}
	if len(valid) > state.MaxAclFilters {
		failAt(errs, at, errorf(kerr.InvalidRequest, "%d filters in one request, the limit is %d", len(valid), state.MaxAclFilters))
		return matched, errs
	}
	res, err := c.propose(ctx, state.TypeDeleteAcls, state.DeleteAcls{Filters: valid})
	if err != nil {
		failAt(errs, at, proposeErr(ctx, "delete ACLs", err))
		return matched, errs
	}
	for j, i := range at {
		if j < len(res.DeletedAcls) {
			matched[i] = res.DeletedAcls[j]
		}
	}
	return matched, errs
}
