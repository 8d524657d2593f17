package server

// The admin HTTP server's limits on a real node's admin listener (issue 11,
// finding 8): slow bodies and idle keep-alives are cut, strict JSON bodies.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// limitedNode runs a node whose admin listener serves HandlerFor with short
// read and idle timeouts.
func limitedNode(t *testing.T) *broker.Node {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.RequestReadTimeout = 700 * time.Millisecond
	cfg.ConnectionsMaxIdle = 700 * time.Millisecond
	cfg.AdminHandler = HandlerFor(nil, "")
	return inproc.StartNode(t, cfg)
}

// adminDial opens a raw connection to the node's admin listener.
func adminDial(t *testing.T, n *broker.Node) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", n.Addrs().Admin, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// serverClosed reports whether the server closes nc within d, reading (and
// discarding) whatever it answers first.
func serverClosed(nc net.Conn, d time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// adminPost posts body to path on the node's admin API.
func adminPost(t *testing.T, n *broker.Node, path string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+n.Addrs().Admin+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// nodeServes produces a record and consumes it back over Kafka.
func nodeServes(t *testing.T, n *broker.Node, topic string) {
	t.Helper()
	cl := inproc.NodeClient(t, n, kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testharness.Context(t, 20*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %v", topic, ctx.Err())
		}
		if len(fs.Records()) > 0 {
			return
		}
	}
}

// TestAdminSlowBodyCut: a request body sent a byte at a time is cut at the
// request read timeout, well before it would have arrived.
func TestAdminSlowBodyCut(t *testing.T) {
	n := limitedNode(t)
	nc := adminDial(t, n)
	body := `{"name":"slow","partitions":1,"replication_factor":1}`
	fmt.Fprintf(nc, "POST /v1/topics HTTP/1.1\r\nHost: chronik\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	start := time.Now()
	sent := 0
	for i := range len(body) {
		if _, err := nc.Write([]byte{body[i]}); err != nil {
			break
		}
		sent++
		time.Sleep(100 * time.Millisecond) // the pace of a slowloris
		if time.Since(start) > 3*time.Second {
			break
		}
	}
	if sent == len(body) {
		t.Fatalf("a %d-byte body sent a byte per 100ms was read whole", len(body))
	}
	if !serverClosed(nc, 5*time.Second) {
		t.Fatal("connection with a slow body still open")
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("slow body cut only after %v", took)
	}
	t.Logf("slow body cut after %d of %d bytes", sent, len(body))
	if code, _ := adminPost(t, n, "/v1/topics", []byte(`{"name":"fast","partitions":1,"replication_factor":1}`)); code != http.StatusCreated {
		t.Fatalf("create topic after the slow body: %d", code)
	}
	nodeServes(t, n, "fast")
}

// TestAdminIdleKeepAliveClosed: a keep-alive connection idle for the idle
// timeout is closed by the server.
func TestAdminIdleKeepAliveClosed(t *testing.T) {
	n := limitedNode(t)
	nc := adminDial(t, n)
	fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: chronik\r\n\r\n")
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("read health answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("health: %d, close=%v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	if !serverClosed(nc, 10*time.Second) {
		t.Fatal("idle keep-alive connection not closed")
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("closed after %v, before the 700ms idle timeout", took)
	}
	nodeServes(t, n, "after-idle")
}

// TestAdminJSONBodiesStrict: a body with anything but white space after its
// JSON value is refused with 400 and changes nothing; unknown fields are
// refused; an oversized body gets 413.
func TestAdminJSONBodiesStrict(t *testing.T) {
	n := limitedNode(t)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"name":"two","partitions":1,"replication_factor":1}{"name":"three"}`, http.StatusBadRequest, "trailing data"},
		{`{"name":"two","partitions":1,"replication_factor":1} x`, http.StatusBadRequest, "trailing data"},
		{`{"name":"two","partitions":1,"replication_factor":1,"colour":"red"}`, http.StatusBadRequest, "unknown field"},
		{`{"name":"two","partitions":1,"replication_factor":1,` + strings.Repeat(" ", 2<<20) + `}`, http.StatusRequestEntityTooLarge, "larger than"},
	} {
		code, body := adminPost(t, n, "/v1/topics", []byte(tc.body))
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST %.60q: %d %s; want %d mentioning %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	if code, body := adminPost(t, n, "/v1/elect-leaders", []byte(`{"type":"preferred"} []`)); code != http.StatusBadRequest || !strings.Contains(body, "trailing data") {
		t.Errorf("elect-leaders with trailing data: %d %s", code, body)
	}
	resp, err := http.Get("http://" + n.Addrs().Admin + "/v1/partitions?topic=two")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), `"topic":"two"`) {
		t.Fatalf("a refused body created its topic: %s", b)
	}
	// White space after the value is fine.
	if code, body := adminPost(t, n, "/v1/topics", []byte("{\"name\":\"two\",\"partitions\":1,\"replication_factor\":1}\n \t\n")); code != http.StatusCreated {
		t.Fatalf("body with trailing white space: %d %s", code, body)
	}
	nodeServes(t, n, "two")
}

// TestAdminExcessConnectionsRefused: the admin listener closes connections
// beyond --max-connections-per-ip at accept; the open ones keep working, and
// a closed one frees its slot.
func TestAdminExcessConnectionsRefused(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.MaxConnectionsPerIP = 8 // the Kafka listener's too: a franz-go client opens up to 5
	cfg.AdminHandler = HandlerFor(nil, "")
	n := inproc.StartNode(t, cfg)
	get := func(nc net.Conn) int {
		t.Helper()
		fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: chronik\r\n\r\n")
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("read health answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	var open []net.Conn
	for range 8 {
		nc := adminDial(t, n)
		if code := get(nc); code != http.StatusOK {
			t.Fatalf("health: %d", code)
		}
		open = append(open, nc)
	}
	if !serverClosed(adminDial(t, n), 10*time.Second) {
		t.Fatal("a 9th admin connection from one IP was not refused")
	}
	for _, nc := range open[1:] {
		if code := get(nc); code != http.StatusOK {
			t.Fatalf("health on an open connection: %d", code)
		}
	}
	open[0].Close()
	testharness.Eventually(t, 10*time.Second, "a freed slot", func() bool {
		nc, err := net.DialTimeout("tcp", n.Addrs().Admin, time.Second)
		if err != nil {
			return false
		}
		defer nc.Close()
		fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: chronik\r\nConnection: close\r\n\r\n")
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	nodeServes(t, n, "after-admin-limit")
}
