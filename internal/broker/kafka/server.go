package kafka

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/netlimit"
)

// ServerConfig configures the Kafka wire server.
type ServerConfig struct {
	// Addr is the listen address; ":0" picks a free port. Default ":9092".
	Addr string
	// Listener, if set, is an already bound listener to serve instead of
	// binding Addr (a node binds its listeners before building the server).
	Listener net.Listener
	// MaxRequestBytes caps one request frame; larger claims close the
	// connection. Default DefaultMaxRequestBytes.
	MaxRequestBytes int32
	// MaxInFlight caps, per connection, the requests read but whose response
	// is not yet written; the reader blocks when it is reached. Default
	// defaultMaxInFlight.
	MaxInFlight int
	// QueuedMaxBytes caps the bytes of request frames read but not yet
	// answered and of responses built but not yet written, over all
	// connections (Kafka's queued.max.request.bytes, counting responses too).
	// Readers stop reading and fetches shrink when it is reached. Default
	// DefaultQueuedMaxBytes.
	QueuedMaxBytes int64
	// ConnQueuedMaxBytes is the same cap for one connection. Default
	// DefaultConnQueuedMaxBytes.
	ConnQueuedMaxBytes int64
	// WriteTimeout closes a connection whose response makes no progress (a
	// chunk of writeChunk bytes not taken by the peer) for this long.
	// Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection with no request in flight that sends
	// nothing for this long (Kafka's connections.max.idle.ms). Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// RequestReadTimeout closes a connection when a request does not arrive
	// in full within this long of its first byte (not counting time the
	// server itself holds the request back for its byte budget). Default
	// DefaultRequestReadTimeout.
	RequestReadTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP cap open client connections;
	// more are closed at accept. Defaults DefaultMaxConnections and
	// DefaultMaxConnectionsPerIP.
	MaxConnections      int
	MaxConnectionsPerIP int
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told about every request read (see
	// RequestObserver); metrics hang off it.
	Observer RequestObserver

	// ListenerName is the listener's name from --listeners (Kafka's
	// listener name, e.g. "PLAINTEXT", "SASL_SSL", "INTERNAL"); every
	// connection's Conn.Listener. Default: the protocol's name.
	ListenerName string
	// Protocol is the listener's security protocol. Default PLAINTEXT.
	Protocol SecurityProtocol
	// TLS is the server side of SSL and SASL_SSL listeners; certificates
	// are reloaded through its GetConfigForClient / GetCertificate.
	TLS *tls.Config
	// Shared, if set, holds the connection limits and the queued bytes
	// budget this server shares with the node's other listeners
	// (NewSharedLimits); MaxConnections, MaxConnectionsPerIP and
	// QueuedMaxBytes are then ignored.
	Shared *SharedLimits
	// Quotas, if set, measures each client's produce and fetch bytes and
	// handler time and throttles it over its quota (quota.go).
	Quotas QuotaEnforcer
}

// SecurityProtocol is a Kafka listener security protocol.
type SecurityProtocol string

// The four security protocols of Kafka's listeners.
const (
	ProtocolPlaintext     SecurityProtocol = "PLAINTEXT"
	ProtocolSSL           SecurityProtocol = "SSL"
	ProtocolSASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	ProtocolSASLSSL       SecurityProtocol = "SASL_SSL"
)

// TLS reports whether connections on the protocol speak TLS.
func (p SecurityProtocol) TLS() bool { return p == ProtocolSSL || p == ProtocolSASLSSL }

// SASL reports whether connections on the protocol must authenticate with
// SASL before any request but ApiVersions and the SASL ones.
func (p SecurityProtocol) SASL() bool { return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL }

// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes default, 100 MiB:
// the frame limit when ServerConfig.MaxRequestBytes is not set.
const DefaultMaxRequestBytes = 100 << 20

// Connection and memory limits (--queued-max-request-bytes and friends; see
// docs/security.md). Each is the one place its default is written.
const (
	// DefaultQueuedMaxBytes, 256 MiB, bounds the memory all requests and
	// responses in flight take: room for two of the largest requests
	// (DefaultMaxRequestBytes) or four full fetches (DefaultFetchMaxBytes) at
	// once, on a node that may share its machine. Kafka leaves it unbounded.
	DefaultQueuedMaxBytes = 256 << 20
	// DefaultConnQueuedMaxBytes, 64 MiB, lets one connection hold one full
	// fetch plus small requests; a request larger than it still passes when
	// the connection holds nothing else.
	DefaultConnQueuedMaxBytes = 64 << 20
	// DefaultWriteTimeout, 30 s, is the clients' request.timeout.ms default:
	// a peer that takes nothing from a response for that long has given up
	// on it anyway.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is Kafka's connections.max.idle.ms default, 10 min.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultRequestReadTimeout, 30 s, is again the clients'
	// request.timeout.ms: a request still arriving after that has timed out
	// at the client, and a frame sent a byte at a time is cut.
	DefaultRequestReadTimeout = 30 * time.Second
	// DefaultMaxConnections, 10,000, replaces Kafka's unlimited default: each
	// connection costs a file handle and about 100 KiB (two goroutines and
	// their I/O buffers), so this keeps connections under ~1 GiB and leaves
	// the handle limit to the partitions.
	DefaultMaxConnections = 10000
	// DefaultMaxConnectionsPerIP, 1,000, keeps one host (a runaway client
	// pool, an attacker) from taking every connection while a NAT gateway in
	// front of many real clients still fits.
	DefaultMaxConnectionsPerIP = 1000
)

const (
	defaultAddr = ":9092"
	// defaultMaxInFlight caps the requests one connection has read and not
	// answered. Producers pipeline at most 5 (Java and librdkafka with
	// idempotence; franz-go 1); 16 leaves room for admin and group calls.
	// Kafka itself reads one request at a time per connection; beyond the
	// cap requests wait in the socket, never in memory.
	defaultMaxInFlight = 16

	// controlledShutdownKey is the one API whose v0 request header has no
	// client id.
	controlledShutdownKey int16 = 7

	ioBufferSize = 32 << 10
	// frameChunk is the most a frame buffer grows ahead of the bytes that
	// actually arrived, so a peer claiming a large size and then stalling
	// pins at most this much.
	frameChunk = 1 << 20
	// maxKeptWriteBuf bounds the encode buffer a connection keeps between
	// responses, so one large fetch does not pin its size forever.
	maxKeptWriteBuf = 1 << 20
)

// ServerStats is a snapshot of the server's counters.
type ServerStats struct {
	// OpenConnections is the number of client connections being served.
	OpenConnections int
	// RefusedConnections counts connections closed at accept because of
	// MaxConnections or MaxConnectionsPerIP.
	RefusedConnections uint64
	// QueuedBytes is what requests and responses in flight hold of the
	// broker's queued bytes budget.
	QueuedBytes int64
	// Requests counts decoded requests by API key since the server started,
	// including ApiVersions (18). Every served key is present.
	Requests map[int16]uint64
}

// Server is the Kafka wire server: it frames, decodes and dispatches
// requests to the APIs table, answers ApiVersions itself and writes
// responses in request order.
type Server struct {
	cfg        ServerConfig
	log        *slog.Logger
	apis       APIs // sanitized copy; read-only after NewServer
	advertised []kmsg.ApiVersionsResponseApiKey
	requests   map[int16]*atomic.Uint64 // fixed key set; values are atomic
	panics     atomic.Int64             // recovered panics, for tests and fuzzing
	ready      chan struct{}            // already closed: done channel of immediate responses

	// baseCtx parents every connection context; cancelling it is the hard
	// stop after a Shutdown deadline.
	baseCtx    context.Context
	hardCancel context.CancelFunc
	stopping   chan struct{} // closed when the server stops accepting and reading
	stopOnce   sync.Once
	wg         sync.WaitGroup // one count per tracked connection

	mem         *budget  // the broker-wide queued bytes budget
	sentinelKey [12]byte // random; see splice.go
	refusals    *netlimit.LogLimiter
	cutoffs     *netlimit.LogLimiter // requests not received in time
	handshakes  *netlimit.LogLimiter // failed TLS handshakes, TLS on plaintext
	refused     atomic.Uint64

	mu      sync.Mutex
	ln      net.Listener
	serving bool
	closing bool
	conns   map[*conn]struct{}
	limits  *netlimit.Conns // MaxConnections and MaxConnectionsPerIP
}

// NewServer returns a server for apis. Entries that cannot be served are
// dropped with a warning: key 18 (the server answers ApiVersions itself),
// keys kmsg does not know, nil handlers and empty version ranges. Max versions
// above what kmsg can decode are lowered to kmsg's max, so we never advertise
// a version we cannot parse.
func NewServer(cfg ServerConfig, apis APIs) *Server {
	if cfg.Addr == "" {
		cfg.Addr = defaultAddr
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = defaultMaxInFlight
	}
	if cfg.QueuedMaxBytes <= 0 {
		cfg.QueuedMaxBytes = DefaultQueuedMaxBytes
	}
	if cfg.ConnQueuedMaxBytes <= 0 {
		cfg.ConnQueuedMaxBytes = DefaultConnQueuedMaxBytes
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RequestReadTimeout <= 0 {
		cfg.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolPlaintext
	}
	if cfg.ListenerName == "" {
		cfg.ListenerName = string(cfg.Protocol)
	}
	if cfg.Shared == nil {
		cfg.Shared = NewSharedLimits(cfg.MaxConnections, cfg.MaxConnectionsPerIP, cfg.QueuedMaxBytes)
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger.With("listener", cfg.ListenerName),
		apis:       make(APIs, len(apis)),
		requests:   make(map[int16]*atomic.Uint64, len(apis)+1),
		ready:      make(chan struct{}),
		baseCtx:    baseCtx,
		hardCancel: cancel,
		stopping:   make(chan struct{}),
		conns:      make(map[*conn]struct{}),
		limits:     cfg.Shared.conns,
		refusals:   newLogLimiter(),
		cutoffs:    newLogLimiter(),
		handshakes: newLogLimiter(),
		ln:         cfg.Listener,
		mem:        cfg.Shared.mem,
	}
	_, _ = rand.Read(s.sentinelKey[:])
	close(s.ready)
	for key, api := range apis {
		if key == apiVersionsKey {
			s.log.Warn("kafka api table entry ignored: the server answers ApiVersions itself", "key", key)
			continue
		}
		probe := kmsg.RequestForKey(key)
		if probe == nil || api.Handle == nil {
			s.log.Warn("kafka api table entry ignored: unknown key or nil handler", "key", key)
			continue
		}
		if api.Min < 0 {
			api.Min = 0
		}
		if limit := probe.MaxVersion(); api.Max > limit {
			s.log.Warn("kafka api max version lowered to what the decoder knows",
				"key", key, "name", kmsg.NameForKey(key), "configured", api.Max, "max", limit)
			api.Max = limit
		}
		if api.Min > api.Max {
			s.log.Warn("kafka api table entry ignored: empty version range",
				"key", key, "name", kmsg.NameForKey(key), "min", api.Min, "max", api.Max)
			continue
		}
		s.apis[key] = api
		s.advertised = append(s.advertised, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: api.Min, MaxVersion: api.Max})
		s.requests[key] = new(atomic.Uint64)
	}
	s.advertised = append(s.advertised, kmsg.ApiVersionsResponseApiKey{ApiKey: apiVersionsKey, MinVersion: apiVersionsMinVersion, MaxVersion: apiVersionsMaxVersion})
	s.requests[apiVersionsKey] = new(atomic.Uint64)
	slices.SortFunc(s.advertised, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return s
}

// Listen binds the listen address. Addr is valid afterwards.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenLocked()
}

func (s *Server) listenLocked() error {
	if s.closing {
		return errors.New("listen: server is shut down")
	}
	if s.ln != nil {
		return errors.New("listen: already listening")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until ctx is done or Shutdown is called, calling
// Listen first if needed. It returns nil when stopped by either. When ctx
// ends, Serve stops the server at once (like Shutdown with an expired
// deadline) and returns after every connection goroutine has ended; after
// Shutdown it returns as soon as the accept loop stops, and Shutdown does the
// waiting.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("serve: already serving")
	}
	s.serving = true
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	if s.ln == nil {
		if err := s.listenLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	ln := s.ln
	s.mu.Unlock()

	// Accept does not take a context; this goroutine turns ctx's end into
	// closing the listener. Serve owns it and waits for it on return.
	serveDone := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			s.beginStop()
		case <-serveDone:
		}
	}()
	defer func() {
		close(serveDone)
		<-watcherDone
	}()

	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.stopNow()
				return nil
			}
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Resource exhaustion (EMFILE and the like) passes; back off
			// instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("kafka accept failed; retrying", "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			case <-s.stopping:
				t.Stop()
			}
			continue
		}
		backoff = 0
		c, refusal := s.track(nc)
		if c == nil {
			if refusal != "" {
				// Counted before the close, so a client that sees it
				// closed also sees it counted.
				s.refused.Add(1)
			}
			_ = nc.Close()
			if refusal != "" {
				if ok, suppressed := s.refusals.Allow("", time.Now()); ok {
					s.log.Warn("kafka connection refused", "remote", nc.RemoteAddr().String(), "reason", refusal,
						"refused_since_last_log", suppressed)
				}
			}
			continue // when stopping, the next Accept fails on the closed listener
		}
		go c.serve()
	}
}

