package topicadmin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/rebalance"
)

// ErrNoReassignment says the cluster does not serve partition reassignment
// (Kafka's AlterPartitionReassignments and ListPartitionReassignments, API
// keys 45 and 46): its brokers answer UNSUPPORTED_VERSION.
var ErrNoReassignment = errors.New("the cluster does not support partition reassignment yet (AlterPartitionReassignments, API key 45, and ListPartitionReassignments, key 46, are not served: UNSUPPORTED_VERSION)")

// Layout reads what `cluster rebalance` plans from: the brokers Metadata
// lists (the live ones, with their racks) and every topic's partitions. A
// replica on a broker Metadata does not list is on a broker that is down.
func (c *Client) Layout(ctx context.Context) ([]rebalance.Broker, []rebalance.Partition, error) {
	const op = "read the cluster layout"
	resp, err := c.metadata(ctx, nil)
	if err != nil {
		return nil, nil, c.explain(ctx, op, "", err, "")
	}
	var brokers []rebalance.Broker
	for _, b := range resp.Brokers {
		var rack string
		if b.Rack != nil {
			rack = *b.Rack
		}
		brokers = append(brokers, rebalance.Broker{ID: b.NodeID, Rack: rack, Live: true})
	}
	var parts []rebalance.Partition
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, nil, c.explain(ctx, op, *t.Topic, err, "")
		}
		for _, p := range t.Partitions {
			parts = append(parts, rebalance.Partition{Topic: *t.Topic, Partition: p.Partition,
				Replicas: slices.Clone(p.Replicas), Leader: p.Leader, ISR: slices.Clone(p.ISR)})
		}
	}
	return brokers, parts, nil
}

// InProgress lists the partition reassignments in progress; none when the
// cluster does not serve ListPartitionReassignments (then none can be).
func (c *Client) InProgress(ctx context.Context) ([]PartitionReassignment, error) {
	rs, err := c.Reassignments(ctx)
	if err != nil && IsCode(err, kerr.UnsupportedVersion) {
		return nil, nil
	}
	return rs, err
}

// CheckReassignment reports ErrNoReassignment unless every broker serves
// AlterPartitionReassignments and ListPartitionReassignments, so that a
// rebalance refuses before it moves anything.
func (c *Client) CheckReassignment(ctx context.Context) error {
	vs, err := c.adm.ApiVersions(ctx)
	if err != nil {
		return c.explain(ctx, "ask the brokers for their API versions", "", err, "")
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return c.explain(ctx, fmt.Sprintf("ask broker %d for its API versions", v.NodeID), "", v.Err, "")
		}
		for _, key := range []int16{45, 46} {
			if _, ok := v.KeyMaxVersion(key); !ok {
				return fmt.Errorf("broker %d: %w", v.NodeID, ErrNoReassignment)
			}
		}
	}
	return nil
}

// Reassign starts moving the partitions of one batch to their targets.
func (c *Client) Reassign(ctx context.Context, moves []rebalance.Move) error {
	const op = "reassign partitions"
	var req kadm.AlterPartitionAssignmentsReq
	for _, m := range moves {
		req.Assign(m.Topic, m.Partition, m.To)
	}
	resp, err := c.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		if apiMissing(err) {
			return ErrNoReassignment
		}
		return c.explain(ctx, op, "", err, "")
	}
	var failed []string
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			msg := r.Err.Error()
			if r.ErrMessage != "" {
				msg += ": " + r.ErrMessage
			}
			failed = append(failed, fmt.Sprintf("%s/%d: %s", r.Topic, r.Partition, msg))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s: the cluster refused %d of %d: %s", op, len(failed), len(moves), strings.Join(failed, "; "))
	}
	return nil
}

// WaitReassigned polls ListPartitionReassignments every poll until none of
// moves is still being reassigned, calling progress with the ones left.
func (c *Client) WaitReassigned(ctx context.Context, moves []rebalance.Move, poll time.Duration, progress func(left int)) error {
	set := kadm.TopicsSet{}
	for _, m := range moves {
		set.Add(m.Topic, m.Partition)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		resp, err := c.adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			if apiMissing(err) {
				return ErrNoReassignment
			}
			return c.explain(ctx, "list partition reassignments", "", err, "")
		}
		left := 0
		resp.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
				left++
			}
		})
		if progress != nil {
			progress(left)
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d reassignments to finish: %w", left, ctx.Err())
		case <-t.C:
		}
	}
}

// ElectPreferred asks for preferred-leader elections of the moved
// partitions; a partition whose preferred leader already leads is fine
// (ELECTION_NOT_NEEDED). It returns the partitions that could not be
// elected, with the reason, rather than failing: a preferred leader still
// catching up is elected later by the next run.
func (c *Client) ElectPreferred(ctx context.Context, moves []rebalance.Move) ([]string, error) {
	set := kadm.TopicsSet{}
	for _, m := range moves {
		set.Add(m.Topic, m.Partition)
	}
	resp, err := c.adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		return nil, c.explain(ctx, "elect preferred leaders", "", err, "")
	}
	var notes []string
	for _, ps := range resp {
		for _, r := range ps {
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				notes = append(notes, fmt.Sprintf("%s/%d: %v", r.Topic, r.Partition, r.Err))
			}
		}
	}
	slices.Sort(notes)
	return notes, nil
}
