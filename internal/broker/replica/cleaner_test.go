package replica

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/chronik-dev/chronik/internal/testharness"
)

func testManager(t *testing.T) *Manager {
	t.Helper()
	m, err := NewManager(ManagerOptions{Dir: t.TempDir(), Flush: partlog.FlushAlways, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var leaderAlone = map[int32]Role{0: {Leader: true, LeaderID: 1, Replicas: []int32{1}, ISR: []int32{1}, Self: 1}}

// CleanerStatus reports only partitions whose policy compacts, with the
// topic's knobs; an uncleanable mark shows there and in CleanerInfo until
// the config changes.
func TestCleanerStatusFollowsPolicyAndMark(t *testing.T) {
	m := testManager(t)
	cfg := checkpointTestConfig
	if err := m.ApplyTopic("t", [16]byte{1}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	p := m.Get("t", 0)
	if _, ok := p.CleanerStatus(); ok {
		t.Fatal("a delete-policy partition reports cleaner status")
	}
	cfg.CleanupPolicy = partlog.CleanupCompactDelete
	cfg.MinCleanableDirtyRatio = 0.3
	cfg.MaxCompactionLagMs = topicconfig.DefaultMaxCompactionLagMs
	if err := m.ApplyTopic("t", [16]byte{1}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	st, ok := p.CleanerStatus()
	if !ok || st.Policy != partlog.CleanupCompactDelete || st.MinCleanableRatio != 0.3 || st.MaxCompactionLag != 0 || st.Uncleanable != "" {
		t.Fatalf("status %+v, %v", st, ok)
	}
	cfg.MaxCompactionLagMs = 60000
	if err := m.ApplyTopic("t", [16]byte{1}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.CleanerStatus(); st.MaxCompactionLag != time.Minute {
		t.Fatalf("max compaction lag %v, want 1m", st.MaxCompactionLag)
	}

	before := time.Now()
	p.markUncleanable("corrupt batch at 42")
	st, _ = p.CleanerStatus()
	if st.Uncleanable != "corrupt batch at 42" || st.UncleanableSince.Before(before) {
		t.Fatalf("marked status %+v", st)
	}
	if n := m.CleanerInfo().Uncleanable; n != 1 {
		t.Fatalf("CleanerInfo.Uncleanable = %d, want 1", n)
	}
	// The same config again changes nothing; a changed one clears the mark.
	if err := m.ApplyTopic("t", [16]byte{1}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.CleanerStatus(); st.Uncleanable == "" {
		t.Fatal("an unchanged config cleared the mark")
	}
	cfg.MinCleanableDirtyRatio = 0.4
	if err := m.ApplyTopic("t", [16]byte{1}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.CleanerStatus(); st.Uncleanable != "" {
		t.Fatalf("a config change kept the mark: %+v", st)
	}
	if n := m.CleanerInfo().Uncleanable; n != 0 {
		t.Fatalf("CleanerInfo.Uncleanable = %d after the change, want 0", n)
	}
}

// CleanerInfo tells whether the loop runs, with its options; a disabled
// cleaner returns at once and says so.
func TestCleanerInfoRunning(t *testing.T) {
	m := testManager(t)
	if info := m.CleanerInfo(); info.Running || info.Enabled {
		t.Fatalf("before RunCleaner: %+v", info)
	}
	m.RunCleaner(context.Background(), CleanerOptions{Enabled: false, Backoff: time.Second})
	if info := m.CleanerInfo(); info.Running || info.Enabled {
		t.Fatalf("disabled: %+v", info)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunCleaner(ctx, CleanerOptions{Enabled: true, Backoff: time.Hour, DedupeBufferBytes: 1 << 20, IOMaxBytesPerSecond: 5e6})
	}()
	testharness.Eventually(t, 10*time.Second, "the cleaner runs", func() bool { return m.CleanerInfo().Running })
	info := m.CleanerInfo()
	if !info.Enabled || info.Backoff != time.Hour || info.DedupeBufferBytes != 1<<20 || info.IOMaxBytesPerSecond != 5e6 {
		t.Fatalf("running: %+v", info)
	}
	m.Wake() // a wake during the backoff is harmless
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunCleaner did not return after its context ended")
	}
	if m.CleanerInfo().Running {
		t.Fatal("still running after it returned")
	}
}

// TestLogConfigCompactionKnobs: the topic's compaction knobs reach the log
// with Kafka's meaning: a ratio of 0 cleans whenever anything is dirty
// (partlog reads 0 as its default), and Long.MAX_VALUE is no maximum lag.
func TestLogConfigCompactionKnobs(t *testing.T) {
	cfg := checkpointTestConfig
	cfg.CleanupPolicy = partlog.CleanupCompact
	cfg.MinCleanableDirtyRatio = 0
	cfg.MinCompactionLagMs = 7
	cfg.MaxCompactionLagMs = topicconfig.DefaultMaxCompactionLagMs
	cfg.DeleteRetentionMs = 9
	lc := logConfig(cfg)
	if lc.Cleanup != partlog.CleanupCompact || lc.MinCleanableDirtyRatio <= 0 || lc.MinCleanableDirtyRatio > 1e-300 ||
		lc.MinCompactionLagMs != 7 || lc.MaxCompactionLagMs != 0 || lc.DeleteRetentionMs != 9 {
		t.Fatalf("log config %+v", lc)
	}
	cfg.MinCleanableDirtyRatio, cfg.MaxCompactionLagMs = 0.25, 60000
	if lc := logConfig(cfg); lc.MinCleanableDirtyRatio != 0.25 || lc.MaxCompactionLagMs != 60000 {
		t.Fatalf("log config %+v", lc)
	}
}
