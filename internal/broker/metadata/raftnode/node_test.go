package raftnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftstore"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// 1. A single-node cluster elects itself, applies proposals and restarts with the same state.
func TestSingleNodeProposeAndRestart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	n := c.start(1)
	c.waitLeader(testWait)
	testharness.Eventually(t, testWait, "ready", n.Ready)

	changed := n.Changed()
	if got := allocate(t, n, 10); got != 0 {
		t.Fatalf("first producer id block starts at %d, want 0", got)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by an applied command")
	}
	if got := allocate(t, n, 10); got != 10 {
		t.Fatalf("second block starts at %d, want 10", got)
	}
	mustPropose(t, n, state.TypeCreateTopic, topic("orders", 1))
	if n.State().Topics["orders"] == nil {
		t.Fatal("topic not visible in State right after Propose returned")
	}

	// A rejection is an error wrapping state.ErrRejected, and leaves the node working.
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := n.Propose(ctx, state.TypeCreateTopic, topic("orders", 2)); !errors.Is(err, state.ErrRejected) {
		t.Fatalf("duplicate topic: got %v, want a rejection", err)
	}
	// A command the state machine cannot decode never reaches the log.
	applied := n.Applied()
	if _, err := n.Propose(ctx, "no_such_command", struct{}{}); err == nil || errors.Is(err, state.ErrRejected) {
		t.Fatalf("unknown command type: got %v, want an invalid-command error", err)
	}
	if n.Applied() != applied || n.Status().Err != "" {
		t.Fatal("an undecodable command was proposed")
	}
	testharness.Eventually(t, testWait, "cluster id committed", func() bool { return n.State().ClusterID == testClusterID })

	st := n.Status()
	if st.Role != roleLeader || st.Lead != 1 || !slices.Equal(st.Voters, []uint64{1}) || !st.Ready ||
		st.Progress[1].Match != st.Commit || st.Applied != n.Applied() {
		t.Fatalf("status %+v", st)
	}

	before, appliedBefore := snapshotBytes(t, n), n.Applied()
	c.stop(1)
	n = c.start(1)
	if err := n.WaitApplied(ctx, appliedBefore); err != nil {
		t.Fatal(err)
	}
	if after := snapshotBytes(t, n); !bytes.Equal(before, after) {
		t.Fatalf("state after restart differs:\nbefore %s\nafter  %s", before, after)
	}
	c.waitLeader(testWait)
	if got := allocate(t, n, 10); got != 20 {
		t.Fatalf("block after restart starts at %d, want 20", got)
	}
}

// 2. Three nodes elect one leader; a proposal made on a follower is in that follower's
// State when Propose returns, and all three states end equal.
func TestThreeNodesProposeOnFollower(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	c.startAll()
	leader := c.waitHealthy() // a forwarded proposal lost to a dial backoff would wait out its ctx
	f := c.follower(leader)

	mustPropose(t, f, state.TypeCreateTopic, topic("from-follower", 7))
	if f.State().Topics["from-follower"] == nil {
		t.Fatal("follower's own proposal not in its State when Propose returned")
	}
	var want int64
	for i := range 9 {
		n := c.nodes[uint64(i%3+1)]
		if got := allocate(t, n, 5); got != want {
			t.Fatalf("node %d got block %d, want %d", n.cfg.NodeID, got, want)
		}
		want += 5
	}
	c.waitConverged()
	if got := f.State().NextProducerID; got != want {
		t.Fatalf("next producer id %d, want %d", got, want)
	}

	// The leader's status shows every voter replicating over a live connection.
	testharness.Eventually(t, testWait, "leader status with three replicating voters", func() bool {
		st := leader.Status()
		if st.Role != roleLeader || len(st.Progress) != 3 {
			return false
		}
		for _, p := range st.Progress {
			if p.State != "replicate" || !p.Connected || !p.RecentActive {
				return false
			}
		}
		return true
	})
	b, err := json.Marshal(leader.Status())
	if err != nil {
		t.Fatal(err)
	}
	if !containsAll(string(b), `"node_id":`, `"snapshot_index":`, `"role":"leader"`, `"recent_active":true`, `"voters":[1,2,3]`) ||
		strings.Contains(string(b), `"err"`) {
		t.Fatalf("status json: %s", b)
	}
	if st := f.Status(); st.Role != roleFollower || st.Lead != leader.cfg.NodeID || st.Progress != nil {
		t.Fatalf("follower status %+v", st)
	}
}

