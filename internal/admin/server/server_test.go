package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

func serve(t *testing.T, src Source) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(src, nil))
	t.Cleanup(srv.Close)
	return srv
}

// do sends method to path and returns status, headers and body.
func do(t *testing.T, httpc *http.Client, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
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
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealthAndReady(t *testing.T) {
	src := admintest.NewFakeSource(3, admintest.FollowerStatus())
	srv := serve(t, src)
	httpc := admintest.NewHTTPClient(t)

	tests := []struct {
		name   string
		ready  bool
		path   string
		status int
		body   string
	}{
		{"healthz", true, "/healthz", 200, `{"status":"ok","node_id":3}` + "\n"},
		{"healthz while not ready", false, "/healthz", 200, `{"status":"ok","node_id":3}` + "\n"},
		{"readyz", true, "/readyz", 200, `{"status":"ready","node_id":3}` + "\n"},
		{"readyz not ready", false, "/readyz", 503, `{"status":"not ready","node_id":3}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src.SetReady(tt.ready)
			status, h, body := do(t, httpc, http.MethodGet, srv.URL+tt.path)
			if status != tt.status || body != tt.body {
				t.Errorf("GET %s: %d %q, want %d %q", tt.path, status, body, tt.status, tt.body)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestNodeEndpoint(t *testing.T) {
	src := admintest.NewFakeSource(3, admintest.FollowerStatus())
	srv := serve(t, src)
	status, _, body := do(t, admintest.NewHTTPClient(t), http.MethodGet, srv.URL+"/v1/node")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var got api.Envelope[api.NodeInfo]
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.NodeID != 3 || !reflect.DeepEqual(got.Data, src.Node()) {
		t.Fatalf("got %+v, want node 3 and %+v", got, src.Node())
	}
	want := `{"node_id":3,"data":{"node_id":3,"version":"1.2.3","kafka_addr":"localhost:9092",` +
		`"cluster_addr":"127.0.0.1:9093","admin_addr":"127.0.0.1:9644","uptime_seconds":12.5,` +
		`"raft_role":"follower","controller_id":1,"fenced":false,"ready":true}}` + "\n"
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

// TestRaftEndpointShape pins the wire names: scripts and other tools
// depend on them.
func TestRaftEndpointShape(t *testing.T) {
	src := admintest.NewFakeSource(1, admintest.LeaderStatus())
	srv := serve(t, src)
	httpc := admintest.NewHTTPClient(t)
	_, _, body := do(t, httpc, http.MethodGet, srv.URL+"/v1/raft")
	want := `{"node_id":1,"data":{"node_id":1,"role":"leader","term":7,"leader_id":1,"commit":120,"applied":119,` +
		`"snapshot_index":100,"voters":[1,2,3],"learners":[],"peers":[` +
		`{"id":1,"member":"voter","lag":0,"match":120,"next":121,"state":"replicate","recent_active":true,"connected":true,"last_contact_seconds":0},` +
		`{"id":2,"member":"voter","lag":2,"match":118,"next":121,"state":"replicate","recent_active":true,"connected":true,"last_contact_seconds":0.25},` +
		`{"id":3,"member":"voter","lag":120,"match":0,"next":1,"state":"probe","recent_active":false,"connected":false,"last_contact_seconds":null,` +
		`"last_error":"dial tcp 127.0.0.1:9093: connect: connection refused"}]}}` + "\n"
	if body != want {
		t.Errorf("leader body\n got %s\nwant %s", body, want)
	}
	// The handler sorted copies: the source's slices are untouched.
	if r := src.Raft(); r.Peers[0].ID != 3 || r.Voters[0] != 3 {
		t.Errorf("handler reordered the source's slices: %+v", r)
	}

	// A stopped node with no voters known: voters and learners are [], peers absent, error set.
	src.SetRaft(api.RaftStatus{NodeID: 1, Role: api.RoleStopped, Term: 7, Error: "raft log write: no space left on device"})
	_, _, body = do(t, httpc, http.MethodGet, srv.URL+"/v1/raft")
	want = `{"node_id":1,"data":{"node_id":1,"role":"stopped","term":7,"leader_id":0,"commit":0,"applied":0,` +
		`"snapshot_index":0,"voters":[],"learners":[],"error":"raft log write: no space left on device"}}` + "\n"
	if body != want {
		t.Errorf("stopped body\n got %s\nwant %s", body, want)
	}
}

func TestRaftEndpointRoundTrip(t *testing.T) {
	src := admintest.NewFakeSource(1, admintest.LeaderStatus())
	srv := serve(t, src)
	_, _, body := do(t, admintest.NewHTTPClient(t), http.MethodGet, srv.URL+"/v1/raft")
	var got api.Envelope[api.RaftStatus]
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := normalizeRaft(admintest.LeaderStatus())
	if got.NodeID != 1 || !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("got %+v\nwant %+v", got.Data, want)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	srv := serve(t, admintest.NewFakeSource(1, admintest.LeaderStatus()))
	httpc := admintest.NewHTTPClient(t)
	tests := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{http.MethodGet, "/v1/nope", 404, api.CodeNotFound, ""},
		{http.MethodGet, "/", 404, api.CodeNotFound, ""},
		{http.MethodGet, "/v1/raft/", 404, api.CodeNotFound, ""},
		{http.MethodPost, "/v1/raft", 405, api.CodeMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, "/healthz", 405, api.CodeMethodNotAllowed, "GET, HEAD"},
	}
	for _, tt := range tests {
		status, h, body := do(t, httpc, tt.method, srv.URL+tt.path)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, status, tt.status)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
		if got := h.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		var e api.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != tt.code || e.Message == "" {
			t.Errorf("%s %s: body %q, want an Error with code %s", tt.method, tt.path, body, tt.code)
		}
		if tt.status == 404 && !strings.Contains(e.Message, "/v1/raft") {
			t.Errorf("404 message %q does not list the endpoints", e.Message)
		}
	}
	if status, _, body := do(t, httpc, http.MethodHead, srv.URL+"/readyz"); status != 200 || body != "" {
		t.Errorf("HEAD /readyz: %d %q, want 200 and no body", status, body)
	}
}
