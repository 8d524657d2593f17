package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const readBufferSize = 64 << 10

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
		t.mu.Lock()
		if t.runCtx.Err() != nil {
			// closeOnDone already swept inConns; this one is ours to close.
			t.mu.Unlock()
			_ = c.Close()
			return
		}
		t.inConns[c] = 0
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveInbound(c)
	}
}

// serveInbound checks the handshake of an accepted connection and then hands
// every frame on it to the Handler, in order.
func (t *Transport) serveInbound(c net.Conn) {
	defer t.wg.Done()
	remote := c.RemoteAddr().String()
	from, err := t.acceptHandshake(c)
	if err != nil {
		if t.runCtx.Err() == nil {
			t.log.Warn("refused cluster connection", "remote", remote, "error", err)
		}
		t.dropInbound(c, 0, "")
		return
	}
	log := t.log.With("peer", from, "remote", remote)
	log.Debug("accepted cluster connection")
	in := t.registerInbound(c, from)
	if in == nil {
		t.dropInbound(c, 0, "") // never counted, so nothing to uncount
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
		log.Warn("closing cluster connection", "error", err)
	}
	t.dropInbound(c, from, reason)
}

// acceptHandshake reads and validates the handshake and answers it. It
// returns the peer id.
func (t *Transport) acceptHandshake(c net.Conn) (uint64, error) {
	deadline := time.Now().Add(t.cfg.DialTimeout)
	if err := c.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("set handshake deadline: %w", err)
	}
	h, err := readHandshake(c)
	var verr versionError
	switch {
	case errors.As(err, &verr):
		return 0, t.reject(c, h, err.Error())
	case err != nil:
		// Not a chronik node, or a truncated handshake: nothing to answer.
		return 0, err
	case h.clusterID != t.cfg.ClusterID:
		return 0, t.reject(c, h, fmt.Sprintf("cluster id mismatch: node %d is in cluster %q, dialer says %q",
			t.cfg.NodeID, t.cfg.ClusterID, h.clusterID))
	case h.to != t.cfg.NodeID:
		return 0, t.reject(c, h, fmt.Sprintf("wrong node: this is node %d, dialer wanted node %d", t.cfg.NodeID, h.to))
	case h.from == 0 || h.from == t.cfg.NodeID:
		return 0, t.reject(c, h, fmt.Sprintf("invalid dialer node id %d", h.from))
	}
	if _, err := c.Write(appendHandshakeResponse(nil, statusAccepted, "")); err != nil {
		return 0, fmt.Errorf("answer handshake from node %d: %w", h.from, err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return 0, fmt.Errorf("clear handshake deadline: %w", err)
	}
	return h.from, nil
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
		in.mu.Lock()
		in.received++
		in.lastRecv = time.Now()
		in.mu.Unlock()
		if err := t.cfg.Handler(t.runCtx, m); err != nil {
			return fmt.Errorf("handle %s (term %d, index %d): %w", m.GetType(), m.GetTerm(), m.GetIndex(), err)
		}
	}
}
