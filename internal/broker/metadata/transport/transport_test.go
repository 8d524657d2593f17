package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// --- helpers ---------------------------------------------------------------

type snapReport struct {
	peer   uint64
	failed bool
}

// recorder implements the three callbacks of Config and remembers what it saw.
type recorder struct {
	mu          sync.Mutex
	msgs        []*raftpb.Message
	unreachable map[uint64]int
	snaps       []snapReport
	// failIndex makes the handler refuse the message with that index.
	failIndex uint64
	// block makes the handler wait for the transport to stop.
	block bool
}

func newRecorder() *recorder { return &recorder{unreachable: map[uint64]int{}} }

func (r *recorder) handle(ctx context.Context, m *raftpb.Message) error {
	r.mu.Lock()
	block, fail := r.block, r.failIndex != 0 && m.GetIndex() == r.failIndex
	if !fail {
		r.msgs = append(r.msgs, m)
	}
	r.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return errors.New("refused by test handler")
	}
	return nil
}

func (r *recorder) onUnreachable(peer uint64) {
	r.mu.Lock()
	r.unreachable[peer]++
	r.mu.Unlock()
}

func (r *recorder) onSnapshot(peer uint64, failed bool) {
	r.mu.Lock()
	r.snaps = append(r.snaps, snapReport{peer, failed})
	r.mu.Unlock()
}

func (r *recorder) received() []*raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*raftpb.Message(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) countFrom(from uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.GetFrom() == from {
			n++
		}
	}
	return n
}

func (r *recorder) unreachableCount(peer uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[peer]
}

func (r *recorder) hasSnap(want snapReport) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.snaps {
		if s == want {
			return true
		}
	}
	return false
}

// logBuffer collects a node's logs; they are printed when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(substr string) int {
	return strings.Count(l.String(), substr)
}

type node struct {
	id   uint64
	tr   *Transport
	rec  *recorder
	logs *logBuffer
}

func (n *node) addr() string { return n.tr.Addr().String() }

func (n *node) status(peer uint64) PeerStatus { return n.tr.PeerStatus()[peer] }

// startTransport starts a transport on listen ("" = random 127.0.0.1 port) that
// is closed when the test ends.
func startTransport(t *testing.T, id uint64, listen string, mod func(*Config, *recorder)) *node {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	rec := newRecorder()
	logs := &logBuffer{}
	cfg := Config{
		NodeID:           id,
		ClusterID:        "test-cluster",
		ListenAddr:       listen,
		Handler:          rec.handle,
		OnUnreachable:    rec.onUnreachable,
		OnSnapshotStatus: rec.onSnapshot,
		DialTimeout:      2 * time.Second,
		MaxBackoff:       200 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg, rec)
	}
	tr := New(cfg)
	if err := tr.Start(context.Background()); err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close node %d: %v", id, err)
		}
		if t.Failed() {
			t.Logf("node %d logs:\n%s", id, logs)
		}
	})
	return &node{id: id, tr: tr, rec: rec, logs: logs}
}

// mesh makes every node a peer of every other.
func mesh(nodes ...*node) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.tr.AddPeer(b.id, b.addr())
			}
		}
	}
}

func msg(typ raftpb.MessageType, from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type:  typ.Enum(),
		From:  proto.Uint64(from),
		To:    proto.Uint64(to),
		Term:  proto.Uint64(1),
		Index: proto.Uint64(index),
	}
}

func appMsg(from, to, index uint64, data []byte) *raftpb.Message {
	m := msg(raftpb.MsgApp, from, to, index)
	m.Entries = []*raftpb.Entry{{
		Term:  proto.Uint64(1),
		Index: proto.Uint64(index + 1),
		Type:  raftpb.EntryNormal.Enum(),
		Data:  data,
	}}
	return m
}

func snapMsg(from, to uint64, data []byte) *raftpb.Message {
	m := msg(raftpb.MsgSnap, from, to, 0)
	m.Snapshot = &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(42),
			Term:      proto.Uint64(3),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		},
	}
	return m
}

// checkIncreasing fails unless the indexes of msgs from `from` strictly
// increase, and returns them.
func checkIncreasing(t *testing.T, msgs []*raftpb.Message, from uint64) []uint64 {
	t.Helper()
	var idx []uint64
	for _, m := range msgs {
		if m.GetFrom() != from {
			continue
		}
		if len(idx) > 0 && m.GetIndex() <= idx[len(idx)-1] {
			t.Fatalf("messages from %d out of order: index %d after %d", from, m.GetIndex(), idx[len(idx)-1])
		}
		idx = append(idx, m.GetIndex())
	}
	return idx
}