// Shutdown stops accepting connections and reading new requests, lets the
// requests already read finish and their responses be written, then closes
// each connection. If ctx ends first, Pending contexts are cancelled and
// connections closed. Shutdown returns once every connection goroutine has
// ended (a Pending that ignores its context delays this), with ctx's error if
// the deadline cut the drain short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginStop()
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		s.hardCancel() // releases the base context; nothing uses it any more
		return nil
	case <-ctx.Done():
	}
	select {
	case <-drained: // both were ready; the drain did finish
		s.hardCancel()
		return nil
	default:
	}
	s.hardStop()
	<-drained
	return fmt.Errorf("shutdown kafka server: %w", ctx.Err())
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	st := ServerStats{OpenConnections: open, RefusedConnections: s.refused.Load(), QueuedBytes: s.mem.inUse(),
		Requests: make(map[int16]uint64, len(s.requests))}
	for k, v := range s.requests {
		st.Requests[k] = v.Load()
	}
	return st
}

// beginStop closes the listener and makes every connection stop reading.
func (s *Server) beginStop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closing = true
		close(s.stopping)
		if s.ln != nil {
			if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("close kafka listener", "err", err)
			}
		}
		// A read deadline in the past wakes readers blocked on the socket;
		// they see stopping and drain instead of reading on.
		now := time.Now()
		for c := range s.conns {
			_ = c.nc.SetReadDeadline(now)
		}
	})
}

