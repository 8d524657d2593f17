package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// pki is a cluster CA with node certificates for nodes 1-4 and a client
// certificate, made with internal/certs as `chronik cert` makes them.
type pki struct {
	dir string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	opts := certs.Options{Dir: dir}
	if _, err := certs.CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 4; id++ {
		if _, err := certs.CreateNode(opts, id, []string{"localhost", "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := certs.CreateClient(opts, "alice"); err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir}
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// identity loads node id's certificate through LoadTLS, as the broker does.
func (p *pki) identity(t *testing.T, id uint64) *TLSIdentity {
	t.Helper()
	tid, err := LoadTLS(p.path(certs.NodeCertFile(id)), p.path(certs.NodeKeyFile(id)), p.path(certs.CACertFile), id)
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

// stolen is node certOf's certificate and key in the hands of someone
// claiming another node id: LoadTLS would refuse it, so it is built by hand.
func (p *pki) stolen(t *testing.T, certOf uint64) *TLSIdentity {
	t.Helper()
	return p.rawIdentity(t, certs.NodeCertFile(certOf), certs.NodeKeyFile(certOf))
}

func (p *pki) rawIdentity(t *testing.T, certFile, keyFile string) *TLSIdentity {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.path(certFile), p.path(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(p.path(certs.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &TLSIdentity{Certificate: cert, CAs: pool}
}

// members admits exactly ids.
func members(ids ...uint64) func(uint64) bool {
	return func(id uint64) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
}

func secured(sec Security, isMember func(uint64) bool) func(*Config, *recorder) {
	return func(c *Config, _ *recorder) {
		c.Security = sec
		c.IsMember = isMember
		c.DialTimeout = time.Second
	}
}

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
)

// delivered sends one message from a to b and waits for b to handle it.
func delivered(t *testing.T, a, b *node, index uint64) {
	t.Helper()
	testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d hears node %d", b.id, a.id), func() bool {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, a.id, b.id, index)})
		return b.rec.countFrom(a.id) > 0
	})
}

// refusedFor waits until a's outbound attempts to peer fail with want, and
// checks that peer never handled anything from a.
func refusedFor(t *testing.T, a, peer *node, want string) {
	t.Helper()
	testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d refused with %q", a.id, want), func() bool {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, a.id, peer.id, 1)})
		return strings.Contains(a.status(peer.id).LastError, want)
	}, func() string { return a.status(peer.id).LastError })
	if n := peer.rec.countFrom(a.id); n != 0 {
		t.Fatalf("node %d handled %d messages from node %d", peer.id, n, a.id)
	}
}

func TestSecretModeConnects(t *testing.T) {
	sec := Security{Secret: secretA}
	a := startTransport(t, 1, "", secured(sec, members(1, 2)))
	b := startTransport(t, 2, "", secured(sec, members(1, 2)))
	mesh(a, b)
	delivered(t, a, b, 1)
	delivered(t, b, a, 1)
}

// A node with the wrong secret cannot join, in either direction, and learns
// why; so can neither a node with none nor one that dials a node without one.
func TestSecretModeWrongSecretCannotJoin(t *testing.T) {
	good := startTransport(t, 1, "", secured(Security{Secret: secretA}, members(1, 2, 3)))
	bad := startTransport(t, 2, "", secured(Security{Secret: secretB}, members(1, 2)))
	mesh(good, bad)
	refusedFor(t, bad, good, "does not know the cluster secret")
	refusedFor(t, good, bad, "does not know the cluster secret")
	if good.rec.count() != 0 || bad.rec.count() != 0 {
		t.Fatal("a message crossed between nodes with different secrets")
	}

	none := startTransport(t, 3, "", secured(Security{}, members(1, 2, 3)))
	none.tr.AddPeer(1, good.addr())
	refusedFor(t, none, good, "requires a cluster secret")
	good.tr.AddPeer(3, none.addr())
	refusedFor(t, good, none, "accepted without the cluster secret challenge")
}

// rawSecretHandshake sends h and returns the acceptor's challenge.
func rawSecretHandshake(t *testing.T, c net.Conn, h handshake) (nonce, mac []byte) {
	t.Helper()
	if _, err := c.Write(appendHandshake(nil, h)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	status, body, err := readResponse(c)
	if err != nil || status != statusChallenge || len(body) != nonceLen+macLen {
		t.Fatalf("challenge: status %d, %d bytes, %v", status, len(body), err)
	}
	return body[:nonceLen], body[nonceLen:]
}

// A recorded answer replayed on a new connection, and the acceptor's own
// proof reflected back at it, both fail: the acceptor's nonce is new every
// time and the two proofs carry different role labels.
func TestSecretModeReplayAndReflectionFail(t *testing.T) {
	b := startTransport(t, 2, "", secured(Security{Secret: secretA}, members(1, 2)))
	h := handshake{version: protocolVersion, from: 1, to: 2, clusterID: "test-cluster"}
	copy(h.nonce[:], "a fixed dialer nonce, replayable")

	// A genuine exchange, as an eavesdropper would record it.
	c1 := rawDial(t, b.addr(), nil)
	nonce1, _ := rawSecretHandshake(t, c1, h)
	recorded := handshakeMAC(secretA, roleDialer, h, nonce1)
	if _, err := c1.Write(recorded); err != nil {
		t.Fatal(err)
	}
	if err := readHandshakeResponse(c1); err != nil {
		t.Fatalf("genuine answer refused: %v", err)
	}

	t.Run("replay", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		nonce2, _ := rawSecretHandshake(t, c, h)
		if bytes.Equal(nonce1, nonce2) {
			t.Fatal("acceptor reused its nonce")
		}
		if _, err := c.Write(recorded); err != nil {
			t.Fatal(err)
		}
		got := expectClosed(t, c, 5*time.Second)
		if err := readHandshakeResponse(bytes.NewReader(got)); err == nil || !strings.Contains(err.Error(), "wrong cluster secret") {
			t.Fatalf("replayed answer: %v", err)
		}
	})
	t.Run("reflection", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		_, theirs := rawSecretHandshake(t, c, h)
		if _, err := c.Write(theirs); err != nil {
			t.Fatal(err)
		}
		got := expectClosed(t, c, 5*time.Second)
		if err := readHandshakeResponse(bytes.NewReader(got)); err == nil || !strings.Contains(err.Error(), "wrong cluster secret") {
			t.Fatalf("reflected proof: %v", err)
		}
	})
	t.Run("frames without answering", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		rawSecretHandshake(t, c, h)
		// Raft frames where the answer belongs: 32 bytes of them are
		// read as a wrong answer.
		for i := range 4 {
			writeFrameBestEffort(c, msg(raftpb.MsgProp, 1, 2, uint64(i)))
		}
		expectClosed(t, c, 5*time.Second)
	})
	if b.rec.countFrom(1) != 0 {
		t.Fatalf("handled %d messages from raw connections", b.rec.countFrom(1))
	}
}

func writeFrameBestEffort(c net.Conn, m *raftpb.Message) {
	b, err := appendFrame(nil, m, DefaultMaxMessageBytes)
	if err == nil {
		_, _ = c.Write(b)
	}
}

// legacyHandshake is protocol version 1, what every chronik node spoke
// before authentication: magic, version, from, to, cluster token. The token
// was derived from --peers, so anyone could compute it.
func legacyHandshake(from, to uint64, token string) []byte {
	b := []byte(handshakeMagic)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, to)
	b = binary.BigEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}

