package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestFetchResponseSplicedEqualsEncoded: the pieces a Fetch response is
// written as are, joined, byte for byte what kmsg encodes, at every served
// version, with large and small record sets, diverging epochs and aborted
// transactions in between.
func TestFetchResponseSplicedEqualsEncoded(t *testing.T) {
	s := NewServer(ServerConfig{Logger: slog.New(slog.DiscardHandler)}, nil)
	c := &conn{s: s, log: s.log}
	rng := rand.New(rand.NewPCG(1, 2))
	records := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	for version := int16(4); version <= 12; version++ {
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(version)
		resp.SessionID = 0
		sizes := []int{0, spliceMin, 5, 3 * spliceMin, 200 << 10, spliceMin - 1, 1 << 20}
		for ti := range 3 {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = "topic-" + string(rune('a'+ti))
			for pi, size := range sizes {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = int32(pi)
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1000, 1000, 3
				if pi == 2 {
					rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 4, 77
					rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 9, FirstOffset: 10}}
				}
				rp.RecordBatches = records(size)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		it := &inflight{key: 1, version: version, corrID: 42, resp: resp}
		want, err := c.encode(nil, it)
		if err != nil {
			t.Fatalf("v%d: encode: %v", version, err)
		}
		want = bytes.Clone(want)
		buf, pieces, err := c.encodePieces(nil, it)
		if err != nil {
			t.Fatalf("v%d: encodePieces: %v", version, err)
		}
		if len(pieces) < 2 {
			t.Fatalf("v%d: %d pieces: the large record sets were copied, not spliced", version, len(pieces))
		}
		if len(buf) > len(want)/4 {
			t.Fatalf("v%d: encode buffer %d bytes for a %d-byte response: record sets were copied", version, len(buf), len(want))
		}
		if got := bytes.Join(pieces, nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d: spliced response (%d bytes) differs from the encoded one (%d bytes)", version, len(got), len(want))
		}
		if s.panics.Load() != 0 {
			t.Fatalf("v%d: splice fell back to copying", version)
		}
	}
}

// TestBudgetBoundsAndWakes: take grants what is free, acquire waits for a
// release, and one item larger than the budget passes only alone.
func TestBudgetBoundsAndWakes(t *testing.T) {
	b := newBudget(100)
	if got := b.take(70, b.responseCeiling()); got != 70 {
		t.Fatalf("take(70) of 100 = %d", got)
	}
	if got := b.take(70, b.responseCeiling()); got != 5 {
		t.Fatalf("take(70) with 30 free = %d, want the 5 left below the response ceiling of 75", got)
	}
	if got := b.take(70, b.capacity); got != 25 {
		t.Fatalf("take(70) with 25 free = %d", got)
	}
	if b.tryAcquire(1) {
		t.Fatal("tryAcquire succeeded on a full budget")
	}
	done := make(chan bool)
	go func() { done <- b.acquire(50, nil, nil) }()
	select {
	case <-done:
		t.Fatal("acquire(50) returned on a full budget")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	if !recv(t, done, "acquire after release") {
		t.Fatal("acquire failed")
	}
	b.release(90)
	if b.inUse() != 0 {
		t.Fatalf("in use %d, want 0", b.inUse())
	}
	if !b.tryAcquire(500) {
		t.Fatal("an item larger than the budget did not pass alone")
	}
	if b.tryAcquire(1) {
		t.Fatal("a second item passed beside one larger than the budget")
	}
	stop := make(chan struct{})
	go func() { done <- b.acquire(1, nil, stop) }()
	close(stop)
	if recv(t, done, "acquire after stop") {
		t.Fatal("acquire succeeded after stop")
	}
}

// limitServer serves apis with cfg on loopback until the test ends.
func limitServer(t *testing.T, cfg ServerConfig, apis APIs) (*Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testharness.Logger()
	s := NewServer(cfg, apis)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, s.Addr().String()
}

// limDial opens a plain TCP connection, closed at the end of the test.
func limDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// limMetaFrame is a Metadata v1 request asking for no topics.
func limMetaFrame(corrID int32) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	req.Topics = []kmsg.MetadataRequestTopic{}
	return frameFor(req, corrID)
}

