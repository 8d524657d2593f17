package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every blocking step of a test.
const testTimeout = 10 * time.Second

// logRecorder keeps every record the server logs, so tests can assert on
// what was logged, and forwards them to the test output.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

type recordingHandler struct {
	rec   *logRecorder
	attrs []slog.Attr
	next  slog.Handler
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(ctx context.Context, r slog.Record) error {
	c := r.Clone()
	c.AddAttrs(h.attrs...)
	h.rec.mu.Lock()
	h.rec.recs = append(h.rec.recs, c)
	h.rec.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h *recordingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recordingHandler{rec: h.rec, attrs: append(slices.Clip(h.attrs), attrs...), next: h.next.WithAttrs(attrs)}
}

func (h *recordingHandler) WithGroup(name string) slog.Handler {
	return &recordingHandler{rec: h.rec, attrs: h.attrs, next: h.next.WithGroup(name)}
}

// find returns the first record at level whose message contains msg.
func (r *logRecorder) find(level slog.Level, msg string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Level == level && strings.Contains(rec.Message, msg) {
			return rec, true
		}
	}
	return slog.Record{}, false
}

func attr(rec slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// recv receives from ch or fails the test at the deadline.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type testServer struct {
	*Server
	logs *logRecorder
	addr string
}

// startServer serves apis on a random loopback port until the test ends.
func startServer(t *testing.T, cfg ServerConfig, apis APIs) *testServer {
	t.Helper()
	rec := &logRecorder{}
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(&recordingHandler{rec: rec, next: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})})
	s := NewServer(cfg, apis)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), testTimeout)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		if err := recv(t, served, "Serve to return"); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{Server: s, logs: rec, addr: s.Addr().String()}
}

// rawClient speaks the wire protocol by hand over a real socket.
type rawClient struct {
	t  *testing.T
	nc *net.TCPConn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, nc: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
}

// frameFor encodes req as a complete request frame.
func frameFor(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test")).AppendRequest(nil, req, corr)
}

// rawFrame builds a frame with a non-flexible header (null client id) and
// an arbitrary body.
func rawFrame(key, version int16, corr int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) send(req kmsg.Request, corr int32) { c.t.Helper(); c.write(frameFor(req, corr)) }

func (c *rawClient) readFrame() []byte {
	c.t.Helper()
	var prefix [4]byte
	if _, err := io.ReadFull(c.br, prefix[:]); err != nil {
		c.t.Fatalf("read response size: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(prefix[:]))
	if _, err := io.ReadFull(c.br, frame); err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return frame
}

// read reads one response into resp (whose version must be set) and
// returns its correlation id. It also checks the body re-encodes to exactly
// the bytes received, which catches a stray or missing header tag byte.
func (c *rawClient) read(resp kmsg.Response) int32 {
	c.t.Helper()
	frame := c.readFrame()
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		if len(body) == 0 || body[0] != 0 {
			c.t.Fatalf("flexible response header: want empty tag section, got %x", body[:min(len(body), 1)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	if again := resp.AppendTo(nil); !bytes.Equal(again, body) {
		c.t.Fatalf("%s v%d response: %d body bytes, re-encoded to %d", kmsg.NameForKey(resp.Key()), resp.GetVersion(), len(body), len(again))
	}
	return corr
}

// expectClosed asserts the server closes the connection without writing
// anything more.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	var b [1]byte
	n, err := c.br.Read(b[:])
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		c.t.Fatalf("want connection closed by server, got n=%d err=%v", n, err)
	}
}

func metadataRequest(version int16) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(version)
	return r
}

func metadataResponse(version int16) *kmsg.MetadataResponse {
	r := kmsg.NewPtrMetadataResponse()
	r.SetVersion(version)
	return r
}

// metadataAPI answers with an empty response left at version 0, so every
// test also proves the server encodes at the request's version.
func metadataAPI(calls chan<- int32) API {
	return API{Min: 0, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		if calls != nil {
			calls <- 1
		}
		return kmsg.NewPtrMetadataResponse(), nil, nil
	}}
}

// roundTrip proves the server still serves: a fresh connection gets a
// Metadata answer.
func roundTrip(t *testing.T, ts *testServer) {
	t.Helper()
	c := dialRaw(t, ts.addr)
	c.send(metadataRequest(12), 77)
	if corr := c.read(metadataResponse(12)); corr != 77 {
		t.Fatalf("correlation id %d, want 77", corr)
	}
}

func sameKeys(a, b []kmsg.ApiVersionsResponseApiKey) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.ApiVersionsResponseApiKey) bool {
		return x.ApiKey == y.ApiKey && x.MinVersion == y.MinVersion && x.MaxVersion == y.MaxVersion
	})
}

