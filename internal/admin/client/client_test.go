package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// closedURL is an admin URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + testharness.FreeAddr(t)
}

func TestClientReadsEndpoints(t *testing.T) {
	src := admintest.NewFakeSource(1, admintest.LeaderStatus())
	srv := serve(t, src)
	c := New(srv.URL+"/", admintest.NewHTTPClient(t))
	if c.URL() != srv.URL {
		t.Errorf("URL() = %q, want the trailing slash gone: %q", c.URL(), srv.URL)
	}
	node, err := c.Node(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if node.NodeID != 1 || !reflect.DeepEqual(node.Data, src.Node()) {
		t.Errorf("Node() = %+v", node)
	}
	raft, err := c.Raft(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := admintest.SortedRaft(admintest.LeaderStatus()); raft.NodeID != 1 || !reflect.DeepEqual(raft.Data, want) {
		t.Errorf("Raft() = %+v, want %+v", raft.Data, want)
	}
}

func TestClientWithoutScheme(t *testing.T) {
	srv := serve(t, admintest.NewFakeSource(4, admintest.FollowerStatus()))
	c := New(strings.TrimPrefix(srv.URL, "http://"), admintest.NewHTTPClient(t))
	env, err := c.Node(t.Context())
	if err != nil || env.NodeID != 4 {
		t.Fatalf("Node() = %+v, %v", env, err)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	u := closedURL(t)
	_, err := New(u, admintest.NewHTTPClient(t)).Raft(t.Context())
	want := "cannot reach chronik admin API at " + u + ": connection refused — is the node running and is --admin-addr right?"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	var re *RequestError
	if !errors.As(err, &re) || !re.Unreachable() || re.URL != u || re.Path != "/v1/raft" {
		t.Fatalf("error %#v is not an unreachable RequestError for %s", err, u)
	}
}

func TestClientTimeout(t *testing.T) {
	srv := hangingServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := New(srv.URL, admintest.NewHTTPClient(t)).Raft(ctx)
	if err == nil || !strings.Contains(err.Error(), "no answer from chronik admin API at "+srv.URL+" in time") ||
		!strings.Contains(err.Error(), "--timeout") {
		t.Fatalf("error %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
}

// TestClientWrongPort: something that accepts and hangs up without an
// answer (as the Kafka port does with an HTTP request) is named as such.
func TestClientWrongPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			buf := make([]byte, 4096)
			_, _ = conn.Read(buf)
			conn.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	_, err = New(ln.Addr().String(), admintest.NewHTTPClient(t)).Raft(t.Context())
	if err == nil || !strings.Contains(err.Error(), "closed the connection without answering") ||
		!strings.Contains(err.Error(), "not its Kafka or cluster port") {
		t.Fatalf("error %v", err)
	}
}

func TestClientErrorAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
		status  int
		code    string
	}{
		{
			name:    "older node without the endpoint",
			handler: server.NewHandler(admintest.NewFakeSource(1, admintest.LeaderStatus()), nil).ServeHTTP, // asked below for a path it lacks
			want:    []string{"answered GET /v1/nope with 404 Not Found (not_found: ", "older chronik"},
			status:  404, code: api.CodeNotFound,
		},
		{
			name: "server error with chronik body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(500)
				w.Write([]byte(`{"code":"internal","message":"boom"}`))
			},
			want:   []string{"answered GET /v1/nope with 500 Internal Server Error (internal: boom) — check the node's log"},
			status: 500, code: api.CodeInternal,
		},
		{
			name: "some other web server",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				w.Write([]byte("<html>bad gateway</html>"))
			},
			want:   []string{"answered GET /v1/nope with 502 Bad Gateway and no chronik error body", "--admin-addr"},
			status: 502,
		},
		{
			name: "200 that is not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html>hello</html>"))
			},
			want:   []string{`answered GET /v1/nope with something other than chronik JSON: content type "text/html"`},
			status: 200,
		},
		{
			name: "200 with broken JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.Write([]byte(`{"node_id":`))
			},
			want:   []string{"something other than chronik JSON: decode answer: unexpected end of JSON input"},
			status: 200,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			c := New(srv.URL, admintest.NewHTTPClient(t))
			_, err := getEnvelope[api.RaftStatus](t.Context(), c, "/v1/nope")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the node %s", err, srv.URL)
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Status != tt.status || re.Code != tt.code || re.Unreachable() {
				t.Errorf("RequestError %+v, want status %d code %q", re, tt.status, tt.code)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "http://h:9644", want: "http://h:9644"},
		{in: " h:9644/ ", want: "http://h:9644"},
		{in: "https://h:9644/", want: "https://h:9644"},
		{in: "127.0.0.1:9644", want: "http://127.0.0.1:9644"},
		{in: "", err: "empty admin URL"},
		{in: "ftp://h:21", err: `scheme "ftp", want http or https`},
		{in: "http://", err: "no host"},
		{in: "http://h:9644/?x=1", err: "no query or fragment"},
		{in: "http://h:port", err: `invalid port ":port"`},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseURL(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestClientPlainNotFound: a node built before the endpoint existed answers
// with net/http's plain-text 404.
func TestClientPlainNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	_, err := New(srv.URL, admintest.NewHTTPClient(t)).Raft(t.Context())
	want := srv.URL + " answered GET /v1/raft with 404 Not Found and no chronik error body — is it the node's admin address (--admin-addr), and does the node run a chronik that has this endpoint?"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}
