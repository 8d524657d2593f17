package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

const (
	testAdminToken = "admin-secret"
	testReadToken  = "read-secret"
)

// serveDebug runs the admin handler on a real socket with a WriteTimeout far
// shorter than the profiles the tests take, so a profile that outlives it
// proves the routes extend the write deadline.
func serveDebug(t *testing.T, opts HandlerOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(NewHandlerWithOptions(admintest.NewFakeSource(2, admintest.FollowerStatus()), nil, opts))
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// get sends GET url with token (none when empty) under ctx.
func get(ctx context.Context, t *testing.T, httpc *http.Client, url, token string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustGet is get that fails the test on a transport error.
func mustGet(t *testing.T, httpc *http.Client, url, token string) (int, []byte) {
	t.Helper()
	status, b, err := get(t.Context(), t, httpc, url, token)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return status, b
}

// errorCode is the code of a JSON api.Error body, or "" when it is not one.
func errorCode(b []byte) string {
	var e api.Error
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.Code
}

func TestDebugNeedsAdminCredentials(t *testing.T) {
	httpc := admintest.NewHTTPClient(t)
	paths := []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1",
		"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/goroutine", "/debug/pprof/block",
		"/debug/pprof/mutex", "/debug/pprof/threadcreate"}

	// Reads open (no read token): the node answers anyone, but not profiles.
	open := serveDebug(t, HandlerOptions{Token: testAdminToken})
	if status, b := mustGet(t, httpc, open.URL+"/v1/node", ""); status != http.StatusOK {
		t.Fatalf("GET /v1/node with reads open: %d %s", status, b)
	}
	// Reads need the read token: it reads, but does not profile.
	closed := serveDebug(t, HandlerOptions{Token: testAdminToken, ReadToken: testReadToken})
	if status, b := mustGet(t, httpc, closed.URL+"/v1/node", testReadToken); status != http.StatusOK {
		t.Fatalf("GET /v1/node with the read token: %d %s", status, b)
	}
	// No admin credentials configured at all: profiling is off.
	none := serveDebug(t, HandlerOptions{})

	for _, p := range paths {
		for _, c := range []struct {
			name   string
			url    string
			token  string
			status int
			code   string
		}{
			{"reads open, no token", open.URL + p, "", http.StatusUnauthorized, api.CodeUnauthorized},
			{"reads open, wrong token", open.URL + p, "nope", http.StatusUnauthorized, api.CodeUnauthorized},
			{"read token", closed.URL + p, testReadToken, http.StatusForbidden, api.CodeForbidden},
			{"no token, reads need the read token", closed.URL + p, "", http.StatusUnauthorized, api.CodeUnauthorized},
			{"no admin token configured", none.URL + p, "", http.StatusForbidden, api.CodeForbidden},
		} {
			status, b := mustGet(t, httpc, c.url, c.token)
			if status != c.status || errorCode(b) != c.code {
				t.Errorf("%s: GET %s: %d %s, want %d %s", c.name, p, status, b, c.status, c.code)
			}
			// The answer names what would do: the admin token, never the read token.
			if !strings.Contains(string(b), "admin token") || strings.Contains(string(b), "read token or") {
				t.Errorf("%s: GET %s: %s does not ask for the admin token", c.name, p, b)
			}
		}
	}
}

// protoFields walks b as one protobuf message and returns the numbers of
// its top-level fields; it fails the test on malformed input.
func protoFields(t *testing.T, b []byte) map[protowire.Number]int {
	t.Helper()
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("malformed protobuf tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			t.Fatalf("malformed protobuf field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		seen[num]++
	}
	return seen
}

// checkPprof checks b is a gzipped pprof Profile message (profile.proto):
// sample_type (1) and string_table (6) present.
func checkPprof(t *testing.T, what string, b []byte) map[protowire.Number]int {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s: not gzip data (%d bytes): %q", what, len(b), b[:min(len(b), 64)])
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: gunzip: %v", what, err)
	}
	fields := protoFields(t, raw)
	if fields[1] == 0 || fields[6] == 0 {
		t.Fatalf("%s: no sample_type or string_table in the profile: fields %v", what, fields)
	}
	return fields
}