// hardStop cancels every connection context and closes every connection.
func (s *Server) hardStop() {
	s.hardCancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

// stopNow is Shutdown with no grace period.
func (s *Server) stopNow() {
	s.beginStop()
	s.hardStop()
	s.wg.Wait()
}

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// track registers a new connection. It returns nil once the server is
// stopping (with no refusal) or when a connection limit is reached (with the
// refusal, for the log).
func (s *Server) track(nc net.Conn) (*conn, string) { return s.trackAs(nc, false) }

// trackAs is track; a cluster connection (ServeConn) is never refused for
// the limits and is counted apart from the clients' IPs.
func (s *Server) trackAs(nc net.Conn, cluster bool) (*conn, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, ""
	}
	ip := netlimit.RemoteIP(nc.RemoteAddr())
	if cluster {
		ip = clusterConnsKey
		s.limits.AdmitAlways(ip)
	} else if refusal := s.limits.Admit(ip); refusal != "" {
		return nil, refusal
	}
	ctx, cancel := context.WithCancel(s.baseCtx)
	c := &conn{
		s:      s,
		nc:     nc,
		rw:     nc,
		ip:     ip,
		ctx:    ctx,
		cancel: cancel,
		info:   &Conn{Remote: nc.RemoteAddr(), Listener: s.listenerOf(cluster)},
		queue:  make(chan *inflight, s.cfg.MaxInFlight),
		slots:  make(chan struct{}, s.cfg.MaxInFlight),
		mem:    newBudget(s.cfg.ConnQueuedMaxBytes),
		log:    s.log.With("remote", nc.RemoteAddr().String()),
	}
	// SASL listeners gate client connections until they authenticate
	// (sasl.go); cluster connections proved who they are already.
	c.info.sasl.required = s.cfg.Protocol.SASL() && !cluster
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c, ""
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.limits.Release(c.ip)
	s.mu.Unlock()
	s.wg.Done()
}

