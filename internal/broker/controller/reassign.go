package controller

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment (Kafka's AlterPartitionReassignments and
// ListPartitionReassignments; the steps are in state/reassign.go). The
// controller starts and cancels reassignments on request and, while it is
// the raft leader, completes each one once its adding replicas are in the
// ISR. Completion is level-triggered from the committed state, so a new
// controller after a failover finishes what the old one started.

// ReassignRequest asks to move one partition to Target, or to cancel its
// reassignment when Target is nil.
type ReassignRequest struct {
	Ref    state.PartitionRef
	Target []int32
}

// Reassignment is one partition's reassignment in progress.
type Reassignment struct {
	Ref      state.PartitionRef
	Replicas []int32 // target followed by the removing replicas
	Adding   []int32
	Removing []int32
}

// AlterReassignments starts, replaces or cancels the reassignment of each
// partition, one command per partition, and returns one result per request:
// nil, or an *Error with Kafka's code (UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS...).
func (c *Controller) AlterReassignments(ctx context.Context, reqs []ReassignRequest) []error {
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = c.alterReassignment(ctx, r)
	}
	return errs
}

func (c *Controller) alterReassignment(ctx context.Context, r ReassignRequest) error {
	s := c.meta.State()
	if v := s.ActiveMetadataVersion(); v < state.ReassignmentMetadataVersion {
		return errorf(kerr.UnsupportedVersion, "the cluster runs metadata version %d; reassignment needs %d (raise it once every broker is upgraded)",
			v, state.ReassignmentMetadataVersion)
	}
	p, ok := s.Partition(r.Ref.Topic, r.Ref.Partition)
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", r.Ref.Topic, r.Ref.Partition)
	}
	var (
		typ     string
		payload any
	)
	if r.Target == nil {
		if !p.Reassigning() {
			return errorf(kerr.NoReassignmentInProgress, "%s-%d is not being reassigned", r.Ref.Topic, r.Ref.Partition)
		}
		typ, payload = state.TypeCancelReassignment, state.CancelReassignment{Topic: r.Ref.Topic, Partition: r.Ref.Partition}
	} else {
		if err := s.CheckTarget(r.Target); err != nil {
			return reassignErr(ctx, r.Ref, err)
		}
		if !p.Reassigning() && slices.Equal(p.Replicas, r.Target) {
			return nil // already there
		}
		typ, payload = state.TypeStartReassignment, state.StartReassignment{Topic: r.Ref.Topic, Partition: r.Ref.Partition, Target: r.Target}
	}
	if _, err := c.propose(ctx, typ, payload); err != nil {
		return reassignErr(ctx, r.Ref, err)
	}
	c.opts.Logger.Info("partition reassignment changed", "topic", r.Ref.Topic, "partition", r.Ref.Partition,
		"target", r.Target, "cancel", r.Target == nil)
	return nil
}

// reassignErr maps a refused reassignment change to a Kafka error.
func reassignErr(ctx context.Context, ref state.PartitionRef, err error) error {
	switch {
	case errors.Is(err, state.ErrUnknownPartition):
		return errorf(kerr.UnknownTopicOrPartition, "%s", state.Reason(err))
	case errors.Is(err, state.ErrInvalidAssignment):
		return errorf(kerr.InvalidReplicaAssignment, "%s-%d: %s", ref.Topic, ref.Partition, state.Reason(err))
	case errors.Is(err, state.ErrNoReassignment):
		return errorf(kerr.NoReassignmentInProgress, "%s", state.Reason(err))
	case errors.Is(err, state.ErrReassignmentNotReady):
		// A cancel that would leave the ISR empty: only adding replicas
		// are in sync, so the reassignment must complete instead.
		return errorf(kerr.InvalidReplicaAssignment, "%s-%d: %s", ref.Topic, ref.Partition, state.Reason(err))
	}
	return proposeErr(ctx, "reassign partition", err)
}

// ListReassignments lists the reassignments in progress among refs (all
// partitions when refs is nil), in topic and partition order.
func (c *Controller) ListReassignments(refs []state.PartitionRef) []Reassignment {
	s := c.meta.State()
	if refs == nil {
		refs = allPartitions(s)
	}
	var out []Reassignment
	for _, ref := range refs {
		p, ok := s.Partition(ref.Topic, ref.Partition)
		if !ok || !p.Reassigning() {
			continue
		}
		out = append(out, Reassignment{Ref: ref, Replicas: slices.Clone(p.Replicas),
			Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)})
	}
	return out
}

// RunReassignments completes reassignments while this node is the raft
// leader: after every metadata change (an ISR expansion is one) and every
// interval, each reassignment whose adding replicas are all in the ISR gets
// its completion proposed. changed returns a channel closed at the next
// metadata change.
func (c *Controller) RunReassignments(ctx context.Context, leading func() bool, changed func() <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ch := changed()
		if leading() {
			c.CompleteReassignments(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-t.C:
		}
	}
}

// CompleteReassignments proposes the completion of every reassignment that
// is ready now and returns how many committed. A completion refused because
// the partition changed meanwhile is retried on the next check.
func (c *Controller) CompleteReassignments(ctx context.Context) int {
	s := c.meta.State()
	done := 0
	for _, ref := range allPartitions(s) {
		p, _ := s.Partition(ref.Topic, ref.Partition)
		if !s.ReassignmentReady(p) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.propose(pctx, state.TypeCompleteReassignment,
			state.CompleteReassignment{Topic: ref.Topic, Partition: ref.Partition, PartitionEpoch: p.PartitionEpoch})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.opts.Logger.Info("reassignment completion not committed; retrying on the next check",
					"topic", ref.Topic, "partition", ref.Partition, "err", err)
			}
			continue
		}
		done++
		c.opts.Logger.Info("partition reassignment completed", "topic", ref.Topic, "partition", ref.Partition,
			"replicas", p.TargetReplicas(), "removed", p.RemovingReplicas)
	}
	return done
}
