package broker

import (
	"context"
	"net"
)

// CrashForTest stops the node the way the rest of the cluster sees a kill -9:
// without a controlled shutdown, so it keeps its ISR memberships and
// leaderships until the controller fences it or a leader finds it lagging.
func (n *Node) CrashForTest(ctx context.Context) error {
	n.registered.Store(false) // controlledShutdown skips an unregistered broker
	return n.Close(ctx)
}

// IncarnationForTest is the incarnation this node registered with.
func (n *Node) IncarnationForTest() uint64 { return n.incarnation.Load() }

// ReregisterForTest registers this broker again with a new incarnation, as
// a restarted process does; connections that proved the old one are stale.
func (n *Node) ReregisterForTest(ctx context.Context) { n.register(ctx) }

// DialReplicaForTest opens a replica connection from this node to leader
// through the cluster transport, claiming incarnation in the preamble.
func (n *Node) DialReplicaForTest(ctx context.Context, leader int32, incarnation uint64) (net.Conn, error) {
	return dialReplicaAs(ctx, n.raft, leader, incarnation)
}
