package state

import (
	"fmt"
	"slices"
)

// Partition reassignment (Kafka's KIP-455). A reassignment to a target
// replica set runs in three committed steps:
//
//  1. StartReassignment: Replicas become target followed by the current
//     replicas outside it; AddingReplicas = target − current and
//     RemovingReplicas = current − target. The adding replicas start on
//     their nodes (HostedBy includes them) and copy the log as followers.
//  2. The partition leader adds each adding replica to the ISR once it has
//     caught up (AlterPartition, as for any follower).
//  3. CompleteReassignment, proposed by the controller once every adding
//     replica is in the ISR: Replicas become the target, the removing
//     replicas leave the ISR, and when the leader is being removed the
//     first live target replica in the ISR takes over in the same command
//     (leader epoch bumped), so the partition always has a leader from its
//     ISR. The removed replicas are then stopped and deleted by their nodes.
//
// CancelReassignment reverts to the original replicas, dropping the adding
// ones. Every step keeps the ISR invariants: never empty, a subset of the
// replicas, the leader (unless offline) in it, epochs bumped by setLeader.

// Reassignment command types (metadata version 2).
const (
	TypeStartReassignment    = "start_reassignment"
	TypeCancelReassignment   = "cancel_reassignment"
	TypeCompleteReassignment = "complete_reassignment"
)

// Typed rejections of reassignment commands, matched by the controller to
// Kafka error codes.
var (
	// ErrNoReassignment: a cancel or completion of a partition that is not
	// being reassigned.
	ErrNoReassignment = fmt.Errorf("%w: no reassignment in progress", ErrRejected)
	// ErrInvalidAssignment: a target that is empty, repeats a broker or
	// names an unregistered one.
	ErrInvalidAssignment = fmt.Errorf("%w: invalid replica assignment", ErrRejected)
	// ErrReassignmentNotReady: a completion before every adding replica is
	// in the ISR, or without a live target replica in the ISR to lead.
	ErrReassignmentNotReady = fmt.Errorf("%w: reassignment not ready to complete", ErrRejected)
)

// StartReassignment moves a partition towards Target. On a partition that
// is already being reassigned it replaces the target, keeping the original
// replicas as the base (Kafka's semantics for a new target mid-flight).
type StartReassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Target    []int32 `json:"target"`
}

// CancelReassignment reverts a partition to its original replicas.
type CancelReassignment struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// CompleteReassignment installs the target of a partition's reassignment.
// PartitionEpoch is the epoch the controller checked readiness at: a
// compare-and-set, so a completion decided on a stale view is refused.
type CompleteReassignment struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	PartitionEpoch int32  `json:"partition_epoch"`
}

// Reassigning reports whether a reassignment of p is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// OriginalReplicas are the replicas p had before its reassignment (its
// replicas when none is in progress).
func (p *Partition) OriginalReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
}

// TargetReplicas are the replicas p will have once its reassignment
// completes (its replicas when none is in progress).
func (p *Partition) TargetReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
}

// ReassignmentReady reports whether p's reassignment can complete now:
// every adding replica is in the ISR and a live target replica in the ISR
// can lead afterwards.
func (s *State) ReassignmentReady(p *Partition) bool {
	if !p.Reassigning() {
		return false
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.ISR, r) {
			return false
		}
	}
	_, _, err := s.reshape(p, p.TargetReplicas())
	return err == nil
}

// CheckTarget validates a reassignment target against s: non-empty, no
// broker twice, every broker registered (fenced ones are allowed: the
// reassignment waits for them, as Kafka's does).
func (s *State) CheckTarget(target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: the target replica set is empty", ErrInvalidAssignment)
	}
	// A list longer than the brokers repeats or invents one; refusing it
	// first keeps a huge list from a client cheap to check.
	if len(target) > len(s.Brokers) {
		return fmt.Errorf("%w: %d replicas named, the cluster has %d brokers", ErrInvalidAssignment, len(target), len(s.Brokers))
	}
	seen := make(map[int32]bool, len(target))
	for _, r := range target {
		if seen[r] {
			return fmt.Errorf("%w: broker %d appears twice in %v", ErrInvalidAssignment, r, target)
		}
		seen[r] = true
		if _, ok := s.Brokers[r]; !ok {
			return fmt.Errorf("%w: broker %d is not registered", ErrInvalidAssignment, r)
		}
	}
	return nil
}

