// Package transport carries raft messages, and other inter-node connections,
// between chronik nodes over the cluster listener.
//
// Each node keeps one outbound raft connection per peer and reads every
// inbound connection with its own goroutine, so a message from A to B always
// travels on A's connection to B. A connection opens with a handshake (see
// wire.go: purpose, cluster id, from and to node ids, a nonce) and a raft
// connection then carries length-prefixed protobuf raftpb.Messages in one
// direction. Send never blocks the raft Ready loop:
// each peer has a bounded queue drained by its own sender goroutine, and a
// full queue drops the message and reports the peer unreachable, as etcd's
// rafthttp does. Raft retransmits what is lost, so the transport never
// retries individual messages; it only redials, with jittered exponential
// backoff.
//
// # Who may connect
//
// Every connection is authenticated as Config.Security says (mutual TLS with
// the cluster CA, a shared-secret challenge, or nothing on a loopback or
// explicitly insecure cluster), and the node id it claims must be a member
// (Config.IsMember, wired to the current raft voters and learners), except on
// a PurposeJoin connection, where a node that is not a member yet asks to be
// added (DialJoin). On a raft connection
// every message must come from that id and be addressed to this node. What
// fails is refused with a reason for the dialer and a rate-limited log line.
//
// # Other purposes
//
// A connection's handshake names its Purpose. Raft (PurposeRaft) is served
// by the transport itself; other purposes, such as replica fetches between
// brokers (PurposeReplica), reuse the same listener, authentication and
// membership check: Handle registers a ConnHandler that receives the accepted,
// authenticated connection and the peer's proven id, and Dial opens one to a
// peer. See Handle and Dial.
package transport

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/chronik-dev/chronik/internal/netlimit"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultListenAddr      = "127.0.0.1:9093"
	DefaultQueueSize       = 4096
	DefaultDialTimeout     = time.Second
	DefaultMaxBackoff      = 5 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxMessageBytes = 64 << 20
)

// minBackoff is the first redial delay; it doubles up to Config.MaxBackoff.
const minBackoff = 100 * time.Millisecond

// Purpose is what an authenticated cluster connection carries; the dialer
// names it in the handshake.
type Purpose uint8

// Purposes. PurposeRaft is served by the transport; others need a handler
// (Handle), and a connection for a purpose nobody handles is refused.
const (
	PurposeRaft    Purpose = 0 // raft messages, one direction, from the dialer
	PurposeReplica Purpose = 1 // replica fetches between brokers
	// PurposeJoin is a node that is not a member yet asking to join (see
	// DialJoin): authenticated like any other connection, but neither its
	// membership nor the cluster token (which it cannot know yet) is checked,
	// and it may dial a member whose node id it does not know (to 0).
	PurposeJoin Purpose = 2
)

func (p Purpose) String() string {
	switch p {
	case PurposeRaft:
		return "raft"
	case PurposeReplica:
		return "replica"
	case PurposeJoin:
		return "join"
	default:
		return fmt.Sprintf("purpose-%d", uint8(p))
	}
}

// ConnHandler serves one accepted connection of a non-raft purpose. peer is
// the dialer's proven node id (authenticated as Config.Security says and a
// member). It runs on the connection's own goroutine and owns c until it
// returns; the transport closes c then, and also when it stops, so a
// handler blocked in Read or Write returns. ctx is cancelled when the
// transport stops.
type ConnHandler func(ctx context.Context, peer uint64, c net.Conn)

