package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Removing a broker (chronik cluster remove-node) and replacing one
// (replace-node) start with moving every replica the broker hosts to other
// brokers: one reassignment per partition, in the same position of the
// replica list, so the preferred leader stays in place when the removed
// broker was not it. PlanRemoval computes the whole plan before anything is
// proposed, so a refusal changes nothing; the reassignments then run as any
// other (KIP-455: the new replica copies from the leader and joins the ISR
// before the old one leaves, throttled by --reassignment-throttle).

// RemovalPlan is what moving broker ID's replicas away takes.
type RemovalPlan struct {
	ID int32
	// Moves are the reassignments to start, in topic and partition order.
	Moves []ReassignRequest
	// Moving are partitions already being moved off the broker (by an
	// earlier run of the same removal): nothing to start, unless a broker
	// the move adds has died since (Moves then has its new target).
	Moving []state.PartitionRef
}

// ErrRemovalRefused wraps every refusal of PlanRemoval.
var ErrRemovalRefused = errors.New("node removal refused")

// PlanRemoval plans moving every replica of broker id to other brokers: to
// replacement when it is not 0 (replace-node), else to a live broker that
// is not yet a replica, preferring one in a rack the partition's other
// replicas do not use, then the one hosting fewest replicas. It refuses,
// naming the reason, when id is not registered, the replacement is not a
// live registered broker, a partition has no live broker to take the
// replica (fewer live brokers than its replication factor), or a
// partition's only in-sync replica is id while id is down (its data would
// be lost: the copy has nowhere to come from). A broker that is down is
// refused unless force: its replicas are then replaced by copies from the
// other in-sync replicas, nothing being read from it.
func PlanRemoval(s *state.State, id, replacement int32, force bool) (RemovalPlan, error) {
	plan := RemovalPlan{ID: id}
	if _, ok := s.Brokers[id]; !ok {
		return plan, fmt.Errorf("%w: broker %d is not registered", ErrRemovalRefused, id)
	}
	if !s.Live(id) && !force && len(s.ReplicasOf(id)) > 0 {
		return plan, fmt.Errorf("%w: broker %d is down, so its replicas cannot be copied from it; if it is gone for good, "+
			"--force replaces them with copies from the surviving in-sync replicas", ErrRemovalRefused, id)
	}
	if v := s.ActiveMetadataVersion(); v < state.RemovalMetadataVersion {
		return plan, fmt.Errorf("%w: the cluster runs metadata version %d; removing a node needs %d",
			ErrRemovalRefused, v, state.RemovalMetadataVersion)
	}
	if replacement != 0 {
		b, ok := s.Brokers[replacement]
		switch {
		case replacement == id:
			return plan, fmt.Errorf("%w: node %d cannot replace itself", ErrRemovalRefused, id)
		case !ok:
			return plan, fmt.Errorf("%w: replacement broker %d is not registered (start it with serve --join first)", ErrRemovalRefused, replacement)
		case b.Fenced:
			return plan, fmt.Errorf("%w: replacement broker %d is not live", ErrRemovalRefused, replacement)
		}
	}
	load := map[int32]int{}
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				load[r]++
			}
		}
	}
	var lost, short []string
	for _, ref := range s.ReplicasOf(id) {
		p, _ := s.Partition(ref.Topic, ref.Partition)
		target := p.TargetReplicas()
		pos := slices.Index(target, id)
		if pos < 0 { // already leaving it (an earlier run of this removal)
			plan.Moving = append(plan.Moving, ref)
			// A new replica whose broker died since can never catch up:
			// a live broker takes its place in the target.
			retarget := slices.Clone(target)
			for i, r := range retarget {
				if slices.Contains(p.AddingReplicas, r) && !s.Live(r) {
					if to := pickReplica(s, retarget, id, load); to > 0 {
						load[to]++
						retarget[i] = to
					}
				}
			}
			if !slices.Equal(retarget, target) {
				plan.Moves = append(plan.Moves, ReassignRequest{Ref: ref, Target: retarget})
			}
			continue
		}
		name := fmt.Sprintf("%s-%d", ref.Topic, ref.Partition)
		if !s.Live(id) && !slices.ContainsFunc(p.ISR, func(r int32) bool { return r != id && s.Live(r) }) {
			lost = append(lost, name)
			continue
		}
		to := replacement
		if to == 0 {
			to = pickReplica(s, target, id, load)
		} else if slices.Contains(target, to) {
			to = -1
		}
		if to <= 0 {
			short = append(short, name)
			continue
		}
		load[to]++
		target = slices.Clone(target)
		target[pos] = to
		plan.Moves = append(plan.Moves, ReassignRequest{Ref: ref, Target: target})
	}
	switch {
	case len(lost) > 0:
		return plan, fmt.Errorf("%w: broker %d is down and the only in-sync replica of %d partitions (%s): their data exists nowhere else, "+
			"so no new replica can copy it; bring broker %d back, or delete those partitions' topics", ErrRemovalRefused, id, len(lost), list(lost), id)
	case len(short) > 0 && replacement != 0:
		return plan, fmt.Errorf("%w: broker %d already hosts %d of broker %d's partitions (%s); move them elsewhere first",
			ErrRemovalRefused, replacement, len(short), id, list(short))
	case len(short) > 0:
		return plan, fmt.Errorf("%w: no live broker can take broker %d's replica of %d partitions (%s): removing it would leave them under their replication factor; add a broker first",
			ErrRemovalRefused, id, len(short), list(short))
	}
	return plan, nil
}