// fakePeer is a listener that pretends to be a stuck node.
type fakePeer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

// startFakePeer accepts connections; with acceptHandshake it answers the
// handshake and then never reads again, otherwise it never reads at all.
func startFakePeer(t *testing.T, acceptHandshake bool) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if acceptHandshake {
				if _, err := readHandshake(c); err == nil {
					_, _ = c.Write(appendHandshakeResponse(nil, statusAccepted, ""))
				}
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.accepted++
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakePeer) addr() string { return f.ln.Addr().String() }

func (f *fakePeer) acceptedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

// rawDial opens a connection to addr; with hs set it sends that handshake
// and requires it to be accepted.
func rawDial(t *testing.T, addr string, hs *handshake) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if hs != nil {
		if _, err := c.Write(appendHandshake(nil, *hs)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := readHandshakeResponse(c); err != nil {
			t.Fatalf("handshake: %v", err)
		}
	}
	return c
}

// expectClosed requires the server to close c within the timeout; it
// returns whatever the server wrote first.
func expectClosed(t *testing.T, c net.Conn, timeout time.Duration) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", timeout)
	}
	return b
}

func writeFrame(t *testing.T, c net.Conn, m *raftpb.Message) {
	t.Helper()
	b, err := appendFrame(nil, m, DefaultMaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// --- message exchange ------------------------------------------------------

func TestTwoNodesExchangeInOrder(t *testing.T) {
	a := startTransport(t, 1, "", nil)
	b := startTransport(t, 2, "", nil)
	mesh(a, b)

	const n = 2000
	var first *raftpb.Message
	for i := uint64(1); i <= n; i += 10 {
		// Batches, as a Ready carries them.
		var ab, ba []*raftpb.Message
		for j := i; j < i+10; j++ {
			m := appMsg(1, 2, j, []byte(fmt.Sprintf("entry-%d", j)))
			if first == nil {
				first = m
			}
			ab = append(ab, m)
			ba = append(ba, msg(raftpb.MsgAppResp, 2, 1, j))
		}
		a.tr.Send(ab)
		b.tr.Send(ba)
	}
	testharness.Eventually(t, 10*time.Second, "all messages delivered", func() bool {
		return b.rec.count() == n && a.rec.count() == n
	})
	gotB := checkIncreasing(t, b.rec.received(), 1)
	gotA := checkIncreasing(t, a.rec.received(), 2)
	if len(gotA) != n || len(gotB) != n || gotB[0] != 1 || gotB[n-1] != n {
		t.Fatalf("got %d/%d messages, want %d each", len(gotA), len(gotB), n)
	}
	if got := b.rec.received()[0]; !proto.Equal(got, first) {
		t.Fatalf("message changed in transit:\n got %v\nwant %v", got, first)
	}

	st := a.status(2)
	if !st.Connected || st.Sent != n || st.Received != n || st.Dropped != 0 || st.Addr != b.addr() {
		t.Fatalf("a's status of b = %+v", st)
	}
	if st.LastSend.IsZero() || st.LastRecv.IsZero() || st.InboundConnections != 1 {
		t.Fatalf("a's status of b = %+v", st)
	}
}

func TestThreeNodesExchangeInOrder(t *testing.T) {
	nodes := []*node{startTransport(t, 1, "", nil), startTransport(t, 2, "", nil), startTransport(t, 3, "", nil)}
	mesh(nodes...)

	const n = 500
	for i := uint64(1); i <= n; i++ {
		for _, from := range nodes {
			var batch []*raftpb.Message
			for _, to := range nodes {
				if to != from {
					batch = append(batch, msg(raftpb.MsgHeartbeat, from.id, to.id, i))
				}
			}
			from.tr.Send(batch)
		}
	}
	for _, to := range nodes {
		testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d receives all", to.id), func() bool {
			return to.rec.count() == 2*n
		})
		for _, from := range nodes {
			if from == to {
				continue
			}
			if got := checkIncreasing(t, to.rec.received(), from.id); len(got) != n {
				t.Fatalf("node %d got %d messages from %d, want %d", to.id, len(got), from.id, n)
			}
		}
	}
}

// --- failures and reconnects -----------------------------------------------