// Config configures a Transport.
type Config struct {
	// NodeID is this node's raft id; it must not be zero.
	NodeID uint64
	// ClusterID must be equal on both ends of a connection; a mismatch is
	// refused with a logged reason on both sides.
	ClusterID string
	// ListenAddr is the cluster listener address, e.g. ":9093" (the
	// default) or "127.0.0.1:0" in tests.
	ListenAddr string
	// Peers maps peer id to cluster address, not including this node.
	Peers map[uint64]string
	// Handler is called for every received message, in order per
	// connection, from that connection's goroutine. An error closes the
	// connection. Its context is cancelled when the transport stops.
	Handler func(ctx context.Context, m *raftpb.Message) error
	// OnUnreachable is called when a message to peer was dropped or a
	// dial or write to it failed; wire it to raft.Node.ReportUnreachable.
	// It may be called from Send, on the caller's goroutine. Like
	// OnSnapshotStatus it must not block for long: Close waits for it.
	OnUnreachable func(peer uint64)
	// OnSnapshotStatus is called once per MsgSnap: failed=false after it
	// was written and flushed, failed=true when it was dropped or its
	// write failed; wire it to raft.Node.ReportSnapshot.
	OnSnapshotStatus func(peer uint64, failed bool)
	// QueueSize is the per-peer outbound queue length; default 4096.
	QueueSize int
	// DialTimeout bounds dialing plus TLS, the handshake and the challenge
	// for the dialer, and the same for the acceptor; default 1s.
	DialTimeout time.Duration
	// MaxBackoff caps the jittered exponential redial delay; default 5s.
	MaxBackoff time.Duration
	// WriteTimeout bounds writing one frame (and each flush) to a peer; a
	// peer that stops reading for longer loses its connection. Default 10s,
	// so a MaxMessageBytes snapshot needs about 6.4 MB/s.
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest encoded message sent or accepted;
	// default 64 MiB. Snapshots travel as one message, so it bounds the
	// metadata snapshot size.
	MaxMessageBytes int
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// Security authenticates connections (see Security); the zero value
	// authenticates nothing.
	Security Security
	// IsMember says whether a node id may connect and send: a handshake
	// from a non-member is refused and a message whose sender is no longer
	// a member is dropped. Wire it to the current raft voters. nil admits
	// any node id (tests of the transport alone).
	IsMember func(id uint64) bool
}

// PeerStatus is what a Transport knows about one peer, for operators
// (`chronik raft status`).
type PeerStatus struct {
	// Addr is the configured cluster address; empty for a node that only
	// connected to us.
	Addr string
	// Connected reports an established outbound connection whose
	// handshake the peer accepted.
	Connected bool
	// InboundConnections counts open, accepted connections from the peer.
	InboundConnections int
	// LastError is the last outbound failure (dial, handshake, write) and
	// LastErrorTime when it happened.
	LastError     string
	LastErrorTime time.Time
	// LastInboundError is the last reason an inbound connection from the
	// peer was closed (other than the transport stopping).
	LastInboundError string
	// LastSend is when messages were last flushed to the peer's socket;
	// LastRecv when a message from it was last handed to the Handler.
	LastSend time.Time
	LastRecv time.Time
	// Queued is the current outbound queue length.
	Queued int
	// RefusedDials counts the outbound dials in a row that the peer's
	// address refused (ECONNREFUSED: nothing listens there, so the peer's
	// process is gone or not yet started). Any other outcome resets it: a
	// connection, or a failure such as a timeout, which says nothing about
	// whether the peer runs (a stopped or slow process still accepts).
	RefusedDials int
	// Sent, Received and Dropped count messages. Dropped covers a full
	// queue, messages discarded while the peer was unreachable, oversized
	// messages and writes that failed.
	Sent     uint64
	Received uint64
	Dropped  uint64
}

// Transport sends raft messages to peers and hands received ones to
// Config.Handler. Its methods are safe for concurrent use.
type Transport struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	started bool
	closed  bool
	ln      net.Listener
	// runCtx bounds every goroutine; it is stored because peers added
	// after Start need it.
	runCtx   context.Context
	cancel   context.CancelFunc
	peers    map[uint64]*peer
	inStats  map[uint64]*inboundStats
	inConns  map[net.Conn]uint64 // open accepted connections -> peer id (0 before the handshake)
	inByPeer map[uint64]net.Conn // newest accepted raft connection per peer
	handlers map[Purpose]ConnHandler
	// refusals rate-limits the log lines of refused connections and
	// dropped messages, which a hostile host can cause at will.
	refusals *netlimit.LogLimiter
	// pending counts accepted connections still in their handshake.
	pending atomic.Int64

	wg sync.WaitGroup
}