// 3. Closing the leader elects a new one quickly; proposals continue; the old leader
// rejoins and converges.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	c.startAll()
	old := c.waitHealthy()
	allocate(t, old, 1)
	oldID := old.cfg.NodeID

	c.stop(oldID)
	began := time.Now()
	leader := c.waitLeader(3 * time.Second)
	t.Logf("new leader %d after %s", leader.cfg.NodeID, time.Since(began))
	for _, n := range c.running() {
		allocate(t, n, 1)
	}

	c.start(oldID)
	c.waitConverged()
	if got := c.nodes[oldID].State().NextProducerID; got != 3 {
		t.Fatalf("restarted node: next producer id %d, want 3", got)
	}
}

// 4. With a minority down proposals commit; with the majority down Propose fails within its
// deadline, and once the node knows it is leaderless, at once with ErrNoLeader.
func TestQuorumLoss(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	c.startAll()
	leader := c.waitHealthy()
	var down []uint64
	for id, n := range c.nodes {
		if n != leader {
			down = append(down, id)
		}
	}

	c.stop(down[0])
	allocate(t, leader, 1)
	allocate(t, c.nodes[down[1]], 1)

	c.stop(down[1])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	_, err := leader.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1})
	took := time.Since(began)
	if !errors.Is(err, ErrNoLeader) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("propose without quorum: %v", err)
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("propose without quorum took %s", took)
	}
	t.Logf("propose without quorum: %v after %s", err, took)

	testharness.Eventually(t, testWait, "leader stepped down", func() bool { return leader.LeaderID() == 0 && !leader.Ready() })
	testharness.Eventually(t, testWait, "leaderless for longer than the no-leader timeout", func() bool {
		return leader.leaderlessFor() > leader.noLeaderTimeout
	})
	began = time.Now()
	_, err = leader.Propose(context.Background(), state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1})
	if !errors.Is(err, ErrNoLeader) || time.Since(began) > time.Second {
		t.Fatalf("propose while leaderless: %v after %s, want ErrNoLeader at once", err, time.Since(began))
	}
}

