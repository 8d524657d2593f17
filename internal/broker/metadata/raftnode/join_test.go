package raftnode

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// rpcJoiner prepares node id to join c through the join exchange with contact, as --join
// does: no peers, no token.
func (c *testCluster) rpcJoiner(id uint64, contact string) Config {
	c.t.Helper()
	c.peers[id] = testharness.FreeAddr(c.t)
	c.dirs[id] = filepath.Join(c.t.TempDir(), fmt.Sprintf("node%d", id))
	cfg := c.config(id)
	cfg.Peers, cfg.JoinContact, cfg.Advertise = nil, contact, c.peers[id]
	return cfg
}

// A node joins through a follower (redirected to the leader) with the shared secret; one
// with another secret is refused and changes nothing.
func TestJoinExchangeWithSecret(t *testing.T) {
	c := secretCluster(t, 3)
	c.startAll()
	leader := c.waitHealthy()
	f := c.follower(leader)
	allocate(t, leader, 1)

	bad := c.rpcJoiner(5, c.peers[f.cfg.NodeID])
	bad.Security = transport.Security{Secret: []byte("a-different-secret-0123456789")}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, err := Start(ctx, bad); err == nil {
		n.Close()
		t.Fatal("a joiner with the wrong secret started")
	}
	cfg := c.rpcJoiner(4, c.peers[f.cfg.NodeID])
	n4 := c.startWith(4, cfg)
	testharness.Eventually(t, testWait, "node 4 caught up", func() bool { return n4.Ready() })
	allocate(t, leader, 1)
	c.waitConverged()
	if v, l := roles(leader); !slices.Equal(v, []uint64{1, 2, 3}) || !slices.Equal(l, []uint64{4}) {
		t.Fatalf("voters %v learners %v, want [1 2 3] and [4]", v, l)
	}
	// Restarted, it follows from its own state (no second join is needed or made).
	c.stop(4)
	n4 = c.startWith(4, cfg)
	testharness.Eventually(t, testWait, "restarted node 4 caught up", func() bool { return n4.Ready() })
	if !strings.Contains(c.logs.String(), "node joined as a raft learner") {
		t.Fatal("the leader did not log the join")
	}
}

// With mutual TLS the joiner proves its id with its certificate; a joiner claiming another
// id than its certificate's is refused.
func TestJoinExchangeWithTLS(t *testing.T) {
	c, dir := tlsCluster(t, 3)
	c.startAll()
	leader := c.waitHealthy()
	opts := certs.Options{Dir: dir}
	if _, err := certs.CreateNode(opts, 4, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	id4, err := transport.LoadTLS(filepath.Join(dir, certs.NodeCertFile(4)), filepath.Join(dir, certs.NodeKeyFile(4)),
		filepath.Join(dir, certs.CACertFile), 4)
	if err != nil {
		t.Fatal(err)
	}
	liar := c.rpcJoiner(6, c.peers[leader.cfg.NodeID])
	liar.Security = transport.Security{TLS: id4}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, err := Start(ctx, liar); err == nil {
		n.Close()
		t.Fatal("a joiner claiming node 6 with node 4's certificate started")
	}
	cfg := c.rpcJoiner(4, c.peers[leader.cfg.NodeID])
	cfg.Security = transport.Security{TLS: id4}
	n4 := c.startWith(4, cfg)
	testharness.Eventually(t, testWait, "node 4 caught up", func() bool { return n4.Ready() })
	if _, l := roles(leader); !slices.Equal(l, []uint64{4}) {
		t.Fatalf("learners %v, want [4]", l)
	}
}

// Without a quorum the join fails for the joiner and the membership stays.
func TestJoinWithoutQuorumRefused(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	leader := c.waitHealthy()
	f := c.follower(leader)
	for _, n := range c.running() {
		if n != f {
			c.stop(n.cfg.NodeID)
		}
	}
	testharness.Eventually(t, testWait, "the survivor knows no leader", func() bool { return f.LeaderID() == 0 })
	cfg := c.rpcJoiner(4, c.peers[f.cfg.NodeID])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err == nil {
		n.Close()
		t.Fatal("joined a cluster without quorum")
	}
	if !strings.Contains(err.Error(), "no raft leader") {
		t.Fatalf("error does not say why: %v", err)
	}
	if st := f.Status(); len(st.Learners) != 0 || len(st.Voters) != 3 {
		t.Fatalf("membership changed: %+v", st)
	}
}