// reshape computes the leader and ISR p has once its replicas become
// replicas: the ISR keeps its members that stay; a leader that leaves hands
// over to the first live staying replica in the ISR. It refuses a change
// that would leave the ISR empty or take the leader away with no live ISR
// member to replace it.
func (s *State) reshape(p *Partition, replicas []int32) (int32, []int32, error) {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	if len(isr) == 0 {
		return 0, nil, fmt.Errorf("%w: no member of the ISR %v would remain in %v", ErrReassignmentNotReady, p.ISR, replicas)
	}
	leader := p.Leader
	if leader == -1 || !slices.Contains(replicas, leader) {
		leader = -1
		for _, r := range replicas {
			if slices.Contains(isr, r) && s.Live(r) {
				leader = r
				break
			}
		}
		if leader == -1 && p.Leader != -1 {
			return 0, nil, fmt.Errorf("%w: leader %d would leave and no live replica of %v in the ISR %v can take over",
				ErrReassignmentNotReady, p.Leader, replicas, isr)
		}
	}
	return leader, isr, nil
}

// install gives p new replicas, adding and removing sets, with the leader
// and ISR reshape chose; the partition epoch moves on any change.
func install(p *Partition, replicas, adding, removing []int32, leader int32, isr []int32) {
	changed := !slices.Equal(p.Replicas, replicas) || !slices.Equal(p.AddingReplicas, adding) ||
		!slices.Equal(p.RemovingReplicas, removing)
	p.Replicas, p.AddingReplicas, p.RemovingReplicas = replicas, nilIfEmpty(adding), nilIfEmpty(removing)
	epoch := p.PartitionEpoch
	setLeader(p, leader, isr)
	if changed && p.PartitionEpoch == epoch {
		p.PartitionEpoch++
	}
}

func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (s *State) applyStartReassignment(c StartReassignment) error {
	p, ok := s.Partition(c.Topic, c.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, c.Topic, c.Partition)
	}
	if err := s.CheckTarget(c.Target); err != nil {
		return err
	}
	original := p.OriginalReplicas()
	target := slices.Clone(c.Target)
	if slices.Equal(target, original) {
		// The same set: nothing to move; one in flight is cancelled.
		if p.Reassigning() {
			return s.applyCancelReassignment(CancelReassignment{Topic: c.Topic, Partition: c.Partition})
		}
		return nil
	}
	var adding, removing []int32
	replicas := target
	for _, r := range target {
		if !slices.Contains(original, r) {
			adding = append(adding, r)
		}
	}
	for _, r := range original {
		if !slices.Contains(target, r) {
			removing = append(removing, r)
			replicas = append(replicas, r)
		}
	}
	// Only adding replicas of an earlier target that the new one drops
	// leave now; the original replicas all stay until completion.
	leader, isr, err := s.reshape(p, replicas)
	if err != nil {
		return err
	}
	install(p, replicas, adding, removing, leader, isr)
	return nil
}

func (s *State) applyCancelReassignment(c CancelReassignment) error {
	p, ok := s.Partition(c.Topic, c.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, c.Topic, c.Partition)
	}
	if !p.Reassigning() {
		return fmt.Errorf("%w: %s-%d", ErrNoReassignment, c.Topic, c.Partition)
	}
	original := p.OriginalReplicas()
	leader, isr, err := s.reshape(p, original)
	if err != nil {
		return fmt.Errorf("cancel reassignment of %s-%d: %w", c.Topic, c.Partition, err)
	}
	install(p, original, nil, nil, leader, isr)
	return nil
}

func (s *State) applyCompleteReassignment(c CompleteReassignment) error {
	p, ok := s.Partition(c.Topic, c.Partition)
	switch {
	case !ok:
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, c.Topic, c.Partition)
	case !p.Reassigning():
		return fmt.Errorf("%w: %s-%d", ErrNoReassignment, c.Topic, c.Partition)
	case p.PartitionEpoch != c.PartitionEpoch:
		return fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d",
			ErrStalePartitionEpoch, c.Topic, c.Partition, p.PartitionEpoch, c.PartitionEpoch)
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.ISR, r) {
			return fmt.Errorf("%w: %s-%d: adding replica %d is not in the ISR %v", ErrReassignmentNotReady, c.Topic, c.Partition, r, p.ISR)
		}
	}
	target := p.TargetReplicas()
	leader, isr, err := s.reshape(p, target)
	if err != nil {
		return err
	}
	install(p, target, nil, nil, leader, isr)
	return nil
}
