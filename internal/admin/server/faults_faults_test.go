//go:build chronik_faults

package server

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// faultsRequest sends method to /v1/debug/faults with body and token.
func faultsRequest(t *testing.T, httpc *http.Client, url, method, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url+"/v1/debug/faults", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// In a chronik_faults build, PUT /v1/debug/faults sets an fsync delay that
// every acks=all produce then waits out; the token guards it; PUT {} clears it.
func TestFsyncDelayFault(t *testing.T) {
	n, srv := serveNode(t, "tok")
	httpc := admintest.NewHTTPClient(t)

	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodGet, "", ""); code != 200 || body != `{"node_id":1,"data":{"fsync_delay":"0s","fsync_error":""}}`+"\n" {
		t.Fatalf("GET before any fault: %d %s", code, body)
	}
	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPut, "", `{"fsync_delay":"300ms"}`); code != http.StatusUnauthorized {
		t.Fatalf("PUT without the token: %d %s", code, body)
	}
	for _, bad := range []string{`{"fsync_delay":"soon"}`, `{"fsync_error":"EBADF"}`, `{"fsync_delay":"-1s"}`, `{"fsync_delay":"2h"}`, `{"fsync":"1s"}`, `not json`} {
		if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPut, "tok", bad); code != http.StatusBadRequest {
			t.Fatalf("PUT %s: %d %s, want 400", bad, code, body)
		}
	}
	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPost, "tok", `{}`); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d %s", code, body)
	}

	cl := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("slow"), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	ctx := testharness.Context(t, 30*time.Second)
	produce := func() time.Duration {
		t.Helper()
		began := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		return time.Since(began)
	}
	produce() // creates the topic

	const delay = 300 * time.Millisecond
	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPut, "tok", `{"fsync_delay":"300ms"}`); code != 200 || body != `{"node_id":1,"data":{"fsync_delay":"300ms","fsync_error":""}}`+"\n" {
		t.Fatalf("PUT 300ms: %d %s", code, body)
	}
	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodGet, "", ""); code != 200 || !strings.Contains(body, `"fsync_delay":"300ms"`) {
		t.Fatalf("GET after PUT: %d %s", code, body)
	}
	// The fsync that acknowledges a produce starts after its append, so
	// the produce waits out the whole delay.
	if took := produce(); took < delay {
		t.Fatalf("acks=all produce took %v with a %v fsync delay", took, delay)
	}

	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPut, "tok", `{}`); code != 200 || !strings.Contains(body, `"fsync_delay":"0s"`) {
		t.Fatalf("PUT {}: %d %s", code, body)
	}
	if got := n.Faults().FsyncDelay; got != 0 {
		t.Fatalf("fsync delay %v after PUT {}", got)
	}
}

// PUT {"fsync_error":"EIO"} plays a failing disk: the node stops on its
// next fsync, reporting the injected EIO as its storage failure.
func TestFsyncErrorFaultStopsNode(t *testing.T) {
	n, srv := serveNode(t, "")
	httpc := admintest.NewHTTPClient(t)
	cl := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("failing"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	ctx := testharness.Context(t, 30*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if code, body := faultsRequest(t, httpc, srv.URL, http.MethodPut, "", `{"fsync_error":"EIO"}`); code != 200 || !strings.Contains(body, `"fsync_error":"EIO"`) {
		t.Fatalf("PUT EIO: %d %s", code, body)
	}
	// This produce's fsync fails (or the raft store's first), whichever
	// comes first; the client's retries meet a stopped node.
	cl.Produce(ctx, &kgo.Record{Value: []byte("after")}, nil)
	select {
	case <-n.Done():
	case <-ctx.Done():
		t.Fatal("the node did not stop on the injected fsync error")
	}
	var se *broker.StorageError
	if err := n.Err(); !errors.As(err, &se) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Err() = %v, want a *StorageError wrapping EIO", err)
	}
}
