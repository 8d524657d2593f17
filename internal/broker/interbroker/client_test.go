package interbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePeer is a minimal Kafka server over real sockets: it answers
// ApiVersions with versions, and every other request with handle's
// response (nil: no answer ever). Responses go out in request order.
type fakePeer struct {
	t        *testing.T
	ln       net.Listener
	versions map[int16]versionRange
	handle   func(c net.Conn, req kmsg.Request) kmsg.Response
	dials    atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newFakePeer(t *testing.T, handle func(c net.Conn, req kmsg.Request) kmsg.Response) *fakePeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{t: t, ln: ln, handle: handle, versions: map[int16]versionRange{
		kmsg.ApiVersions.Int16():        {0, 3},
		kmsg.WriteTxnMarkers.Int16():    {0, 1},
		kmsg.AddPartitionsToTxn.Int16(): {0, 4},
	}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(f.close)
	return f
}

func (f *fakePeer) close() {
	f.ln.Close()
	f.dropConns()
	f.wg.Wait()
}

func (f *fakePeer) dropConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *fakePeer) dial(ctx context.Context, node int32) (net.Conn, error) {
	f.dials.Add(1)
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.ln.Addr().String())
}

func (f *fakePeer) serve(c net.Conn) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(b)), int16(binary.BigEndian.Uint16(b[2:]))
		corr := binary.BigEndian.Uint32(b[4:])
		idLen := int(int16(binary.BigEndian.Uint16(b[8:])))
		rest := b[10+max(idLen, 0):]
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if req.IsFlexible() {
			rest = rest[1:] // no tags
		}
		if err := req.ReadFrom(rest); err != nil {
			f.t.Errorf("fake peer: decode %d v%d: %v", key, version, err)
			return
		}
		var resp kmsg.Response
		if key == kmsg.ApiVersions.Int16() {
			r := req.ResponseKind().(*kmsg.ApiVersionsResponse)
			for k, v := range f.versions {
				ak := kmsg.NewApiVersionsResponseApiKey()
				ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, v.min, v.max
				r.ApiKeys = append(r.ApiKeys, ak)
			}
			resp = r
		} else if resp = f.handle(c, req); resp == nil {
			continue
		}
		out := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, corr)
		if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
			out = append(out, 0)
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// echoMarkers answers WriteTxnMarkers with every partition written (code
// 0) and the producer ids asked for.
func echoMarkers(_ net.Conn, req kmsg.Request) kmsg.Response {
	r := req.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp
}

func markersReq(pid int64) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID = pid
	t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	t.Topic, t.Partitions = "t", []int32{0}
	m.Topics = append(m.Topics, t)
	req.Markers = append(req.Markers, m)
	return req
}

func newTestClient(t *testing.T, dial Dialer, mutate ...func(*Config)) *Client {
	cfg := Config{NodeID: 9, Dial: dial, Name: "test"}
	for _, m := range mutate {
		m(&cfg)
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Many concurrent requests share one connection, each gets its own answer.
func TestRequestsShareOneConnection(t *testing.T) {
	f := newFakePeer(t, echoMarkers)
	c := newTestClient(t, f.dial)
	ctx := ctxFor(t, 10*time.Second)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			resp, err := c.Request(ctx, 2, markersReq(int64(i)))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if got := resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].ProducerID; got != int64(i) {
				t.Errorf("request %d got the answer for %d", i, got)
			}
		})
	}
	wg.Wait()
	if n := f.dials.Load(); n != 1 {
		t.Fatalf("dialed %d times, want 1", n)
	}
}

// A version the peer does not serve is refused without sending it.
func TestUnsupportedVersionNotSent(t *testing.T) {
	var got atomic.Int32
	f := newFakePeer(t, func(c net.Conn, req kmsg.Request) kmsg.Response {
		got.Add(1)
		return echoMarkers(c, req)
	})
	f.versions[kmsg.WriteTxnMarkers.Int16()] = versionRange{0, 0}
	c := newTestClient(t, f.dial)
	_, err := c.Request(ctxFor(t, 5*time.Second), 2, markersReq(1))
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("err = %v, want UNSUPPORTED_VERSION", err)
	}
	if got.Load() != 0 {
		t.Fatal("the request was sent")
	}
}