func TestPeerDownAtStartIsRetriedThenDelivered(t *testing.T) {
	addrB := testharness.FreeAddr(t)
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) { c.Peers = map[uint64]string{2: addrB} })

	testharness.Eventually(t, 10*time.Second, "repeated dial failures", func() bool {
		return a.rec.unreachableCount(2) >= 4
	})
	st := a.status(2)
	if st.Connected || !strings.Contains(st.LastError, "dial") {
		t.Fatalf("status while down = %+v", st)
	}
	// Backoff steps are 100ms then the 200ms cap: two log lines however
	// long the peer stays down (the next one is due after a minute).
	if got := a.logs.count("peer unreachable, will redial"); got > 2 {
		t.Fatalf("logged %d redial lines for %d failures, want at most one per backoff step", got, a.rec.unreachableCount(2))
	}

	b := startTransport(t, 2, addrB, nil)
	// Messages sent while the peer is down are dropped (raft resends), so
	// keep sending until one arrives.
	next := uint64(1)
	testharness.Eventually(t, 10*time.Second, "delivery after the peer started", func() bool {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, next)})
		next++
		return b.rec.count() > 0
	})
	for i := 0; i < 100; i++ {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, next)})
		next++
	}
	testharness.Eventually(t, 10*time.Second, "the burst after reconnecting", func() bool {
		msgs := b.rec.received()
		return len(msgs) > 0 && msgs[len(msgs)-1].GetIndex() == next-1
	})
	checkIncreasing(t, b.rec.received(), 1)
	if st := a.status(2); !st.Connected {
		t.Fatalf("status after recovery = %+v", st)
	}
	if a.logs.count("connected to peer") == 0 {
		t.Fatalf("reconnect not logged")
	}
}

func TestPeerKilledMidStreamAndRestarted(t *testing.T) {
	a := startTransport(t, 1, "", nil)
	b := startTransport(t, 2, "", nil)
	mesh(a, b)
	addrB := b.addr()

	// The stream: one message per millisecond, as a leader's heartbeats.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(time.Millisecond)
		defer ticker.Stop()
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				return
			case <-ticker.C:
				a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, i)})
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	testharness.Eventually(t, 10*time.Second, "stream flowing", func() bool { return b.rec.count() >= 50 })
	unreachableBefore := a.rec.unreachableCount(2)
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "a notices b is gone", func() bool {
		return a.rec.unreachableCount(2) > unreachableBefore && !a.status(2).Connected
	})

	b2 := startTransport(t, 2, addrB, nil)
	testharness.Eventually(t, 10*time.Second, "stream resumes to the restarted peer", func() bool {
		return b2.rec.count() >= 50
	})
	before := checkIncreasing(t, b.rec.received(), 1)
	after := checkIncreasing(t, b2.rec.received(), 1)
	if after[0] <= before[len(before)-1] {
		t.Fatalf("restarted peer got index %d, not after %d", after[0], before[len(before)-1])
	}
	if st := a.status(2); !st.Connected {
		t.Fatalf("status after reconnect = %+v", st)
	}
}

func TestHandlerErrorClosesConnection(t *testing.T) {
	a := startTransport(t, 1, "", nil)
	b := startTransport(t, 2, "", func(_ *Config, r *recorder) { r.failIndex = 3 })
	mesh(a, b)

	for i := uint64(1); i <= 3; i++ {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, i)})
	}
	testharness.Eventually(t, 10*time.Second, "connection closed after the handler error", func() bool {
		return strings.Contains(b.status(1).LastInboundError, "refused by test handler")
	})
	// a redials; keep sending until a message gets through again.
	next := uint64(10)
	testharness.Eventually(t, 10*time.Second, "delivery on a new connection", func() bool {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, next)})
		next++
		msgs := b.rec.received()
		return msgs[len(msgs)-1].GetIndex() >= 10
	})
	got := checkIncreasing(t, b.rec.received(), 1)
	if got[0] != 1 || got[1] != 2 {
		t.Fatalf("got indexes %v", got)
	}
}

// --- never blocking, dropping ------------------------------------------------

