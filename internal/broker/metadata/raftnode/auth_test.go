package raftnode

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftstore"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness"
)

var testSecret = []byte("raftnode-test-secret-0123456789")

// secretCluster is a cluster whose nodes share testSecret.
func secretCluster(t *testing.T, size int) *testCluster {
	return newTestCluster(t, size, func(c *Config) { c.Security = transport.Security{Secret: testSecret} })
}

// tlsCluster is a cluster whose nodes use certificates made by internal/certs;
// it returns the certs directory too.
func tlsCluster(t *testing.T, size int) (*testCluster, string) {
	t.Helper()
	dir := t.TempDir()
	opts := certs.Options{Dir: dir}
	if _, err := certs.CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	ids := make(map[uint64]*transport.TLSIdentity)
	for id := uint64(1); id <= uint64(size); id++ {
		if _, err := certs.CreateNode(opts, id, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		tid, err := transport.LoadTLS(filepath.Join(dir, certs.NodeCertFile(id)), filepath.Join(dir, certs.NodeKeyFile(id)),
			filepath.Join(dir, certs.CACertFile), id)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = tid
	}
	return newTestCluster(t, size, func(c *Config) { c.Security = transport.Security{TLS: ids[c.NodeID]} }), dir
}

// propMsg is a forwarded proposal of raw command bytes, as node `from` would send it.
func propMsg(from, to uint64, cmds ...[]byte) *raftpb.Message {
	m := &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to)}
	for i, cmd := range cmds {
		m.Entries = append(m.Entries, &raftpb.Entry{
			Type: raftpb.EntryNormal.Enum(),
			Data: encodeEnvelope(requestID{node: from, incarnation: 7, seq: uint64(100 + i)}, cmd),
		})
	}
	return m
}