// 5. A node that missed more than the leader keeps in its log catches up from a snapshot.
func TestSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 20
		cfg.SnapshotCatchUpEntries = 5
	})
	c.startAll()
	leader := c.waitHealthy()
	c.waitConverged() // the cluster id is committed everywhere
	lagger := c.follower(leader).cfg.NodeID
	c.stop(lagger)

	for i := range 100 {
		if got := allocate(t, leader, 1); got != int64(i) {
			t.Fatalf("block %d, want %d", got, i)
		}
	}
	if st := leader.Status(); st.SnapshotIndex == 0 {
		t.Fatalf("leader took no snapshot: %+v", st)
	}

	var mu sync.Mutex
	var installed []uint64
	c.hooks[lagger] = hooks{onInstallSnapshot: func(index uint64) {
		mu.Lock()
		installed = append(installed, index)
		mu.Unlock()
	}}
	c.start(lagger)
	c.waitConverged()
	if got := c.nodes[lagger].State().NextProducerID; got != 100 {
		t.Fatalf("lagging node: next producer id %d, want 100", got)
	}
	mu.Lock()
	got := slices.Clone(installed)
	mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the lagging node caught up without installing a snapshot")
	}

	c.stop(lagger)
	store, err := raftstore.Open(filepath.Join(c.dirs[lagger], storeFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	snap, err := store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() < got[0] {
		t.Fatalf("store snapshot index %d, installed %v", snap.GetMetadata().GetIndex(), got)
	}
}

// applyTracker checks, per process run of a node, that entries are applied once each and in
// order.
type applyTracker struct {
	t    *testing.T
	mu   sync.Mutex
	last map[string]uint64
}

func (a *applyTracker) hook(run string) func(uint64) {
	return func(index uint64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if last, ok := a.last[run]; ok && index != last+1 {
			a.t.Errorf("%s: applied entry %d after %d", run, index, last)
		}
		a.last[run] = index
	}
}

// 6. Restarting all nodes (every Save is fsynced, so Close is kill -9) keeps the state, and
// nothing is applied twice: allocation continues where it stopped.
func TestRestartAll(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 16 // restart replays a snapshot plus the entries after it
		cfg.SnapshotCatchUpEntries = 4
	})
	tracker := &applyTracker{t: t, last: map[string]uint64{}}
	for id := range c.peers {
		c.hooks[id] = hooks{onApply: tracker.hook(fmt.Sprintf("node %d run 1", id))}
	}
	c.startAll()
	c.waitHealthy()
	for i := range 30 {
		n := c.nodes[uint64(i%3+1)]
		if got := allocate(t, n, 7); got != int64(7*i) {
			t.Fatalf("block %d, want %d", got, 7*i)
		}
	}
	c.waitConverged()
	before := snapshotBytes(t, c.nodes[1])
	for _, n := range c.running() {
		if n.Status().SnapshotIndex == 0 {
			t.Fatalf("node %d took no snapshot", n.cfg.NodeID)
		}
	}

	for id := range c.peers {
		c.stop(id)
	}
	for id := range c.peers {
		c.hooks[id] = hooks{onApply: tracker.hook(fmt.Sprintf("node %d run 2", id))}
	}
	c.startAll()
	for _, n := range c.running() {
		testharness.Eventually(t, testWait, "state restored", func() bool { return bytes.Equal(snapshotBytes(t, n), before) })
	}
	leader := c.waitLeader(testWait)
	if got := allocate(t, leader, 7); got != 210 {
		t.Fatalf("after restart the next block starts at %d, want 210", got)
	}
	c.waitConverged()
}

// 7. A data dir of another node is refused; --peers that differ from the stored voters are
// logged and ignored.
func TestNodeIdentityAndPeersOnRestart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	n := c.start(1)
	c.waitLeader(testWait)
	allocate(t, n, 3)
	c.stop(1)

	cfg := c.config(1)
	cfg.NodeID = 2
	if _, err := Start(context.Background(), cfg); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("raft data in %s belongs to node 1, not node 2", c.dirs[1])) {
		t.Fatalf("start with another node's data: %v", err)
	}

	cfg = c.config(1)
	cfg.Peers = map[uint64]string{1: c.peers[1], 2: testharness.FreeAddr(t), 3: testharness.FreeAddr(t)}
	n = c.startWith(1, cfg)
	testharness.Eventually(t, testWait, "warning about ignored peers", func() bool {
		return strings.Contains(c.logs.String(), "ignoring --peers: this node already has raft state; voters are [1]")
	})
	// Still a single-node cluster: it elects itself and commits alone.
	c.waitLeader(testWait)
	if got := allocate(t, n, 3); got != 3 {
		t.Fatalf("block %d, want 3", got)
	}
	if st := n.Status(); !slices.Equal(st.Voters, []uint64{1}) {
		t.Fatalf("voters %v, want [1]", st.Voters)
	}
}

// 8. A damaged raft.db fails Start with an error naming the file.
func TestCorruptStore(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	n := c.start(1)
	c.waitLeader(testWait)
	for range 5 {
		allocate(t, n, 1)
	}
	c.stop(1)

	path := filepath.Join(c.dirs[1], storeFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage over everything after bbolt's two meta pages.
	page := os.Getpagesize()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 2 * page; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), c.config(1)); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("start on a damaged store: %v", err)
	}
}

