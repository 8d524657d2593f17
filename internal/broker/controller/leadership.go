package controller

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// AlterPartition commits a partition leader's ISR change (Kafka's
// AlterPartition): a compare-and-set on the partition epoch the leader last
// saw, refused when leadership or the partition moved on meanwhile.
func (c *Controller) AlterPartition(ctx context.Context, a state.AlterPartition) error {
	if _, err := c.propose(ctx, state.TypeAlterPartition, a); err != nil {
		switch {
		case errors.Is(err, state.ErrFencedLeaderEpoch):
			return errorf(kerr.FencedLeaderEpoch, "%v", err)
		case errors.Is(err, state.ErrStalePartitionEpoch):
			return errorf(kerr.InvalidUpdateVersion, "%v", err)
		case errors.Is(err, state.ErrIneligibleReplica):
			return errorf(kerr.IneligibleReplica, "%v", err)
		case errors.Is(err, state.ErrUnknownPartition):
			return errorf(kerr.UnknownTopicOrPartition, "%v", err)
		}
		return proposeErr(ctx, "alter partition", err)
	}
	return nil
}

// ShutdownBroker is a broker's controlled shutdown: the committed command
// moves its leaderships and removes it from every ISR, so clients are told
// to move before it stops.
func (c *Controller) ShutdownBroker(ctx context.Context, id int32) error {
	if _, err := c.propose(ctx, state.TypeShutdownBroker, state.FenceBroker{ID: id}); err != nil {
		return proposeErr(ctx, "controlled shutdown", err)
	}
	return nil
}

// ElectionResult is the outcome of an election for one partition: nil when
// the leader moved as asked, else the Kafka error (ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION) with a message.
type ElectionResult struct {
	Ref state.PartitionRef
	Err *Error
}

// ElectLeaders runs preferred (unclean=false) or unclean elections on the
// given partitions, all partitions when refs is nil, as one command.
func (c *Controller) ElectLeaders(ctx context.Context, unclean bool, refs []state.PartitionRef) ([]ElectionResult, error) {
	s := c.meta.State()
	if refs == nil {
		refs = allPartitions(s)
	}
	results := make([]ElectionResult, len(refs))
	var eligible []state.PartitionRef
	for i, ref := range refs {
		results[i].Ref = ref
		if err := electionCheck(s, ref, unclean); err != nil {
			results[i].Err = err
			continue
		}
		eligible = append(eligible, ref)
	}
	if len(eligible) == 0 {
		return results, nil
	}
	if _, err := c.propose(ctx, state.TypeElectLeaders, state.ElectLeaders{Unclean: unclean, Partitions: eligible}); err != nil {
		return nil, proposeErr(ctx, "elect leaders", err)
	}
	after := c.meta.State()
	for i, r := range results {
		if r.Err != nil {
			continue
		}
		// Liveness may have changed between the check and the commit.
		if err := electionCheck(after, r.Ref, unclean); err != nil && err.Code != kerr.ElectionNotNeeded {
			results[i].Err = err
		}
	}
	return results, nil
}

func allPartitions(s *state.State) []state.PartitionRef {
	var refs []state.PartitionRef
	for name, t := range s.Topics {
		for i := range t.Partitions {
			refs = append(refs, state.PartitionRef{Topic: name, Partition: int32(i)})
		}
	}
	slices.SortFunc(refs, func(a, b state.PartitionRef) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return refs
}

// electionCheck says why an election on ref would change nothing, or nil.
func electionCheck(s *state.State, ref state.PartitionRef, unclean bool) *Error {
	t, ok := s.Topics[ref.Topic]
	p, found := s.Partition(ref.Topic, ref.Partition)
	if !ok || !found {
		return errorf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", ref.Topic, ref.Partition)
	}
	if unclean {
		if p.Leader != -1 {
			return errorf(kerr.ElectionNotNeeded, "%s-%d has a leader (%d)", ref.Topic, ref.Partition, p.Leader)
		}
		if leader, _ := s.ChooseLeader(t, p, true); leader == -1 {
			return errorf(kerr.EligibleLeadersNotAvailable, "%s-%d: none of its replicas %v is alive", ref.Topic, ref.Partition, p.Replicas)
		}
		return nil
	}
	pref := p.Replicas[0]
	switch {
	case p.Leader == pref:
		return errorf(kerr.ElectionNotNeeded, "%s-%d is already led by its preferred replica %d", ref.Topic, ref.Partition, pref)
	case !s.Live(pref):
		return errorf(kerr.PreferredLeaderNotAvailable, "%s-%d: preferred replica %d is not alive", ref.Topic, ref.Partition, pref)
	case !slices.Contains(p.ISR, pref):
		return errorf(kerr.PreferredLeaderNotAvailable, "%s-%d: preferred replica %d is not in the ISR %v", ref.Topic, ref.Partition, pref, p.ISR)
	}
	return nil
}

// RunLeaderRebalance moves leadership back to preferred replicas every
// interval while this node is the raft leader (Kafka's
// auto.leader.rebalance.enable), so leadership spreads out again after a
// failover once the preferred replicas have caught up.
func (c *Controller) RunLeaderRebalance(ctx context.Context, leading func() bool, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !leading() {
			continue
		}
		s := c.meta.State()
		var refs []state.PartitionRef
		for _, ref := range allPartitions(s) {
			if electionCheck(s, ref, false) == nil {
				refs = append(refs, ref)
			}
		}
		if len(refs) == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := c.ElectLeaders(pctx, false, refs); err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("preferred leader election not committed; retrying on the next check", "partitions", len(refs), "err", err)
		} else if err == nil {
			c.opts.Logger.Info("moved leadership back to preferred replicas", "partitions", len(refs))
		}
		cancel()
	}
}