// refusalLogInterval is how often one source of refusals is logged.
const refusalLogInterval = 10 * time.Second

// New returns a Transport for cfg with defaults applied. Nothing runs until
// Start.
func New(cfg Config) *Transport {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		cfg:      cfg,
		log:      logger.With("component", "raft-transport", "node", cfg.NodeID),
		peers:    make(map[uint64]*peer, len(cfg.Peers)),
		inStats:  make(map[uint64]*inboundStats),
		inConns:  make(map[net.Conn]uint64),
		inByPeer: make(map[uint64]net.Conn),
		handlers: make(map[Purpose]ConnHandler),
		refusals: netlimit.NewLogLimiter(refusalLogInterval),
	}
	// The map is copied so that later changes by the caller do not race
	// with AddPeer/RemovePeer.
	t.cfg.Peers = make(map[uint64]string, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		t.cfg.Peers[id] = addr
		if id != 0 && id != cfg.NodeID {
			t.peers[id] = t.newPeer(id, addr)
		}
	}
	return t
}

// Start validates the configuration, listens on ListenAddr, and starts the
// accept loop and one sender goroutine per peer. ctx bounds the transport's
// lifetime: cancelling it stops all background work like Close does (Close
// must still be called to wait for it), so pass a long-lived context, not a
// start-up deadline.
func (t *Transport) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("start raft transport: already closed")
	}
	if t.started {
		return errors.New("start raft transport: already started")
	}
	if err := t.validateLocked(); err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", t.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", t.cfg.ListenAddr, err)
	}
	t.started = true
	t.ln = ln
	t.runCtx, t.cancel = context.WithCancel(ctx)
	t.log.Info("raft transport listening", "addr", ln.Addr().String(), "peers", len(t.peers),
		"authentication", t.cfg.Security.Mode())

	t.wg.Add(2)
	go t.closeOnDone()
	go t.acceptLoop()
	for _, p := range t.peers {
		t.startPeerLocked(p)
	}
	return nil
}

// validateLocked checks the configuration; t.mu must be held because
// AddPeer and RemovePeer edit cfg.Peers.
func (t *Transport) validateLocked() error {
	switch {
	case t.cfg.NodeID == 0:
		return errors.New("start raft transport: node id must not be zero")
	case t.cfg.Handler == nil:
		return errors.New("start raft transport: handler is nil")
	case len(t.cfg.ClusterID) > maxClusterIDLen:
		return fmt.Errorf("start raft transport: cluster id longer than %d bytes", maxClusterIDLen)
	case len(t.cfg.Security.Secret) > 0 && len(t.cfg.Security.Secret) < MinSecretBytes:
		return fmt.Errorf("start raft transport: cluster secret of %d bytes, want at least %d", len(t.cfg.Security.Secret), MinSecretBytes)
	}
	for id, addr := range t.cfg.Peers {
		switch {
		case id == 0:
			return fmt.Errorf("start raft transport: peer id 0 (%s) is not a valid raft id", addr)
		case id == t.cfg.NodeID:
			return fmt.Errorf("start raft transport: peers include this node (%d=%s)", id, addr)
		case addr == "":
			return fmt.Errorf("start raft transport: peer %d has no address", id)
		}
	}
	return nil
}

// closeOnDone closes the listener and every inbound connection once the
// transport stops, which unblocks Accept and the connection readers.
func (t *Transport) closeOnDone() {
	defer t.wg.Done()
	<-t.runCtx.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.log.Warn("close cluster listener", "error", err)
	}
	for c := range t.inConns {
		_ = c.Close() // the reader goroutine reports its own exit
	}
}

