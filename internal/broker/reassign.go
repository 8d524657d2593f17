package broker

import (
	"context"
	"time"
)

// reassignmentCheckInterval is how often the controller looks for
// reassignments ready to complete besides on every metadata change: the
// periodic check covers a change it missed while it was not the leader.
const reassignmentCheckInterval = time.Second

// runReassignments completes partition reassignments while this node is the
// raft leader (controller.RunReassignments).
func (n *Node) runReassignments(ctx context.Context) {
	n.controller.RunReassignments(ctx, func() bool { return n.raft.Status().Role == "leader" }, n.raft.Changed, reassignmentCheckInterval)
}
