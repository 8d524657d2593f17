package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// memConn is a net.Conn over a fixed input: reads drain the input then hit
// EOF (a peer that sent everything and half-closed), writes are kept. It
// lets the fuzzer drive the real read loop, dispatch and writer without
// sockets.
type memConn struct {
	mu     sync.Mutex
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

func newMemConn(in []byte) *memConn { return &memConn{in: bytes.NewReader(in)} }

func (m *memConn) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, net.ErrClosed
	}
	return m.in.Read(p)
}

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, net.ErrClosed
	}
	return m.out.Write(p)
}

func (m *memConn) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memConn) written() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.out.Bytes())
}

func (*memConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (*memConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }

func (*memConn) SetDeadline(time.Time) error      { return nil }
func (*memConn) SetReadDeadline(time.Time) error  { return nil }
func (*memConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzAPIs answers a few keys, some at once and some through a Pending that
// completes immediately, so every path of the connection runs.
func fuzzAPIs() APIs {
	immediate := func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return req.ResponseKind(), nil, nil
	}
	later := func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, func(context.Context) kmsg.Response { return req.ResponseKind() }, nil
	}
	// The served version ranges are the broker's own declarations.
	declared := (&Backend{}).APIs()
	apis := APIs{}
	for key, handle := range map[int16]HandlerFunc{0: later, 1: later, 3: immediate, 10: immediate, 19: immediate} {
		api := declared[key]
		api.Handle = handle
		apis[key] = api
	}
	return apis
}

func fuzzSeeds() [][]byte {
	at := func(req kmsg.Request, v int16) kmsg.Request { req.SetVersion(v); return req }
	produce := func(acks int16) kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.SetVersion(9)
		r.Acks = acks
		r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{1, 2, 3}}}}}
		return r
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("orders")}}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "kgo", "1.22.3"

	var seeds [][]byte
	one := func(req kmsg.Request, corr int32) []byte { return frameFor(req, corr) }
	seeds = append(seeds,
		one(at(kmsg.NewPtrApiVersionsRequest(), 0), 1),
		one(av, 2),
		one(at(kmsg.NewPtrApiVersionsRequest(), 5), 3), // answered v0 UNSUPPORTED_VERSION
		one(at(kmsg.NewPtrMetadataRequest(), 0), 4),
		one(meta, 5),
		one(produce(0), 6),
		one(produce(-1), 7),
		one(at(kmsg.NewPtrFetchRequest(), 12), 8),
		one(at(kmsg.NewPtrFindCoordinatorRequest(), 4), 9),
		one(at(kmsg.NewPtrCreateTopicsRequest(), 7), 10),
		one(at(kmsg.NewPtrListGroupsRequest(), 4), 11), // not served: closes
		rawFrame(9999, 0, 12, nil),
		binary.BigEndian.AppendUint32(nil, 0x7fffffff),
		binary.BigEndian.AppendUint32(nil, 0xffffffff),
	)
	// Pipelined streams, and one cut mid-frame.
	var stream []byte
	for i, s := range seeds[:10] {
		stream = append(stream, s...)
		if i == 6 {
			seeds = append(seeds, bytes.Clone(stream))
		}
	}
	seeds = append(seeds, stream, stream[:len(stream)-5])
	return seeds
}

// FuzzRequestFrame feeds arbitrary bytes to a connection as the client's
// whole stream. The server must neither panic (recovered panics count too)
// nor hang, and whatever it writes must be well-formed response frames.
func FuzzRequestFrame(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	s := NewServer(ServerConfig{
		MaxRequestBytes: 4 << 20, // above frameChunk, so growing reads run too
		MaxInFlight:     4,
		Logger:          slog.New(slog.DiscardHandler),
	}, fuzzAPIs())
	f.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			f.Errorf("shutdown: %v", err)
		}
	})
	f.Fuzz(func(t *testing.T, stream []byte) {
		nc := newMemConn(stream)
		c, refusal := s.track(nc)
		if c == nil {
			t.Fatalf("server refused the connection: %q", refusal)
		}
		c.serve() // returns once the reader, writer and Pendings are done
		if n := s.panics.Load(); n != 0 {
			t.Fatalf("server recovered %d panics", n)
		}
		out := nc.written()
		for len(out) > 0 {
			if len(out) < 8 {
				t.Fatalf("trailing %d bytes are not a response frame", len(out))
			}
			size := int(binary.BigEndian.Uint32(out))
			if size < 4 || size > len(out)-4 {
				t.Fatalf("response frame size %d with %d bytes left", size, len(out)-4)
			}
			out = out[4+size:]
		}
		if st := s.Stats(); st.OpenConnections != 0 {
			t.Fatalf("%d connections still tracked", st.OpenConnections)
		}
		if n := s.mem.inUse(); n != 0 {
			t.Fatalf("%d bytes of the queued bytes budget still held after the connection ended", n)
		}
	})
}
