package transport

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

const (
	// writeBufferSize batches small messages into few syscalls.
	writeBufferSize = 64 << 10
	// maxBatch bounds how many messages are written before a flush, so a
	// queue that never empties still gets flushed (and MsgSnap reported).
	maxBatch = 256
	// capLogInterval is how often a peer that stays down at the maximum
	// backoff is logged again.
	capLogInterval = time.Minute
)

// peer is the outbound side of one peer: a queue and the goroutine that owns
// the connection to it.
type peer struct {
	t     *Transport
	id    uint64
	addr  string
	log   *slog.Logger
	queue chan *raftpb.Message
	stats *outboundStats
	// dropping is set while Send is dropping for a full queue, so the
	// overflow is logged once per episode.
	dropping atomic.Bool
	cancel   context.CancelFunc // set by startPeerLocked
	// wake cuts a redial backoff short: the peer connected to us.
	wake chan struct{}

	// Owned by the run goroutine: the last logged backoff step.
	lastLogDelay time.Duration
	lastLogAt    time.Time
}

func (t *Transport) newPeer(id uint64, addr string) *peer {
	return &peer{
		t:     t,
		id:    id,
		addr:  addr,
		log:   t.log.With("peer", id, "addr", addr),
		queue: make(chan *raftpb.Message, t.cfg.QueueSize),
		stats: &outboundStats{},
		wake:  make(chan struct{}, 1),
	}
}

// startPeerLocked starts p's sender goroutine; t.mu must be held.
func (t *Transport) startPeerLocked(p *peer) {
	ctx, cancel := context.WithCancel(t.runCtx)
	p.cancel = cancel
	t.wg.Add(1)
	go p.run(ctx)
}

// stop cancels the sender goroutine without waiting for it.
func (p *peer) stop() {
	if p.cancel != nil {
		p.cancel()
	}
}

// run keeps one connection to the peer open until ctx is done, redialing
// with jittered exponential backoff.
func (p *peer) run(ctx context.Context) {
	defer p.t.wg.Done()
	failures := 0
	for {
		conn, err := p.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if !p.fail(ctx, err, failures) {
				return
			}
			continue
		}
		p.log.Info("connected to peer", "after_failures", failures)
		p.stats.setConnected()
		began := time.Now()
		err = p.stream(ctx, conn)
		conn.release()
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= p.t.cfg.MaxBackoff {
			// A connection that was stable is redialed at once; only
			// connections that keep failing back off.
			failures = 0
			p.stats.setFailed(err, 0)
			p.lastLogDelay = 0
			p.log.Warn("connection to peer lost, redialing", "error", err)
			p.t.reportUnreachable(p.id)
			continue
		}
		failures++
		if !p.fail(ctx, err, failures) {
			return
		}
	}
}

// fail handles a failed dial or short-lived connection: it discards what was
// queued (stale by the time the peer is back; raft resends), reports the
// peer unreachable, logs once per backoff step and sleeps. It returns false
// when ctx ended the sleep.
func (p *peer) fail(ctx context.Context, err error, failures int) bool {
	dropped, snaps := p.drainQueue()
	p.stats.setFailed(err, dropped)
	p.t.reportUnreachable(p.id)
	for range snaps {
		p.t.reportSnapshot(p.id, true)
	}
	step := p.t.backoffStep(failures)
	now := time.Now()
	if step != p.lastLogDelay || now.Sub(p.lastLogAt) >= capLogInterval {
		p.lastLogDelay, p.lastLogAt = step, now
		p.log.Warn("peer unreachable, will redial", "error", err, "failures", failures,
			"retry_in", step, "dropped", dropped)
	}
	timer := time.NewTimer(jitter(step))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
	case <-p.wake:
	}
	return true
}

// drainQueue discards everything queued and counts it.
func (p *peer) drainQueue() (dropped, snaps int) {
	for {
		select {
		case m := <-p.queue:
			dropped++
			if m.GetType() == raftpb.MsgSnap {
				snaps++
			}
		default:
			return dropped, snaps
		}
	}
}

// backoffStep is the un-jittered delay after the n-th consecutive failure.
func (t *Transport) backoffStep(n int) time.Duration {
	d := min(minBackoff, t.cfg.MaxBackoff)
	for i := 1; i < n && d < t.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, t.cfg.MaxBackoff)
}