func TestDebugProfilesAndTrace(t *testing.T) {
	srv := serveDebug(t, HandlerOptions{Token: testAdminToken, ReadToken: testReadToken})
	httpc := admintest.NewHTTPClient(t)

	// A one-second CPU profile outlives the 300 ms WriteTimeout.
	status, b := mustGet(t, httpc, srv.URL+"/debug/pprof/profile?seconds=1", testAdminToken)
	if status != http.StatusOK {
		t.Fatalf("profile: %d %s", status, b)
	}
	if f := checkPprof(t, "profile", b); f[10] == 0 { // duration_nanos: a timed profile
		t.Errorf("CPU profile has no duration: fields %v", f)
	}

	status, b = mustGet(t, httpc, srv.URL+"/debug/pprof/trace?seconds=1", testAdminToken)
	if status != http.StatusOK || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Fatalf("trace: %d, starts %q, want the Go trace header", status, b[:min(len(b), 16)])
	}

	for _, name := range api.NamedProfiles() {
		status, b = mustGet(t, httpc, srv.URL+"/debug/pprof/"+name, testAdminToken)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, status, b)
		}
		checkPprof(t, name, b)
	}
	// A delta profile over a second, also past the WriteTimeout.
	status, b = mustGet(t, httpc, srv.URL+"/debug/pprof/allocs?seconds=1", testAdminToken)
	if status != http.StatusOK {
		t.Fatalf("allocs delta: %d %s", status, b)
	}
	checkPprof(t, "allocs delta", b)

	status, b = mustGet(t, httpc, srv.URL+"/debug/pprof/goroutine?debug=1", testAdminToken)
	if status != http.StatusOK || !strings.Contains(string(b), "goroutine profile:") {
		t.Fatalf("goroutine?debug=1: %d %.100s", status, b)
	}
	status, b = mustGet(t, httpc, srv.URL+"/debug/pprof/", testAdminToken)
	if status != http.StatusOK || !strings.Contains(string(b), "heap") {
		t.Fatalf("index: %d %.100s", status, b)
	}
}

func TestDebugRefusals(t *testing.T) {
	srv := serveDebug(t, HandlerOptions{Token: testAdminToken})
	httpc := admintest.NewHTTPClient(t)
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/debug/pprof/profile?seconds=0", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/profile?seconds=-1", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/profile?seconds=abc", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/profile?seconds=61", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/profile?seconds=1.5", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/profile?seconds=", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/trace?seconds=0", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/trace?seconds=-1", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/trace?seconds=abc", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/trace?seconds=61", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/heap?seconds=61", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/heap?seconds=abc", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/threadcreate?seconds=1", http.StatusBadRequest, api.CodeBadRequest},
		{"/debug/pprof/heap?seconds=1&debug=1", http.StatusBadRequest, api.CodeBadRequest},
		// cmdline leaks flags, and so secrets; symbol and unlisted names are not served.
		{"/debug/pprof/cmdline", http.StatusNotFound, api.CodeNotFound},
		{"/debug/pprof/symbol", http.StatusNotFound, api.CodeNotFound},
		{"/debug/pprof/nosuchprofile", http.StatusNotFound, api.CodeNotFound},
	} {
		status, b := mustGet(t, httpc, srv.URL+c.path, testAdminToken)
		if status != c.status || errorCode(b) != c.code {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, status, b, c.status, c.code)
		}
	}
	// HEAD would take a whole profile only to drop it.
	for _, method := range []string{http.MethodPost, http.MethodHead} {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/debug/pprof/profile?seconds=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
			t.Errorf("%s profile: %d, Allow %q, want 405 and GET", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// longRunning starts GET path (a 60 s profile) in the background and waits
// until another GET of it answers 409: the first holds the route. It
// returns the first request's outcome channel and its cancel.
func longRunning(t *testing.T, httpc *http.Client, base, path string) (<-chan int, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A poll below may hold the route for its second: then try again.
		for {
			status, _, err := get(ctx, t, httpc, base+path+"?seconds=60", testAdminToken)
			if status != http.StatusConflict || err != nil {
				done <- status
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, b := mustGet(t, httpc, base+path+"?seconds=1", testAdminToken)
		if status == http.StatusConflict && errorCode(b) == api.CodeConflict {
			return done, cancel
		}
		// The poll may have got in first (200); the 60 s one then follows.
		if status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("second concurrent %s: %d %s, want 409", path, status, b)
		}
	}
}

func TestDebugOneAtATimeAndClientGoneEndsIt(t *testing.T) {
	srv := serveDebug(t, HandlerOptions{Token: testAdminToken})
	httpc := admintest.NewHTTPClient(t)
	for _, path := range []string{"/debug/pprof/profile", "/debug/pprof/trace"} {
		done, cancel := longRunning(t, httpc, srv.URL, path)
		// The client gives up: the server ends the profile and frees the route.
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the cancelled request did not end", path)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, b := mustGet(t, httpc, srv.URL+path+"?seconds=1", testAdminToken)
			if status == http.StatusOK {
				break
			}
			if status != http.StatusConflict || time.Now().After(deadline) {
				t.Fatalf("%s after the client left: %d %s, want 200 once the profile ends", path, status, b)
			}
		}
	}
}

func TestDebugShutdownEndsProfile(t *testing.T) {
	srv := serveDebug(t, HandlerOptions{Token: testAdminToken})
	httpc := admintest.NewHTTPClient(t)
	done, _ := longRunning(t, httpc, srv.URL, "/debug/pprof/profile")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a 60 s profile running: %v after %v", err, time.Since(start))
	}
	select {
	case status := <-done:
		if status != http.StatusOK {
			t.Errorf("the profile cut by shutdown answered %d, want 200 (the profile so far)", status)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the profile request did not end after shutdown")
	}
}