// logEvery is how often a rate-limited log line may repeat.
const logEvery = time.Second

// newLogLimiter lets a log line through at most once per logEvery, counting
// what it held back, so a flood of refused or cut connections cannot flood
// the log. Its users log under the one key "".
func newLogLimiter() *netlimit.LogLimiter { return netlimit.NewLogLimiter(logEvery) }

// conn is one client connection: a read loop (the goroutine running serve),
// a write loop and one goroutine per outstanding Pending.
type conn struct {
	s  *Server
	nc net.Conn
	// rw is what requests are read from and responses written to: nc, or
	// the TLS layer over it once the handshake is done (startTLS). Deadlines
	// and closing go to nc, so they never wait on TLS.
	rw     net.Conn
	ip     string
	mem    *budget         // this connection's queued bytes budget
	ctx    context.Context // parent of handlers' and Pendings' contexts
	cancel context.CancelFunc
	info   *Conn
	log    *slog.Logger

	// queue carries requests that expect a response, in request order, from
	// reader to writer; the reader closes it when it stops.
	queue chan *inflight
	// slots holds one token per request read and not yet answered (or, for
	// acks=0, not yet finished): the in-flight bound.
	slots chan struct{}

	pendings  sync.WaitGroup
	closeOnce sync.Once
}

// inflight is a request awaiting its response.
type inflight struct {
	c       *conn
	ctx     context.Context // the connection's, carrying this inflight (BudgetFrom)
	held    int64           // bytes of both budgets held: the frame, then the response
	key     int16
	version int16 // the response is encoded at this version
	corrID  int32
	start   time.Time     // when the frame was read; zero unless observed
	done    chan struct{} // closed once resp (or failed) is set
	resp    kmsg.Response
	failed  bool // the Pending panicked; already logged, connection closing
	// closeAfter closes the connection once this response is written
	// (CloseAfterResponse).
	closeAfter atomic.Bool

	// reqBytes and handlerTime are what the request cost, for the quota
	// enforcer (applyQuota).
	reqBytes    int64
	handlerTime time.Duration
	// quotaDone: applyQuota ran; throttle is what it decided, for a
	// response that did not exist yet (a Pending's).
	quotaDone bool
	throttle  time.Duration
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.nc.Close()
	})
}

