package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
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

func TestSortCandidates(t *testing.T) {
	c := func(name string, overdue time.Duration, ratio float64) cleanCandidate {
		return cleanCandidate{p: &Partition{Topic: name}, overdue: overdue, state: partlog.CleanerState{DirtyRatio: ratio}}
	}
	due := []cleanCandidate{c("a", 0, 0.6), c("b", time.Second, 0.1), c("c", 0, 0.9), c("d", time.Minute, 0.2), c("e", 0, 0.6)}
	sortCandidates(due)
	var got []string
	for _, d := range due {
		got = append(got, d.p.Topic)
	}
	if want := []string{"d", "b", "c", "a", "e"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v (most overdue, then dirtiest, ties as listed)", got, want)
	}
}

// compactedTestPartition is a compacted partition led here whose log has
// keyed records in at least one inactive segment below its high watermark.
func compactedTestPartition(t *testing.T, m *Manager, topic string) *Partition {
	t.Helper()
	cfg := checkpointTestConfig
	cfg.CleanupPolicy = partlog.CleanupCompact
	cfg.SegmentMs = 1
	cfg.MaxCompactionLagMs = topicconfig.DefaultMaxCompactionLagMs
	if err := m.ApplyTopic(topic, [16]byte{byte(len(topic))}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	p := m.Get(topic, 0)
	testharness.Eventually(t, 10*time.Second, topic+" has a cleanable segment", func() bool {
		now := time.Now().UnixMilli()
		res, err := p.Append(batch.Build(now, []batch.Record{{Timestamp: now, Key: []byte("k"), Value: []byte("v")}}))
		if err == nil {
			err = p.WaitCommitted(t.Context(), res.LastOffset+1, res.LeaderEpoch)
		}
		if err != nil {
			t.Fatalf("append to %s: %v", topic, err)
		}
		return p.log.CleanerState(p.HighWatermark()).Due
	})
	return p
}

// TestCleanerSurvivesFailingPartitions: a pass that panics or fails marks
// its partition uncleanable with the reason, once, and the loop goes on
// cleaning the others; a partition with nothing to clean is not marked.
func TestCleanerSurvivesFailingPartitions(t *testing.T) {
	m := testManager(t)
	boom := compactedTestPartition(t, m, "boom")
	fail := compactedTestPartition(t, m, "fail")
	idle := compactedTestPartition(t, m, "idle")
	raced := compactedTestPartition(t, m, "raced")
	ok := compactedTestPartition(t, m, "ok")
	var mu sync.Mutex
	calls := map[string]int{}
	m.cleaner.compact = func(ctx context.Context, p *Partition, opts partlog.CompactOptions) (partlog.CompactResult, error) {
		mu.Lock()
		calls[p.Topic]++
		mu.Unlock()
		switch p.Topic {
		case "boom":
			panic("index out of range [7] with length 3")
		case "fail":
			return partlog.CompactResult{}, errors.New("disk says no")
		case "idle":
			return partlog.CompactResult{}, partlog.ErrNothingToClean
		case "raced":
			return partlog.CompactResult{}, fmt.Errorf("compact: %w", partlog.ErrCleanAborted)
		}
		return p.log.Compact(ctx, opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunCleaner(ctx, CleanerOptions{Enabled: true, Backoff: 10 * time.Millisecond, DedupeBufferBytes: 1 << 20})
	}()
	defer func() {
		cancel()
		<-done
	}()

	testharness.Eventually(t, 10*time.Second, "ok cleaned, boom and fail marked", func() bool {
		st, _ := ok.CleanerStatus()
		return st.State.Passes > 0 && boom.uncleanable.Load() != nil && fail.uncleanable.Load() != nil
	})
	if st, _ := boom.CleanerStatus(); !strings.Contains(st.Uncleanable, "panicked") || !strings.Contains(st.Uncleanable, "index out of range") {
		t.Errorf("boom's reason %q", st.Uncleanable)
	}
	if st, _ := fail.CleanerStatus(); st.Uncleanable != "disk says no" {
		t.Errorf("fail's reason %q", st.Uncleanable)
	}
	if idle.uncleanable.Load() != nil || raced.uncleanable.Load() != nil {
		t.Error("a partition with nothing to clean, or whose pass a truncation raced, was marked uncleanable")
	}
	// Still due round after round: the time it was first found due stays.
	st, _ := idle.CleanerStatus()
	firstDue := st.DueSince
	if firstDue.IsZero() {
		t.Error("a due partition has no DueSince")
	}
	// The idle one is still tried; the marked ones are not tried again.
	mu.Lock()
	idleCalls, boomCalls, failCalls := calls["idle"], calls["boom"], calls["fail"]
	mu.Unlock()
	testharness.Eventually(t, 10*time.Second, "idle tried again", func() bool {
		m.Wake()
		mu.Lock()
		defer mu.Unlock()
		return calls["idle"] > idleCalls+2
	})
	if st, _ := idle.CleanerStatus(); !st.DueSince.Equal(firstDue) {
		t.Errorf("DueSince moved from %v to %v while the partition stayed due", firstDue, st.DueSince)
	}
	mu.Lock()
	if calls["boom"] != boomCalls || calls["fail"] != failCalls || boomCalls != 1 || failCalls != 1 {
		t.Errorf("marked partitions tried %d and %d times, want once each", calls["boom"], calls["fail"])
	}
	mu.Unlock()
	info := m.CleanerInfo()
	if !info.Running || info.Uncleanable != 2 || info.Passes == 0 || info.LastPass.IsZero() ||
		(!strings.Contains(info.LastError, "boom-0") && !strings.Contains(info.LastError, "fail-0")) {
		t.Fatalf("cleaner info %+v", info)
	}
}

// TestConfigChangeWakesCleaner: a cleaner sleeping its backoff (an hour
// here) cleans a partition at once when a config change makes it due.
func TestConfigChangeWakesCleaner(t *testing.T) {
	m := testManager(t)
	p := compactedTestPartition(t, m, "lagged")
	cfg := p.Config()
	cfg.MinCompactionLagMs = 3_600_000 // nothing is old enough to clean
	if err := m.ApplyTopic("lagged", [16]byte{byte(len("lagged"))}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.CleanerStatus(); st.State.Due {
		t.Fatalf("due despite min.compaction.lag.ms: %+v", st.State)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.RunCleaner(ctx, CleanerOptions{Enabled: true, Backoff: time.Hour, DedupeBufferBytes: 1 << 20})
	}()
	defer func() {
		cancel()
		<-done
	}()
	testharness.Eventually(t, 10*time.Second, "the cleaner runs", func() bool { return m.CleanerInfo().Running })

	cfg.MinCompactionLagMs = 0
	if err := m.ApplyTopic("lagged", [16]byte{byte(len("lagged"))}, cfg, leaderAlone); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "cleaned without waiting out the backoff", func() bool {
		st, _ := p.CleanerStatus()
		return st.State.Passes > 0
	})
}
