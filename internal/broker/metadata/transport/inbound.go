package transport

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

const readBufferSize = 64 << 10

// maxPendingHandshakes bounds the accepted connections still in their
// handshake (TLS, handshake, challenge); more are closed at once.
const maxPendingHandshakes = 128

// acceptLoop accepts cluster connections until the listener is closed.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var delay time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.runCtx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically EMFILE: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("accept cluster connection", "error", err, "retry_in", delay)
			if !sleepCtx(t.runCtx, delay) {
				return
			}
			continue
		}
		delay = 0
		// Connections that have not authenticated yet are bounded: each
		// costs a goroutine for up to DialTimeout, and anyone can open them.
		if t.pending.Add(1) > maxPendingHandshakes {
			t.pending.Add(-1)
			_ = c.Close()
			t.refusals.Log(t.log, slog.LevelWarn, "refused cluster connection: too many handshakes in progress",
				"pending-handshakes", "remote", c.RemoteAddr().String(), "limit", maxPendingHandshakes)
			continue
		}
		t.mu.Lock()
		if t.runCtx.Err() != nil {
			// closeOnDone already swept inConns; this one is ours to close.
			t.mu.Unlock()
			t.pending.Add(-1)
			_ = c.Close()
			return
		}
		t.inConns[c] = 0
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveInbound(c)
	}
}

// serveInbound authenticates an accepted connection and then either hands
// every raft frame on it to the Handler, in order, or gives the connection
// to the ConnHandler of its purpose.
func (t *Transport) serveInbound(raw net.Conn) {
	defer t.wg.Done()
	remote := raw.RemoteAddr().String()
	c, h, err := t.acceptHandshake(raw)
	t.pending.Add(-1)
	if err != nil {
		if t.runCtx.Err() == nil {
			t.refused(remote, err)
		}
		t.dropInbound(raw, 0, "")
		return
	}
	from := h.from
	log := t.log.With("peer", from, "remote", remote, "purpose", h.purpose.String())
	log.Debug("accepted cluster connection")
	if h.purpose != PurposeRaft {
		t.serveHandler(raw, c, h, log)
		return
	}
	in := t.registerInbound(raw, from)
	if in == nil {
		t.dropInbound(raw, 0, "") // never counted, so nothing to uncount
		return
	}

	err = t.readLoop(c, from, in)
	reason := ""
	switch {
	case t.runCtx.Err() != nil:
	case errors.Is(err, net.ErrClosed):
		// Replaced by a newer connection or the peer was removed: not
		// the peer's fault, so not recorded as its error.
		log.Debug("cluster connection closed", "error", err)
	case errors.Is(err, io.EOF):
		reason = err.Error()
		log.Info("peer closed cluster connection")
	default:
		reason = err.Error()
		t.refusals.Log(log, slog.LevelWarn, "closing cluster connection", fmt.Sprint(from), "error", err)
	}
	t.dropInbound(raw, from, reason)
}

// serveHandler runs the ConnHandler of a non-raft connection until it
// returns, then closes the connection.
func (t *Transport) serveHandler(raw, c net.Conn, h handshake, log *slog.Logger) {
	handle := t.handler(h.purpose)
	t.mu.Lock()
	stopping := t.runCtx.Err() != nil
	if !stopping {
		t.inConns[raw] = h.from // so that Close and RemovePeer close it
	}
	t.mu.Unlock()
	if !stopping && handle != nil {
		handle(t.runCtx, h.from, c)
	}
	log.Debug("cluster connection done")
	t.dropInbound(raw, 0, "")
}

// refused logs a refused connection, at most once per refusalLogInterval
// per remote host, since anyone who reaches the port can cause it.
func (t *Transport) refused(remote string, err error) {
	host, _, splitErr := net.SplitHostPort(remote)
	if splitErr != nil {
		host = remote
	}
	t.refusals.Log(t.log, slog.LevelWarn, "refused cluster connection", "from "+host, "remote", remote, "error", err)
}