func (c *conn) releaseSlot() { <-c.slots }

// serve runs the connection to its end and then untracks it. It runs the
// read loop itself; the writer and Pendings it starts are waited for here.
func (c *conn) serve() {
	defer c.s.untrack(c)
	if !c.startTLS() {
		c.close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		if !c.writeLoop() {
			c.close() // also wakes the reader
		}
	}()

	graceful := c.readLoop()
	close(c.queue)
	if !graceful {
		c.close()
	}
	<-writerDone
	// Responses are all written; acks=0 Pendings may still run. They keep
	// their context until they finish (or the hard stop cancels it).
	c.pendings.Wait()
	c.close()
	c.releaseRemaining()
}

// readLoop reads and dispatches requests until the peer stops sending, the
// server stops, or something is wrong. It reports whether the connection may
// drain gracefully (answer what was read) or must close now.
func (c *conn) readLoop() (graceful bool) {
	br := bufio.NewReaderSize(c.rw, ioBufferSize)
	for {
		if c.s.isStopping() {
			return true
		}
		if !c.waitUnmuted() {
			return c.s.isStopping()
		}
		err := c.awaitRequest(br)
		if err == nil {
			select {
			case c.slots <- struct{}{}:
			case <-c.ctx.Done():
				return false
			case <-c.s.stopping:
				return true
			}
		}
		var frame []byte
		var held int64
		if err == nil {
			frame, held, err = c.readFrame(br)
		}
		if err != nil {
			var fse *frameSizeError
			switch {
			case c.s.isStopping():
				return true
			case c.ctx.Err() != nil:
				return false
			case errors.Is(err, errIdle):
				c.log.Debug("kafka connection idle; closing it", "idle_timeout", c.s.cfg.IdleTimeout)
				return false
			case errors.Is(err, os.ErrDeadlineExceeded):
				if ok, suppressed := c.s.cutoffs.Allow("", time.Now()); ok {
					c.log.Warn("kafka request not received in time; closing connection",
						"request_read_timeout", c.s.cfg.RequestReadTimeout, "err", err, "cut_since_last_log", suppressed)
				}
				return false
			case errors.Is(err, io.EOF):
				// Like Kafka, a client that closed its side gets nothing more:
				// waiting requests (long polls) end now instead of at their timeout.
				c.log.Debug("kafka client closed connection")
				return false
			case errors.As(err, &fse) && fse.tlsRecord:
				c.s.refuseTLSOnPlaintext(c)
				return false
			case errors.As(err, &fse):
				c.log.Warn("kafka request size out of bounds; closing connection",
					"claimed_size", fse.size, "limit", fse.limit)
				c.s.observe(-1, -1, time.Time{}, true)
				return false
			case errors.Is(err, io.ErrUnexpectedEOF):
				c.log.Warn("kafka connection closed mid-frame", "err", err)
				return false
			default:
				c.log.Debug("kafka read failed; closing connection", "err", err)
				return false
			}
		}
		if !c.dispatch(frame, held) {
			return false
		}
	}
}

// errIdle is a connection that sent nothing for the idle timeout with no
// request in flight.
var errIdle = errors.New("connection idle")

// errStopped is a read abandoned because the server or connection stopped.
var errStopped = errors.New("stopped")

// awaitRequest waits for the first byte of the next request, at most the
// idle timeout at a time. A connection with requests in flight (a long poll,
// an acks=all produce) is not idle, and waits on.
func (c *conn) awaitRequest(br *bufio.Reader) error {
	for br.Buffered() == 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)); err != nil {
			return err
		}
		// beginStop's deadline in the past must win over ours; it is set
		// after stopping closes, so checking here after ours is enough.
		if c.s.isStopping() {
			return errStopped
		}
		_, err := br.Peek(1)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !c.s.isStopping():
			if len(c.slots) == 0 {
				return errIdle
			}
		default:
			return err
		}
	}
	return nil
}

// frameSizeError is a size prefix that is negative or over the limit.
// tlsRecord: the bytes are the start of a TLS handshake record (a TLS
// client on a plaintext listener).
type frameSizeError struct {
	size, limit int32
	tlsRecord   bool
}

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("frame size %d outside [0, %d]", e.size, e.limit)
}