// Injection over yesterday's handshake with the right cluster token is
// refused on a secret cluster (answered: wrong version) and on a TLS one
// (no TLS: closed), and no frame sent after it is handled.
func TestLegacyHandshakeWithTokenRefused(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		sec  Security
		want string // in the answer; "" when there is none
	}{
		{"secret", Security{Secret: secretA}, "unsupported protocol version 1"},
		{"tls", Security{TLS: p.identity(t, 2)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startTransport(t, 2, "", secured(tc.sec, members(1, 2)))
			c := rawDial(t, b.addr(), nil)
			if _, err := c.Write(legacyHandshake(1, 2, "test-cluster")); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				writeFrameBestEffort(c, msg(raftpb.MsgProp, 1, 2, uint64(i)))
			}
			got := expectClosed(t, c, 5*time.Second)
			if tc.want != "" {
				if err := readHandshakeResponse(bytes.NewReader(got)); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("answer %q: %v", got, err)
				}
			}
			if b.rec.count() != 0 {
				t.Fatalf("handled %d injected messages", b.rec.count())
			}
		})
	}
}

func TestTLSModeConnects(t *testing.T) {
	p := newPKI(t)
	a := startTransport(t, 1, "", secured(Security{TLS: p.identity(t, 1)}, members(1, 2)))
	b := startTransport(t, 2, "", secured(Security{TLS: p.identity(t, 2)}, members(1, 2)))
	mesh(a, b)
	delivered(t, a, b, 1)
	delivered(t, b, a, 1)
	// Snapshots (large frames) cross TLS too.
	big := snapMsg(1, 2, bytes.Repeat([]byte("s"), 3<<20))
	a.tr.Send([]*raftpb.Message{big})
	testharness.Eventually(t, 10*time.Second, "snapshot over TLS", func() bool {
		for _, m := range b.rec.received() {
			if m.GetType() == raftpb.MsgSnap && len(m.GetSnapshot().GetData()) == 3<<20 {
				return true
			}
		}
		return false
	})
}