// acceptHandshake authenticates the dialer (TLS, handshake, challenge) and
// answers it. It returns the connection to read from (TLS when configured)
// and the accepted handshake.
func (t *Transport) acceptHandshake(raw net.Conn) (net.Conn, handshake, error) {
	deadline := time.Now().Add(t.cfg.DialTimeout)
	if err := raw.SetDeadline(deadline); err != nil {
		return nil, handshake{}, fmt.Errorf("set handshake deadline: %w", err)
	}
	c := raw
	var certID uint64 // the dialer's certificate identity, with TLS
	if id := t.cfg.Security.TLS; id != nil {
		tc := tls.Server(raw, id.serverTLS())
		ctx, cancel := context.WithDeadline(t.runCtx, deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return nil, handshake{}, fmt.Errorf("TLS handshake: %w", err)
		}
		if certID, err = peerIdentity(tc); err != nil {
			return nil, handshake{}, err
		}
		c = tc
	}
	h, err := readHandshake(c)
	var verr versionError
	switch {
	case errors.As(err, &verr):
		return nil, h, t.reject(c, h, err.Error())
	case err != nil:
		// Not a chronik node, or a truncated handshake: nothing to answer.
		return nil, h, err
	case h.purpose == PurposeJoin && (h.clusterID != "" || (h.to != 0 && h.to != t.cfg.NodeID)):
		return nil, h, t.reject(c, h, fmt.Sprintf("a join names no cluster token and node %d or none, not %q and %d", t.cfg.NodeID, h.clusterID, h.to))
	case h.purpose != PurposeJoin && h.clusterID != t.cfg.ClusterID:
		return nil, h, t.reject(c, h, fmt.Sprintf("cluster id mismatch: node %d is in cluster %q, dialer says %q",
			t.cfg.NodeID, t.cfg.ClusterID, h.clusterID))
	case h.purpose != PurposeJoin && h.to != t.cfg.NodeID:
		return nil, h, t.reject(c, h, fmt.Sprintf("wrong node: this is node %d, dialer wanted node %d", t.cfg.NodeID, h.to))
	case h.from == 0 || h.from == t.cfg.NodeID:
		return nil, h, t.reject(c, h, fmt.Sprintf("invalid dialer node id %d", h.from))
	case t.cfg.Security.TLS != nil && h.from != certID:
		return nil, h, t.reject(c, h, fmt.Sprintf("dialer claims node %d but presented node %d's certificate", h.from, certID))
	}
	// Authenticated first, then authorized: who is not proven learns
	// nothing about the membership.
	if secret := t.cfg.Security.Secret; len(secret) > 0 {
		if err := t.challenge(c, secret, h); err != nil {
			return nil, h, err
		}
	}
	switch {
	case h.purpose != PurposeJoin && !t.isMember(h.from):
		return nil, h, t.reject(c, h, fmt.Sprintf("node %d is not a voter of this cluster", h.from))
	case h.purpose != PurposeRaft && t.handler(h.purpose) == nil:
		return nil, h, t.reject(c, h, fmt.Sprintf("node %d serves no %s connections", t.cfg.NodeID, h.purpose))
	}
	if _, err := c.Write(appendHandshakeResponse(nil, statusAccepted, "")); err != nil {
		return nil, h, fmt.Errorf("answer handshake from node %d: %w", h.from, err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, h, fmt.Errorf("clear handshake deadline: %w", err)
	}
	return c, h, nil
}

// challenge proves this node's knowledge of the secret to the dialer and
// checks the dialer's proof, in constant time.
func (t *Transport) challenge(c net.Conn, secret []byte, h handshake) error {
	var nonce [nonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("challenge nonce: %w", err)
	}
	if _, err := c.Write(appendChallenge(nil, nonce[:], handshakeMAC(secret, roleAcceptor, h, nonce[:]))); err != nil {
		return fmt.Errorf("challenge node %d: %w", h.from, err)
	}
	var mac [macLen]byte
	if _, err := io.ReadFull(c, mac[:]); err != nil {
		return fmt.Errorf("read challenge answer from node %d: %w", h.from, err)
	}
	if !hmac.Equal(mac[:], handshakeMAC(secret, roleDialer, h, nonce[:])) {
		return t.reject(c, h, "authentication failed: wrong cluster secret")
	}
	return nil
}

func (t *Transport) isMember(id uint64) bool {
	return t.cfg.IsMember == nil || t.cfg.IsMember(id)
}

// reject tells the dialer why it was refused (best effort) and returns the
// reason as an error for the log.
func (t *Transport) reject(c net.Conn, h handshake, reason string) error {
	// The answer is best effort: the dialer may already be gone.
	_, _ = c.Write(appendHandshakeResponse(nil, statusRejected, reason))
	return fmt.Errorf("handshake from node %d: %s", h.from, reason)
}

// registerInbound records c as the newest connection from peer `from` and
// closes the previous one: the peer keeps one outbound connection, so an
// older one is a leftover that may still be half-open. It returns nil when
// the transport is stopping.
func (t *Transport) registerInbound(c net.Conn, from uint64) *inboundStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runCtx.Err() != nil {
		return nil
	}
	if old := t.inByPeer[from]; old != nil && old != c {
		_ = old.Close() // its reader unregisters it
	}
	t.inByPeer[from] = c
	t.inConns[c] = from
	if p := t.peers[from]; p != nil {
		// The peer is back (it just dialed us): redial it now rather than
		// at the end of a backoff that may run for seconds.
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	in := t.inStats[from]
	if in == nil {
		in = &inboundStats{}
		t.inStats[from] = in
	}
	in.mu.Lock()
	in.conns++
	in.mu.Unlock()
	return in
}

// dropInbound closes and unregisters c; reason, when set, is recorded as the
// peer's last inbound error.
func (t *Transport) dropInbound(c net.Conn, from uint64, reason string) {
	_ = c.Close() // done with it either way
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.inConns, c)
	if from == 0 {
		return
	}
	if t.inByPeer[from] == c {
		delete(t.inByPeer, from)
	}
	if in := t.inStats[from]; in != nil {
		in.mu.Lock()
		in.conns--
		if reason != "" {
			in.lastError = reason
		}
		in.mu.Unlock()
	}
}