func TestSendNeverBlocksWhenPeerStopsReading(t *testing.T) {
	stuck := startFakePeer(t, true)
	const queue = 8
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) {
		c.Peers = map[uint64]string{2: stuck.addr()}
		c.QueueSize = queue
		c.WriteTimeout = time.Minute // the peer must stay stuck for the test
	})

	big := appMsg(1, 2, 1, bytes.Repeat([]byte("x"), 1<<20))
	testharness.Eventually(t, 20*time.Second, "socket buffers and queue full", func() bool {
		a.tr.Send([]*raftpb.Message{big})
		st := a.status(2)
		return st.Dropped > 0 && st.Queued == queue
	})
	if !a.status(2).Connected {
		t.Fatalf("status = %+v, want connected (the peer accepted the handshake)", a.status(2))
	}

	droppedBefore := a.status(2).Dropped
	unreachableBefore := a.rec.unreachableCount(2)
	batch := make([]*raftpb.Message, 1000)
	for i := range batch {
		batch[i] = big
	}
	start := time.Now()
	a.tr.Send(batch)
	a.tr.Send([]*raftpb.Message{snapMsg(1, 2, []byte("snapshot"))})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Send took %v with a full queue", d)
	}
	if got := a.status(2).Dropped - droppedBefore; got != 1001 {
		t.Fatalf("dropped %d, want 1001", got)
	}
	if a.rec.unreachableCount(2) <= unreachableBefore {
		t.Fatalf("OnUnreachable not called for drops")
	}
	// A dropped MsgSnap is reported failed before Send returns.
	if !a.rec.hasSnap(snapReport{2, true}) {
		t.Fatalf("dropped MsgSnap not reported as failed")
	}
	if got := a.logs.count("peer send queue full"); got == 0 || got > 2 {
		t.Fatalf("queue-full warning logged %d times, want once per overflow episode", got)
	}
}

func TestSendNeverBlocksWhenPeerDown(t *testing.T) {
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) {
		c.Peers = map[uint64]string{2: testharness.FreeAddr(t)}
		c.QueueSize = 16
	})
	const n = 20000
	start := time.Now()
	for i := uint64(0); i < n; i += 100 {
		batch := make([]*raftpb.Message, 0, 100)
		for j := i; j < i+100; j++ {
			batch = append(batch, msg(raftpb.MsgHeartbeat, 1, 2, j))
		}
		a.tr.Send(batch)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("sending %d messages to a down peer took %v", n, d)
	}
	testharness.Eventually(t, 10*time.Second, "drops counted", func() bool {
		st := a.status(2)
		return st.Dropped >= n-uint64(st.Queued)
	})
	if st := a.status(2); st.Sent != 0 || st.Connected {
		t.Fatalf("status = %+v", st)
	}
}

func TestSendToUnknownPeerIsDropped(t *testing.T) {
	a := startTransport(t, 1, "", nil)
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 9, 1), nil})
	if len(a.tr.PeerStatus()) != 0 {
		t.Fatalf("unknown peer appeared in status: %v", a.tr.PeerStatus())
	}
	if a.logs.count("dropping message to unknown peer") != 1 {
		t.Fatalf("drop not logged:\n%s", a.logs)
	}
}

// --- refusing connections ----------------------------------------------------

func TestClusterIDMismatchRefused(t *testing.T) {
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) { c.ClusterID = "alpha" })
	b := startTransport(t, 2, "", func(c *Config, _ *recorder) { c.ClusterID = "beta" })
	mesh(a, b)
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1)})

	testharness.Eventually(t, 10*time.Second, "dialer learns why it was refused", func() bool {
		return strings.Contains(a.status(2).LastError, "cluster id mismatch") && a.rec.unreachableCount(2) > 0
	})
	testharness.Eventually(t, 10*time.Second, "acceptor logs the refusal", func() bool {
		return b.logs.count("cluster id mismatch") > 0
	})
	if b.rec.count() != 0 || a.rec.count() != 0 {
		t.Fatalf("messages crossed clusters: a got %d, b got %d", a.rec.count(), b.rec.count())
	}
	if st := a.status(2); st.Connected || st.Sent != 0 {
		t.Fatalf("status = %+v", st)
	}
	if n := b.status(1).InboundConnections; n != 0 {
		t.Fatalf("b holds %d connections from a", n)
	}
}

func TestWrongNodeIDRefused(t *testing.T) {
	b := startTransport(t, 2, "", nil)
	// a believes node 3 lives at b's address.
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) { c.Peers = map[uint64]string{3: b.addr()} })
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 3, 1)})

	testharness.Eventually(t, 10*time.Second, "dialer learns why it was refused", func() bool {
		return strings.Contains(a.status(3).LastError, "wrong node: this is node 2, dialer wanted node 3")
	})
	testharness.Eventually(t, 10*time.Second, "acceptor logs the refusal", func() bool {
		return b.logs.count("wrong node") > 0
	})
	if b.rec.count() != 0 {
		t.Fatalf("b handled %d messages addressed to node 3", b.rec.count())
	}
}