// limRoundTrip writes frame and reads one response frame's body.
func limRoundTrip(t *testing.T, nc net.Conn, frame []byte) []byte {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(frame); err != nil {
		t.Fatalf("write request: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return body
}

// limClosedWithin reports whether the server closes nc (a read ends in EOF or a
// reset) within d.
func limClosedWithin(nc net.Conn, d time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	for {
		_, err := nc.Read(b[:])
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false
		default:
			return true
		}
	}
}

func limMetaAPIs() APIs {
	return APIs{3: {Min: 0, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return done(respond[*kmsg.MetadataResponse](req))
	}}}
}

// TestIdleConnectionClosed: a connection that sends nothing for the idle
// timeout is closed; one that keeps sending requests is not, and neither is
// one whose request is still being served.
func TestIdleConnectionClosed(t *testing.T) {
	release := make(chan struct{})
	apis := limMetaAPIs()
	apis[1] = API{Min: 4, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, func(context.Context) kmsg.Response {
			<-release
			return respond[*kmsg.FetchResponse](req)
		}, nil
	}}
	const idle = 300 * time.Millisecond
	_, addr := limitServer(t, ServerConfig{IdleTimeout: idle}, apis)

	idleConn := limDial(t, addr)
	limRoundTrip(t, idleConn, limMetaFrame(1))

	busy := limDial(t, addr)
	limRoundTrip(t, busy, limMetaFrame(1))
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(4)
	if _, err := busy.Write(frameFor(fetch, 2)); err != nil {
		t.Fatal(err)
	}

	active := limDial(t, addr)
	deadline := time.Now().Add(3 * idle)
	for i := int32(0); time.Now().Before(deadline); i++ {
		limRoundTrip(t, active, limMetaFrame(i))
		time.Sleep(idle / 4) // the pace of a client that is not idle
	}
	if !limClosedWithin(idleConn, testTimeout) {
		t.Fatal("idle connection still open")
	}
	if limClosedWithin(busy, 10*time.Millisecond) {
		t.Fatal("connection with a request in flight was closed as idle")
	}
	close(release)
	limRoundTrip(t, active, limMetaFrame(99))
	body := limRoundTrip(t, busy, limMetaFrame(3)) // the fetch answer comes first
	if got := int32(binary.BigEndian.Uint32(body)); got != 2 {
		t.Fatalf("first answer on the busy connection has correlation id %d, want the fetch's 2", got)
	}
}

// TestSlowRequestCut: a request sent one byte at a time is cut at the request
// read timeout, counted from its first byte, and the server keeps serving.
func TestSlowRequestCut(t *testing.T) {
	const timeout = 500 * time.Millisecond
	_, addr := limitServer(t, ServerConfig{RequestReadTimeout: timeout, IdleTimeout: time.Minute}, limMetaAPIs())
	nc := limDial(t, addr)
	frame := limMetaFrame(1)
	start := time.Now()
	cut := false
	for _, b := range frame {
		if _, err := nc.Write([]byte{b}); err != nil {
			cut = true
			break
		}
		if limClosedWithin(nc, 100*time.Millisecond) {
			cut = true
			break
		}
	}
	if !cut {
		t.Fatalf("a %d-byte request sent a byte per 100ms was served, not cut", len(frame))
	}
	if took := time.Since(start); took < timeout || took > timeout+2*time.Second {
		t.Fatalf("cut after %v, want about %v", took, timeout)
	}
	// Waiting longer than the timeout between requests is fine.
	ok := limDial(t, addr)
	time.Sleep(2 * timeout)
	limRoundTrip(t, ok, limMetaFrame(2))
}

