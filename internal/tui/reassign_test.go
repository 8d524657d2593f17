package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// movingView is the healthy cluster with orders-0 moving from [1,2,3] to
// [1,2,4]: replica 4 copying (12.5 MB left at 1 MB/s), replica 3 to leave.
func movingView(t *testing.T) api.ClusterView {
	t.Helper()
	v := admintest.LoadView(t, "healthy.json")
	for i, p := range v.Nodes[0].Partitions.Partitions {
		if p.Topic != "orders" || p.Partition != 0 {
			continue
		}
		left, rate, adv := int64(12_500_000), 1e6, 0.4
		p.Replicas, p.AddingReplicas, p.RemovingReplicas = []int32{1, 2, 4, 3}, []int32{4}, []int32{3}
		p.Followers = append(p.Followers, api.ReplicaState{ID: 4, LogEndOffset: 115000, Lag: 5000, Adding: true,
			BytesLeft: &left, CopyBytesPerSecond: &rate, LastAdvanceSeconds: &adv})
		v.Nodes[0].Partitions.Partitions[i] = p
		return v
	}
	t.Fatal("healthy.json has no orders-0 on node 1")
	return v
}

// The partitions view names the adding and removing replicas and, only
// while something moves, a COPYING column with the bytes left and rate;
// the detail view marks the replicas' roles and says how the copy goes.
func TestTUIReassignmentProgress(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.update(tea.WindowSizeMsg{Width: 200, Height: 40})
	h.keys("2")
	if s := h.screen(); strings.Contains(s, "COPYING") || strings.Contains(s, "adding") {
		t.Fatalf("nothing moves, yet:\n%s", s)
	}

	h.refresh(movingView(t))
	h.contains("COPYING", "1,2,4,3 (adding 4, removing 3)", "◐ 4: 12.5 MB left, 1.0 MB/s")
	if l := h.row("orders", "1"); !strings.HasSuffix(strings.TrimSpace(l), "-") {
		t.Errorf("orders-1 does not move, its COPYING cell should be -: %q", l)
	}

	h.keys("enter")
	h.contains("reassigning: 1,2,4,3 (adding 4, removing 3)",
		"replica 4 copying: 12.5 MB left, 1.0 MB/s, 5000 offsets behind, last advanced 0.4s ago")
	if l := h.row("4", "follower,", "adding"); !strings.Contains(l, "115000") {
		t.Errorf("replica 4: %q", l)
	}
	h.row("3", "follower,", "removing")

	// Done: the move's marks go away.
	h.refresh(admintest.LoadView(t, "healthy.json"))
	if s := h.screen(); strings.Contains(s, "reassigning") || strings.Contains(s, "adding") {
		t.Fatalf("the move finished, yet:\n%s", s)
	}
}

// The raft view shows learners apart from voters: per node, in the leader's
// summary against the voter target, and per peer with its lag.
func TestTUIRaftLearners(t *testing.T) {
	v := admintest.LoadView(t, "node-down.json")
	var leader *api.RaftStatus
	for _, n := range v.Nodes {
		if n.Raft != nil && n.Raft.Role == api.RoleLeader {
			leader = n.Raft
		}
	}
	if leader == nil {
		t.Fatal("node-down.json has no raft leader")
	}
	leader.Learners, leader.VoterTarget = []uint64{4}, 3
	leader.Peers = append(leader.Peers, api.RaftPeer{ID: 4, Member: api.MemberLearner, Lag: 312, Match: 1235, Next: 1236,
		State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.1)})
	h := newHarness(t, v, Options{})
	h.snapshot()
	h.update(tea.WindowSizeMsg{Width: 200, Height: 40})
	h.keys("4")
	h.contains("LEARNERS", "MEMBER", "voters 1,2,3 (target 3)  learners 4")
	if l := h.row("4", "◐", "learner"); !strings.Contains(l, "1235") || !strings.Contains(l, "312") {
		t.Errorf("learner 4: %q", l)
	}
	if l := h.row("3", "voter"); !strings.Contains(l, " 7 ") {
		t.Errorf("voter 3 is 7 entries behind: %q", l)
	}
}