// readFrame reads one size-prefixed frame whose first byte has arrived. The
// claimed size is checked before anything is allocated, then held against
// the connection's and the broker's queued bytes budgets (waiting for room),
// and the buffer grows only as bytes arrive. The frame must arrive within
// the request read timeout of its first byte, not counting the wait for
// budget. It returns the frame and the budget bytes it holds.
func (c *conn) readFrame(br *bufio.Reader) ([]byte, int64, error) {
	if err := c.readDeadline(); err != nil {
		return nil, 0, err
	}
	var prefix [4]byte
	if _, err := io.ReadFull(br, prefix[:]); err != nil {
		return nil, 0, fmt.Errorf("read frame size: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(prefix[:]))
	if limit := c.frameLimit(); size < 0 || size > limit {
		return nil, 0, &frameSizeError{size: size, limit: limit, tlsRecord: looksLikeTLS(prefix)}
	}
	if !c.acquireFrame(int64(size)) {
		return nil, 0, errStopped
	}
	if err := c.readDeadline(); err != nil {
		c.mem.release(int64(size))
		c.s.mem.release(int64(size))
		return nil, 0, err
	}
	frame, err := readSized(br, int(size))
	if err != nil {
		c.mem.release(int64(size))
		c.s.mem.release(int64(size))
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("read %d-byte frame: %w", size, err)
	}
	return frame, int64(size), nil
}

// readDeadline starts the request read timeout.
func (c *conn) readDeadline() error {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.RequestReadTimeout)); err != nil {
		return err
	}
	if c.s.isStopping() {
		return errStopped
	}
	return nil
}

// readSized reads exactly n bytes, allocating in steps of at most
// frameChunk ahead of what has been received.
func readSized(r io.Reader, n int) ([]byte, error) {
	if n <= frameChunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf := make([]byte, 0, frameChunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), n-len(buf)))
		}
		got, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+got]
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

var (
	errMalformed     = errors.New("malformed request")
	errUnknownKey    = errors.New("unknown api key")
	errVersion       = errors.New("unsupported version")
	errHandlerPanic  = errors.New("handler panicked")
	errNoResponse    = errors.New("no response")
	errWrongResponse = errors.New("response does not match request")
)

// decoded is a parsed request frame.
type decoded struct {
	hdrOK    bool // key, version and correlation id were read
	key      int16
	version  int16
	corrID   int32
	clientID string
	// req is the decoded body; nil for an ApiVersions request at a version
	// we do not serve, whose body we cannot read.
	req kmsg.Request
}

// decode parses a frame (without its size prefix): the request header, then
// the body with kmsg. Unknown keys and versions outside the served range of
// a key other than ApiVersions are errors, as in Kafka.
func (s *Server) decode(frame []byte) (d decoded, err error) {
	defer func() {
		// kmsg is generated code fed hostile bytes; a bug there must cost
		// one connection, not the process.
		if r := recover(); r != nil {
			s.panics.Add(1)
			s.log.Error("kafka request decode panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: decode panic: %v", errMalformed, r)
		}
	}()
	if len(frame) < 8 {
		return d, fmt.Errorf("%w: %d-byte frame is shorter than a request header", errMalformed, len(frame))
	}
	d.key = int16(binary.BigEndian.Uint16(frame[0:]))
	d.version = int16(binary.BigEndian.Uint16(frame[2:]))
	d.corrID = int32(binary.BigEndian.Uint32(frame[4:]))
	d.hdrOK = true
	rest := frame[8:]

	var req kmsg.Request
	if d.key == apiVersionsKey {
		if d.version < apiVersionsMinVersion || d.version > apiVersionsMaxVersion {
			d.clientID, _, _ = readClientID(rest) // best effort, for logs
			return d, nil
		}
		req = kmsg.NewPtrApiVersionsRequest()
	} else {
		api, ok := s.apis[d.key]
		if !ok {
			return d, fmt.Errorf("%w %d", errUnknownKey, d.key)
		}
		if d.version < api.Min || d.version > api.Max {
			return d, fmt.Errorf("%w: %s v%d, served v%d-v%d", errVersion, kmsg.NameForKey(d.key), d.version, api.Min, api.Max)
		}
		req = kmsg.RequestForKey(d.key)
	}
	req.SetVersion(d.version)

	body := rest
	// ControlledShutdown v0 alone uses request header v0: no client id.
	if d.key != controlledShutdownKey || d.version != 0 {
		d.clientID, body, err = readClientID(rest)
		if err != nil {
			return d, fmt.Errorf("%w: %w", errMalformed, err)
		}
		if req.IsFlexible() {
			if body, err = skipTaggedFields(body); err != nil {
				return d, fmt.Errorf("%w: header: %w", errMalformed, err)
			}
		}
	}
	if err := req.ReadFrom(body); err != nil {
		return d, fmt.Errorf("%w: %s v%d body: %w", errMalformed, kmsg.NameForKey(d.key), d.version, err)
	}
	d.req = req
	return d, nil
}

