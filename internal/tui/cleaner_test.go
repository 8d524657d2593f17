package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// compactedView is the healthy cluster with orders-0 compacted: node 1
// (its leader) cleaned it 3 minutes ago, node 2 gave up on it, node 3's
// cleaner stopped.
func compactedView(t *testing.T) api.ClusterView {
	t.Helper()
	v := admintest.LoadView(t, "healthy.json")
	found := 0
	for i := range v.Nodes {
		n := &v.Nodes[i]
		n.Node.LogCleaner = &api.LogCleaner{Enabled: true, Running: n.NodeID != 3, BackoffSeconds: 15}
		for j := range n.Partitions.Partitions {
			p := &n.Partitions.Partitions[j]
			if p.Topic != "orders" || p.Partition != 0 {
				continue
			}
			found++
			last, oldest := 185.0, 30.0
			p.Cleaner = &api.PartitionCleaner{CleanupPolicy: api.CleanupCompact, DirtyRatio: 0.423, MinCleanableRatio: 0.5,
				DirtyBytes: 2_000_000, CleanBytes: 8_000_000, OldestDirtySeconds: &oldest, MaxCompactionLagSeconds: 3600,
				LastCleanSeconds: &last, BytesReclaimed: 12_500_000, Passes: 7}
			if n.NodeID == 2 {
				since := 125.0
				p.Cleaner.Uncleanable, p.Cleaner.UncleanableSeconds = "crc mismatch\nat offset 7", &since
			}
		}
	}
	if found != 3 {
		t.Fatalf("orders-0 on %d nodes in healthy.json", found)
	}
	return v
}

// The detail view of a compacted partition shows its policy and each
// replica's cleaning; a partition that is not compacted shows none.
func TestTUIDetailShowsCleaner(t *testing.T) {
	h := newHarness(t, compactedView(t), Options{})
	h.snapshot()
	h.update(tea.WindowSizeMsg{Width: 200, Height: 40})
	h.keys("2", "enter")
	h.contains("orders-0",
		"cleanup.policy compact  min.cleanable.dirty.ratio 50%  max.compaction.lag 1h0m0s",
		"cleaner on 1: dirty 42% (min 50%), cleaned 3m5s ago, 12.5 MB reclaimed (2.0 MB dirty, 8.0 MB clean, 7 passes)",
		"cleaner on 2: ✗ uncleanable for 125.0s: crc mismatch at offset 7",
		"cleaner on 3: dirty 42% (min 50%), cleaned 3m5s ago, 12.5 MB reclaimed (2.0 MB dirty, 8.0 MB clean, 7 passes)  ✗ node 3's cleaner is not running")

	h.refresh(admintest.LoadView(t, "healthy.json"))
	h.lacks("cleanup.policy", "cleaner on")
	if s := h.screen(); !strings.Contains(s, "orders-0") {
		t.Fatalf("detail view left:\n%s", s)
	}
}
