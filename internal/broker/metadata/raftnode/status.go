package raftnode

import (
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Role names in Status.
const (
	roleLeader       = "leader"
	roleFollower     = "follower"
	roleCandidate    = "candidate"
	rolePreCandidate = "pre-candidate"
	// roleStopped is reported after a fatal error or Close; Err says which.
	roleStopped = "stopped"
)

// Status is what `chronik raft status` prints for one node. Every number comes from this
// node's raft state at the moment of the call.
type Status struct {
	NodeID uint64 `json:"node_id"`
	Term   uint64 `json:"term"`
	// Lead is the leader this node follows, 0 if none is known.
	Lead   uint64 `json:"lead"`
	Commit uint64 `json:"commit"`
	// Applied is the last entry applied to the metadata state.
	Applied uint64 `json:"applied"`
	// SnapshotIndex is the index of the latest snapshot in this node's store.
	SnapshotIndex uint64 `json:"snapshot_index"`
	// Role is "leader", "follower", "candidate" or "pre-candidate"; "stopped" after a fatal
	// error or Close, with the numbers as they were then.
	Role   string   `json:"role"`
	Voters []uint64 `json:"voters"`
	// Learners are the members that follow the log without voting (joined nodes beyond the
	// voter target, or not caught up yet).
	Learners []uint64 `json:"learners,omitempty"`
	// VoterTarget is Config.VoterTarget: how many voters the leader keeps by promoting
	// caught-up learners (0: it never promotes).
	VoterTarget int `json:"voter_target,omitempty"`
	// Ready is Node.Ready: a leader is known and this node has caught up.
	Ready bool `json:"ready"`
	// Progress is the leader's view of every voter, itself included; empty elsewhere.
	Progress map[uint64]PeerProgress `json:"progress,omitempty"`
	// Err is why the node stopped; empty while it runs.
	Err string `json:"err,omitempty"`
}

// PeerProgress is the leader's replication progress for one voter, with the transport's
// view of the connection to it.
type PeerProgress struct {
	// Match is the highest entry known to be in the peer's log; Next the next one to send.
	Match uint64 `json:"match"`
	Next  uint64 `json:"next"`
	// Learner: the peer follows the log without voting.
	Learner bool `json:"learner,omitempty"`
	// State is "probe" (finding the peer's log end), "replicate" (streaming entries) or
	// "snapshot" (the peer needs a snapshot).
	State string `json:"state"`
	// RecentActive reports whether the peer answered within the last election timeout.
	RecentActive bool `json:"recent_active"`
	// Connected reports an established outbound connection to the peer (always true for the
	// leader itself).
	Connected bool `json:"connected"`
	// LastContact is when a message from the peer last arrived; zero if never.
	LastContact time.Time `json:"last_contact,omitzero"`
	// LastError is the last failure sending to the peer, and LastErrorTime when it happened.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Status returns this node's raft status.
func (n *Node) Status() Status {
	if n.isHalted() {
		return n.finalStatus()
	}
	rs := n.raft.Status()
	if rs.ID == 0 { // raft stopped between the check and the call; halted is closed by now
		return n.finalStatus()
	}
	return n.buildStatus(rs)
}

func (n *Node) finalStatus() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.final
	s.Voters = slices.Clone(s.Voters)
	s.Learners = slices.Clone(s.Learners)
	return s
}

func (n *Node) buildStatus(rs raft.Status) Status {
	s := Status{
		NodeID:        n.cfg.NodeID,
		Term:          rs.GetTerm(),
		Lead:          rs.Lead,
		Commit:        rs.GetCommit(),
		Applied:       n.applied.Load(),
		SnapshotIndex: n.snapIndex.Load(),
		Role:          roleName(rs.RaftState),
		Ready:         n.Ready(),
		VoterTarget:   n.cfg.VoterTarget,
		Voters:        make([]uint64, 0, len(rs.Config.Voters[0])),
	}
	for id := range rs.Config.Voters.IDs() {
		s.Voters = append(s.Voters, id)
	}
	slices.Sort(s.Voters)
	for id := range rs.Config.Learners {
		s.Learners = append(s.Learners, id)
	}
	for id := range rs.Config.LearnersNext {
		s.Learners = append(s.Learners, id)
	}
	slices.Sort(s.Learners)
	if len(rs.Progress) == 0 {
		return s
	}
	conns := n.transport.PeerStatus()
	s.Progress = make(map[uint64]PeerProgress, len(rs.Progress))
	for id, pr := range rs.Progress {
		p := PeerProgress{
			Match:        pr.Match,
			Next:         pr.Next,
			State:        progressState(pr.State),
			Learner:      pr.IsLearner,
			RecentActive: pr.RecentActive,
		}
		if id == n.cfg.NodeID {
			p.Connected = true
		} else if c, ok := conns[id]; ok {
			p.Connected = c.Connected
			p.LastContact = c.LastRecv
			p.LastError, p.LastErrorTime = c.LastError, c.LastErrorTime
		}
		s.Progress[id] = p
	}
	return s
}

func roleName(st raft.StateType) string {
	switch st {
	case raft.StateLeader:
		return roleLeader
	case raft.StateCandidate:
		return roleCandidate
	case raft.StatePreCandidate:
		return rolePreCandidate
	default:
		return roleFollower
	}
}

func progressState(st tracker.StateType) string {
	switch st {
	case tracker.StateReplicate:
		return "replicate"
	case tracker.StateSnapshot:
		return "snapshot"
	default:
		return "probe"
	}
}