// readClientID reads the header's nullable (never compact) client id.
func readClientID(b []byte) (id string, rest []byte, err error) {
	if len(b) < 2 {
		return "", nil, errors.New("client id length truncated")
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1:
		return "", b, nil
	case n < 0:
		return "", nil, fmt.Errorf("client id length %d", n)
	case int(n) > len(b):
		return "", nil, fmt.Errorf("client id length %d exceeds the %d bytes left", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}

// skipTaggedFields skips a flexible header's tagged fields; none are
// defined for request headers that we use.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad tagged field count")
	}
	b = b[n:]
	for ; count > 0; count-- {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("bad tagged field size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// dispatch serves one frame; false closes the connection. The handler runs
// here, on the read goroutine, so requests take effect in order.
//
// held is what the frame holds of the queued bytes budgets; the request keeps
// it (with whatever its response takes) until the response is written.
func (c *conn) dispatch(frame []byte, held int64) bool {
	start := c.s.startClock()
	d, err := c.s.decode(frame)
	if err != nil {
		attrs := []any{"err", err}
		if d.hdrOK {
			attrs = append(attrs, "key", d.key, "version", d.version, "correlation_id", d.corrID, "client_id", d.clientID)
			c.s.observe(d.key, d.version, start, true)
		} else {
			c.s.observe(-1, -1, start, true)
		}
		c.log.Warn("kafka request rejected; closing connection", attrs...)
		return false
	}
	if d.clientID != c.info.ClientID {
		// Written only on change: Pendings may read it concurrently, and
		// clients keep one id for the life of a connection.
		c.info.ClientID = d.clientID
	}
	c.s.requests[d.key].Add(1)
	if !c.saslAdmits(d, start) {
		return false
	}

	if d.key == apiVersionsKey {
		avReq, _ := d.req.(*kmsg.ApiVersionsRequest)
		resp := c.s.apiVersionsResponse(d.version, avReq)
		if resp.GetVersion() != d.version {
			c.log.Debug("kafka ApiVersions version unsupported; answering v0 so the client downgrades", "version", d.version)
		}
		c.s.observe(d.key, d.version, start, false)
		c.queue <- &inflight{c: c, held: held, key: d.key, version: resp.GetVersion(), corrID: d.corrID, done: c.s.ready, resp: resp}
		return true
	}

	// acks=0: the client reads no answer, so none is written — but the
	// handler (and its Pending) still run.
	noResponse := false
	if p, ok := d.req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		noResponse = true
	}

	it := &inflight{c: c, held: held, key: d.key, version: d.version, corrID: d.corrID, start: start, reqBytes: held}
	it.ctx = context.WithValue(c.ctx, inflightKey{}, it)
	handlerStart := time.Now()
	resp, pending, err := c.callHandler(it.ctx, c.s.apis[d.key].Handle, d.req)
	it.handlerTime = time.Since(handlerStart)
	if err != nil || (resp == nil) == (pending == nil) {
		c.s.observe(d.key, d.version, start, true)
	}
	if err != nil {
		if !errors.Is(err, errHandlerPanic) {
			c.log.Warn("kafka handler failed; closing connection",
				"key", d.key, "version", d.version, "correlation_id", d.corrID, "err", err)
		}
		return false
	}
	if (resp == nil) == (pending == nil) {
		c.log.Error("kafka handler must return exactly one of a response and a Pending; closing connection",
			"key", d.key, "version", d.version, "correlation_id", d.corrID)
		return false
	}
	if pending == nil || d.key != fetchKey {
		// The cost is known now (a Fetch's record bytes only once its
		// Pending is done): a mute set before the next read holds back
		// pipelined requests too.
		c.applyQuota(it, resp)
	}
	if pending == nil {
		// An acks=0 response is dropped, never checked by the writer.
		c.s.observe(d.key, d.version, start, !noResponse && responseFailed(d.key, resp))
		if noResponse {
			c.releaseHeld(it)
			c.releaseSlot()
			return true
		}
		it.done, it.resp = c.s.ready, resp
		c.queue <- it
		return true
	}
	it.done = make(chan struct{})
	if !noResponse {
		c.queue <- it
	}
	c.pendings.Add(1)
	go c.runPending(it, pending, noResponse)
	return true
}

// callHandler runs a handler, turning a panic into an error.
func (c *conn) callHandler(ctx context.Context, h HandlerFunc, req kmsg.Request) (resp kmsg.Response, p Pending, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.log.Error("kafka handler panicked; closing connection",
				"key", req.Key(), "version", req.GetVersion(), "panic", r, "stack", string(debug.Stack()))
			resp, p, err = nil, nil, fmt.Errorf("%w: %v", errHandlerPanic, r)
		}
	}()
	return h(ctx, c.info, req)
}

