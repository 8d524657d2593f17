// Package interbroker sends Kafka requests from this broker to another one
// over the cluster listener: the transaction coordinator's WriteTxnMarkers
// to partition leaders, and a partition leader's AddPartitionsToTxn
// verification to a transaction coordinator (KIP-890 part 1).
//
// The connections are the ones replica fetchers use: an authenticated
// cluster connection on which this broker proved its registration
// (replication's preamble); the receiving node serves it as a Kafka
// connection with Conn.Replica set, which is what the broker-only APIs
// check. A Kafka listener's client can never be such a connection.
package interbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Dialer opens an authenticated cluster connection to broker node on which
// node serves Kafka requests from this broker.
type Dialer func(ctx context.Context, node int32) (net.Conn, error)

// Config configures a Client.
type Config struct {
	// NodeID is this broker's id; requests carry client id
	// "chronik-broker-<id>".
	NodeID int32
	// Dial opens connections.
	Dial Dialer
	// Name tells the client's purpose in log lines ("txn markers").
	Name string
	// IdleTimeout closes a connection without a request in flight for
	// this long, before the peer's own idle timeout (Kafka's
	// connections.max.idle.ms) can close it under a request being sent.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxInFlight caps the requests sent and unanswered on one connection
	// (the serving side caps them too). Default DefaultMaxInFlight.
	MaxInFlight int
	// MaxResponseBytes bounds a response's size; a peer announcing more is
	// disconnected. Default DefaultMaxResponseBytes.
	MaxResponseBytes int32
	// MinBackoff and MaxBackoff bound the wait before dialing a peer again
	// after failed dials (doubling). Defaults 50 ms and 2 s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Defaults of Config.
const (
	DefaultIdleTimeout      = 9 * time.Minute // Kafka's client: 9 min against the broker's 10
	DefaultMaxInFlight      = 8
	DefaultMaxResponseBytes = 16 << 20
	defaultMinBackoff       = 50 * time.Millisecond
	defaultMaxBackoff       = 2 * time.Second
	// handshakeTimeout bounds the ApiVersions exchange that opens a
	// connection when the request's context has no earlier deadline.
	handshakeTimeout = 10 * time.Second
	// bodyTimeout bounds reading one response once its size arrived.
	bodyTimeout = 30 * time.Second
	// writeTimeout bounds writing one request when its context has no
	// earlier deadline.
	writeTimeout = 30 * time.Second
)

// ErrClosed is returned by requests after Close.
var ErrClosed = errors.New("interbroker client closed")

// Client sends requests to other brokers, one connection per peer, reused
// and pipelined; a failed connection is dialed again, with backoff after
// failed dials. Requests to one peer are answered in order (the serving
// side answers a connection's requests in order), so callers whose
// requests may wait long (WriteTxnMarkers waits for replication) use a
// Client of their own.
type Client struct {
	cfg    Config
	logger *slog.Logger
	format *kmsg.RequestFormatter

	mu     sync.Mutex
	closed bool
	peers  map[int32]*peer
	wg     sync.WaitGroup // connections' read loops
}

// New returns a client; it dials nothing until the first request.
func New(cfg Config) *Client {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = defaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(defaultMaxBackoff, cfg.MinBackoff)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:    cfg,
		logger: logger.With("interbroker", cfg.Name),
		format: kmsg.NewRequestFormatter(kmsg.FormatterClientID("chronik-broker-" + strconv.Itoa(int(cfg.NodeID)))),
		peers:  make(map[int32]*peer),
	}
}

// Request sends req (at the version it carries) to broker node and returns
// its response. It fails without sending when the peer does not serve that
// version (an error wrapping kerr.UnsupportedVersion). An error otherwise
// means the request may or may not have been served. When ctx's deadline
// passes before the answer, the connection is closed (the peer may be
// stuck; the next request dials again), as Kafka's clients do on
// request.timeout.ms.
func (c *Client) Request(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	p, err := c.peer(node)
	if err != nil {
		return nil, err
	}
	cn, err := p.conn(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := cn.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s v%d to node %d: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), node, err)
	}
	return resp, nil
}

// Close closes every connection; requests waiting fail with ErrClosed.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	peers := c.peers
	c.peers = nil
	c.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	c.wg.Wait()
}

func (c *Client) peer(node int32) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	p := c.peers[node]
	if p == nil {
		p = &peer{c: c, id: node}
		c.peers[node] = p
	}
	return p, nil
}

// peer is one broker's connection: at most one live, one dial at a time.
type peer struct {
	c  *Client
	id int32

	mu       sync.Mutex
	closed   bool
	live     *conn
	dialing  chan struct{} // closed when the dial under way ends
	failures int           // failed dials in a row
	retryAt  time.Time     // no dial before
	lastErr  error
}

