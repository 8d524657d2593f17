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

// A node silent in the last complete view stays silent in the next
// partial one (with its error); one that answered then is only waiting.
func TestCarrySilent(t *testing.T) {
	prev := api.ClusterView{Nodes: []api.NodeView{
		{Admin: "http://a", NodeID: 1},
		{Admin: "http://b", NodeID: 2, Error: "no answer in time"},
		{Admin: "http://c", NodeID: 3},
	}}
	partial := api.ClusterView{Partial: true, Nodes: []api.NodeView{
		{Admin: "http://a", NodeID: 1},
		{Admin: "http://b", NodeID: -1, Error: api.PendingError, Pending: true},
		{Admin: "http://c", NodeID: 3, Error: api.PendingError, Pending: true},
	}}
	got := CarrySilent(partial, prev)
	if n := got.Nodes[1]; n.Pending || n.Error != "no answer in time" || n.NodeID != 2 {
		t.Errorf("silent node: %+v", n)
	}
	if n := got.Nodes[2]; !n.Pending || !got.Partial {
		t.Errorf("slow node: %+v (partial %v)", n, got.Partial)
	}
	if !partial.Nodes[1].Pending {
		t.Error("CarrySilent changed its argument")
	}
	partial.Nodes = partial.Nodes[:2]
	if got := CarrySilent(partial, prev); got.Partial {
		t.Error("a view with nothing left to wait for is still partial")
	}
}
