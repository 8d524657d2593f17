package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

type observation struct {
	key, version int16
	elapsed      time.Duration
	failed       bool
}

// observations records what the server reports to its RequestObserver.
type observations struct {
	mu  sync.Mutex
	got []observation
}

func (o *observations) observe(key, version int16, elapsed time.Duration, failed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observation{key, version, elapsed, failed})
}

func (o *observations) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.got)
}

func (o *observations) at(i int) observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got[i]
}

func TestObserverSeesEveryRequestOnce(t *testing.T) {
	const longPoll = 30 * time.Millisecond
	obs := &observations{}
	ok := func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return req.ResponseKind(), nil, nil
	}
	// A long poll: the Pending waits, and the observed duration includes it.
	waits := func(_ context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		return nil, func(ctx context.Context) kmsg.Response {
			t := time.NewTimer(longPoll)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			return req.ResponseKind()
		}, nil
	}
	ts := startServer(t, ServerConfig{MaxRequestBytes: 1 << 10, Observer: obs.observe}, APIs{
		0:  {Min: 0, Max: 11, Handle: ok},
		1:  {Min: 0, Max: 12, Handle: waits},
		3:  metadataAPI(nil),
		10: {Min: 0, Max: 4, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) { panic("boom") }},
		11: {Min: 0, Max: 9, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
			return nil, func(context.Context) kmsg.Response { panic("pending boom") }, nil
		}},
		12: {Min: 0, Max: 4, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
			return nil, nil, errors.New("handler says no")
		}},
		13: {Min: 0, Max: 5, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) { return nil, nil, nil }},
		14: {Min: 0, Max: 5, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
			return nil, func(context.Context) kmsg.Response { return nil }, nil
		}},
		15: {Min: 0, Max: 5, Handle: func(context.Context, *Conn, kmsg.Request) (kmsg.Response, Pending, error) {
			return kmsg.NewPtrMetadataResponse(), nil, nil
		}},
	})

	request := func(key, version int16) kmsg.Request {
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		return req
	}
	answered := func(key, version int16) func(*rawClient) {
		return func(c *rawClient) {
			c.send(request(key, version), 1)
			resp := request(key, version).ResponseKind()
			resp.SetVersion(version)
			c.read(resp)
		}
	}
	closes := func(frame []byte) func(*rawClient) {
		return func(c *rawClient) {
			c.write(frame)
			c.expectClosed()
		}
	}
	closesOn := func(key, version int16) func(*rawClient) { return closes(frameFor(request(key, version), 1)) }
	oversized := binary.BigEndian.AppendUint32(nil, 4<<10)

	for i, tc := range []struct {
		name string
		do   func(*rawClient)
		want observation // elapsed: the least expected
	}{
		{"metadata", answered(3, 12), observation{key: 3, version: 12}},
		{"api versions", answered(18, 3), observation{key: 18, version: 3}},
		{"api versions too new", func(c *rawClient) {
			c.write(rawFrame(18, 99, 1, nil))
			c.read(kmsg.NewPtrApiVersionsResponse()) // answered at v0 so the client downgrades
		}, observation{key: 18, version: 99}},
		{"produce", func(c *rawClient) {
			c.send(produceRequest(1), 1)
			resp := kmsg.NewPtrProduceResponse()
			resp.SetVersion(9)
			c.read(resp)
		}, observation{key: 0, version: 9}},
		{"fetch long poll", answered(1, 12), observation{key: 1, version: 12, elapsed: longPoll}},
		{"unknown key", closes(rawFrame(9999, 0, 1, nil)), observation{key: 9999, version: 0, failed: true}},
		{"unsupported version", closes(rawFrame(3, 13, 1, nil)), observation{key: 3, version: 13, failed: true}},
		{"truncated body", closes(rawFrame(3, 1, 1, []byte{0, 0})), observation{key: 3, version: 1, failed: true}},
		{"short header", closes([]byte{0, 0, 0, 3, 0, 3, 0}), observation{key: -1, version: -1, failed: true}},
		{"oversized frame", closes(oversized), observation{key: -1, version: -1, failed: true}},
		{"handler panic", closesOn(10, 0), observation{key: 10, version: 0, failed: true}},
		{"pending panic", closesOn(11, 0), observation{key: 11, version: 0, failed: true}},
		{"handler error", closesOn(12, 0), observation{key: 12, version: 0, failed: true}},
		{"neither response nor pending", closesOn(13, 0), observation{key: 13, version: 0, failed: true}},
		{"pending without response", closesOn(14, 0), observation{key: 14, version: 0, failed: true}},
		{"wrong response kind", closesOn(15, 0), observation{key: 15, version: 0, failed: true}},
	} {
		c := dialRaw(t, ts.addr)
		tc.do(c)
		// A Pending's observation may land just after its connection closed.
		testharness.Eventually(t, testTimeout, tc.name+" observed", func() bool { return obs.len() > i })
		got := obs.at(i)
		if got.key != tc.want.key || got.version != tc.want.version || got.failed != tc.want.failed {
			t.Fatalf("%s: observed key=%d version=%d failed=%v, want key=%d version=%d failed=%v",
				tc.name, got.key, got.version, got.failed, tc.want.key, tc.want.version, tc.want.failed)
		}
		if got.elapsed < tc.want.elapsed {
			t.Fatalf("%s: observed %v, want at least %v", tc.name, got.elapsed, tc.want.elapsed)
		}
	}

	// acks=0: no response, still observed once, not a failure.
	before := obs.len()
	c := dialRaw(t, ts.addr)
	c.send(produceRequest(0), 1)
	c.send(metadataRequest(12), 2)
	if corr := c.read(metadataResponse(12)); corr != 2 {
		t.Fatalf("correlation id %d, want 2", corr)
	}
	testharness.Eventually(t, testTimeout, "acks=0 and metadata observed", func() bool { return obs.len() >= before+2 })
	if got := obs.at(before); got.key != 0 || got.failed {
		t.Fatalf("acks=0 produce observed as %+v", got)
	}
	// Nothing is observed twice: the count matches the requests sent.
	if n := obs.len(); n != before+2 {
		t.Fatalf("%d observations, want %d", n, before+2)
	}
}

func TestNoObserverStillServes(t *testing.T) {
	ts := startServer(t, ServerConfig{}, APIs{3: metadataAPI(nil), 1: fetchAPI(nil, closedChan(), nil)})
	roundTrip(t, ts)
	c := dialRaw(t, ts.addr)
	c.send(fetchRequest(12), 9)
	if corr := c.read(fetchResponse(12)); corr != 9 {
		t.Fatalf("correlation id %d, want 9", corr)
	}
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}
