package broker_test

import (
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// The log cleaner's metrics: the node-wide series always, the dirty ratio
// only for compacted partition replicas (one series each), never for a
// topic that only deletes.
func TestMetricsLogCleaner(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	compact := "compact"
	createTopic(t, adm, "changes", 2, map[string]*string{"cleanup.policy": &compact})
	createTopic(t, adm, "plain", 2, nil)

	testharness.Eventually(t, 10*time.Second, "the log cleaner reported running", func() bool {
		v, ok := scrape(t, n).value("chronik_log_cleaner_running")
		return ok && v == 1
	})
	m := scrape(t, n)
	for _, name := range []string{"chronik_log_cleaner_passes_total", "chronik_log_cleaner_bytes_reclaimed_total",
		"chronik_log_cleaner_uncleanable_partitions", "chronik_log_cleaner_last_pass_timestamp_seconds"} {
		if got := m.must(t, name); got != 0 {
			t.Errorf("%s = %v on a node that has cleaned nothing, want 0", name, got)
		}
	}
	for _, p := range []string{"0", "1"} {
		if got := m.must(t, "chronik_log_cleaner_dirty_ratio", "topic", "changes", "partition", p); got != 0 {
			t.Errorf("dirty ratio of empty changes-%s = %v, want 0", p, got)
		}
	}
	for _, s := range m["chronik_log_cleaner_dirty_ratio"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "topic" && l.GetValue() == "plain" {
				t.Errorf("a delete-policy topic has a dirty ratio series: %v", s)
			}
		}
	}

	// A node whose cleaner is disabled says so.
	cfg := inproc.Config(t)
	cfg.LogCleanerEnable = false
	off := inproc.StartNode(t, cfg)
	if got := scrape(t, off).must(t, "chronik_log_cleaner_running"); got != 0 {
		t.Errorf("chronik_log_cleaner_running = %v with the cleaner disabled", got)
	}
}
