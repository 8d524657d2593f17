package raftnode

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// testTick keeps elections short (250-500ms) but well above scheduling noise under -race.
	testTick      = 25 * time.Millisecond
	testWait      = 10 * time.Second // upper bound for anything that should happen
	testClusterID = "test-cluster"
)

// logSink collects every node's logs; a failing test prints them.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// testCluster is a set of nodes on 127.0.0.1 with fixed addresses, so that a node
// restarts on the address its peers know.
type testCluster struct {
	t     *testing.T
	peers map[uint64]string
	dirs  map[uint64]string
	nodes map[uint64]*Node // running nodes
	hooks map[uint64]hooks
	tweak func(*Config)
	logs  *logSink
}

func newTestCluster(t *testing.T, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{
		t:     t,
		peers: map[uint64]string{},
		dirs:  map[uint64]string{},
		nodes: map[uint64]*Node{},
		hooks: map[uint64]hooks{},
		tweak: tweak,
		logs:  &logSink{},
	}
	root := t.TempDir()
	for id := uint64(1); id <= uint64(size); id++ {
		c.peers[id] = testharness.FreeAddr(t)
		c.dirs[id] = filepath.Join(root, fmt.Sprintf("node%d", id))
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
		if t.Failed() {
			t.Logf("node logs:\n%s", c.logs.String())
		}
	})
	return c
}

func (c *testCluster) config(id uint64) Config {
	peers := make(map[uint64]string, len(c.peers))
	for k, v := range c.peers {
		peers[k] = v
	}
	cfg := Config{
		NodeID:        id,
		Dir:           c.dirs[id],
		ListenAddr:    c.peers[id],
		Peers:         peers,
		ClusterID:     testClusterID,
		TickInterval:  testTick,
		ElectionTicks: 10,
		Logger:        slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *testCluster) start(id uint64) *Node {
	c.t.Helper()
	return c.startWith(id, c.config(id))
}

func (c *testCluster) startWith(id uint64, cfg Config) *Node {
	c.t.Helper()
	if c.nodes[id] != nil {
		c.t.Fatalf("node %d already running", id)
	}
	n, err := start(context.Background(), cfg, c.hooks[id])
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id] = n
	return n
}

func (c *testCluster) startAll() {
	c.t.Helper()
	for id := range c.peers {
		c.start(id)
	}
}

func (c *testCluster) stop(id uint64) {
	c.t.Helper()
	n := c.nodes[id]
	if n == nil {
		return
	}
	delete(c.nodes, id)
	if err := n.Close(); err != nil {
		c.t.Errorf("close node %d: %v", id, err)
	}
}

// running returns the running nodes.
func (c *testCluster) running() []*Node {
	out := make([]*Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

// waitLeader waits until one running node leads and every running node follows it.
func (c *testCluster) waitLeader(within time.Duration) *Node {
	c.t.Helper()
	var leader *Node
	testharness.Eventually(c.t, within, "one leader that every running node follows", func() bool {
		leader = nil
		for _, n := range c.nodes {
			if n.IsLeader() {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range c.nodes {
			if n.LeaderID() != leader.cfg.NodeID {
				return false
			}
		}
		return true
	})
	return leader
}

// waitHealthy waits for a leader that replicates to every running node over connections
// that are up in both directions. Tests that stop nodes start from here: right after
// start-up a dial may still be in backoff, and stopping the one follower that carries the
// quorum would make the test about that instead.
func (c *testCluster) waitHealthy() *Node {
	c.t.Helper()
	leader := c.waitLeader(testWait)
	testharness.Eventually(c.t, testWait, "leader replicating to every running node over live connections", func() bool {
		st := leader.Status()
		if st.Role != roleLeader {
			leader = c.waitLeader(testWait)
			return false
		}
		for id, n := range c.nodes {
			if p, ok := st.Progress[id]; !ok || p.State != "replicate" || !p.RecentActive {
				return false
			}
			conns := n.transport.PeerStatus()
			for other := range c.nodes {
				if other != id && !conns[other].Connected {
					return false
				}
			}
		}
		return true
	})
	return leader
}

// follower returns a running node that is not the leader.
func (c *testCluster) follower(leader *Node) *Node {
	for _, n := range c.nodes {
		if n != leader {
			return n
		}
	}
	c.t.Fatal("no follower running")
	return nil
}

// waitConverged waits until every running node applied the same index and holds the
// same state.
func (c *testCluster) waitConverged() {
	c.t.Helper()
	testharness.Eventually(c.t, testWait, "all running nodes in the same state", func() bool {
		var first []byte
		var applied uint64
		for i, n := range c.running() {
			b := snapshotBytes(c.t, n)
			if i == 0 {
				first, applied = b, n.Applied()
				continue
			}
			if n.Applied() != applied || !bytes.Equal(b, first) {
				return false
			}
		}
		return true
	})
}

func snapshotBytes(t *testing.T, n *Node) []byte {
	t.Helper()
	b, err := n.State().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPropose(t *testing.T, n *Node, typ string, payload any) state.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	res, err := n.Propose(ctx, typ, payload)
	if err != nil {
		t.Fatalf("node %d: %v", n.cfg.NodeID, err)
	}
	return res
}

func allocate(t *testing.T, n *Node, count int64) int64 {
	t.Helper()
	return mustPropose(t, n, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: count}).ProducerID
}

func topic(name string, id byte) state.CreateTopic {
	return state.CreateTopic{Topic: state.Topic{
		Name:       name,
		ID:         [16]byte{id},
		Partitions: []state.Partition{{Replicas: []int32{1}, Leader: 1, ISR: []int32{1}}},
	}}
}

// failingDisk makes Save fail on demand, like a full disk.
type failingDisk struct {
	disk
	err  error
	mu   sync.Mutex
	fail bool
}

func (d *failingDisk) setFail() {
	d.mu.Lock()
	d.fail = true
	d.mu.Unlock()
}

func (d *failingDisk) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	d.mu.Lock()
	fail := d.fail
	d.mu.Unlock()
	if fail {
		return d.err
	}
	return d.disk.Save(hs, ents, snap)
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
