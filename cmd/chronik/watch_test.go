package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// `cluster status --watch` on a terminal shows the nodes that answered at
// once, marked partial and naming the node it waits for, instead of
// blanking for --timeout; then the full picture with that node unreachable.
func TestClusterStatusWatchShowsPartialAtOnce(t *testing.T) {
	fast := httptest.NewServer(server.NewHandler(admintest.NewFakeClusterSource(1, admintest.LeaderStatus()), nil))
	t.Cleanup(fast.Close)
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })

	var out, errOut syncBuffer
	const timeout = 4 * time.Second
	opts := &ClusterStatusOptions{
		ClusterViewOptions: ClusterViewOptions{IO: IOStreams{Out: &out, ErrOut: &errOut}, Admins: []string{fast.URL, silent.URL},
			Output: OutputTable, Timeout: timeout, IsTTY: true},
		Watch: true, Interval: time.Hour,
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- clusterStatusRun(ctx, opts) }()

	testharness.Eventually(t, timeout/2, "a partial status naming the silent node", func() bool {
		return strings.Contains(out.String(), "PARTIAL: waiting for "+silent.URL)
	}, out.String)
	t.Logf("partial status after %v (timeout %v)", time.Since(start).Round(time.Millisecond), timeout)
	if s := out.String(); !strings.Contains(s, "waiting") || strings.Contains(s, "HEALTHY\n") {
		t.Errorf("partial status:\n%s", s)
	}
	testharness.Eventually(t, 2*timeout, "the complete status", func() bool {
		return strings.Contains(errOut.String(), "NODE_UNREACHABLE")
	}, out.String)
	if s := out.String(); !strings.Contains(s, "\x1b[H\x1b[2J") || strings.Count(s, "PARTIAL") != 1 {
		t.Errorf("the complete status did not replace the partial one:\n%q", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch ended with %v", err)
	}
}