func TestFranzGoClientConnectsThroughApiVersionsDowngrade(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata through franz-go: %v", err)
	}
	// franz-go opened with ApiVersions v5, which we do not serve.
	rec, ok := ts.logs.find(slog.LevelDebug, "ApiVersions version unsupported")
	if !ok {
		t.Fatal("the client never sent an ApiVersions version above 4; the downgrade was not exercised")
	}
	if v, _ := attr(rec, "version"); v.Int64() <= int64(apiVersionsMaxVersion) {
		t.Fatalf("downgrade logged for version %v", v)
	}

	// Asked explicitly, the client uses v4: flexible body, v0 header.
	kresp, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatalf("api versions through franz-go: %v", err)
	}
	resp := kresp.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || resp.Version != apiVersionsMaxVersion {
		t.Fatalf("ApiVersions: error %d version %d", resp.ErrorCode, resp.Version)
	}
	want := []kmsg.ApiVersionsResponseApiKey{{ApiKey: 3, MinVersion: 0, MaxVersion: 12}, {ApiKey: 18, MinVersion: 0, MaxVersion: 4}}
	if !sameKeys(resp.ApiKeys, want) {
		t.Fatalf("ApiKeys %+v, want %+v", resp.ApiKeys, want)
	}
	if st := ts.Stats(); st.Requests[3] < 1 || st.Requests[18] < 2 || st.OpenConnections < 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestApiVersionsNewerThanServedAnswersV0UnsupportedVersion(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	for i, v := range []int16{9, 5, -1} {
		corr := int32(100 + i)
		// The body is whatever a v9 might hold; the server must not read it.
		c.write(rawFrame(apiVersionsKey, v, corr, []byte{0x05, 'x', 'y', 0xff, 0x00}))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if got := c.read(resp); got != corr {
			t.Fatalf("v%d: correlation id %d, want %d", v, got, corr)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: error code %d, want 35", v, resp.ErrorCode)
		}
		want := []kmsg.ApiVersionsResponseApiKey{{ApiKey: 3, MinVersion: 0, MaxVersion: 12}, {ApiKey: 18, MinVersion: 0, MaxVersion: 4}}
		if !sameKeys(resp.ApiKeys, want) {
			t.Fatalf("v%d: ApiKeys %+v, want %+v", v, resp.ApiKeys, want)
		}
	}
	// The connection stays usable for the retry.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	c.send(req, 200)
	resp := kmsg.NewPtrApiVersionsResponse()
	if corr := c.read(resp); corr != 200 || resp.ErrorCode != 0 || len(resp.ApiKeys) != 2 {
		t.Fatalf("v0 retry: corr %d error %d keys %d", corr, resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestApiVersionsFlexibleVersionsAndSoftwareNameValidation(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	for _, v := range []int16{0, 1, 2, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "chronik-test", "1.0.0-rc.1"
		c.send(req, int32(v))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(v)
		// read checks the header has no tag byte even for v3+.
		if corr := c.read(resp); corr != int32(v) || resp.ErrorCode != 0 || len(resp.ApiKeys) != 2 {
			t.Fatalf("v%d: corr %d error %d keys %+v", v, corr, resp.ErrorCode, resp.ApiKeys)
		}
		if v >= 3 && (resp.FinalizedFeaturesEpoch != -1 || len(resp.FinalizedFeatures) != 0 || len(resp.SupportedFeatures) != 0) {
			t.Fatalf("v%d: features %+v", v, resp)
		}
	}
	for i, names := range [][2]string{{"", "1"}, {"kgo", ""}, {"-kgo", "1"}, {"kgo", "1.0."}, {"k go", "1"}, {"kgo", "1_0"}} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		req.ClientSoftwareName, req.ClientSoftwareVersion = names[0], names[1]
		c.send(req, int32(10+i))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(3)
		if corr := c.read(resp); corr != int32(10+i) || resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("names %q: corr %d error %d, want INVALID_REQUEST", names, corr, resp.ErrorCode)
		}
	}
	roundTrip(t, ts)
}

func TestApiTableIsSanitized(t *testing.T) {
	noop := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) { return nil, nil, nil }
	ts := startServer(t, ServerConfig{}, APIs{
		3:     {Min: 0, Max: 30000, Handle: metadataAPI(nil).Handle}, // above what kmsg decodes
		18:    {Min: 0, Max: 9, Handle: noop},                        // the server's own
		30000: {Min: 0, Max: 1, Handle: noop},                        // unknown to kmsg
		1:     {Min: 3, Max: 2, Handle: noop},                        // empty range
		2:     {Min: 0, Max: 1},                                      // no handler
	})
	c := dialRaw(t, ts.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	c.send(req, 1)
	resp := kmsg.NewPtrApiVersionsResponse()
	c.read(resp)
	want := []kmsg.ApiVersionsResponseApiKey{{ApiKey: 3, MinVersion: 0, MaxVersion: kmsg.NewPtrMetadataRequest().MaxVersion()}, {ApiKey: 18, MinVersion: 0, MaxVersion: 4}}
	if !sameKeys(resp.ApiKeys, want) {
		t.Fatalf("ApiKeys %+v, want %+v", resp.ApiKeys, want)
	}
}

func TestTruncatedFrameClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	full := frameFor(metadataRequest(12), 1)
	c.write(full[:len(full)-3]) // the size claims 3 more bytes than ever arrive
	if err := c.nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if _, ok := ts.logs.find(slog.LevelWarn, "mid-frame"); !ok {
		t.Fatal("no warning logged for the truncated frame")
	}
	roundTrip(t, ts)
}

