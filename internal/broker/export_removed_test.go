package broker

import "context"

// RemoveRaftMemberForTest removes node id from the raft membership through
// this node, which must be the raft leader.
func (n *Node) RemoveRaftMemberForTest(ctx context.Context, id int32) error {
	return n.raft.RemoveMember(ctx, uint64(id))
}