// A certificate is one node's identity: node 2's cannot speak as node 3,
// a listener with node 3's certificate is not node 2 to a dialer, and client
// certificates and certificates of another CA are not members at all.
func TestTLSIdentityIsBoundToTheCertificate(t *testing.T) {
	p := newPKI(t)
	a := startTransport(t, 1, "", secured(Security{TLS: p.identity(t, 1)}, members(1, 2, 3)))

	t.Run("node 2's certificate claiming node 3", func(t *testing.T) {
		impostor := startTransport(t, 3, "", secured(Security{TLS: p.stolen(t, 2)}, members(1, 2, 3)))
		impostor.tr.AddPeer(1, a.addr())
		testharness.Eventually(t, 10*time.Second, "acceptor refuses the impostor", func() bool {
			impostor.tr.Send([]*raftpb.Message{msg(raftpb.MsgProp, 3, 1, 1)})
			return a.logs.count("dialer claims node 3 but presented node 2's certificate") > 0
		})
		if a.rec.count() != 0 {
			t.Fatalf("handled %d messages from the impostor", a.rec.count())
		}
	})
	t.Run("a listener with node 3's certificate posing as node 2", func(t *testing.T) {
		fake := startTransport(t, 2, "", secured(Security{TLS: p.stolen(t, 3)}, members(1, 2, 3)))
		a.tr.AddPeer(2, fake.addr())
		refusedFor(t, a, fake, "peer presented node 3's certificate, expected node 2")
	})
	t.Run("client certificate", func(t *testing.T) {
		cli := p.rawIdentity(t, certs.ClientCertFile("alice"), certs.ClientKeyFile("alice"))
		c, err := tls.Dial("tcp", a.addr(), &tls.Config{
			Certificates: []tls.Certificate{cli.Certificate}, RootCAs: cli.CAs, ServerName: "localhost",
		})
		if err == nil {
			_, err = c.Write(appendHandshake(nil, handshake{version: protocolVersion, from: 2, to: 1, clusterID: "test-cluster"}))
			if err == nil {
				err = readHandshakeResponse(c)
			}
			c.Close()
		}
		if err == nil {
			t.Fatal("a client certificate was accepted as a node")
		}
	})
	t.Run("another CA", func(t *testing.T) {
		other := newPKI(t)
		rogue := startTransport(t, 2, "", secured(Security{TLS: other.identity(t, 2)}, members(1, 2, 3)))
		rogue.tr.AddPeer(1, a.addr())
		testharness.Eventually(t, 10*time.Second, "dialer with a foreign CA refused", func() bool {
			rogue.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 2, 1, 1)})
			return rogue.status(1).LastError != ""
		})
		if a.rec.countFrom(2) != 0 {
			t.Fatal("handled a message from a certificate of another CA")
		}
	})
	t.Run("no TLS at all", func(t *testing.T) {
		plain := startTransport(t, 2, "", secured(Security{}, members(1, 2, 3)))
		plain.tr.AddPeer(1, a.addr())
		testharness.Eventually(t, 10*time.Second, "plaintext dialer refused", func() bool {
			plain.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 2, 1, 1)})
			return plain.status(1).LastError != ""
		})
		if a.rec.countFrom(2) != 0 {
			t.Fatal("handled a message over plaintext")
		}
	})
}

// Authentication proves who a node is; the membership check decides
// whether it may talk: a node with a valid credential that is not a voter
// is refused in every mode.
func TestNonVoterRefused(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name       string
		sec1, sec4 Security
	}{
		{"none", Security{}, Security{}},
		{"secret", Security{Secret: secretA}, Security{Secret: secretA}},
		{"tls", Security{TLS: p.identity(t, 1)}, Security{TLS: p.identity(t, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startTransport(t, 1, "", secured(tc.sec1, members(1, 2, 3)))
			outsider := startTransport(t, 4, "", secured(tc.sec4, members(1, 2, 3, 4)))
			outsider.tr.AddPeer(1, a.addr())
			refusedFor(t, outsider, a, "node 4 is not a voter of this cluster")
		})
	}
}

