package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Removing a node from the cluster (chronik cluster remove-node and
// replace-node) runs on the controller in three steps, each level-triggered
// from the committed state and raft's membership so that asking again after
// a crash (of the tool or of the controller) continues where it stopped:
//
//  1. move every replica the node hosts to other brokers (controller.
//     PlanRemoval: one reassignment per partition, throttled like any);
//  2. once it hosts none, hand leadership to another voter when it is the
//     raft leader, then unregister the broker (the node, still following
//     the metadata log, sees it and stops: watchUnregistered);
//  3. take it out of raft (a caught-up learner is promoted to keep the
//     voter target).
//
// One call starts or checks step 1 and, when it is over, does steps 2 and 3.
// (Raft removal last: a member the leader removes hears nothing more, and
// may miss the commit of its own removal.)
// Every refusal comes before anything is proposed.

// RemoveNodeRequest asks to remove broker ID, moving its replicas to
// Replace when not 0 (replace-node), else to other live brokers. Force
// removes a broker that is down, rebuilding its replicas from the other
// in-sync replicas.
type RemoveNodeRequest struct {
	ID      int32
	Replace int32
	Force   bool
}

// Phases of a removal, as RemoveNode reports them.
const (
	RemovalMoving          = "moving"           // replicas are still being moved off the node
	RemovalControllerMoved = "controller_moved" // the node was the controller; ask the new one
	RemovalDone            = "done"             // out of raft and the broker list
)

// RemoveNodeStatus is where a removal stands after one call.
type RemoveNodeStatus struct {
	ID    int32
	Phase string
	// Started are the reassignments this call started; Moving the
	// partitions that still name the node (being moved off it).
	Started []state.PartitionRef
	Moving  []state.PartitionRef
	// Controller is the node asked to take over when Phase is
	// RemovalControllerMoved.
	Controller int32
	// Down: the node was down, so nothing is copied from it (Force).
	Down bool
}

// NotControllerError refuses a removal asked of a node that is not the raft
// leader: membership changes are the leader's.
type NotControllerError struct{ Controller int32 }

func (e *NotControllerError) Error() string {
	if e.Controller == 0 {
		return "this node is not the controller, and no controller is known right now: try again"
	}
	return fmt.Sprintf("this node is not the controller; ask node %d", e.Controller)
}

// ErrUnknownNode refuses the removal of a node that is neither a registered
// broker nor a raft member (a removal that already finished, too).
var ErrUnknownNode = errors.New("unknown node")

// RemoveNode runs one round of the removal req asks for (see above).
func (n *Node) RemoveNode(ctx context.Context, req RemoveNodeRequest) (RemoveNodeStatus, error) {
	st := RemoveNodeStatus{ID: req.ID, Phase: RemovalMoving}
	if req.ID < 1 || req.Replace < 0 {
		return st, fmt.Errorf("%w: node ids are positive, got %d", controller.ErrRemovalRefused, min(req.ID, req.Replace))
	}
	member, err := n.raft.IsMember(uint64(req.ID))
	if err != nil {
		return st, &NotControllerError{Controller: int32(n.raft.LeaderID())}
	}
	s := n.raft.State()
	b, registered := s.Brokers[req.ID]
	if !registered && !member {
		return st, fmt.Errorf("%w: node %d is neither a registered broker nor a raft member", ErrUnknownNode, req.ID)
	}
	if registered {
		st.Down = b.Fenced
		// The quorum is checked before any data moves, so a refusal changes nothing.
		if err := n.membershipSettled(ctx, func() error { return n.raft.CheckRemoveMember(uint64(req.ID)) }); err != nil {
			return st, fmt.Errorf("%w: %v", controller.ErrRemovalRefused, err)
		}
		plan, err := controller.PlanRemoval(s, req.ID, req.Replace, req.Force || req.Replace != 0)
		if err != nil {
			return st, err
		}
		if err := n.controller.StartRemoval(ctx, plan); err != nil {
			return st, err
		}
		for _, m := range plan.Moves {
			st.Started = append(st.Started, m.Ref)
		}
		if st.Moving = n.raft.State().ReplicasOf(req.ID); len(st.Moving) > 0 {
			return st, nil
		}
	}
	if member && req.ID == n.cfg.NodeID {
		to, err := n.raft.TransferLeadership(ctx)
		if err != nil {
			return st, fmt.Errorf("remove node %d, the controller: %w", req.ID, err)
		}
		st.Phase, st.Controller = RemovalControllerMoved, int32(to)
		return st, nil
	}
	// Unregistered first: the node, still following the log, sees it and
	// stops (watchUnregistered); out of raft first, it might never hear.
	// But a voter that stops while still a voter must not cost the quorum:
	// when the others alone are not a quorum of today's voters, it leaves
	// raft first (and may then run on unaware until stopped by hand).
	unregisterFirst := registered && n.membershipSettled(ctx, func() error {
		if !n.raft.CanLoseMember(uint64(req.ID)) {
			return raftnode.ErrMembership
		}
		return nil
	}) == nil
	if unregisterFirst {
		if err := n.controller.UnregisterBroker(ctx, req.ID); err != nil {
			return st, err
		}
	}
	if member {
		if err := n.membershipSettled(ctx, func() error { return n.raft.RemoveMember(ctx, uint64(req.ID)) }); err != nil {
			if errors.Is(err, raftnode.ErrMembership) {
				return st, fmt.Errorf("%w: %v", controller.ErrRemovalRefused, err)
			}
			return st, fmt.Errorf("remove node %d from raft: %w", req.ID, err)
		}
		n.logger.Info("node removed from the raft membership", "node", req.ID)
	}
	if registered && !unregisterFirst {
		if err := n.controller.UnregisterBroker(ctx, req.ID); err != nil {
			return st, err
		}
	}
	st.Phase = RemovalDone
	return st, nil
}

// membershipSettled runs a quorum-checked membership step, asking again for
// up to an election timeout while it is refused: the leader's view of which
// voters are active is reset at every election and quorum check and comes
// back with the next heartbeat answers, so a leader that just took over (or
// just checked) briefly counts live voters as silent. A voter really down
// stays refused.
func (n *Node) membershipSettled(ctx context.Context, step func() error) error {
	deadline := time.Now().Add(n.cfg.RaftElectionTimeout)
	for {
		err := step()
		if !errors.Is(err, raftnode.ErrMembership) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(n.cfg.RaftElectionTimeout / 10):
		}
	}
}
