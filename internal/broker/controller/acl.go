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

// CreateAcls creates bindings as Kafka's CreateAcls does, answering per
// binding (nil: created, or already there): each invalid one gets
// INVALID_REQUEST, the valid ones are committed together in one raft
// command and share its outcome.
func (c *Controller) CreateAcls(ctx context.Context, bindings []acl.Binding) []error {
	errs := make([]error, len(bindings))
	var valid []acl.Binding
	var at []int
	for i, b := range bindings {
		if err := b.Validate(); err != nil {
			errs[i] = aclErr(err)
			continue
		}
		valid = append(valid, b)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return errs
	}
	if _, err := c.propose(ctx, state.TypeCreateAcls, state.CreateAcls{Bindings: valid}); err != nil {
		err = proposeErr(ctx, "create ACLs", err)
		for _, i := range at {
			errs[i] = err
		}
		return errs
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
	errs := make([]error, len(filters))
	var valid []acl.Filter
	var at []int
	for i, f := range filters {
		if err := f.Validate(); err != nil {
			errs[i] = aclErr(err)
			continue
		}
		valid = append(valid, f)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return matched, errs
	}
	if len(valid) > state.MaxAclFilters {
		err := errorf(kerr.InvalidRequest, "%d filters in one request, the limit is %d", len(valid), state.MaxAclFilters)
		for _, i := range at {
			errs[i] = err
		}
		return matched, errs
	}
	res, err := c.propose(ctx, state.TypeDeleteAcls, state.DeleteAcls{Filters: valid})
	if err != nil {
		err = proposeErr(ctx, "delete ACLs", err)
		for _, i := range at {
			errs[i] = err
		}
		return matched, errs
	}
	for j, i := range at {
		if j < len(res.DeletedAcls) {
			matched[i] = res.DeletedAcls[j]
		}
	}
	return matched, errs
}