func TestBadSizePrefixClosesWithoutAllocating(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	for _, tc := range []struct {
		name   string
		prefix uint32
		want   int64
	}{
		{"2GiB", 0x7fffffff, 0x7fffffff},
		{"negative", 0xffffffff, -1},
		{"min int32", 0x80000000, -0x80000000},
		{"limit+1", DefaultMaxRequestBytes + 1, DefaultMaxRequestBytes + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := totalAlloc()
			c := dialRaw(t, ts.addr)
			// Some body follows, so only the prefix decides.
			c.write(append(binary.BigEndian.AppendUint32(nil, tc.prefix), make([]byte, 512)...))
			c.expectClosed()
			if grew := totalAlloc() - before; grew > 8<<20 {
				t.Fatalf("allocated %d bytes for a rejected frame", grew)
			}
			local := c.nc.LocalAddr().String()
			testharness.Eventually(t, testTimeout, "the size warning", func() bool {
				ts.logs.mu.Lock()
				defer ts.logs.mu.Unlock()
				for _, rec := range ts.logs.recs {
					remote, _ := attr(rec, "remote")
					size, _ := attr(rec, "claimed_size")
					if rec.Level == slog.LevelWarn && remote.String() == local && size.Int64() == tc.want {
						return true
					}
				}
				return false
			})
		})
	}
	roundTrip(t, ts)
}

func TestAcceptedLargeClaimAllocatesOnlyWhatArrives(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	before := totalAlloc()
	c := dialRaw(t, ts.addr)
	c.write(append(binary.BigEndian.AppendUint32(nil, DefaultMaxRequestBytes), make([]byte, 64<<10)...)) // allowed size
	if err := c.nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if grew := totalAlloc() - before; grew > 8<<20 {
		t.Fatalf("allocated %d bytes for a 100 MiB claim backed by 64 KiB", grew)
	}
}

func totalAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestUnknownAPIKeyClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	for _, key := range []int16{9999, 1 /* known to kmsg, not served */, -1} {
		c := dialRaw(t, ts.addr)
		c.write(rawFrame(key, 0, 1, nil))
		c.expectClosed()
	}
	if _, ok := ts.logs.find(slog.LevelWarn, "rejected"); !ok {
		t.Fatal("nothing logged for the unknown key")
	}
	roundTrip(t, ts)
}

func TestUnsupportedVersionOfKnownKeyClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: {Min: 1, Max: 9, Handle: metadataAPI(nil).Handle}})
	for _, v := range []int16{0, 10, 12, -1} {
		c := dialRaw(t, ts.addr)
		c.write(rawFrame(3, v, 1, make([]byte, 16)))
		c.expectClosed()
	}
	c := dialRaw(t, ts.addr)
	c.send(metadataRequest(9), 5)
	if corr := c.read(metadataResponse(9)); corr != 5 {
		t.Fatalf("correlation id %d", corr)
	}
}

func TestMalformedRequestClosesConnection(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	full := frameFor(metadataRequest(12), 1)
	short := slices.Clone(full[:len(full)-2]) // body cut, size prefix consistent
	binary.BigEndian.PutUint32(short, uint32(len(short)-4))
	sized := func(b ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	for name, frame := range map[string][]byte{
		"empty frame":           sized(),
		"short header":          sized(0, 3, 0, 12, 0),
		"no client id":          sized(0, 3, 0, 1, 0, 0, 0, 1),
		"client id too long":    sized(0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff),
		"negative client id":    sized(0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe),
		"flexible, no tag byte": sized(0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff),
		"truncated body":        short,
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.write(frame)
			c.expectClosed()
		})
	}
	roundTrip(t, ts)
}

// fetchAPI answers Fetch through a Pending that waits for release.
func fetchAPI(started chan<- struct{}, release <-chan struct{}, sawCancel chan<- error) API {
	return API{Min: 0, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		if started != nil {
			started <- struct{}{}
		}
		return nil, func(ctx context.Context) kmsg.Response {
			select {
			case <-release:
			case <-ctx.Done():
				if sawCancel != nil {
					sawCancel <- ctx.Err()
				}
			}
			return req.ResponseKind()
		}, nil
	}}
}

func fetchRequest(version int16) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.SetVersion(version)
	return r
}

func fetchResponse(version int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.SetVersion(version)
	return r
}

func TestPipelinedResponsesKeepRequestOrder(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	metaCalls := make(chan int32, 16)
	ts := startServer(t, ServerConfig{}, APIs{1: fetchAPI(started, release, nil), 3: metadataAPI(metaCalls)})
	c := dialRaw(t, ts.addr)
	var batch []byte
	batch = append(batch, frameFor(fetchRequest(12), 1)...)
	for corr := int32(2); corr <= 10; corr++ {
		batch = append(batch, frameFor(metadataRequest(int16(corr)), corr)...)
	}
	c.write(batch)
	recv(t, started, "the fetch handler")
	// Handlers after the slow one still run, in order, without waiting.
	for i := 0; i < 9; i++ {
		recv(t, metaCalls, "metadata handlers")
	}
	close(release)
	if corr := c.read(fetchResponse(12)); corr != 1 {
		// The fetch response must come first even though it was last ready.
		t.Fatalf("first response has correlation id %d, want 1", corr)
	}
	for corr := int32(2); corr <= 10; corr++ {
		if got := c.read(metadataResponse(int16(corr))); got != corr {
			t.Fatalf("response %d has correlation id %d", corr, got)
		}
	}
}

func TestMaxInFlightBlocksReader(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	metaCalls := make(chan int32, 16)
	ts := startServer(t, ServerConfig{MaxInFlight: 2}, APIs{1: fetchAPI(started, release, nil), 3: metadataAPI(metaCalls)})
	c := dialRaw(t, ts.addr)
	var batch []byte
	batch = append(batch, frameFor(fetchRequest(12), 1)...)
	for corr := int32(2); corr <= 5; corr++ {
		batch = append(batch, frameFor(metadataRequest(12), corr)...)
	}
	c.write(batch)
	recv(t, started, "the fetch handler")
	recv(t, metaCalls, "the second request's handler")
	// Two requests are in flight; the third must wait for the slow first.
	select {
	case <-metaCalls:
		t.Fatal("a third request was read while two were unanswered")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	c.read(fetchResponse(12))
	for corr := int32(2); corr <= 5; corr++ {
		if got := c.read(metadataResponse(12)); got != corr {
			t.Fatalf("correlation id %d, want %d", got, corr)
		}
	}
}

func produceRequest(acks int16) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.SetVersion(9)
	r.Acks = acks
	r.TimeoutMillis = 1000
	return r
}