// 9. A node whose peers are all down keeps dialing, has no leader and is not ready; once a
// second node starts, a leader is elected and both are ready.
func TestPeersUnreachableAtStart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, nil)
	n1 := c.start(1)
	testharness.Eventually(t, testWait, "dial failures to both peers", func() bool {
		ps := n1.transport.PeerStatus()
		return ps[2].LastError != "" && ps[3].LastError != ""
	})
	// Several election timeouts pass without a leader: pre-vote never wins alone.
	deadline := time.Now().Add(5 * n1.electionTimeout)
	for time.Now().Before(deadline) {
		if n1.LeaderID() != 0 || n1.Ready() {
			t.Fatalf("leader %d, ready %v with two of three voters down", n1.LeaderID(), n1.Ready())
		}
		time.Sleep(10 * time.Millisecond) // sampling an interval, not waiting for a condition
	}
	if st := n1.Status(); st.Role == roleLeader || st.Ready || st.Lead != 0 {
		t.Fatalf("status %+v", st)
	}

	n2 := c.start(2)
	c.waitLeader(testWait)
	testharness.Eventually(t, testWait, "both nodes ready", func() bool { return n1.Ready() && n2.Ready() })
	c.waitHealthy()
	allocate(t, n1, 1)
}

// 10. A failing Save stops the node: Status reports it, Propose fails fast with it, the
// last State stays readable and Close works.
func TestFatalSaveError(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	injected := errors.New("injected: no space left on device")
	var fd *failingDisk
	c.hooks[1] = hooks{wrapDisk: func(d disk) disk {
		fd = &failingDisk{disk: d, err: injected}
		return fd
	}}
	n := c.start(1)
	c.waitLeader(testWait)
	allocate(t, n, 5)
	testharness.Eventually(t, testWait, "cluster id committed", func() bool { return n.State().ClusterID != "" })
	applied := n.Applied()

	fd.setFail()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := n.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 5}); !errors.Is(err, injected) {
		t.Fatalf("propose when Save fails: %v", err)
	}
	st := n.Status()
	if !strings.Contains(st.Err, injected.Error()) || st.Role != roleStopped || st.Ready || st.Applied != applied {
		t.Fatalf("status after fatal error: %+v", st)
	}
	if n.Ready() || n.LeaderID() != 0 || n.IsLeader() {
		t.Fatal("a stopped node reports itself ready or leading")
	}
	began := time.Now()
	if _, err := n.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 5}); !errors.Is(err, injected) ||
		time.Since(began) > 100*time.Millisecond {
		t.Fatalf("second propose: %v after %s", err, time.Since(began))
	}
	if err := n.WaitApplied(ctx, applied+1); !errors.Is(err, injected) {
		t.Fatalf("WaitApplied on a stopped node: %v", err)
	}
	if got := n.State().NextProducerID; got != 5 {
		t.Fatalf("last state lost: next producer id %d", got)
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after a fatal Save error")
	}
	if err := n.Err(); !errors.Is(err, ErrStorage) || !errors.Is(err, injected) {
		t.Fatalf("Err() = %v, want ErrStorage wrapping the injected error", err)
	}
	c.stop(1) // Close must work; the cleanup's goleak check proves everything stopped
	if err := n.Err(); !errors.Is(err, ErrStorage) {
		t.Fatalf("Err() after Close = %v, want the fatal error kept", err)
	}
}

// An entry the state machine cannot decode (say, written by a newer binary) stops the node
// instead of letting it diverge; the entries before it stay applied.
func TestFatalUndecodableEntry(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, nil)
	n := c.start(1)
	c.waitLeader(testWait)
	allocate(t, n, 5)

	// Bypass Propose's dry run, as a newer binary's leader would.
	bad := encodeEnvelope(requestID{node: 9, seq: 1}, []byte(`{"type":"from_the_future","v":1,"data":{}}`))
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	// The node may apply the entry, and stop, before raft answers the proposal.
	if err := n.raft.Propose(ctx, bad); err != nil && !errors.Is(err, raft.ErrStopped) {
		t.Fatal(err)
	}
	testharness.Eventually(t, testWait, "node stopped", func() bool { return n.Status().Err != "" })
	st := n.Status()
	if !strings.Contains(st.Err, `unknown command type "from_the_future"`) || st.Role != roleStopped {
		t.Fatalf("status %+v", st)
	}
	if _, err := n.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1}); err == nil ||
		!strings.Contains(err.Error(), "from_the_future") {
		t.Fatalf("propose after fatal apply error: %v", err)
	}
	if got := n.State().NextProducerID; got != 5 {
		t.Fatalf("next producer id %d, want 5", got)
	}
}