// TestConnectionLimits: connections beyond MaxConnections or
// MaxConnectionsPerIP are closed at accept, the ones already open keep
// working, and a slot freed is usable again.
func TestConnectionLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		s, addr := limitServer(t, ServerConfig{MaxConnections: 3}, limMetaAPIs())
		var open []net.Conn
		for i := range 3 {
			nc := limDial(t, addr)
			limRoundTrip(t, nc, limMetaFrame(int32(i)))
			open = append(open, nc)
		}
		extra := limDial(t, addr)
		if !limClosedWithin(extra, testTimeout) {
			t.Fatal("connection beyond max-connections was not closed")
		}
		if got := s.Stats().RefusedConnections; got != 1 {
			t.Fatalf("refused %d connections, want 1", got)
		}
		for i, nc := range open {
			limRoundTrip(t, nc, limMetaFrame(int32(10+i)))
		}
		open[0].Close()
		testharness.Eventually(t, testTimeout, "a slot to free", func() bool { return s.Stats().OpenConnections == 2 })
		limRoundTrip(t, limDial(t, addr), limMetaFrame(20))
	})
	t.Run("per ip", func(t *testing.T) {
		s, addr := limitServer(t, ServerConfig{MaxConnectionsPerIP: 2}, limMetaAPIs())
		a, b := limDial(t, addr), limDial(t, addr)
		limRoundTrip(t, a, limMetaFrame(1))
		limRoundTrip(t, b, limMetaFrame(2))
		if !limClosedWithin(limDial(t, addr), testTimeout) {
			t.Fatal("third connection from one IP was not closed")
		}
		if got := s.Stats().RefusedConnections; got != 1 {
			t.Fatalf("refused %d connections, want 1", got)
		}
		limRoundTrip(t, a, limMetaFrame(3))
		// Closing one frees the IP's slot.
		a.Close()
		testharness.Eventually(t, testTimeout, "the slot to free", func() bool { return s.Stats().OpenConnections == 1 })
		limRoundTrip(t, limDial(t, addr), limMetaFrame(4))
		limRoundTrip(t, b, limMetaFrame(5))
	})
}

// TestUnreadResponsesCutByWriteTimeout: a client that stops reading while a
// large response is written is disconnected after the write timeout, and
// what its responses held of the queued bytes budget is given back.
func TestUnreadResponsesCutByWriteTimeout(t *testing.T) {
	// Answers far larger than any kernel's socket buffers (their bytes are
	// shared, not copied, so this costs the test 64 MiB once).
	big := make([]byte, 64<<20)
	apis := limMetaAPIs()
	apis[1] = API{Min: 4, Max: 12, Handle: func(ctx context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		mem := BudgetFrom(ctx)
		got := mem.Take(len(big))
		resp := respond[*kmsg.FetchResponse](req)
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "t"
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.RecordBatches = big[:got]
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		mem.Settle(got, got)
		return done(resp)
	}}
	const writeTimeout = 500 * time.Millisecond
	s, addr := limitServer(t, ServerConfig{WriteTimeout: writeTimeout, ConnQueuedMaxBytes: 80 << 20, QueuedMaxBytes: 256 << 20}, apis)
	nc := limDial(t, addr)
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(4)
	for i := range 4 {
		if _, err := nc.Write(frameFor(fetch, int32(i))); err != nil {
			t.Fatal(err)
		}
	}
	testharness.Eventually(t, testTimeout, "responses to hold budget", func() bool { return s.Stats().QueuedBytes > 0 })
	if got := s.Stats().QueuedBytes; got > 80<<20+1<<10 {
		t.Fatalf("connection holds %d bytes, over its 80 MiB budget", got)
	}
	testharness.Eventually(t, testTimeout, "the stalled connection to be cut", func() bool { return s.Stats().OpenConnections == 0 })
	if got := s.Stats().QueuedBytes; got != 0 {
		t.Fatalf("%d bytes still held after the connection was cut", got)
	}
	limRoundTrip(t, limDial(t, addr), limMetaFrame(9))
}
