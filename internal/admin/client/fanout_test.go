package client

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

func TestFanOut(t *testing.T) {
	leader := serve(t, admintest.NewFakeSource(1, admintest.LeaderStatus()))
	follower := serve(t, admintest.NewFakeSource(2, admintest.FollowerStatus()))
	down := closedURL(t)
	slow := hangingServer(t)

	urls := []string{follower.URL, down, slow.URL + "/", leader.URL}
	start := time.Now()
	results := FanOut(t.Context(), admintest.NewHTTPClient(t), urls, 200*time.Millisecond, (*Client).Raft)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("fan-out took %v: the timeout did not bound the slow node", elapsed)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	wantAdmin := []string{follower.URL, down, slow.URL, leader.URL}
	for i, r := range results {
		if r.Admin != wantAdmin[i] {
			t.Errorf("result %d is for %q, want %q (input order)", i, r.Admin, wantAdmin[i])
		}
	}
	if r := results[0]; !r.OK() || *r.NodeID != 2 || r.Data.Role != api.RoleFollower {
		t.Errorf("follower result %+v", r)
	}
	if r := results[3]; !r.OK() || *r.NodeID != 1 || len(r.Data.Peers) != 3 {
		t.Errorf("leader result %+v", r)
	}
	if r := results[1]; r.OK() || r.NodeID != nil || r.Data != nil || !strings.Contains(r.Error, "connection refused") {
		t.Errorf("down result %+v", r)
	}
	if r := results[2]; r.OK() || !strings.Contains(r.Error, "in time") {
		t.Errorf("slow result %+v", r)
	}

	var buf bytes.Buffer
	n, err := ReportFailures(&buf, results)
	if err != nil || n != 2 {
		t.Fatalf("ReportFailures = %d, %v; want 2", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], down) || !strings.Contains(lines[1], slow.URL) {
		t.Errorf("failure report:\n%s", buf.String())
	}
}

func TestFanOutCanceled(t *testing.T) {
	slow := hangingServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	results := FanOut(ctx, admintest.NewHTTPClient(t), []string{slow.URL}, 0, (*Client).Node)
	if results[0].OK() || !strings.Contains(results[0].Error, "canceled") {
		t.Errorf("result %+v, want canceled", results[0])
	}
}