func TestEnvelope(t *testing.T) {
	id := requestID{node: 3, incarnation: 0xdeadbeef, seq: 42}
	cmd := []byte(`{"type":"delete_topic","v":1,"data":{"name":"x"}}`)
	gotID, gotCmd, err := decodeEnvelope(encodeEnvelope(id, cmd))
	if err != nil || gotID != id || !bytes.Equal(gotCmd, cmd) {
		t.Fatalf("round trip: %+v %q %v", gotID, gotCmd, err)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"future version": append([]byte{2}, make([]byte, 24)...),
		"short header":   {1, 0, 0},
	} {
		if _, _, err := decodeEnvelope(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestClusterToken(t *testing.T) {
	a := deriveToken(map[uint64]string{1: "h1:9093", 2: "h2:9093", 3: "h3:9093"})
	b := deriveToken(map[uint64]string{3: "h3:9093", 1: "h1:9093", 2: "h2:9093"})
	if a != b || len(a) > maxTokenLen {
		t.Fatalf("tokens %q and %q", a, b)
	}
	if deriveToken(map[uint64]string{1: "h1:9093", 2: "h2:9093"}) == a {
		t.Fatal("different founders, same token")
	}
	dir := t.TempDir()
	if _, ok, err := readToken(dir); ok || err != nil {
		t.Fatalf("missing token: ok %v, err %v", ok, err)
	}
	if err := writeToken(dir, a); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := readToken(dir); got != a || !ok || err != nil {
		t.Fatalf("read back %q %v %v", got, ok, err)
	}
}

// A Start that fails after opening the store (here: the listener is taken) releases
// everything: raft's goroutine, the store's file lock.
func TestStartFailureReleasesEverything(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 2, nil)
	c.start(1)
	cfg := c.config(2)
	cfg.Peers = map[uint64]string{2: c.peers[2]}
	cfg.ListenAddr = c.peers[1] // in use by node 1
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("start on a busy address: %v", err)
	}
	cfg.ListenAddr = c.peers[2]
	n := c.startWith(2, cfg) // the store is not held by the failed attempt
	testharness.Eventually(t, testWait, "single-node leader", n.IsLeader)
}

// TestForwardedProposalWithoutLeaderDoesNotBlock: a proposal a follower
// forwards to a node that knows no leader is dropped after a tick instead
// of waiting inside raft, since the messages behind it on the same
// connection (the votes that elect a leader) must get through. CI once saw
// a restarted node's forwarded registration hold the only link between the
// two live voters for good.
func TestForwardedProposalWithoutLeaderDoesNotBlock(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	n := c.start(1) // alone of three: no leader
	prop := &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
		Entries: []*raftpb.Entry{{Type: raftpb.EntryNormal.Enum(), Data: []byte("x")}}}
	done := make(chan error, 1)
	go func() { done <- n.receive(context.Background(), prop) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a dropped forwarded proposal closes the connection: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a forwarded proposal without a leader blocked the connection")
	}
}

// A failed snapshot write is a storage failure like a failed Save: the node stops, and Err
// says it was the store, so the broker stops its process instead of going on without a voter.
func TestFatalSnapshotWriteError(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.SnapshotEntries = 5 })
	injected := errors.New("injected: input/output error")
	c.hooks[1] = hooks{wrapDisk: func(d disk) disk { return snapshotFailingDisk{disk: d, err: injected} }}
	n := c.start(1)
	c.waitLeader(testWait)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	// Proposals keep coming until the node has applied SnapshotEntries and stops trying to
	// store the snapshot; the one that meets the stopped node fails.
	for range 20 {
		if _, err := n.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1}); err != nil {
			break
		}
	}
	select {
	case <-n.Done():
	case <-ctx.Done():
		t.Fatal("node still runs after its snapshot write failed")
	}
	if err := n.Err(); !errors.Is(err, ErrStorage) || !errors.Is(err, injected) {
		t.Fatalf("Err() = %v, want ErrStorage wrapping the injected error", err)
	}
}