func TestBadFramesCloseConnection(t *testing.T) {
	b := startTransport(t, 2, "", func(c *Config, _ *recorder) { c.MaxMessageBytes = 32 << 20 })
	hs := &handshake{version: protocolVersion, from: 1, to: 2, clusterID: "test-cluster"}

	for _, tc := range []struct {
		name   string
		length uint32
		reason string
	}{
		{"2GiB length", 2 << 30, "invalid frame length"},
		{"max+1", 32<<20 + 1, "invalid frame length"},
		{"zero length", 0, "invalid frame length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, b.addr(), hs)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := c.Write(binary.BigEndian.AppendUint32(nil, tc.length)); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second)
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Fatalf("allocated %d bytes for a rejected frame", grew)
			}
			testharness.Eventually(t, 5*time.Second, "reason recorded", func() bool {
				return strings.Contains(b.status(1).LastInboundError, tc.reason)
			})
		})
	}

	t.Run("claimed but never sent", func(t *testing.T) {
		// Within the limit, but the bytes never come: memory must follow
		// the bytes that arrived, not the claim.
		c := rawDial(t, b.addr(), hs)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		frame := binary.BigEndian.AppendUint32(nil, 30<<20)
		frame = append(frame, "only a few bytes"...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 5*time.Second)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("allocated %d bytes for a 16-byte partial frame", grew)
		}
	})

	t.Run("sender mismatch", func(t *testing.T) {
		c := rawDial(t, b.addr(), hs)
		writeFrame(t, c, msg(raftpb.MsgApp, 1, 2, 1))
		writeFrame(t, c, msg(raftpb.MsgApp, 7, 2, 2)) // not who the handshake said
		expectClosed(t, c, 5*time.Second)
		if got := b.rec.received(); len(got) != 1 || got[0].GetIndex() != 1 {
			t.Fatalf("handled %d messages, want only the first", len(got))
		}
		testharness.Eventually(t, 5*time.Second, "reason recorded", func() bool {
			return strings.Contains(b.status(1).LastInboundError, "on a connection from node 1")
		})
	})

	t.Run("garbage payload", func(t *testing.T) {
		c := rawDial(t, b.addr(), hs)
		frame := binary.BigEndian.AppendUint32(nil, 4)
		frame = append(frame, 0xff, 0xff, 0xff, 0xff)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 5*time.Second)
	})
}

func TestGarbageHandshakeCloses(t *testing.T) {
	b := startTransport(t, 2, "", func(c *Config, _ *recorder) { c.DialTimeout = 300 * time.Millisecond })

	t.Run("http request", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: chronik\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if got := expectClosed(t, c, 5*time.Second); len(got) != 0 {
			t.Fatalf("answered garbage with %q", got)
		}
	})
	t.Run("future version", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		hs := appendHandshake(nil, handshake{version: protocolVersion + 1, from: 1, to: 2, clusterID: "test-cluster"})
		if _, err := c.Write(hs); err != nil {
			t.Fatal(err)
		}
		got := expectClosed(t, c, 5*time.Second)
		err := readHandshakeResponse(bytes.NewReader(got))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unsupported protocol version %d", protocolVersion+1)) {
			t.Fatalf("response = %v", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		expectClosed(t, rawDial(t, b.addr(), nil), 5*time.Second)
	})
	t.Run("truncated", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		if _, err := io.WriteString(c, handshakeMagic); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 5*time.Second)
	})
	t.Run("oversized cluster id", func(t *testing.T) {
		c := rawDial(t, b.addr(), nil)
		hs := appendHandshake(nil, handshake{version: protocolVersion, from: 1, to: 2})
		binary.BigEndian.PutUint16(hs[len(hs)-nonceLen-2:], 60000) // the cluster id length
		if _, err := c.Write(hs); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 5*time.Second)
	})
	// Refusals from one host are rate-limited (netlimit.LogLimiter): at least the
	// first is logged.
	if b.logs.count("refused cluster connection") < 1 {
		t.Fatalf("refusals not logged:\n%s", b.logs)
	}
	if b.rec.count() != 0 {
		t.Fatalf("handler called %d times", b.rec.count())
	}
}

// --- snapshots -----------------------------------------------------------------