func frame(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// legacyInjection speaks the handshake every node spoke before authentication, with the
// cluster token anyone can derive from --peers, and sends a proposal to delete a topic.
// It returns whatever the node answered before closing.
func legacyInjection(t *testing.T, c *testCluster, to uint64, m *raftpb.Message) []byte {
	t.Helper()
	token := deriveToken(c.peers)
	if got, ok, err := readToken(c.dirs[to]); err != nil || !ok || got != token {
		t.Fatalf("stored token %q, %v, %v; derived %q", got, ok, err, token)
	}
	conn, err := net.DialTimeout("tcp", c.peers[to], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hs := []byte("CHRONIKR")
	hs = binary.BigEndian.AppendUint16(hs, 1)
	hs = binary.BigEndian.AppendUint64(hs, m.GetFrom())
	hs = binary.BigEndian.AppendUint64(hs, to)
	hs = binary.BigEndian.AppendUint16(hs, uint16(len(token)))
	hs = append(hs, token...)
	_, _ = conn.Write(append(hs, frame(t, m)...))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got bytes.Buffer
	_, _ = got.ReadFrom(conn)
	return got.Bytes()
}

// injector is a transport that claims to be node `from`, with the credentials sec.
func injector(t *testing.T, from uint64, sec transport.Security, token string, peers map[uint64]string) *transport.Transport {
	t.Helper()
	tr := transport.New(transport.Config{
		NodeID: from, ClusterID: token, ListenAddr: "127.0.0.1:0", Peers: peers, Security: sec,
		Handler:     func(context.Context, *raftpb.Message) error { return nil },
		DialTimeout: time.Second, MaxBackoff: 100 * time.Millisecond,
	})
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// Finding 1: raft injection from a non-member, and with the derived token, deleted a topic.
// On a cluster using a secret and on one using TLS, neither the old handshake nor the new
// one without credentials gets a proposal in; every node stays healthy and the topic stays.
func TestInjectionRefusedOnAuthenticatedClusters(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"secret", "tls"} {
		t.Run(mode, func(t *testing.T) {
			var c *testCluster
			if mode == "secret" {
				c = secretCluster(t, 3)
			} else {
				c, _ = tlsCluster(t, 3)
			}
			c.startAll()
			leader := c.waitHealthy()
			mustPropose(t, leader, state.TypeCreateTopic, topic("orders", 1))
			lead := leader.cfg.NodeID
			del, err := state.Encode(state.TypeDeleteTopic, state.DeleteTopic{Name: "orders"})
			if err != nil {
				t.Fatal(err)
			}
			token := deriveToken(c.peers)

			// Yesterday's handshake, claiming a member and a non-member.
			for _, from := range []uint64{c.follower(leader).cfg.NodeID, 9} {
				answer := legacyInjection(t, c, lead, propMsg(from, lead, del))
				if mode == "secret" && !strings.Contains(string(answer), "unsupported protocol version 1") {
					t.Fatalf("legacy handshake answered %q", answer)
				}
			}
			// Today's handshake without the credentials (and, for TLS, plain TCP).
			for _, from := range []uint64{c.follower(leader).cfg.NodeID, 9} {
				tr := injector(t, from, transport.Security{}, token, map[uint64]string{lead: c.peers[lead]})
				testharness.Eventually(t, testWait, "the injector was refused", func() bool {
					tr.Send([]*raftpb.Message{propMsg(from, lead, del)})
					st := tr.PeerStatus()[lead]
					return st.LastError != "" && !st.Connected && st.Dropped > 0
				})
			}
			// A valid proposal after the attempts commits, so any that got in would have too.
			allocate(t, leader, 1)
			c.waitConverged()
			for _, n := range c.running() {
				if _, ok := n.State().Topics["orders"]; !ok {
					t.Fatalf("node %d lost topic orders", n.cfg.NodeID)
				}
				if st := n.Status(); st.Err != "" {
					t.Fatalf("node %d stopped: %s", n.cfg.NodeID, st.Err)
				}
			}
			c.waitHealthy()
		})
	}
}

// storedEntriesContain reports whether any entry in n's raft log contains marker.
func storedEntriesContain(t *testing.T, n *Node, marker string) bool {
	t.Helper()
	first, err := n.store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := n.store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if last < first {
		return false
	}
	ents, err := n.store.Entries(first, last+1, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if bytes.Contains(e.GetData(), []byte(marker)) {
			return true
		}
	}
	return false
}

// Finding 1: one proposal with an unknown command type stopped every node, for good. An
// authenticated member that forwards bad proposals gets them dropped by the leader before
// they are appended; none is ever committed, and every node stays healthy.
func TestLeaderRejectsBadForwardedProposals(t *testing.T) {
	t.Parallel()
	c := secretCluster(t, 3)
	c.startAll()
	leader := c.waitHealthy()
	lead := leader.cfg.NodeID
	member := c.follower(leader).cfg.NodeID
	tr := injector(t, member, transport.Security{Secret: testSecret}, deriveToken(c.peers), map[uint64]string{lead: c.peers[lead]})

	const marker = "evil-marker"
	bad := map[string]*raftpb.Message{
		"unknown command type": propMsg(member, lead, []byte(`{"type":"evil-marker","v":1,"data":{}}`)),
		"newer metadata version": propMsg(member, lead,
			[]byte(`{"type":"allocate_producer_ids","v":1,"mv":99,"data":{"count":1,"x":"evil-marker"}}`)),
		"newer payload version": propMsg(member, lead, []byte(`{"type":"allocate_producer_ids","v":2,"data":{"x":"evil-marker"}}`)),
		"not json":              propMsg(member, lead, []byte("evil-marker \x00\xff")),
		"undecodable payload":   propMsg(member, lead, []byte(`{"type":"create_topic","v":1,"data":"evil-marker"}`)),
		"good then bad": propMsg(member, lead, []byte(`{"type":"allocate_producer_ids","v":1,"data":{"count":1}}`),
			[]byte(`{"type":"evil-marker","v":1,"data":{}}`)),
	}
	spoofed := propMsg(member, lead, []byte(`{"type":"init_cluster","v":1,"data":{"cluster_id":"evil-marker"}}`))
	spoofed.Entries[0].Data = encodeEnvelope(requestID{node: lead, seq: 1},
		[]byte(`{"type":"init_cluster","v":1,"data":{"cluster_id":"evil-marker"}}`))
	bad["envelope names another proposer"] = spoofed
	confChange := propMsg(member, lead, []byte("x"))
	confChange.Entries[0].Type = raftpb.EntryConfChange.Enum()
	confChange.Entries[0].Data = []byte("evil-marker")
	bad["conf change"] = confChange
	empty := propMsg(member, lead, []byte("x"))
	empty.Entries[0].Data = nil
	bad["empty entry"] = empty

	before := leader.State().NextProducerID
	for name, m := range bad {
		if err := leader.checkForwarded(m); err == nil {
			t.Errorf("%s: accepted by checkForwarded", name)
		}
		tr.Send([]*raftpb.Message{m})
	}
	// Then a good one on the same connection: it proves the path reaches raft, and since
	// frames on one connection are handled in order, the bad ones were decided first.
	good, err := state.Encode(state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, testWait, "a good forwarded proposal commits", func() bool {
		tr.Send([]*raftpb.Message{propMsg(member, lead, good)})
		return leader.State().NextProducerID >= before+3
	})
	testharness.Eventually(t, testWait, "the leader logged the drop", func() bool {
		return strings.Contains(c.logs.String(), "dropped a forwarded proposal that could not be applied")
	})
	c.waitConverged()
	for _, n := range c.running() {
		if st := n.Status(); st.Err != "" {
			t.Fatalf("node %d stopped: %s", n.cfg.NodeID, st.Err)
		}
		if storedEntriesContain(t, n, marker) {
			t.Fatalf("node %d has a bad entry in its log", n.cfg.NodeID)
		}
		if n.State().ClusterID == marker {
			t.Fatalf("node %d applied a spoofed proposal", n.cfg.NodeID)
		}
	}
	if got := leader.State().NextProducerID - before; got%3 != 0 {
		t.Fatalf("producer ids moved by %d: part of a mixed proposal was applied", got)
	}
	// The injector took over the member's connection to the leader; once it is gone the
	// member's own is the only one again.
	_ = tr.Close()
	c.waitHealthy()
}

// A wrong secret cannot join: its node never hears from or talks to the others, and the
// cluster carries on without it.
func TestWrongSecretCannotJoin(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.Security = transport.Security{Secret: testSecret}
		if cfg.NodeID == 3 {
			cfg.Security = transport.Security{Secret: []byte("a-different-secret-0123456789")}
		}
	})
	c.startAll()
	var leader *Node
	testharness.Eventually(t, testWait, "node 1 or 2 leads, and both follow it", func() bool {
		l := c.nodes[1].LeaderID()
		if l != 1 && l != 2 || c.nodes[2].LeaderID() != l {
			return false
		}
		leader = c.nodes[l]
		return true
	})
	allocate(t, leader, 1)
	n3 := c.nodes[3]
	testharness.Eventually(t, testWait, "node 3 refused by both others", func() bool {
		st := n3.transport.PeerStatus()
		return strings.Contains(st[1].LastError, "cluster secret") && strings.Contains(st[2].LastError, "cluster secret")
	})
	if n3.LeaderID() != 0 || n3.Applied() >= leader.Applied() {
		t.Fatalf("node 3 joined: leader %d, applied %d of %d", n3.LeaderID(), n3.Applied(), leader.Applied())
	}
	for id, p := range n3.transport.PeerStatus() {
		if p.Connected || p.Received > 0 {
			t.Fatalf("node 3 connected to node %d: %+v", id, p)
		}
	}
}