// snapshotFailingDisk fails every snapshot write.
type snapshotFailingDisk struct {
	disk
	err error
}

func (d snapshotFailingDisk) CreateSnapshot(uint64, *raftpb.ConfState, []byte) (*raftpb.Snapshot, error) {
	return nil, d.err
}

// Config.BeforeSave runs before every write of raft state (fault builds delay it), and its
// error fails the write like a failing disk: the node stops with ErrStorage.
func TestBeforeSaveRunsBeforeEverySave(t *testing.T) {
	t.Parallel()
	var saves atomic.Int64
	var failing atomic.Bool
	injected := errors.New("injected: no space left on device")
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.BeforeSave = func() error {
			saves.Add(1)
			if failing.Load() {
				return injected
			}
			return nil
		}
	})
	n := c.start(1)
	c.waitLeader(testWait)
	before := saves.Load()
	allocate(t, n, 1)
	if saves.Load() <= before {
		t.Fatalf("BeforeSave ran %d times before a proposal and %d after: want more", before, saves.Load())
	}
	failing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := n.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1}); !errors.Is(err, injected) {
		t.Fatalf("propose when BeforeSave fails: %v", err)
	}
	if err := n.Err(); !errors.Is(err, ErrStorage) || !errors.Is(err, injected) {
		t.Fatalf("Err() = %v, want ErrStorage wrapping the injected error", err)
	}
}

// TestGivenClusterToken: founders whose --peers differ (each reaches the
// others through its own proxy or host names) agree through
// --initial-cluster-token, which wins over the derived token on the first
// start; an oversized one is refused before anything is written.
func TestGivenClusterToken(t *testing.T) {
	logger := testharness.Logger()
	a := Config{Dir: t.TempDir(), Peers: map[uint64]string{1: "h1:9093", 2: "p12:1"}, ClusterToken: "prod-east"}
	b := Config{Dir: t.TempDir(), Peers: map[uint64]string{1: "p21:1", 2: "h2:9093"}, ClusterToken: "prod-east"}
	ta, err := clusterToken(a, logger, true)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := clusterToken(b, logger, true)
	if err != nil {
		t.Fatal(err)
	}
	if ta != "prod-east" || tb != ta {
		t.Fatalf("tokens %q and %q, want both prod-east", ta, tb)
	}
	// Once state exists the stored token stays, whatever is given later.
	a.ClusterToken = "other"
	if got, err := clusterToken(a, logger, false); err != nil || got != "prod-east" {
		t.Fatalf("restart: token %q, err %v", got, err)
	}
	long := Config{Dir: t.TempDir(), ClusterToken: strings.Repeat("x", maxTokenLen+1)}
	if _, err := clusterToken(long, logger, true); err == nil {
		t.Fatal("an oversized token was accepted")
	}
	if _, ok, _ := readToken(long.Dir); ok {
		t.Fatal("an oversized token was written")
	}
}

// Config.OnSave is told how long each write of raft state took, BeforeSave
// included (fault builds delay it to play a slow disk).
func TestOnSaveTimesEveryWrite(t *testing.T) {
	t.Parallel()
	const delay = 20 * time.Millisecond
	var timed, slow atomic.Int64
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.BeforeSave = func() error { time.Sleep(delay); return nil }
		cfg.OnSave = func(d time.Duration) {
			timed.Add(1)
			if d >= delay {
				slow.Add(1)
			}
		}
	})
	n := c.start(1)
	c.waitLeader(testWait)
	before := timed.Load()
	allocate(t, n, 1)
	if timed.Load() <= before {
		t.Fatalf("OnSave told of %d writes before a proposal and %d after: want more", before, timed.Load())
	}
	if s, all := slow.Load(), timed.Load(); s != all {
		t.Fatalf("%d of %d timed writes took the %s BeforeSave delay", s, all, delay)
	}
}