func TestSnapshotStatusReported(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		a := startTransport(t, 1, "", nil)
		b := startTransport(t, 2, "", nil)
		mesh(a, b)
		data := bytes.Repeat([]byte("snapshot"), 512<<10) // 4 MiB
		a.tr.Send([]*raftpb.Message{snapMsg(1, 2, data)})
		testharness.Eventually(t, 10*time.Second, "snapshot reported sent", func() bool {
			return a.rec.hasSnap(snapReport{2, false})
		})
		testharness.Eventually(t, 10*time.Second, "snapshot received", func() bool { return b.rec.count() == 1 })
		got := b.rec.received()[0]
		if got.GetType() != raftpb.MsgSnap || !bytes.Equal(got.GetSnapshot().GetData(), data) ||
			got.GetSnapshot().GetMetadata().GetIndex() != 42 {
			t.Fatalf("snapshot arrived damaged: type %v, %d bytes", got.GetType(), len(got.GetSnapshot().GetData()))
		}
		if a.rec.hasSnap(snapReport{2, true}) {
			t.Fatalf("snapshot also reported failed")
		}
	})

	t.Run("peer down", func(t *testing.T) {
		a := startTransport(t, 1, "", func(c *Config, _ *recorder) { c.Peers = map[uint64]string{3: testharness.FreeAddr(t)} })
		a.tr.Send([]*raftpb.Message{snapMsg(1, 3, []byte("state"))})
		testharness.Eventually(t, 10*time.Second, "snapshot reported failed", func() bool {
			return a.rec.hasSnap(snapReport{3, true})
		})
	})

	t.Run("too large", func(t *testing.T) {
		a := startTransport(t, 1, "", func(c *Config, _ *recorder) { c.MaxMessageBytes = 1 << 20 })
		b := startTransport(t, 2, "", nil)
		mesh(a, b)
		a.tr.Send([]*raftpb.Message{
			snapMsg(1, 2, make([]byte, 2<<20)),
			msg(raftpb.MsgHeartbeat, 1, 2, 7),
		})
		testharness.Eventually(t, 10*time.Second, "oversized snapshot reported failed", func() bool {
			return a.rec.hasSnap(snapReport{2, true})
		})
		// The connection survives: the next message still arrives.
		testharness.Eventually(t, 10*time.Second, "following message delivered", func() bool { return b.rec.count() == 1 })
		if got := b.rec.received()[0]; got.GetType() != raftpb.MsgHeartbeat {
			t.Fatalf("got %v", got.GetType())
		}
		if st := a.status(2); st.Dropped != 1 || !st.Connected {
			t.Fatalf("status = %+v", st)
		}
	})
}

// --- lifecycle -------------------------------------------------------------------

func TestCloseIsPromptWithStuckPeers(t *testing.T) {
	silent := startFakePeer(t, false) // never answers the handshake
	stuck := startFakePeer(t, true)   // answers, then never reads
	const queue = 4
	a := startTransport(t, 1, "", func(c *Config, r *recorder) {
		c.Peers = map[uint64]string{2: silent.addr(), 3: stuck.addr()}
		c.QueueSize = queue
		c.DialTimeout = time.Minute
		c.WriteTimeout = time.Minute
		r.block = true // the handler hangs until the transport stops
	})

	big := appMsg(1, 3, 1, bytes.Repeat([]byte("y"), 1<<20))
	testharness.Eventually(t, 20*time.Second, "writer to node 3 blocked", func() bool {
		a.tr.Send([]*raftpb.Message{big})
		return a.status(3).Queued == queue
	})
	testharness.Eventually(t, 10*time.Second, "dialer to node 2 waiting in the handshake", func() bool {
		return silent.acceptedCount() > 0
	})
	// An inbound connection whose handler is stuck.
	c := rawDial(t, a.addr(), &handshake{version: protocolVersion, from: 4, to: 1, clusterID: "test-cluster"})
	writeFrame(t, c, msg(raftpb.MsgApp, 4, 1, 1))
	testharness.Eventually(t, 10*time.Second, "handler entered", func() bool { return a.rec.count() == 1 })

	start := time.Now()
	if err := a.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	expectClosed(t, c, 5*time.Second)
	// Close is idempotent, and Send after Close neither blocks nor panics.
	if err := a.tr.Close(); err != nil {
		t.Fatal(err)
	}
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 3, 2)})
}

func TestCancelStartContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tr := New(Config{NodeID: 1, ListenAddr: "127.0.0.1:0", Peers: map[uint64]string{2: testharness.FreeAddr(t)},
		Handler: func(context.Context, *raftpb.Message) error { return nil }})
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := tr.Addr().String()
	cancel()
	testharness.Eventually(t, 5*time.Second, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAddRemovePeer(t *testing.T) {
	b := startTransport(t, 2, "", nil)
	c := startTransport(t, 3, "", nil)

	// A peer added before Start is dialed by Start.
	rec := newRecorder()
	a := New(Config{NodeID: 1, ListenAddr: "127.0.0.1:0", ClusterID: "test-cluster", Handler: rec.handle})
	a.AddPeer(2, b.addr())
	a.AddPeer(1, "127.0.0.1:1") // self: ignored
	a.AddPeer(0, "127.0.0.1:1") // invalid: ignored
	a.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1)})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	}()
	testharness.Eventually(t, 10*time.Second, "message queued before Start delivered", func() bool { return b.rec.count() == 1 })
	if got := len(a.PeerStatus()); got != 1 {
		t.Fatalf("status has %d peers, want 1: %v", got, a.PeerStatus())
	}

	// Moving node 2's id to c's address redirects traffic (c is node 3,
	// so it refuses; what matters is that the old connection is dropped).
	a.AddPeer(2, c.addr())
	testharness.Eventually(t, 10*time.Second, "old connection closed", func() bool {
		return b.status(1).InboundConnections == 0
	})
	a.AddPeer(2, b.addr())
	testharness.Eventually(t, 10*time.Second, "connected again", func() bool { return a.PeerStatus()[2].Connected })
	a.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 2)})
	testharness.Eventually(t, 10*time.Second, "delivered after the move", func() bool { return b.rec.count() == 2 })

	a.RemovePeer(2)
	a.RemovePeer(2) // unknown: no-op
	if _, ok := a.PeerStatus()[2]; ok {
		t.Fatalf("removed peer still in status")
	}
	testharness.Eventually(t, 10*time.Second, "connection to the removed peer closed", func() bool {
		return b.status(1).InboundConnections == 0
	})
	a.Send([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 3)}) // dropped, unknown peer
}

