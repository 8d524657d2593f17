package broker

import (
	"context"
	"errors"
	"fmt"
)

// A node the cluster removed (chronik cluster remove-node or replace-node
// took it out of the raft membership) stops on its own, through the same
// halt as a storage failure (storage_failure.go): its raft node halted with
// raftnode.ErrRemoved and will never hear the metadata log again, so serving
// on would answer clients from metadata frozen at its removal. Its
// partitions were moved away (or replaced) before the removal; nothing in
// its data dir is needed any more.

// RemovedError is why a node stopped on its own after the cluster removed
// it. Node.Err returns it, and Serve returns it once the node stopped.
type RemovedError struct {
	NodeID  int32
	DataDir string
	Err     error // why: raftnode.ErrRemoved, or its broker registration removed
}

func (e *RemovedError) Error() string {
	return fmt.Sprintf("node %d was removed from the cluster: %v", e.NodeID, e.Err)
}

func (e *RemovedError) Unwrap() error { return e.Err }

// removedFromCluster stops the node after its raft node halted on its own
// removal, saying once what happened and what the operator may do.
func (n *Node) removedFromCluster(err error) {
	n.stopOnItsOwn(&RemovedError{NodeID: n.cfg.NodeID, DataDir: n.cfg.DataDir, Err: err}, func() {
		n.logger.Error("this node was removed from the cluster by a membership change of the controller "+
			"(chronik cluster remove-node or replace-node); it stops now and its data dir can be wiped",
			"node_id", n.cfg.NodeID, "data_dir", n.cfg.DataDir)
	})
}

// watchUnregistered stops the node once the metadata no longer lists it as
// a broker after it registered: RemoveNode unregisters a node before it
// takes it out of raft, so the node learns its removal from the metadata
// log while it still follows it. (Raft alone may never tell it: the leader
// stops sending to a removed member the moment it applies the removal.)
func (n *Node) watchUnregistered(ctx context.Context) {
	for {
		changed := n.raft.Changed()
		if n.registered.Load() {
			if _, ok := n.raft.State().Brokers[n.cfg.NodeID]; !ok {
				n.removedFromCluster(errUnregistered)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// errUnregistered is the cause of a RemovedError when the node saw itself
// leave the broker list.
var errUnregistered = errors.New("unregistered from the broker list")
