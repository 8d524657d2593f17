package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// AlterClientQuotas applies client quota alterations with Kafka's
// AlterClientQuotas rules, answering per entry (nil: applied): an entry whose
// entity or operations are invalid (state.ValidateQuotaAlteration), or whose
// entity appears twice in the request, gets INVALID_REQUEST and none of its
// changes; the valid entries are committed together in one raft command.
// validateOnly checks and commits nothing.
func (c *Controller) AlterClientQuotas(ctx context.Context, alts []state.QuotaAlteration, validateOnly bool) []error {
	errs := make([]error, len(alts))
	if active := c.meta.State().ActiveMetadataVersion(); active < state.SecurityMetadataVersion {
		err := errorf(kerr.UnsupportedVersion, "client quotas need metadata version %d; the cluster runs %d (upgrade every node, then raise it)",
			state.SecurityMetadataVersion, active)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	count := make(map[string]int, len(alts))
	for _, a := range alts {
		count[a.Entity.Key()]++
	}
	var cmd state.AlterClientQuotas
	var applied []int
	for i, a := range alts {
		if err := state.ValidateQuotaAlteration(a); err != nil {
			errs[i] = errorf(kerr.InvalidRequest, "%s", state.Reason(err))
			continue
		}
		if count[a.Entity.Key()] > 1 {
			errs[i] = errorf(kerr.InvalidRequest, "entity %s appears more than once in the request; none of its changes were applied", a.Entity)
			continue
		}
		if len(a.Ops) == 0 {
			continue // nothing to change; valid
		}
		cmd.Alterations = append(cmd.Alterations, a)
		applied = append(applied, i)
	}
	if validateOnly || len(cmd.Alterations) == 0 {
		return errs
	}
	if _, err := c.propose(ctx, state.TypeAlterClientQuotas, cmd); err != nil {
		failAt(errs, applied, proposeErr(ctx, "alter client quotas", err))
	}
	return errs
}