// A three-node TLS cluster works: it elects, commits and survives a restart.
func TestTLSClusterWorks(t *testing.T) {
	t.Parallel()
	c, _ := tlsCluster(t, 3)
	c.startAll()
	leader := c.waitHealthy()
	mustPropose(t, leader, state.TypeCreateTopic, topic("t", 1))
	f := c.follower(leader)
	allocate(t, f, 2)
	id := f.cfg.NodeID
	c.stop(id)
	c.start(id)
	c.waitHealthy()
	c.waitConverged()
}

// After a restart the transport hears the voters from before the first Ready: the stored
// snapshot's and those the stored log adds, with or without a snapshot.
func TestInitialVotersFromStore(t *testing.T) {
	t.Parallel()
	for _, snapEvery := range []uint64{0, 5} {
		c := newTestCluster(t, 3, func(cfg *Config) {
			if snapEvery > 0 {
				cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = snapEvery, 1
			}
		})
		c.startAll()
		leader := c.waitHealthy()
		for range 12 {
			allocate(t, leader, 1)
		}
		c.waitConverged()
		c.stop(1)
		store, err := raftstore.Open(filepath.Join(c.dirs[1], storeFile), testharness.Logger())
		if err != nil {
			t.Fatal(err)
		}
		snap, err := store.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if snapEvery > 0 && snap.GetMetadata().GetIndex() == 0 {
			t.Fatal("no snapshot was taken")
		}
		got, err := initialVoters(store, snap, c.config(1), false)
		_ = store.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !got[1] || !got[2] || !got[3] {
			t.Fatalf("snapshot every %d: voters %v", snapEvery, got)
		}
	}
}
