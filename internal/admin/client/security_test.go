package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// TestHTTPClientReadToken: the read token goes with every request that has
// no Authorization of its own; a mutation keeps its admin token.
func TestHTTPClientReadToken(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"node_id": 1, "data": {}}`))
	}))
	t.Cleanup(srv.Close)

	httpc, err := NewHTTPClient(HTTPClientOptions{Security: Security{ReadToken: "rt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer httpc.CloseIdleConnections()
	c := New(srv.URL, httpc)
	if _, err := c.Node(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WithToken("admin").ElectLeaders(context.Background(), api.ElectLeadersRequest{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got := seen["GET /v1/node"]; got != "Bearer rt" {
		t.Errorf("read sent %q, want the read token", got)
	}
	if got := seen["POST /v1/elect-leaders"]; got != "Bearer admin" {
		t.Errorf("mutation sent %q, want the admin token", got)
	}
	mu.Unlock()

	// Without a read token nothing is added.
	plain, err := NewHTTPClient(HTTPClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(srv.URL, plain).Raft(context.Background()); err != nil {
		t.Fatal(err)
	}
	plain.CloseIdleConnections()
	mu.Lock()
	defer mu.Unlock()
	if got, ok := seen["GET /v1/raft"]; !ok || got != "" {
		t.Errorf("no read token configured, yet %q was sent (asked: %v)", got, ok)
	}
}

func TestHTTPClientTLSFiles(t *testing.T) {
	_, err := NewHTTPClient(HTTPClientOptions{Security: Security{CAFile: "/nonexistent/ca.crt"}})
	if err == nil || !strings.Contains(err.Error(), "admin API TLS: read CA file") {
		t.Errorf("missing CA: %v", err)
	}
	_, err = NewHTTPClient(HTTPClientOptions{Security: Security{CertFile: "c.crt"}})
	if err == nil || !strings.Contains(err.Error(), "needs its key file") {
		t.Errorf("cert without key: %v", err)
	}
}
