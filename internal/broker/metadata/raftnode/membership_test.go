package raftnode

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// addJoiner prepares node id as a joiner of c: its own address and directory, the founders'
// addresses and the cluster token read from founder 1. It does not start it.
func (c *testCluster) addJoiner(id uint64, founders int) Config {
	c.t.Helper()
	token, ok, err := readToken(c.dirs[1])
	if err != nil || !ok {
		c.t.Fatalf("read cluster token: ok=%v err=%v", ok, err)
	}
	c.peers[id] = testharness.FreeAddr(c.t)
	c.dirs[id] = filepath.Join(c.t.TempDir(), fmt.Sprintf("node%d", id))
	cfg := c.config(id)
	cfg.Peers = map[uint64]string{}
	for f := uint64(1); f <= uint64(founders); f++ {
		cfg.Peers[f] = c.peers[f]
	}
	cfg.Join, cfg.ClusterToken = true, token
	return cfg
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func roles(n *Node) (voters, learners []uint64) {
	st := n.Status()
	return st.Voters, st.Learners
}

// A node joins a cluster whose log was compacted as a learner, catches up from a snapshot
// after a crash right after it was added, stays a learner at the voter target, and becomes
// a voter when a voter leaves; the removed voter stops with ErrRemoved.
func TestJoinLearnerCatchUpPromoteOnRemove(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.VoterTarget = 10, 2, 3
	})
	c.startAll()
	leader := c.waitHealthy()
	for range 40 { // past several snapshots: the joiner cannot catch up from the log alone
		allocate(t, leader, 1)
	}
	cfg := c.addJoiner(4, 3)
	var installed atomic.Bool
	c.hooks[4] = hooks{onInstallSnapshot: func(uint64) { installed.Store(true) }}
	c.startWith(4, cfg)
	if err := leader.AddLearner(ctxWait(t), 4, c.peers[4]); err != nil {
		t.Fatal(err)
	}
	// Crash mid catch-up; the restart has only what it saved, and completes.
	c.stop(4)
	c.startWith(4, cfg)
	// Asking again (a joiner's retry) is the same outcome; another address for id 4 is not.
	if err := leader.AddLearner(ctxWait(t), 4, c.peers[4]); err != nil {
		t.Fatalf("repeated join: %v", err)
	}
	if err := leader.AddLearner(ctxWait(t), 4, "127.0.0.1:1"); !errors.Is(err, ErrMembership) {
		t.Fatalf("join of id 4 from another address: got %v, want ErrMembership", err)
	}
	allocate(t, leader, 1)
	c.waitConverged()
	if !installed.Load() {
		t.Fatal("the joiner caught up without a snapshot; the test meant to exercise one")
	}
	for _, n := range c.running() {
		if v, l := roles(n); !slices.Equal(v, []uint64{1, 2, 3}) || !slices.Equal(l, []uint64{4}) {
			t.Fatalf("node %d: voters %v learners %v; want [1 2 3] and [4] (voter target 3)", n.cfg.NodeID, v, l)
		}
	}
	if st := leader.Status(); !st.Progress[4].Learner || st.Progress[1].Learner {
		t.Fatalf("leader progress does not mark the learner: %+v", st.Progress)
	}

	gone := c.follower(leader)
	goneID := gone.cfg.NodeID
	if err := leader.RemoveMember(ctxWait(t), goneID); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, testWait, "learner 4 promoted to keep 3 voters", func() bool {
		v, l := roles(leader)
		return len(v) == 3 && slices.Contains(v, 4) && !slices.Contains(v, goneID) && len(l) == 0
	})
	// The removed node must not disturb the others: the leader and its term stay.
	term := leader.Status().Term
	for range 3 {
		allocate(t, leader, 1)
	}
	if st := leader.Status(); st.Role != roleLeader || st.Term != term {
		t.Fatalf("leader changed after the removal: %+v", st)
	}
	c.stop(goneID)
	c.waitConverged()

	// The joined node restarts from its own state and address book, as a voter.
	c.stop(4)
	n4 := c.startWith(4, cfg)
	testharness.Eventually(t, testWait, "restarted node 4 follows the leader", func() bool { return n4.Ready() })
	allocate(t, leader, 1)
	c.waitConverged()
}

// With a voter target of 5, two joiners become voters once caught up.
func TestJoinersPromotedUpToTarget(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.VoterTarget = 5 })
	c.startAll()
	leader := c.waitHealthy()
	for _, id := range []uint64{4, 5} {
		c.startWith(id, c.addJoiner(id, 3))
		if err := leader.AddLearner(ctxWait(t), id, c.peers[id]); err != nil {
			t.Fatal(err)
		}
	}
	testharness.Eventually(t, testWait, "five voters", func() bool {
		v, l := roles(leader)
		return slices.Equal(v, []uint64{1, 2, 3, 4, 5}) && len(l) == 0
	})
	allocate(t, c.waitHealthy(), 1)
	c.waitConverged()
}

// Membership calls refuse what would be unsafe, and change nothing.
func TestMembershipRefusals(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	leader := c.waitHealthy()
	f := c.follower(leader)
	if err := f.AddLearner(ctxWait(t), 9, "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("add on a follower: got %v, want ErrNotLeader", err)
	}
	if err := leader.RemoveMember(ctxWait(t), leader.cfg.NodeID); !errors.Is(err, ErrMembership) {
		t.Fatalf("remove the leader: got %v, want ErrMembership", err)
	}
	if err := leader.Promote(ctxWait(t), 9); !errors.Is(err, ErrMembership) {
		t.Fatalf("promote a non-member: got %v, want ErrMembership", err)
	}
	if err := leader.AddLearner(ctxWait(t), 0, "127.0.0.1:1"); !errors.Is(err, ErrMembership) {
		t.Fatalf("add node 0: got %v, want ErrMembership", err)
	}
	// One follower down: removing the other would leave the leader alone with a dead voter.
	var other *Node
	for _, n := range c.running() {
		if n != leader && n != f {
			other = n
		}
	}
	c.stop(f.cfg.NodeID)
	testharness.Eventually(t, testWait, "leader notices the stopped follower", func() bool {
		return !leader.Status().Progress[f.cfg.NodeID].RecentActive
	})
	if err := leader.RemoveMember(ctxWait(t), other.cfg.NodeID); !errors.Is(err, ErrMembership) {
		t.Fatalf("remove with no quorum left: got %v, want ErrMembership", err)
	}
	if v, _ := roles(leader); len(v) != 3 {
		t.Fatalf("voters changed after refusals: %v", v)
	}
	// A joiner that names itself a member, or comes without a token, does not start.
	cfg := c.addJoiner(7, 3)
	cfg.Peers[7] = c.peers[7]
	if _, err := Start(context.Background(), cfg); err == nil {
		t.Fatal("joiner listed among the members started")
	}
	cfg = c.addJoiner(8, 3)
	cfg.ClusterToken = ""
	if _, err := Start(context.Background(), cfg); err == nil {
		t.Fatal("joiner without the cluster token started")
	}
}

func TestConfContextRoundTrip(t *testing.T) {
	addr, err := decodeConfContext(encodeConfContext("h:9093"))
	if err != nil || addr != "h:9093" {
		t.Fatalf("got %q, %v", addr, err)
	}
	for _, bad := range []string{"{", `{"v":2,"addr":"h:1"}`, "garbage"} {
		if _, err := decodeConfContext([]byte(bad)); err == nil {
			t.Fatalf("context %q accepted", bad)
		}
	}
	if addr, err := decodeConfContext(nil); err != nil || addr != "" {
		t.Fatalf("empty context: %q, %v", addr, err)
	}
}
