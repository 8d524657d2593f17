package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeQuotas throttles every request by a fixed time and records what it
// was told.
type fakeQuotas struct {
	throttle time.Duration
	mu       sync.Mutex
	seen     []QuotaUsage
}

func (f *fakeQuotas) Record(c *Conn, u QuotaUsage) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, u)
	return f.throttle
}

func (f *fakeQuotas) usages() []QuotaUsage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]QuotaUsage(nil), f.seen...)
}

// TestQuotaThrottleSetsFieldAndMutes: a throttle goes out as
// throttle_time_ms in the response, which is sent at once, and the server
// reads the connection's next request only after it.
func TestQuotaThrottleSetsFieldAndMutes(t *testing.T) {
	q := &fakeQuotas{throttle: 300 * time.Millisecond}
	ts := startServer(t, ServerConfig{Quotas: q}, APIs{3: {Min: 0, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return req.ResponseKind(), nil, nil
	}}})
	c := dialRaw(t, ts.addr)
	start := time.Now()
	c.send(metadataRequest(12), 1)
	c.send(metadataRequest(12), 2) // pipelined: waits in the socket while muted
	first := metadataResponse(12)
	c.read(first)
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("first response took %v: a throttled response must be sent at once", took)
	}
	if first.ThrottleMillis != 300 {
		t.Fatalf("throttle_time_ms %d, want 300", first.ThrottleMillis)
	}
	second := metadataResponse(12)
	c.read(second)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("second request answered after %v, inside the 300 ms mute", took)
	}
	us := q.usages()
	if len(us) != 2 || us[0].Key != 3 || us[0].RequestBytes != int64(len(frameFor(metadataRequest(12), 1))-4) {
		t.Fatalf("usages %+v", us)
	}
}

// TestQuotaRecordsFetchRecordBytesAndAcksZero: a Fetch response's record
// bytes are reported, and an acks=0 Produce (no response) is recorded too.
func TestQuotaRecordsFetchRecordBytesAndAcksZero(t *testing.T) {
	q := &fakeQuotas{}
	produced := make(chan struct{}, 1)
	ts := startServer(t, ServerConfig{Quotas: q}, APIs{
		0: {Min: 3, Max: 11, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
			produced <- struct{}{}
			return req.ResponseKind(), nil, nil
		}},
		1: {Min: 4, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			tp := kmsg.NewFetchResponseTopic()
			p := kmsg.NewFetchResponseTopicPartition()
			p.RecordBatches = make([]byte, 1234)
			tp.Partitions = append(tp.Partitions, p, p)
			resp.Topics = append(resp.Topics, tp)
			return nil, func(context.Context) kmsg.Response { return resp }, nil
		}},
	})
	c := dialRaw(t, ts.addr)
	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(9)
	prod.Acks = 0
	c.send(prod, 1)
	recv(t, produced, "the acks=0 produce")
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(12)
	c.send(fetch, 2)
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	c.read(resp)
	us := q.usages()
	if len(us) != 2 || us[0].Key != 0 || us[0].RequestBytes == 0 || us[1].Key != 1 || us[1].ResponseRecordBytes != 2*1234 {
		t.Fatalf("usages %+v", us)
	}
}

// TestMutedConnectionDoesNotHoldShutdown: a connection muted for an hour
// ends with the server's graceful shutdown.
func TestMutedConnectionDoesNotHoldShutdown(t *testing.T) {
	q := &fakeQuotas{throttle: time.Hour}
	ts := startServer(t, ServerConfig{Quotas: q}, APIs{3: {Min: 0, Max: 12, Handle: func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return req.ResponseKind(), nil, nil
	}}})
	c := dialRaw(t, ts.addr)
	c.send(metadataRequest(12), 1)
	c.read(metadataResponse(12))
	c.send(metadataRequest(12), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a muted connection: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	c.expectClosed()
}