func TestAcksZeroProduceGetsNoResponse(t *testing.T) {
	for _, withPending := range []bool{false, true} {
		name := "immediate"
		if withPending {
			name = "pending"
		}
		t.Run(name, func(t *testing.T) {
			handled := make(chan int16, 4)
			ranPending := make(chan int16, 4)
			ts := startServer(t, ServerConfig{}, APIs{
				3: metadataAPI(nil),
				0: {Min: 0, Max: 11, Handle: func(_ context.Context, _ *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
					acks := kreq.(*kmsg.ProduceRequest).Acks
					handled <- acks
					if !withPending {
						return kreq.ResponseKind(), nil, nil
					}
					return nil, func(context.Context) kmsg.Response {
						ranPending <- acks
						return kreq.ResponseKind()
					}, nil
				}},
			})
			c := dialRaw(t, ts.addr)
			c.send(produceRequest(0), 1)
			c.send(metadataRequest(12), 2)
			c.send(produceRequest(1), 3)
			if got := recv(t, handled, "the acks=0 handler"); got != 0 {
				t.Fatalf("first handled acks=%d", got)
			}
			if withPending {
				// Pendings run concurrently; both must run, in any order.
				ran := []int16{recv(t, ranPending, "a pending"), recv(t, ranPending, "a pending")}
				slices.Sort(ran)
				if !slices.Equal(ran, []int16{0, 1}) {
					t.Fatalf("pendings ran for acks %v, want [0 1]", ran)
				}
			}
			if corr := c.read(metadataResponse(12)); corr != 2 {
				t.Fatalf("first response has correlation id %d, want 2 (acks=0 must not be answered)", corr)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.SetVersion(9)
			if corr := c.read(resp); corr != 3 {
				t.Fatalf("second response has correlation id %d, want 3", corr)
			}
		})
	}
}

func TestHandlerFailuresCloseOnlyThatConnection(t *testing.T) {
	boom := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) { panic("boom") }
	pendingBoom := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, func(context.Context) kmsg.Response { panic("pending boom") }, nil
	}
	fails := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, nil, errors.New("handler says no")
	}
	neither := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) { return nil, nil, nil }
	nilPending := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, func(context.Context) kmsg.Response { return nil }, nil
	}
	wrongKind := func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
		return kmsg.NewPtrMetadataResponse(), nil, nil
	}
	ts := startServer(t, ServerConfig{}, APIs{
		3:  metadataAPI(nil),
		10: {Min: 0, Max: 4, Handle: boom},
		11: {Min: 0, Max: 9, Handle: pendingBoom},
		12: {Min: 0, Max: 4, Handle: fails},
		13: {Min: 0, Max: 5, Handle: neither},
		14: {Min: 0, Max: 5, Handle: nilPending},
		15: {Min: 0, Max: 5, Handle: wrongKind},
	})
	for _, key := range []int16{10, 11, 12, 13, 14, 15} {
		req := kmsg.RequestForKey(key)
		req.SetVersion(0)
		c := dialRaw(t, ts.addr)
		c.send(req, 1)
		c.expectClosed()
		roundTrip(t, ts)
	}
	if n := ts.panics.Load(); n != 2 {
		t.Fatalf("%d panics recovered, want 2", n)
	}
	if _, ok := ts.logs.find(slog.LevelError, "handler panicked"); !ok {
		t.Fatal("handler panic not logged")
	}
}

func TestConnInfoCarriesRemoteAndClientID(t *testing.T) {
	type info struct {
		clientID, remote, principal string
	}
	seen := make(chan info, 1)
	ts := startServer(t, ServerConfig{}, APIs{3: {Min: 0, Max: 12, Handle: func(_ context.Context, c *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		seen <- info{c.ClientID, c.Remote.String(), c.Principal().String()}
		return req.ResponseKind(), nil, nil
	}}})
	c := dialRaw(t, ts.addr)
	c.send(metadataRequest(12), 1)
	got := recv(t, seen, "the handler")
	if got.clientID != "raw-test" || got.remote != c.nc.LocalAddr().String() || got.principal != "User:ANONYMOUS" {
		t.Fatalf("conn info %+v", got)
	}
}