func TestStartValidates(t *testing.T) {
	handler := func(context.Context, *raftpb.Message) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero node id", Config{Handler: handler}, "node id"},
		{"no handler", Config{NodeID: 1}, "handler"},
		{"self in peers", Config{NodeID: 1, Handler: handler, Peers: map[uint64]string{1: "x:1"}}, "this node"},
		{"peer id zero", Config{NodeID: 1, Handler: handler, Peers: map[uint64]string{0: "x:1"}}, "peer id 0"},
		{"bad listen address", Config{NodeID: 1, Handler: handler, ListenAddr: "256.0.0.1:bad"}, "listen on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(tc.cfg)
			err := tr.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want error containing %q", err, tc.want)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}

	tr := New(Config{NodeID: 1, Handler: handler, ListenAddr: "127.0.0.1:0"})
	if tr.Addr() != nil {
		t.Fatalf("Addr before Start = %v", tr.Addr())
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err == nil {
		t.Fatalf("second Start succeeded")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err == nil {
		t.Fatalf("Start after Close succeeded")
	}
}

// --- units -----------------------------------------------------------------------

func TestBackoffIsCappedAndJittered(t *testing.T) {
	tr := New(Config{MaxBackoff: time.Second})
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := tr.backoffStep(i + 1); got != w*time.Millisecond {
			t.Fatalf("step %d = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := New(Config{MaxBackoff: 30 * time.Millisecond}).backoffStep(1); got != 30*time.Millisecond {
		t.Fatalf("first step with a small cap = %v", got)
	}
	for range 1000 {
		if d := jitter(time.Second); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("jitter(1s) = %v", d)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	h := handshake{version: protocolVersion, from: 7, to: 9, clusterID: "prod-eu"}
	got, err := readHandshake(bytes.NewReader(appendHandshake(nil, h)))
	if err != nil || got != h {
		t.Fatalf("handshake round trip = %+v, %v", got, err)
	}
	if err := readHandshakeResponse(bytes.NewReader(appendHandshakeResponse(nil, statusAccepted, ""))); err != nil {
		t.Fatal(err)
	}
	err = readHandshakeResponse(bytes.NewReader(appendHandshakeResponse(nil, statusRejected, "nope")))
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("rejection = %v", err)
	}

	// Frames, including one large enough to take the chunked read path.
	msgs := []*raftpb.Message{
		msg(raftpb.MsgHeartbeat, 1, 2, 0),
		appMsg(1, 2, 5, []byte("data")),
		snapMsg(1, 2, bytes.Repeat([]byte{1, 2, 3}, 1<<20)),
	}
	var buf []byte
	for _, m := range msgs {
		if buf, err = appendFrame(buf, m, DefaultMaxMessageBytes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := appendFrame(nil, msgs[2], 1<<20); !errors.Is(err, errMessageTooBig) {
		t.Fatalf("oversized frame = %v", err)
	}
	br := bufio.NewReader(bytes.NewReader(buf))
	var scratch []byte
	for i, want := range msgs {
		var m *raftpb.Message
		m, scratch, err = readFrame(br, DefaultMaxMessageBytes, scratch)
		if err != nil || !proto.Equal(m, want) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, _, err := readFrame(br, DefaultMaxMessageBytes, scratch); !errors.Is(err, io.EOF) {
		t.Fatalf("after last frame: %v", err)
	}
}

// TestPeerThatDialsUsCutsTheBackoffShort: a peer down long enough for the
// redial backoff to reach a long step comes back; its own connection to us
// makes us redial it at once instead of at the end of the step, so a
// restarted node hears from the raft leader within moments.
func TestPeerThatDialsUsCutsTheBackoffShort(t *testing.T) {
	addrB := testharness.FreeAddr(t)
	a := startTransport(t, 1, "", func(c *Config, _ *recorder) {
		c.Peers = map[uint64]string{2: addrB}
		c.MaxBackoff = time.Minute
	})
	// Steps 100ms, 200ms, ... doubling: after the 7th failure a waits 3.2-6.4 s.
	testharness.Eventually(t, 20*time.Second, "a long backoff step", func() bool { return a.rec.unreachableCount(2) >= 7 })
	b := startTransport(t, 2, addrB, func(c *Config, _ *recorder) { c.Peers = map[uint64]string{1: a.addr()} })
	b.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 2, 1, 1)}) // b dials a
	start := time.Now()
	next := uint64(1)
	testharness.Eventually(t, 20*time.Second, "a's messages reaching b", func() bool {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, next)})
		next++
		return b.rec.countFrom(1) > 0
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a reached the returning peer after %v; its backoff step was not cut short", took)
	}
}

// RefusedDials is the evidence that a peer's process is gone: it counts
// dials the address refused, resets when the peer is back, and stays 0 for
// a peer that accepts TCP but never answers (a stopped or slow process).
func TestRefusedDialsCountOnlyRefusals(t *testing.T) {
	a := startTransport(t, 1, "", nil)
	b := startTransport(t, 2, "", nil)
	mesh(a, b)
	addrB := b.addr()
	testharness.Eventually(t, 10*time.Second, "a connected to b", func() bool { return a.status(2).Connected })
	if n := a.tr.RefusedDials(2); n != 0 {
		t.Fatalf("RefusedDials of a connected peer = %d", n)
	}
	if r := a.tr.Reach(2); !r.Connected || !r.DownSince.IsZero() || r.RefusedDials != 0 {
		t.Fatalf("Reach of a connected peer = %+v", r)
	}
	closed := time.Now()
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "two refused redials of the closed peer", func() bool {
		return a.tr.RefusedDials(2) >= 2 && a.status(2).RefusedDials >= 2
	}, func() string { return fmt.Sprintf("status %+v", a.status(2)) })
	// DownSince is the first failure, not the latest.
	r := a.tr.Reach(2)
	if r.Connected || r.DownSince.Before(closed) || r.RefusedDials < 2 {
		t.Fatalf("Reach of the closed peer = %+v (closed at %v)", r, closed)
	}
	testharness.Eventually(t, 10*time.Second, "another refused redial", func() bool { return a.tr.RefusedDials(2) > r.RefusedDials })
	if r2 := a.tr.Reach(2); !r2.DownSince.Equal(r.DownSince) {
		t.Fatalf("DownSince moved from %v to %v with more failures", r.DownSince, r2.DownSince)
	}

	startTransport(t, 2, addrB, nil)
	testharness.Eventually(t, 10*time.Second, "reconnected, count reset", func() bool {
		r := a.tr.Reach(2)
		return a.status(2).Connected && a.tr.RefusedDials(2) == 0 && r.Connected && r.DownSince.IsZero()
	}, func() string { return fmt.Sprintf("status %+v", a.status(2)) })

	// A listener that never accepts: the kernel completes the TCP
	// handshake, ours times out. That says nothing about the peer.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := startTransport(t, 3, "", func(c *Config, _ *recorder) {
		c.Peers = map[uint64]string{2: silent.Addr().String()}
		c.DialTimeout = 50 * time.Millisecond
	})
	testharness.Eventually(t, 10*time.Second, "dials to the silent peer time out", func() bool {
		return c.rec.unreachableCount(2) >= 3
	})
	if st := c.status(2); st.RefusedDials != 0 || c.tr.RefusedDials(2) != 0 || st.LastError == "" {
		t.Fatalf("silent peer: status %+v, RefusedDials %d; want a timeout error and no refusals", st, c.tr.RefusedDials(2))
	}
	if n := c.tr.RefusedDials(9); n != 0 {
		t.Fatalf("RefusedDials of an unknown peer = %d", n)
	}
}
