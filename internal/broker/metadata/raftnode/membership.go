package raftnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Membership changes. A node joins as a raft learner: it follows the log (and installs a
// snapshot when it is far behind) without counting towards any quorum, so a slow or dead
// joiner never costs the cluster its availability. The leader promotes caught-up learners
// while the cluster has fewer voters than Config.VoterTarget; learners beyond it follow the
// log for ever. Every conf change adding a node carries its cluster address in the conf
// change context (confContext), so every member's transport learns where the new node is
// and starts hearing it, and a node that installs a snapshot learns every address from the
// address book every member keeps in Dir/raft-members.json.

// ErrRemoved is the error a node halts with after applying a conf change that removed it
// from the raft membership: it must not campaign or serve metadata any more.
var ErrRemoved = errors.New("removed from the raft membership")

// ErrNotLeader is returned by the membership calls on a node that is not the raft leader:
// conf changes are proposed by the leader only (followers forward only normal entries).
var ErrNotLeader = errors.New("not the raft leader")

// ErrMembership wraps every refusal of a membership change (conflict, unknown node, quorum
// at risk, learner not caught up): nothing was proposed.
var ErrMembership = errors.New("membership change refused")

// membersFile keeps the cluster address of every member this node learned from a conf
// change; a restart reads it back, since the conf change may since be compacted away.
const membersFile = "raft-members.json"

// confContextVersion tags the conf change context so a newer binary can extend it.
const confContextVersion = 1

// confContext is the context of a conf change that adds a node.
type confContext struct {
	Version int    `json:"v"`
	Addr    string `json:"addr"`
}

func encodeConfContext(addr string) []byte {
	b, _ := json.Marshal(confContext{Version: confContextVersion, Addr: addr}) // cannot fail
	return b
}

// decodeConfContext reads the address of a conf change; an empty context (a promotion, or a
// founder's bootstrap entry) has none.
func decodeConfContext(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	var c confContext
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("decode conf change context: %w", err)
	}
	if c.Version != confContextVersion {
		return "", fmt.Errorf("conf change context version %d not supported (want %d)", c.Version, confContextVersion)
	}
	return c.Addr, nil
}

// readMembers reads the stored address book; a missing file is an empty book.
func readMembers(dir string) (map[uint64]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, membersFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[uint64]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read raft member addresses: %w", err)
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decode raft member addresses %s: %w", filepath.Join(dir, membersFile), err)
	}
	out := make(map[uint64]string, len(raw))
	for k, v := range raw {
		id, err := strconv.ParseUint(k, 10, 64)
		if err != nil || id == 0 || v == "" {
			return nil, fmt.Errorf("raft member addresses %s: bad entry %q=%q", filepath.Join(dir, membersFile), k, v)
		}
		out[id] = v
	}
	return out, nil
}

// writeMembers replaces the stored address book atomically (write, fsync, rename).
func writeMembers(dir string, book map[uint64]string) error {
	raw := make(map[string]string, len(book))
	for id, addr := range book {
		raw[strconv.FormatUint(id, 10)] = addr
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("encode raft member addresses: %w", err)
	}
	tmp := filepath.Join(dir, membersFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write raft member addresses: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write raft member addresses: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, membersFile)); err != nil {
		return fmt.Errorf("write raft member addresses: %w", err)
	}
	return nil
}