// A node that stops being a voter is not heard any more on a connection it
// opened while it was one.
func TestRemovedVoterDropped(t *testing.T) {
	var removed atomic.Bool
	isMember := func(id uint64) bool { return id == 1 || (id == 2 && !removed.Load()) }
	a := startTransport(t, 1, "", secured(Security{Secret: secretA}, isMember))
	b := startTransport(t, 2, "", secured(Security{Secret: secretA}, members(1, 2)))
	mesh(a, b)
	delivered(t, b, a, 1)
	removed.Store(true)
	before := a.rec.countFrom(2)
	for i := range 20 {
		b.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 2, 1, uint64(10+i))})
	}
	testharness.Eventually(t, 10*time.Second, "drop logged", func() bool {
		return a.logs.count("dropping message from a node that is not a voter") > 0
	})
	if got := a.rec.countFrom(2); got != before {
		t.Fatalf("handled %d messages from a removed voter", got-before)
	}
	if n := a.logs.count("dropping message from a node that is not a voter"); n != 1 {
		t.Fatalf("logged %d drops within the rate limit, want 1", n)
	}
}

// echo is a ConnHandler for PurposeReplica: it answers each line with the
// peer's proven id.
func echo(ctx context.Context, peer uint64, c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(c, "node %d says %s", peer, line); err != nil {
			return
		}
	}
}

// The connection hook: Dial opens an authenticated connection of another
// purpose, the acceptor's handler gets it with the proven peer id, both
// directions work, and Close ends a handler blocked in Read.
func TestDialAndHandle(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name   string
		s1, s2 Security
	}{
		{"secret", Security{Secret: secretA}, Security{Secret: secretA}},
		{"tls", Security{TLS: p.identity(t, 1)}, Security{TLS: p.identity(t, 2)}},
		{"tls+secret", Security{TLS: p.identity(t, 1), Secret: secretA}, Security{TLS: p.identity(t, 2), Secret: secretA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startTransport(t, 1, "", secured(tc.s1, members(1, 2)))
			b := startTransport(t, 2, "", secured(tc.s2, members(1, 2)))
			mesh(a, b)
			ctx := testharness.Context(t, 10*time.Second)

			if _, err := a.tr.Dial(ctx, 2, PurposeReplica); err == nil || !strings.Contains(err.Error(), "serves no replica connections") {
				t.Fatalf("dial without a handler: %v", err)
			}
			done := make(chan struct{})
			b.tr.Handle(PurposeReplica, func(ctx context.Context, peer uint64, c net.Conn) {
				defer close(done)
				echo(ctx, peer, c)
			})
			c, err := a.tr.Dial(ctx, 2, PurposeReplica)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "hello\n"); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != "node 1 says hello\n" {
				t.Fatalf("answer %q, %v", line, err)
			}
			if _, err := a.tr.Dial(ctx, 9, PurposeReplica); err == nil {
				t.Fatal("dialed a node that is not a peer")
			}
			if _, err := a.tr.Dial(ctx, 2, PurposeRaft); err == nil {
				t.Fatal("Dial handed out a raft connection")
			}
			// Raft still flows next to it.
			delivered(t, a, b, 1)
			if err := b.tr.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("handler still running after Close")
			}
		})
	}
}

// Connections that never finish their handshake cannot pile up: past the
// limit new ones are closed at once (long before the handshake timeout), and
// once the silent ones are gone members get through again.
func TestPendingHandshakesBounded(t *testing.T) {
	slow := func(c *Config, r *recorder) {
		secured(Security{Secret: secretA}, members(1, 2))(c, r)
		c.DialTimeout = time.Minute
	}
	a := startTransport(t, 1, "", slow)
	var silent []net.Conn
	for range maxPendingHandshakes {
		silent = append(silent, rawDial(t, a.addr(), nil))
	}
	testharness.Eventually(t, 10*time.Second, "the limit reached", func() bool {
		return a.tr.pending.Load() == maxPendingHandshakes
	})
	expectClosed(t, rawDial(t, a.addr(), nil), 5*time.Second)
	if n := a.tr.pending.Load(); n > maxPendingHandshakes {
		t.Fatalf("%d handshakes pending", n)
	}
	for _, c := range silent {
		_ = c.Close()
	}
	testharness.Eventually(t, 10*time.Second, "no handshakes pending", func() bool { return a.tr.pending.Load() == 0 })
	b := startTransport(t, 2, "", slow)
	mesh(a, b)
	delivered(t, b, a, 1)
}