// Addr returns the listener's address, or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Send enqueues messages without ever blocking: a full queue drops the
// message, reports the peer unreachable (and a dropped MsgSnap as a failed
// snapshot). Messages to unknown peers are dropped with a debug log. The
// messages are encoded later, on the peer's goroutine, so the caller must not
// modify them afterwards (raft does not).
func (t *Transport) Send(msgs []*raftpb.Message) {
	var unreachable, snapFailed []uint64
	t.mu.RLock()
	for _, m := range msgs {
		if m == nil {
			continue
		}
		to := m.GetTo()
		if t.closed {
			continue
		}
		p := t.peers[to]
		if p == nil {
			t.log.Debug("dropping message to unknown peer", "to", to, "type", m.GetType().String())
			continue
		}
		select {
		case p.queue <- m:
			p.dropping.Store(false)
			continue
		default:
		}
		p.stats.addDropped(1)
		// One log line per overflow episode, not per message.
		if !p.dropping.Swap(true) {
			t.log.Warn("peer send queue full, dropping messages", "peer", to, "addr", p.addr, "queue_size", cap(p.queue))
		}
		if len(unreachable) == 0 || !containsID(unreachable, to) {
			unreachable = append(unreachable, to)
		}
		if m.GetType() == raftpb.MsgSnap {
			snapFailed = append(snapFailed, to)
		}
	}
	t.mu.RUnlock()
	// Callbacks run outside the lock: they call into raft, which may call
	// back into the transport.
	for _, id := range unreachable {
		t.reportUnreachable(id)
	}
	for _, id := range snapFailed {
		t.reportSnapshot(id, true)
	}
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// AddPeer adds a peer, or moves it to a new address (dropping what was queued
// for the old one). Before Start the peer only gets a queue; it is dialed once
// the transport starts.
func (t *Transport) AddPeer(id uint64, addr string) {
	if id == 0 || id == t.cfg.NodeID || addr == "" {
		t.log.Warn("ignoring invalid peer", "peer", id, "addr", addr)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if old := t.peers[id]; old != nil {
		if old.addr == addr {
			return
		}
		old.stop()
		t.log.Info("peer address changed", "peer", id, "old_addr", old.addr, "addr", addr)
	} else {
		t.log.Info("peer added", "peer", id, "addr", addr)
	}
	p := t.newPeer(id, addr)
	t.peers[id] = p
	t.cfg.Peers[id] = addr
	if t.started {
		t.startPeerLocked(p)
	}
}

// RemovePeer stops sending to a peer, discards its queue and closes its
// inbound connections. It does not wait for the peer's goroutine to finish
// (Close does), so it is safe to call from raft's apply loop.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil {
		return
	}
	p.stop()
	delete(t.peers, id)
	delete(t.cfg.Peers, id)
	delete(t.inStats, id)
	for c, from := range t.inConns {
		if from == id {
			_ = c.Close() // its reader goroutine unregisters it
		}
	}
	t.log.Info("peer removed", "peer", id, "addr", p.addr)
}

// PeerStatus returns the status of every configured peer, and of nodes that
// connected to us without being configured.
func (t *Transport) PeerStatus() map[uint64]PeerStatus {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[uint64]PeerStatus, len(t.peers))
	for id, p := range t.peers {
		s := p.stats.snapshot()
		s.Addr = p.addr
		s.Queued = len(p.queue)
		out[id] = s
	}
	for id, in := range t.inStats {
		s := out[id]
		in.fill(&s)
		out[id] = s
	}
	return out
}

// RefusedDials is PeerStatus's RefusedDials for one configured peer without
// building the whole map: how many dials in a row its address refused. 0
// for a peer that is connected, unknown, or failing some other way.
func (t *Transport) RefusedDials(id uint64) int {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p == nil {
		return 0
	}
	p.stats.mu.Lock()
	defer p.stats.mu.Unlock()
	return p.stats.s.RefusedDials
}

// Reach is what the transport knows now about reaching one peer.
type Reach struct {
	// Connected reports an established outbound connection.
	Connected bool
	// DownSince is when the outbound connection first failed since it was
	// last established (or since start if it never was); zero while
	// connected or for an unknown peer.
	DownSince time.Time
	// RefusedDials is PeerStatus.RefusedDials.
	RefusedDials int
}