// The peer closing the connection makes the next request dial again.
func TestReconnectAfterPeerClosed(t *testing.T) {
	f := newFakePeer(t, echoMarkers)
	c := newTestClient(t, f.dial)
	ctx := ctxFor(t, 10*time.Second)
	if _, err := c.Request(ctx, 2, markersReq(1)); err != nil {
		t.Fatal(err)
	}
	f.dropConns()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Request(ctx, 2, markersReq(2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request succeeded after the peer closed: %v", err)
		}
	}
	if n := f.dials.Load(); n != 2 {
		t.Fatalf("dialed %d times, want 2", n)
	}
}

// A request whose deadline passes unanswered closes the connection; the
// next one dials again and is answered.
func TestDeadlineClosesConnection(t *testing.T) {
	var stall atomic.Bool
	stall.Store(true)
	f := newFakePeer(t, func(c net.Conn, req kmsg.Request) kmsg.Response {
		if stall.Load() {
			return nil
		}
		return echoMarkers(c, req)
	})
	c := newTestClient(t, f.dial)
	_, err := c.Request(ctxFor(t, 200*time.Millisecond), 2, markersReq(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	stall.Store(false)
	if _, err := c.Request(ctxFor(t, 5*time.Second), 2, markersReq(2)); err != nil {
		t.Fatal(err)
	}
	if n := f.dials.Load(); n != 2 {
		t.Fatalf("dialed %d times, want 2", n)
	}
}

// Failed dials back off: requests during the backoff wait for it (or their
// context) instead of dialing.
func TestDialBackoff(t *testing.T) {
	var dials atomic.Int32
	c := newTestClient(t, func(ctx context.Context, node int32) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("refused")
	}, func(cfg *Config) { cfg.MinBackoff, cfg.MaxBackoff = time.Second, time.Second })
	if _, err := c.Request(ctxFor(t, 5*time.Second), 2, markersReq(1)); err == nil {
		t.Fatal("request over a failed dial succeeded")
	}
	for range 5 {
		_, err := c.Request(ctxFor(t, 50*time.Millisecond), 2, markersReq(1))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline while backing off", err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("dialed %d times during the backoff, want 1", n)
	}
}

// Close fails a request waiting for its answer and stops the read loops
// (goleak checks).
func TestCloseFailsWaitingRequests(t *testing.T) {
	f := newFakePeer(t, func(net.Conn, kmsg.Request) kmsg.Response { return nil })
	c := New(Config{NodeID: 9, Dial: f.dial})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), 2, markersReq(1))
		errc <- err
	}()
	testharness.Eventually(t, 5*time.Second, "the request in flight", func() bool { return c.inFlight(2) == 1 })
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if _, err := c.Request(context.Background(), 2, markersReq(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v, want ErrClosed", err)
	}
}

// A peer announcing a response larger than the bound is disconnected.
func TestOversizedResponse(t *testing.T) {
	f := newFakePeer(t, func(c net.Conn, req kmsg.Request) kmsg.Response {
		resp := echoMarkers(c, req).(*kmsg.WriteTxnMarkersResponse)
		resp.Markers[0].Topics[0].Topic = string(make([]byte, 4096))
		return resp
	})
	c := newTestClient(t, f.dial, func(cfg *Config) { cfg.MaxResponseBytes = 1024 })
	_, err := c.Request(ctxFor(t, 5*time.Second), 2, markersReq(1))
	if err == nil {
		t.Fatal("oversized response accepted")
	}
	if c.inFlight(2) != -1 {
		t.Fatal("connection still live")
	}
}

// inFlight is the requests waiting on node's live connection, -1 without one.
func (c *Client) inFlight(node int32) int {
	c.mu.Lock()
	p := c.peers[node]
	c.mu.Unlock()
	if p == nil {
		return -1
	}
	p.mu.Lock()
	cn := p.live
	p.mu.Unlock()
	if cn == nil {
		return -1
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return -1
	}
	return len(cn.pending)
}
