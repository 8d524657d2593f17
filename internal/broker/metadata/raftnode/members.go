package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftstore"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
)

// dropLogInterval is how often refusals from one peer are logged.
const dropLogInterval = 10 * time.Second

// initialVoters is who the transport hears from before the loop has replayed the log: a
// founder's peers, or the voters of the stored snapshot plus every conf change in the stored
// log after it (the loop re-applies those soon, and then owns the set).
func initialVoters(store *raftstore.Store, snap *raftpb.Snapshot, cfg Config, fresh bool) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	if fresh {
		for id := range cfg.Peers {
			out[id] = true
		}
		return out, nil
	}
	for _, id := range membersOf(snap.GetMetadata().GetConfState()) {
		out[id] = true
	}
	first, err := store.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return nil, err
	}
	if last < first {
		return out, nil
	}
	ents, err := store.Entries(first, last+1, 1<<62)
	if err != nil {
		return nil, fmt.Errorf("read stored conf changes: %w", err)
	}
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				applyToSet(out, cc.AsV2())
			}
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				applyToSet(out, &cc)
			}
		}
	}
	return out, nil
}

// applyToSet adds the nodes a conf change adds as voters or learners; removals are left to
// the loop, which applies them from the committed log.
func applyToSet(set map[uint64]bool, cc *raftpb.ConfChangeV2) {
	for _, c := range cc.GetChanges() {
		if t := c.GetType(); t == raftpb.ConfChangeAddNode || t == raftpb.ConfChangeAddLearnerNode {
			set[c.GetNodeId()] = true
		}
	}
}

// setVoters publishes the set of nodes the transport hears from: voters and learners.
func (n *Node) setVoters(set map[uint64]bool) { n.voters.Store(&set) }

// setVotersFrom publishes a ConfState's members (voters and learners); called by the loop
// after a conf change or a snapshot.
func (n *Node) setVotersFrom(cs *raftpb.ConfState) {
	set := map[uint64]bool{}
	for _, id := range membersOf(cs) {
		set[id] = true
	}
	n.setVoters(set)
}

// membersOf lists every node a ConfState names: voters (incoming and outgoing) and learners
// (current and next). A learner follows the log, so it must be heard too.
func membersOf(cs *raftpb.ConfState) []uint64 {
	return slices.Concat(cs.GetVoters(), cs.GetVotersOutgoing(), cs.GetLearners(), cs.GetLearnersNext())
}

// isVoter is the transport's membership check: voters and learners.
func (n *Node) isVoter(id uint64) bool {
	set := n.voters.Load()
	return set != nil && (*set)[id]
}

// checkForwarded validates a proposal that arrived over the network before raft appends it:
// only normal, non-empty entries whose envelope names the sender as proposer, and whose command
// passes checkCommand. One bad entry refuses the whole message: raft keeps a message's entries
// together, and a well-behaved proposer never mixes.
func (n *Node) checkForwarded(m *raftpb.Message) error {
	if len(m.GetEntries()) == 0 {
		return errors.New("no entries")
	}
	st := n.State()
	for i, e := range m.GetEntries() {
		if e.GetType() != raftpb.EntryNormal {
			return fmt.Errorf("entry %d: %v cannot be proposed from another node", i, e.GetType())
		}
		id, cmd, err := decodeEnvelope(e.GetData())
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if id.node != m.GetFrom() {
			return fmt.Errorf("entry %d: proposed by node %d but forwarded by node %d", i, id.node, m.GetFrom())
		}
		if err := checkCommand(st, cmd); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// checkCommand is what a command must pass to enter the log, wherever it is proposed: it
// decodes as a command this binary knows, of a metadata version the cluster has active, and a
// dry run on a copy of the state does not fail with anything but a rejection (rejections
// depend on the state when the entry commits, so the real apply decides them).
func checkCommand(st *state.State, cmd []byte) error {
	if err := st.Check(cmd); err != nil {
		return err
	}
	if _, err := st.Clone().Apply(cmd); err != nil && !errors.Is(err, state.ErrRejected) {
		return fmt.Errorf("invalid command: %w", err)
	}
	return nil
}

// HandleConn registers h for authenticated cluster connections of purpose p (see
// transport.Transport.Handle): replica fetches between brokers use it.
func (n *Node) HandleConn(p transport.Purpose, h transport.ConnHandler) { n.transport.Handle(p, h) }

// DialConn opens an authenticated cluster connection of purpose p to voter peer (see
// transport.Transport.Dial).
func (n *Node) DialConn(ctx context.Context, peer uint64, p transport.Purpose) (net.Conn, error) {
	return n.transport.Dial(ctx, peer, p)
}

// PeerRefusedDials is how many dials in a row voter peer's cluster address
// refused (transport.Transport.RefusedDials): evidence that its process is
// gone, unlike silence. 0 for this node itself and for unknown peers.
func (n *Node) PeerRefusedDials(peer uint64) int { return n.transport.RefusedDials(peer) }

// PeerReach is how this node's outbound cluster connection to voter peer
// stands (transport.Transport.Reach).
func (n *Node) PeerReach(peer uint64) transport.Reach { return n.transport.Reach(peer) }
