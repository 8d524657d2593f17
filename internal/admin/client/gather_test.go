package client

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// A monitor sees the answering node at once, with the silent one marked
// pending, long before the silent one's timeout; the final view has it
// unreachable, and no progress comes after GatherProgress returns.
func TestGatherProgressReportsAnswersAsTheyArrive(t *testing.T) {
	fast := serve(t, admintest.NewFakeClusterSource(1, admintest.LeaderStatus()))
	slow := hangingServer(t)
	const timeout = 3 * time.Second

	var (
		mu       sync.Mutex
		partials []api.ClusterView
		firstAt  time.Duration
		returned bool
		late     bool
	)
	start := time.Now()
	final := GatherProgress(t.Context(), admintest.NewHTTPClient(t), []string{fast.URL, slow.URL}, timeout, func(v api.ClusterView) {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			late = true
		}
		if len(partials) == 0 {
			firstAt = time.Since(start)
		}
		partials = append(partials, v)
	})
	mu.Lock()
	returned = true
	defer mu.Unlock()

	if len(partials) != 1 {
		t.Fatalf("%d partial views, want 1: %+v", len(partials), partials)
	}
	p := partials[0]
	if firstAt > timeout/2 {
		t.Errorf("the first partial view came after %v: it waited for the slow node", firstAt)
	}
	if !p.Partial || len(p.Nodes) != 2 || p.Taken.IsZero() {
		t.Fatalf("partial view %+v", p)
	}
	if n := p.Nodes[0]; n.NodeID != 1 || !n.Reachable() || n.Pending || n.Raft == nil {
		t.Errorf("answered node in the partial view: %+v", n)
	}
	if n := p.Nodes[1]; !n.Pending || n.Reachable() || n.Error != api.PendingError || n.Admin != slow.URL {
		t.Errorf("silent node in the partial view: %+v", n)
	}
	if final.Partial || len(final.Nodes) != 2 || final.Nodes[1].Pending || !strings.Contains(final.Nodes[1].Error, "in time") {
		t.Errorf("final view %+v", final)
	}
	if late {
		t.Error("progress was called after GatherProgress returned")
	}
	// Without a silent node there is nothing partial to show.
	got := 0
	GatherProgress(t.Context(), admintest.NewHTTPClient(t), []string{fast.URL}, timeout, func(api.ClusterView) { got++ })
	if got != 0 {
		t.Errorf("%d partial views of a one-node gather", got)
	}
}