// readLoop reads frames until the connection fails or the Handler refuses a
// message.
func (t *Transport) readLoop(c net.Conn, from uint64, in *inboundStats) error {
	br := bufio.NewReaderSize(c, readBufferSize)
	var scratch []byte
	for {
		m, next, err := readFrame(br, t.cfg.MaxMessageBytes, scratch)
		scratch = next
		if err != nil {
			return err
		}
		// The handshake vouches for the sender: a frame claiming another
		// origin or destination means a confused peer, not one to trust.
		if m.GetFrom() != from || m.GetTo() != t.cfg.NodeID {
			return fmt.Errorf("%s from %d to %d on a connection from node %d to node %d",
				m.GetType(), m.GetFrom(), m.GetTo(), from, t.cfg.NodeID)
		}
		// A member removed after the handshake is heard no more.
		if !t.isMember(from) {
			t.refusals.Log(t.log, slog.LevelWarn, "dropping message from a node that is not a voter",
				fmt.Sprint(from), "peer", from, "type", m.GetType().String())
			continue
		}
		in.mu.Lock()
		in.received++
		in.lastRecv = time.Now()
		in.mu.Unlock()
		if err := t.cfg.Handler(t.runCtx, m); err != nil {
			return fmt.Errorf("handle %s (term %d, index %d): %w", m.GetType(), m.GetTerm(), m.GetIndex(), err)
		}
	}
}