// learnAddresses is called by the loop for every applied conf change: added nodes with an
// address become transport peers and enter the book, removed ones leave both. It reports
// whether this node itself was removed.
func (n *Node) learnAddresses(cc raftpb.ConfChangeI) (removedSelf bool, err error) {
	n.bookMu.Lock()
	defer n.bookMu.Unlock()
	changed := false
	for _, c := range cc.AsV2().GetChanges() {
		id := c.GetNodeId()
		switch c.GetType() {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			addr, err := decodeConfContext(cc.AsV2().GetContext())
			if err != nil {
				return false, err
			}
			if addr == "" || n.book[id] == addr {
				continue
			}
			n.book[id] = addr
			changed = true
			if id != n.cfg.NodeID {
				n.transport.AddPeer(id, addr)
			}
		case raftpb.ConfChangeRemoveNode:
			if id == n.cfg.NodeID {
				removedSelf = true
				continue
			}
			if _, ok := n.book[id]; ok {
				delete(n.book, id)
				changed = true
			}
			n.transport.RemovePeer(id)
		}
	}
	if changed {
		if err := writeMembers(n.cfg.Dir, n.book); err != nil {
			return false, fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	return removedSelf, nil
}

// Member is one raft member as the leader sees it.
type Member struct {
	ID      uint64
	Learner bool
	Match   uint64
	// Active: the member answered within the last election timeout.
	Active bool
}

// leaderView returns the leader's progress of every member, or ErrNotLeader.
func (n *Node) leaderView() (raft.Status, error) {
	if err := n.haltError(); err != nil {
		return raft.Status{}, err
	}
	rs := n.raft.Status()
	if rs.RaftState != raft.StateLeader {
		return raft.Status{}, fmt.Errorf("%w (leader is node %d)", ErrNotLeader, rs.Lead)
	}
	return rs, nil
}

// activeVoters counts the voters the leader heard from within an election timeout (itself
// included), leaving out skip.
func activeVoters(rs raft.Status, self, skip uint64) (active, total int) {
	for id := range rs.Config.Voters.IDs() {
		if id == skip {
			continue
		}
		total++
		if pr, ok := rs.Progress[id]; id == self || (ok && pr.RecentActive) {
			active++
		}
	}
	return active, total
}

// heardVoters is activeVoters for a membership check, given up to an election timeout to
// reach a quorum: a leader's view of who is active is reset at each election and quorum
// check, so right after one it briefly counts live voters as silent (a change asked for
// then was refused for no reason). It gives up early only when ctx ends.
func (n *Node) heardVoters(ctx context.Context, skip uint64) (active, total int, err error) {
	deadline := time.Now().Add(n.electionTimeout)
	tick := time.NewTicker(max(n.electionTimeout/20, time.Millisecond))
	defer tick.Stop()
	for {
		rs, err := n.leaderView()
		if err != nil {
			return 0, 0, err
		}
		active, total = activeVoters(rs, n.cfg.NodeID, skip)
		if (total > 0 && active >= total/2+1) || !time.Now().Before(deadline) {
			return active, total, nil
		}
		select {
		case <-ctx.Done():
			return active, total, nil
		case <-tick.C:
		}
	}
}

// isLearner reports whether id is a learner (or about to become one) in rs.
func isLearner(rs raft.Status, id uint64) bool {
	_, l := rs.Config.Learners[id]
	_, ln := rs.Config.LearnersNext[id]
	return l || ln
}

// AddLearner adds node id, reachable at the cluster address addr, as a raft learner and
// waits until this node applied the change. Leader only. Asking again for the same node at
// the same address is a no-op, so a joiner that retries after a crash gets the same answer;
// the same id at another address (another machine claiming a member's id) is refused, as is
// any change while the leader cannot hear a quorum of voters.
func (n *Node) AddLearner(ctx context.Context, id uint64, addr string) error {
	if id == 0 || addr == "" {
		return fmt.Errorf("add learner %d at %q: %w: node id and address are required", id, addr, ErrMembership)
	}
	rs, err := n.leaderView()
	if err != nil {
		return fmt.Errorf("add learner %d: %w", id, err)
	}
	if _, member := rs.Progress[id]; member {
		if known := n.memberAddr(id); known != addr {
			return fmt.Errorf("add learner %d at %s: %w: node %d is already a member at %s", id, addr, ErrMembership, id, known)
		}
		return nil
	}
	active, total, err := n.heardVoters(ctx, 0)
	if err != nil {
		return fmt.Errorf("add learner %d: %w", id, err)
	}
	if active < total/2+1 {
		return fmt.Errorf("add learner %d: %w: the leader hears %d of %d voters, no quorum", id, ErrMembership, active, total)
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: &id}},
		Context: encodeConfContext(addr),
	}
	return n.changeConf(ctx, cc, func(rs raft.Status) bool { return isLearner(rs, id) })
}

// Promote makes learner id a voter, once its log matches the leader's commit index. Leader
// only; promoting a voter is a no-op.
func (n *Node) Promote(ctx context.Context, id uint64) error {
	rs, err := n.leaderView()
	if err != nil {
		return fmt.Errorf("promote node %d: %w", id, err)
	}
	if _, voter := rs.Config.Voters[0][id]; voter {
		return nil
	}
	pr, ok := rs.Progress[id]
	if !ok || !isLearner(rs, id) {
		return fmt.Errorf("promote node %d: %w: not a learner", id, ErrMembership)
	}
	if pr.Match < rs.GetCommit() {
		return fmt.Errorf("promote node %d: %w: not caught up (match %d, commit %d)", id, ErrMembership, pr.Match, rs.GetCommit())
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: &id}},
	}
	return n.changeConf(ctx, cc, func(rs raft.Status) bool { _, v := rs.Config.Voters[0][id]; return v })
}