// conn returns the live connection, dialing one if there is none.
func (p *peer) conn(ctx context.Context) (*conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.live != nil && !p.live.isDead() {
			cn := p.live
			p.mu.Unlock()
			return cn, nil
		}
		if ch := p.dialing; ch != nil {
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("connect to node %d: %w", p.id, ctx.Err())
			}
		}
		if wait := time.Until(p.retryAt); wait > 0 {
			last := p.lastErr
			p.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("connect to node %d (last dial: %v): %w", p.id, last, ctx.Err())
			}
		}
		ch := make(chan struct{})
		p.dialing = ch
		p.mu.Unlock()

		cn, err := p.dial(ctx)

		p.mu.Lock()
		p.dialing = nil
		close(ch)
		if err == nil && p.closed {
			err = ErrClosed
			cn.kill(ErrClosed)
		}
		switch {
		case err == nil:
			p.live, p.failures, p.lastErr = cn, 0, nil
			p.mu.Unlock()
			return cn, nil
		case ctx.Err() == nil && !errors.Is(err, ErrClosed):
			// The peer's failure, not the caller giving up: back off.
			p.failures++
			backoff := p.c.cfg.MinBackoff << min(p.failures-1, 16)
			p.retryAt, p.lastErr = time.Now().Add(min(backoff, p.c.cfg.MaxBackoff)), err
			if p.failures == 1 {
				p.c.logger.Warn("inter-broker connection failed", "node", p.id, "err", err)
			} else {
				p.c.logger.Debug("inter-broker connection failed again", "node", p.id, "failures", p.failures, "err", err)
			}
		}
		p.mu.Unlock()
		return nil, fmt.Errorf("connect to node %d: %w", p.id, err)
	}
}

// dial connects and learns the API versions the peer serves; the read
// loop starts once that is done.
func (p *peer) dial(ctx context.Context) (*conn, error) {
	nc, err := p.c.cfg.Dial(ctx, p.id)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	versions, err := p.c.apiVersions(nc, deadline)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("api versions: %w", err)
	}
	cn := &conn{
		c: p.c, peer: p.id, nc: nc, versions: versions,
		slots:   make(chan struct{}, p.c.cfg.MaxInFlight),
		pending: make(map[int32]*call),
		nextID:  1, // 0 was ApiVersions
		used:    time.Now(),
	}
	// The read loop is counted under the client's lock, never after Close
	// began waiting for the loops.
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.closed {
		_ = nc.Close()
		return nil, ErrClosed
	}
	p.c.wg.Add(1)
	go func() {
		defer p.c.wg.Done()
		cn.readLoop()
	}()
	return cn, nil
}

func (p *peer) close() {
	p.mu.Lock()
	p.closed = true
	live := p.live
	p.mu.Unlock()
	if live != nil {
		live.kill(ErrClosed)
	}
}

// versionRange is the versions of one API key a peer serves.
type versionRange struct{ min, max int16 }

// apiVersions asks the peer which versions it serves, on the fresh
// connection nc, before deadline.
func (c *Client) apiVersions(nc net.Conn, deadline time.Time) (map[int16]versionRange, error) {
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "chronik"
	req.ClientSoftwareVersion = "broker"
	if _, err := nc.Write(c.format.AppendRequest(nil, req, 0)); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	body, err := c.readFrame(nc)
	if err != nil {
		return nil, err
	}
	if len(body) < 4 || binary.BigEndian.Uint32(body) != 0 {
		return nil, errors.New("answer with a wrong correlation id")
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := resp.ReadFrom(body[4:]); err != nil { // ApiVersions' response header has no tags
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := make(map[int16]versionRange, len(resp.ApiKeys))
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = versionRange{k.MinVersion, k.MaxVersion}
	}
	return out, nil
}

// readFrame reads one size-prefixed response, bounded by MaxResponseBytes.
func (c *Client) readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, fmt.Errorf("read response size: %w", err)
	}
	return c.readBody(r, int32(binary.BigEndian.Uint32(size[:])))
}

func (c *Client) readBody(r io.Reader, n int32) ([]byte, error) {
	if n < 4 || n > c.cfg.MaxResponseBytes {
		return nil, fmt.Errorf("response of %d bytes is outside 4..%d", n, c.cfg.MaxResponseBytes)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return body, nil
}

// conn is one connection to a peer: requests are written under wmu and
// answered by the read loop, matched by correlation id.
type conn struct {
	c        *Client
	peer     int32
	nc       net.Conn
	versions map[int16]versionRange
	slots    chan struct{} // one per request in flight
	wmu      sync.Mutex

	mu      sync.Mutex
	pending map[int32]*call
	nextID  int32
	used    time.Time // last request sent or answered
	err     error     // why the connection is dead; nil while it lives
}

// call is one request awaiting its response. done is buffered: the read
// loop never waits for a caller that gave up.
type call struct {
	resp kmsg.Response
	done chan error
}

func (cn *conn) isDead() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err != nil
}