// A client that closes its sending side is done, as Kafka treats it: a
// request still waiting (a long poll) is cancelled at once instead of
// holding the connection until its own timeout.
func TestClientEOFCancelsWaitingRequests(t *testing.T) {
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	ts := startServer(t, ServerConfig{}, APIs{1: fetchAPI(started, nil, cancelled), 3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	c.send(fetchRequest(12), 1)
	recv(t, started, "the fetch handler")
	if err := c.nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, cancelled, "the pending's context to end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("pending context error %v", err)
	}
	c.expectClosed()
	testharness.Eventually(t, testTimeout, "the connection to be untracked", func() bool { return ts.Stats().OpenConnections == 0 })
}

func TestResetConnectionCancelsPendingAndCleansUp(t *testing.T) {
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	ts := startServer(t, ServerConfig{}, APIs{1: fetchAPI(started, nil, cancelled), 3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	c.send(fetchRequest(12), 1)
	recv(t, started, "the fetch handler")
	if err := c.nc.SetLinger(0); err != nil { // Close sends RST
		t.Fatal(err)
	}
	if err := c.nc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, cancelled, "the pending's context to end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("pending context error %v", err)
	}
	testharness.Eventually(t, testTimeout, "the connection to be untracked", func() bool { return ts.Stats().OpenConnections == 0 })
}

func TestShutdownLetsInFlightPendingFinish(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ts := startServer(t, ServerConfig{}, APIs{1: fetchAPI(started, release, nil), 3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	c.send(fetchRequest(12), 1)
	recv(t, started, "the fetch handler")

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(ctx) }()
	testharness.Eventually(t, testTimeout, "the listener to close", func() bool {
		nc, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err != nil {
			return true
		}
		_ = nc.Close()
		return false
	})
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned %v before the in-flight request finished", err)
	default:
	}

	close(release)
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	if corr := c.read(resp); corr != 1 {
		t.Fatalf("correlation id %d", corr)
	}
	c.expectClosed()
	if err := recv(t, shut, "shutdown"); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestShutdownDeadlineCancelsPendingAndCloses(t *testing.T) {
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	ts := startServer(t, ServerConfig{}, APIs{1: fetchAPI(started, nil, cancelled), 3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	c.send(fetchRequest(12), 1)
	recv(t, started, "the fetch handler")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v, want deadline exceeded", err)
	}
	if err := recv(t, cancelled, "the pending's context to end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("pending context error %v", err)
	}
	c.expectClosed()
	if st := ts.Stats(); st.OpenConnections != 0 {
		t.Fatalf("%d connections open after shutdown", st.OpenConnections)
	}
}

func TestServeContextCancelStopsEverything(t *testing.T) {
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(t.Output(), nil))},
		APIs{1: fetchAPI(started, nil, cancelled)})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	c := dialRaw(t, s.Addr().String())
	c.send(fetchRequest(12), 1)
	recv(t, started, "the fetch handler")
	cancel()
	if err := recv(t, served, "Serve to return"); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if err := recv(t, cancelled, "the pending's context to end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("pending context error %v", err)
	}
	c.expectClosed()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown after serve stopped: %v", err)
	}
}

func TestServeAfterShutdownReturnsAtOnce(t *testing.T) {
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil {
		t.Fatal("listen after shutdown succeeded")
	}
}

func TestStatsCountRequestsByKey(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil)})
	c := dialRaw(t, ts.addr)
	for corr := int32(1); corr <= 3; corr++ {
		c.send(metadataRequest(12), corr)
		c.read(metadataResponse(12))
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	c.send(req, 4)
	c.read(kmsg.NewPtrApiVersionsResponse())
	st := ts.Stats()
	if st.Requests[3] != 3 || st.Requests[18] != 1 || st.OpenConnections != 1 {
		t.Fatalf("stats %+v", st)
	}
}