// runPending runs a Pending on its own goroutine and hands its response to
// the writer (or, for acks=0, just frees the in-flight slot).
func (c *conn) runPending(it *inflight, p Pending, noResponse bool) {
	defer c.pendings.Done()
	resp, ok := c.callPending(it, p)
	c.s.observe(it.key, it.version, it.start, !ok || (!noResponse && responseFailed(it.key, resp)))
	if noResponse {
		c.releaseHeld(it)
		c.releaseSlot()
		return
	}
	it.resp, it.failed = resp, !ok
	close(it.done)
}

func (c *conn) callPending(it *inflight, p Pending) (resp kmsg.Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.log.Error("kafka pending request panicked; closing connection",
				"key", it.key, "version", it.version, "correlation_id", it.corrID, "panic", r, "stack", string(debug.Stack()))
			c.close()
			resp, ok = nil, false
		}
	}()
	return p(it.ctx), true
}

// writeLoop writes responses strictly in request order, waiting for each
// one's Pending. It flushes whenever it would otherwise block, so pipelined
// responses that are ready share a write. It returns true once the reader
// has stopped and everything queued was written, false on failure.
func (c *conn) writeLoop() bool {
	bw := bufio.NewWriterSize(&deadlineWriter{nc: c.rw, timeout: c.s.cfg.WriteTimeout}, ioBufferSize)
	var buf []byte
	for {
		var it *inflight
		var open bool
		select {
		case it, open = <-c.queue:
		default:
			if err := bw.Flush(); err != nil {
				c.writeFailed(err)
				return false
			}
			select {
			case it, open = <-c.queue:
			case <-c.ctx.Done():
				return false
			}
		}
		if !open {
			if err := bw.Flush(); err != nil {
				c.writeFailed(err)
				return false
			}
			return true
		}

		select {
		case <-it.done:
		default:
			if err := bw.Flush(); err != nil {
				c.writeFailed(err)
				return false
			}
			select {
			case <-it.done:
			case <-c.ctx.Done():
				return false
			}
		}
		if it.failed {
			return false
		}

		c.finishQuota(it)
		var err error
		var pieces [][]byte
		buf, pieces, err = c.encodePieces(buf, it)
		if err != nil {
			c.log.Error("kafka response not encodable; closing connection",
				"key", it.key, "version", it.version, "correlation_id", it.corrID, "err", err)
			return false
		}
		for _, piece := range pieces {
			if _, err := bw.Write(piece); err != nil {
				c.writeFailed(err)
				return false
			}
		}
		// What bw still buffers is at most its own size: the response's
		// memory is free once the writer lets go of it.
		it.resp = nil
		c.releaseHeld(it)
		c.releaseSlot()
		if it.closeAfter.Load() {
			if err := bw.Flush(); err != nil {
				c.writeFailed(err)
			}
			return false
		}
		if cap(buf) > maxKeptWriteBuf {
			buf = nil
		}
	}
}

func (c *conn) writeFailed(err error) {
	switch {
	case c.ctx.Err() != nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ok, suppressed := c.s.cutoffs.Allow("", time.Now()); ok {
			c.log.Warn("kafka client took no response bytes within the write timeout; closing connection",
				"write_timeout", c.s.cfg.WriteTimeout, "cut_since_last_log", suppressed)
		}
	default:
		c.log.Debug("kafka write failed; closing connection", "err", err)
	}
}

// encode appends the framed response to dst[:0]: size, correlation id, the
// header's tagged fields when the response header is flexible (never for
// ApiVersions), then the body.
func (c *conn) encode(dst []byte, it *inflight) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.s.panics.Add(1)
			c.log.Error("kafka response encode panicked", "panic", r, "stack", string(debug.Stack()))
			out, err = dst, fmt.Errorf("encode panic: %v", r)
		}
	}()
	resp := it.resp
	if resp == nil {
		return dst, fmt.Errorf("pending: %w", errNoResponse)
	}
	if resp.Key() != it.key {
		return dst, fmt.Errorf("%w: response key %d for request key %d", errWrongResponse, resp.Key(), it.key)
	}
	resp.SetVersion(it.version)
	dst = append(dst[:0], 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(it.corrID))
	if resp.IsFlexible() && it.key != apiVersionsKey {
		dst = append(dst, 0) // no header tags
	}
	dst = resp.AppendTo(dst)
	if len(dst)-4 > math.MaxInt32 {
		return dst, fmt.Errorf("response of %d bytes exceeds the frame limit", len(dst)-4)
	}
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst, nil
}
