package raftnode

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
)

// Removing a node (chronik cluster remove-node, replace-node) asks the
// leader three things besides RemoveMember: may the node leave without
// risking the quorum (asked before any data moves, so a refusal changes
// nothing), is it still a member (a removal resumed after a crash may have
// done this step), and, when the node to remove is the leader itself, to
// hand leadership to another voter first.

// CheckRemoveMember says why removing node id now would be refused, nil if
// it would not (or id is not a member). Leader only. Unlike RemoveMember it
// accepts the leader itself, judging the voters that would be left.
func (n *Node) CheckRemoveMember(id uint64) error {
	rs, err := n.leaderView()
	if err != nil {
		return fmt.Errorf("remove node %d: %w", id, err)
	}
	if _, member := rs.Progress[id]; !member || isLearner(rs, id) {
		return nil
	}
	active, total := activeVoters(rs, n.cfg.NodeID, id)
	if total == 0 || active < total/2+1 {
		return fmt.Errorf("remove node %d: %w: the %d voters left would have %d live, fewer than a quorum of %d",
			id, ErrMembership, total, active, total/2+1)
	}
	return nil
}

// IsMember reports whether node id is a voter or learner, as the leader
// knows it. Leader only.
func (n *Node) IsMember(id uint64) (bool, error) {
	rs, err := n.leaderView()
	if err != nil {
		return false, err
	}
	_, member := rs.Progress[id]
	return member, nil
}

// TransferLeadership hands leadership to the most caught-up other voter
// the leader hears from, and waits until this node is no longer the leader.
// It returns the node it asked to take over.
func (n *Node) TransferLeadership(ctx context.Context) (uint64, error) {
	rs, err := n.leaderView()
	if err != nil {
		return 0, fmt.Errorf("transfer leadership: %w", err)
	}
	var to uint64
	var best uint64
	ids := slices.Sorted(func(yield func(uint64) bool) {
		for id := range rs.Config.Voters.IDs() {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		pr, ok := rs.Progress[id]
		if id == n.cfg.NodeID || !ok || !pr.RecentActive || isLearner(rs, id) {
			continue
		}
		if to == 0 || pr.Match > best {
			to, best = id, pr.Match
		}
	}
	if to == 0 {
		return 0, fmt.Errorf("transfer leadership: %w: no other live voter to take over", ErrMembership)
	}
	retry := time.NewTicker(n.electionTimeout)
	defer retry.Stop()
	for {
		wake := n.events.Wait()
		if err := n.haltError(); err != nil {
			return 0, err
		}
		if st := n.raft.Status(); st.RaftState != raft.StateLeader {
			return to, nil
		}
		// Repeated every election timeout: raft drops a transfer whose
		// target does not catch up within one.
		n.raft.TransferLeadership(ctx, n.cfg.NodeID, to)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("transfer leadership to node %d: %w", to, ctx.Err())
		case <-n.halted:
			return 0, n.haltError()
		case <-wake:
		case <-retry.C:
		}
	}
}

// CanLoseMember reports whether the voters would keep a live quorum of the
// current configuration if node id stopped now, before leaving it: true for
// a learner or a non-member. Leader only (false elsewhere).
func (n *Node) CanLoseMember(id uint64) bool {
	rs, err := n.leaderView()
	if err != nil {
		return false
	}
	if _, member := rs.Progress[id]; !member || isLearner(rs, id) {
		return true
	}
	active, total := activeVoters(rs, n.cfg.NodeID, id)
	return active >= (total+1)/2+1
}