// kill closes the connection and fails every request waiting on it.
func (cn *conn) kill(err error) {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	cn.err = err
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	_ = cn.nc.Close()
	for _, cl := range pending {
		cl.done <- fmt.Errorf("connection lost: %w", err)
	}
}

func (cn *conn) do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	key, v := req.Key(), req.GetVersion()
	if r, ok := cn.versions[key]; !ok || v < r.min || v > r.max {
		return nil, fmt.Errorf("the peer does not serve this version (it serves %d..%d): %w", r.min, r.max, kerr.UnsupportedVersion)
	}
	select {
	case cn.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	cl := &call{resp: resp, done: make(chan error, 1)}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		<-cn.slots
		return nil, fmt.Errorf("connection lost: %w", err)
	}
	id := cn.nextID
	cn.nextID++
	if cn.nextID < 0 {
		cn.nextID = 1
	}
	cn.pending[id] = cl
	cn.used = time.Now()
	cn.mu.Unlock()

	// The slot is freed by the read loop when the answer arrives (or the
	// connection dies), not when the caller gives up: the peer still
	// holds the request.
	if err := cn.write(ctx, cn.c.format.AppendRequest(nil, req, id)); err != nil {
		cn.kill(fmt.Errorf("write request: %w", err))
		return nil, <-cl.done
	}
	select {
	case err := <-cl.done:
		if err != nil {
			return nil, err
		}
		return resp, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cn.kill(errors.New("a request timed out"))
		}
		return nil, ctx.Err()
	}
}

func (cn *conn) write(ctx context.Context, b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := cn.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := cn.nc.Write(b)
	return err
}

// readLoop reads responses until the connection dies, and closes it when
// it was idle for the idle timeout.
func (cn *conn) readLoop() {
	var size [4]byte
	for {
		if err := cn.nc.SetReadDeadline(time.Now().Add(cn.c.cfg.IdleTimeout)); err != nil {
			cn.kill(err)
			return
		}
		n, err := io.ReadFull(cn.nc, size[:])
		if err != nil {
			var ne net.Error
			if n == 0 && errors.As(err, &ne) && ne.Timeout() && !cn.idle() {
				continue
			}
			cn.kill(fmt.Errorf("read: %w", err))
			return
		}
		if err := cn.nc.SetReadDeadline(time.Now().Add(bodyTimeout)); err != nil {
			cn.kill(err)
			return
		}
		body, err := cn.c.readBody(cn.nc, int32(binary.BigEndian.Uint32(size[:])))
		if err != nil {
			cn.kill(err)
			return
		}
		if err := cn.deliver(body); err != nil {
			cn.kill(err)
			return
		}
	}
}

// idle reports whether nothing is in flight and nothing was sent for the
// idle timeout; the caller then closes the connection.
func (cn *conn) idle() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.pending) == 0 && time.Since(cn.used) >= cn.c.cfg.IdleTimeout
}

// deliver decodes one response and hands it to its request. A response to
// no request sent is a protocol error: the connection is closed.
func (cn *conn) deliver(body []byte) error {
	id := int32(binary.BigEndian.Uint32(body))
	cn.mu.Lock()
	cl := cn.pending[id]
	delete(cn.pending, id)
	cn.used = time.Now()
	cn.mu.Unlock()
	if cl == nil {
		return fmt.Errorf("response with correlation id %d to no request", id)
	}
	<-cn.slots
	rest := body[4:]
	if cl.resp.IsFlexible() && cl.resp.Key() != kmsg.ApiVersions.Int16() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			cl.done <- err
			return err
		}
	}
	if err := cl.resp.ReadFrom(rest); err != nil {
		err = fmt.Errorf("decode %s response: %w", kmsg.NameForKey(cl.resp.Key()), err)
		cl.done <- err
		return err
	}
	cl.done <- nil
	return nil
}

// skipTags skips a flexible response header's tagged fields.
func skipTags(b []byte) ([]byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, errors.New("bad response header tags")
	}
	b = b[l:]
	for range n {
		if _, l = binary.Uvarint(b); l <= 0 {
			return nil, errors.New("bad response header tag")
		}
		b = b[l:]
		size, l := binary.Uvarint(b)
		if l <= 0 || uint64(len(b)-l) < size {
			return nil, errors.New("bad response header tag size")
		}
		b = b[l+int(size):]
	}
	return b, nil
}