// RemoveMember removes node id from the raft membership and waits until this node applied
// it. Leader only, and not the leader itself (transfer leadership first). Removing a voter
// is refused when the voters left would not have a quorum of members the leader hears.
// Removing a node that is not a member is a no-op.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	rs, err := n.leaderView()
	if err != nil {
		return fmt.Errorf("remove node %d: %w", id, err)
	}
	if id == n.cfg.NodeID {
		return fmt.Errorf("remove node %d: %w: it is the raft leader; move leadership away first", id, ErrMembership)
	}
	if _, member := rs.Progress[id]; !member {
		return nil
	}
	if !isLearner(rs, id) {
		active, total, err := n.heardVoters(ctx, id)
		if err != nil {
			return fmt.Errorf("remove node %d: %w", id, err)
		}
		if total == 0 || active < total/2+1 {
			return fmt.Errorf("remove node %d: %w: the %d voters left would have %d live, fewer than a quorum of %d",
				id, ErrMembership, total, active, total/2+1)
		}
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: &id}},
	}
	return n.changeConf(ctx, cc, func(rs raft.Status) bool { _, m := rs.Progress[id]; return !m })
}

// changeConf proposes cc until done holds on this node's raft status. Raft turns a conf
// change proposed while another is pending into an empty entry without telling, so the
// proposal is repeated every election timeout; done makes the repeat harmless.
func (n *Node) changeConf(ctx context.Context, cc *raftpb.ConfChangeV2, done func(raft.Status) bool) error {
	retry := time.NewTicker(n.electionTimeout)
	defer retry.Stop()
	for {
		wake := n.events.Wait()
		rs := n.raft.Status()
		if done(rs) {
			return nil
		}
		if err := n.haltError(); err != nil {
			return err
		}
		if rs.RaftState != raft.StateLeader {
			return fmt.Errorf("%w (leadership moved to node %d during the change)", ErrNotLeader, rs.Lead)
		}
		if err := n.raft.ProposeConfChange(ctx, cc); err != nil {
			return fmt.Errorf("propose conf change: %w", err)
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return fmt.Errorf("conf change: %w", ctx.Err())
			case <-n.halted:
				return n.haltError()
			case <-retry.C:
				waiting = false
			case <-wake:
				if done(n.raft.Status()) {
					return nil
				}
				wake = n.events.Wait()
			}
		}
	}
}

// memberAddr is the cluster address this node knows for member id: from the conf change
// that added it, else from the transport's peers (--peers); for itself, what the others
// were told.
func (n *Node) memberAddr(id uint64) string {
	n.bookMu.Lock()
	addr := n.book[id]
	n.bookMu.Unlock()
	switch {
	case addr != "":
		return addr
	case id == n.cfg.NodeID && n.cfg.Peers[id] != "":
		return n.cfg.Peers[id]
	case id == n.cfg.NodeID:
		return n.cfg.ListenAddr
	}
	return n.transport.PeerStatus()[id].Addr
}

// memberIDs lists the current members, voters and learners, from raft's own configuration.
func (n *Node) memberIDs() []uint64 {
	rs := n.raft.Status()
	var ids []uint64
	for id := range rs.Config.Voters.IDs() {
		ids = append(ids, id)
	}
	for id := range rs.Config.Learners {
		ids = append(ids, id)
	}
	for id := range rs.Config.LearnersNext {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Members returns the leader's view of every raft member, sorted by id; ErrNotLeader
// elsewhere.
func (n *Node) Members() ([]Member, error) {
	rs, err := n.leaderView()
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(rs.Progress))
	for id, pr := range rs.Progress {
		out = append(out, Member{ID: id, Learner: pr.IsLearner, Match: pr.Match,
			Active: id == n.cfg.NodeID || pr.RecentActive})
	}
	slices.SortFunc(out, func(a, b Member) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// keepVoters runs on every node; on the leader it promotes the most caught-up live learner
// whenever there are fewer voters than Config.VoterTarget, one at a time.
func (n *Node) keepVoters(ctx context.Context) {
	defer n.bg.Done()
	t := time.NewTicker(n.electionTimeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.halted:
			return
		case <-t.C:
		}
		rs, err := n.leaderView()
		if err != nil || len(rs.Config.Voters[0]) >= n.cfg.VoterTarget || len(rs.Config.Voters[1]) > 0 {
			continue
		}
		var best uint64
		var bestMatch uint64
		for id, pr := range rs.Progress {
			if pr.IsLearner && pr.RecentActive && pr.State == tracker.StateReplicate &&
				pr.Match >= rs.GetCommit() && pr.Match >= bestMatch {
				best, bestMatch = id, pr.Match
			}
		}
		if best == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 4*n.electionTimeout)
		err = n.Promote(cctx, best)
		cancel()
		if err != nil {
			n.log.Warn("could not promote a caught-up learner to voter", "node_id", best, "error", err)
			continue
		}
		n.log.Info("promoted a caught-up learner to voter", "node_id", best,
			"voters", len(rs.Config.Voters[0])+1, "target", n.cfg.VoterTarget)
	}
}