// Reach reports how the outbound connection to peer id stands.
func (t *Transport) Reach(id uint64) Reach {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p == nil {
		return Reach{}
	}
	p.stats.mu.Lock()
	defer p.stats.mu.Unlock()
	return Reach{Connected: p.stats.s.Connected, DownSince: p.stats.downSince, RefusedDials: p.stats.s.RefusedDials}
}

// Handle registers h for accepted connections of purpose p, replacing any
// earlier handler; nil unregisters it, after which such connections are
// refused. PurposeRaft cannot be handled. Connections accepted before a
// handler is registered were refused, and their dialers retry.
func (t *Transport) Handle(p Purpose, h ConnHandler) {
	if p == PurposeRaft {
		panic("transport: PurposeRaft is served by the transport")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h == nil {
		delete(t.handlers, p)
		return
	}
	t.handlers[p] = h
}

func (t *Transport) handler(p Purpose) ConnHandler {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.handlers[p]
}

// Dial opens an authenticated connection of purpose p (not PurposeRaft) to
// a configured peer: TCP, TLS when configured (the peer must present that
// node's certificate), the handshake and, with a secret, the challenge. On
// success the peer's ConnHandler for p has the other end. The caller owns
// the connection and closes it; ctx bounds dialing and the handshake only,
// which also never take longer than Config.DialTimeout.
func (t *Transport) Dial(ctx context.Context, peer uint64, p Purpose) (net.Conn, error) {
	if p == PurposeRaft {
		return nil, errors.New("dial: raft connections belong to the transport")
	}
	t.mu.RLock()
	var addr string
	if pr := t.peers[peer]; pr != nil {
		addr = pr.addr
	}
	closed := t.closed
	t.mu.RUnlock()
	switch {
	case closed:
		return nil, errors.New("dial: transport closed")
	case addr == "":
		return nil, fmt.Errorf("dial node %d: not a configured peer", peer)
	}
	c, _, err := t.dialConn(ctx, peer, addr, p)
	if err != nil {
		return nil, fmt.Errorf("dial node %d for %s: %w", peer, p, err)
	}
	return c, nil
}

// dialConn connects to node id at addr and completes TLS and the handshake
// within DialTimeout. It returns the connection to use and the TCP
// connection under it (the same without TLS): closing raw never blocks,
// while closing a TLS connection may wait for a stuck write. Neither has a
// deadline set.
func (t *Transport) dialConn(ctx context.Context, id uint64, addr string, p Purpose) (c, raw net.Conn, err error) {
	cfg := &t.cfg
	deadline := time.Now().Add(cfg.DialTimeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// An expired deadline is how ctx interrupts the handshake below. The
	// callback may still be running after stop reports false, so it gets a
	// variable of its own that nothing writes again (not the named result).
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Now()) })
	c, err = t.clientHandshake(dctx, conn, id, addr, p, deadline)
	if !stop() && err == nil {
		err = fmt.Errorf("handshake with %s: %w", addr, dctx.Err())
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

func (t *Transport) clientHandshake(ctx context.Context, raw net.Conn, id uint64, addr string, p Purpose, deadline time.Time) (net.Conn, error) {
	cfg := &t.cfg
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("set handshake deadline: %w", err)
	}
	c := raw
	if cfg.Security.TLS != nil {
		tc := tls.Client(raw, cfg.Security.TLS.clientTLS(id))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	h := handshake{version: protocolVersion, purpose: p, from: cfg.NodeID, to: id, clusterID: cfg.ClusterID}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return nil, fmt.Errorf("handshake nonce: %w", err)
	}
	if _, err := c.Write(appendHandshake(nil, h)); err != nil {
		return nil, fmt.Errorf("send handshake to %s: %w", addr, err)
	}
	status, body, err := readResponse(c)
	if err != nil {
		return nil, fmt.Errorf("peer %d at %s: %w", id, addr, err)
	}
	secret := cfg.Security.Secret
	switch {
	case status == statusChallenge && len(secret) > 0:
		if err := answerChallenge(c, secret, h, body); err != nil {
			return nil, fmt.Errorf("peer %d at %s: %w", id, addr, err)
		}
		if status, body, err = readResponse(c); err != nil {
			return nil, fmt.Errorf("peer %d at %s: %w", id, addr, err)
		}
		if status == statusChallenge {
			return nil, fmt.Errorf("peer %d at %s: challenged twice", id, addr)
		}
	case status == statusAccepted && len(secret) > 0:
		// It never proved it knows the secret: whoever answers there is
		// not a member of this cluster.
		return nil, fmt.Errorf("peer %d at %s accepted without the cluster secret challenge; it is not configured with --cluster-secret-file", id, addr)
	}
	if err := responseError(status, body); err != nil {
		return nil, fmt.Errorf("peer %d at %s: %w", id, addr, err)
	}
	return c, nil
}