// pickReplica is the live broker to take id's place among target: not a
// replica yet, preferring a rack no other replica uses, then the fewest
// replicas, then the lowest id. -1 when there is none.
func pickReplica(s *state.State, target []int32, id int32, load map[int32]int) int32 {
	used := map[string]bool{}
	for _, r := range target {
		if b, ok := s.Brokers[r]; ok && r != id && b.Rack != "" {
			used[b.Rack] = true
		}
	}
	best, bestNewRack := int32(-1), false
	for _, b := range s.LiveBrokers() {
		if b == id || slices.Contains(target, b) {
			continue
		}
		newRack := s.Brokers[b].Rack != "" && !used[s.Brokers[b].Rack]
		switch {
		case best < 0,
			newRack && !bestNewRack,
			newRack == bestNewRack && load[b] < load[best]:
			best, bestNewRack = b, newRack
		}
	}
	return best
}

// list names at most five items and counts the rest.
func list(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:5], ", ") + fmt.Sprintf(" and %d more", len(items)-5)
}

// StartRemoval starts plan's reassignments and returns the first refusal.
func (c *Controller) StartRemoval(ctx context.Context, plan RemovalPlan) error {
	for i, err := range c.AlterReassignments(ctx, plan.Moves) {
		if err != nil {
			return fmt.Errorf("move %s-%d off broker %d: %w", plan.Moves[i].Ref.Topic, plan.Moves[i].Ref.Partition, plan.ID, err)
		}
	}
	return nil
}

// UnregisterBroker removes broker id from the broker list, the last step of
// its removal; refused while a partition still names it.
func (c *Controller) UnregisterBroker(ctx context.Context, id int32) error {
	if err := c.meta.State().CheckUnregister(id); err != nil {
		return errorf(kerr.InvalidRequest, "%s", state.Reason(err))
	}
	if _, err := c.propose(ctx, state.TypeUnregisterBroker, state.UnregisterBroker{ID: id}); err != nil {
		if errors.Is(err, state.ErrRejected) {
			return errorf(kerr.InvalidRequest, "%s", state.Reason(err))
		}
		return proposeErr(ctx, "unregister broker", err)
	}
	c.opts.Logger.Info("broker unregistered", "broker", id)
	return nil
}