// jitter spreads d over [d/2, d] so that nodes restarted together do not
// redial in lockstep.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(half+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// guardedConn closes its connection when ctx is done, so that a write to a
// peer that stopped reading cannot hold up Close. It reads and writes
// through Conn (TLS when configured) and closes raw, the TCP connection
// under it, which never waits for a stuck write the way closing TLS does.
type guardedConn struct {
	net.Conn
	raw       net.Conn
	stopGuard func() bool
	guardDone chan struct{}
}

func guard(ctx context.Context, c, raw net.Conn) *guardedConn {
	g := &guardedConn{Conn: c, raw: raw, guardDone: make(chan struct{})}
	g.stopGuard = context.AfterFunc(ctx, func() {
		defer close(g.guardDone)
		_ = raw.Close() // unblocks the owner, which reports the error
	})
	return g
}

// Close closes the TCP connection (see guardedConn).
func (g *guardedConn) Close() error { return g.raw.Close() }

// release closes the connection and waits for the guard, so no goroutine
// outlives the owner.
func (g *guardedConn) release() {
	if !g.stopGuard() {
		<-g.guardDone
	}
	_ = g.raw.Close() // already failed or done with; nothing to report
}

// dial connects and completes the handshake within DialTimeout.
func (p *peer) dial(ctx context.Context) (*guardedConn, error) {
	c, raw, err := p.t.dialConn(ctx, p.id, p.addr, PurposeRaft)
	if err != nil {
		return nil, err
	}
	return guard(ctx, c, raw), nil
}

// stream writes queued messages to conn until a write fails, the peer
// closes the connection, or ctx is done.
func (p *peer) stream(ctx context.Context, conn *guardedConn) error {
	// The acceptor never writes after the handshake, so a returning Read
	// means the peer went away; noticing it here gets us redialing before
	// the next message is lost on a dead socket.
	closed := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := conn.Read(b[:])
		if err == nil {
			err = errUnexpectedData
		}
		closed <- err
	}()
	watching := true
	defer func() {
		if watching {
			_ = conn.Close() // ends the watcher's Read
			<-closed
		}
	}()

	cfg := &p.t.cfg
	bw := bufio.NewWriterSize(conn, writeBufferSize)
	var scratch []byte
	for {
		var m *raftpb.Message
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-closed:
			watching = false
			return fmt.Errorf("peer closed connection: %w", err)
		case m = <-p.queue:
		}

		written, snaps := 0, 0
		var werr error
		for m != nil {
			var err error
			scratch, err = appendFrame(scratch[:0], m, cfg.MaxMessageBytes)
			if err != nil {
				p.dropUnencodable(m, err)
			} else {
				werr = conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
				if werr == nil {
					_, werr = bw.Write(scratch)
				}
				written++
				if m.GetType() == raftpb.MsgSnap {
					snaps++
				}
				if werr != nil {
					break
				}
			}
			if cap(scratch) > writeBufferSize {
				scratch = nil // do not pin a snapshot-sized buffer
			}
			if written >= maxBatch {
				break
			}
			select {
			case m = <-p.queue:
			default:
				m = nil
			}
		}
		if werr == nil && bw.Buffered() > 0 {
			werr = conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if werr == nil {
				werr = bw.Flush()
			}
		}
		if werr != nil {
			// Part of the batch may have reached the peer; count it all as
			// lost, raft resends.
			p.stats.addDropped(written)
			if ctx.Err() == nil { // on shutdown raft is stopping too
				for range snaps {
					p.t.reportSnapshot(p.id, true)
				}
			}
			return fmt.Errorf("write to peer: %w", werr)
		}
		if written > 0 {
			p.stats.addSent(written, time.Now())
		}
		for range snaps {
			p.t.reportSnapshot(p.id, false)
		}
	}
}

// dropUnencodable drops a message that cannot be sent at all; the
// connection is fine, so the peer is not reported unreachable.
func (p *peer) dropUnencodable(m *raftpb.Message, err error) {
	p.stats.addDropped(1)
	p.log.Error("dropping message that cannot be sent", "type", m.GetType().String(), "error", err)
	if m.GetType() == raftpb.MsgSnap {
		p.t.reportSnapshot(p.id, true)
	}
}