// answerChallenge checks the acceptor's proof and sends the dialer's.
func answerChallenge(c net.Conn, secret []byte, h handshake, body []byte) error {
	if len(body) != nonceLen+macLen {
		return fmt.Errorf("challenge of %d bytes, want %d", len(body), nonceLen+macLen)
	}
	nonce, mac := body[:nonceLen], body[nonceLen:]
	if !hmac.Equal(mac, handshakeMAC(secret, roleAcceptor, h, nonce)) {
		return errors.New("the peer does not know the cluster secret (different --cluster-secret-file?)")
	}
	if _, err := c.Write(handshakeMAC(secret, roleDialer, h, nonce)); err != nil {
		return fmt.Errorf("answer challenge: %w", err)
	}
	return nil
}

// Close stops the listener, every connection and every goroutine, and waits
// for them. Queued messages are discarded without callbacks, since raft is
// usually stopping too. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
	return nil
}

func (t *Transport) reportUnreachable(id uint64) {
	if t.cfg.OnUnreachable != nil {
		t.cfg.OnUnreachable(id)
	}
}

func (t *Transport) reportSnapshot(id uint64, failed bool) {
	if t.cfg.OnSnapshotStatus != nil {
		t.cfg.OnSnapshotStatus(id, failed)
	}
}

// outboundStats holds the sender side of PeerStatus.
type outboundStats struct {
	mu sync.Mutex
	s  PeerStatus
	// downSince is the first failure since the last connection; zero
	// while connected.
	downSince time.Time
}

func (o *outboundStats) snapshot() PeerStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s
}

func (o *outboundStats) addDropped(n int) {
	o.mu.Lock()
	o.s.Dropped += uint64(n)
	o.mu.Unlock()
}

func (o *outboundStats) setConnected() {
	o.mu.Lock()
	o.s.Connected = true
	o.s.RefusedDials = 0
	o.downSince = time.Time{}
	o.mu.Unlock()
}

func (o *outboundStats) setFailed(err error, dropped int) {
	o.mu.Lock()
	o.s.Connected = false
	if o.downSince.IsZero() {
		o.downSince = time.Now()
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		o.s.RefusedDials++
	} else {
		o.s.RefusedDials = 0
	}
	o.s.LastError = err.Error()
	o.s.LastErrorTime = time.Now()
	o.s.Dropped += uint64(dropped)
	o.mu.Unlock()
}

func (o *outboundStats) addSent(n int, at time.Time) {
	o.mu.Lock()
	o.s.Sent += uint64(n)
	o.s.LastSend = at
	o.mu.Unlock()
}

// inboundStats holds the receiver side of PeerStatus.
type inboundStats struct {
	mu        sync.Mutex
	conns     int
	received  uint64
	lastRecv  time.Time
	lastError string
}

func (in *inboundStats) fill(s *PeerStatus) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s.InboundConnections = in.conns
	s.Received = in.received
	s.LastRecv = in.lastRecv
	s.LastInboundError = in.lastError
}
