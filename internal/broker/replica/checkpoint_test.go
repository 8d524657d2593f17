package replica

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/chronik-dev/chronik/internal/testharness"
)

var checkpointTestConfig = topicconfig.Config{SegmentBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1, MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, CleanupPolicy: partlog.CleanupDelete}

// partitionIn opens the replica stored in dir (closed when the test ends).
func partitionIn(t *testing.T, dir string) *Partition {
	t.Helper()
	p, err := openPartition(dir, "t", 0, checkpointTestConfig, partlog.FlushAlways, partlog.Options{Flush: partlog.FlushAlways},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	return p
}

// crashCopy copies a live replica's directory, as a kill -9 leaves it.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

var leaderOf12 = Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1}

// A restarted leader starts from the high watermark it saved: what was
// committed is readable before any follower fetches again.
func TestRestartedLeaderStartsFromCheckpointedHighWatermark(t *testing.T) {
	dir := t.TempDir()
	p := partitionIn(t, dir)
	p.SetRole(leaderOf12)
	for range 3 {
		appendDurable(t, p)
	}
	p.UpdateFollower(2, 3)
	appendDurable(t, p) // offset 3: not committed, follower 2 lacks it
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d before the restart, want 3", hw)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}

	p = partitionIn(t, dir)
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after a clean restart, want the saved 3", hw)
	}
	p.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	recs, hw, err := p.Read(0, 1<<20, true)
	if err != nil || hw != 3 {
		t.Fatalf("read after restart: hw %d, %v", hw, err)
	}
	if n := countRecords(t, recs); n != 3 {
		t.Fatalf("a consumer reads %d committed records at once, want 3", n)
	}
	// Offset 3 was never committed: it stays hidden, and the new epoch's
	// high watermark counts only once follower 2 has it (OFFSET_NOT_AVAILABLE
	// until then, as for any new leader).
	if p.HighWatermarkCurrent() {
		t.Fatal("hw counted below the new epoch's start")
	}
	p.UpdateFollower(2, 4)
	if hw := p.HighWatermark(); hw != 4 || !p.HighWatermarkCurrent() {
		t.Fatalf("hw %d after the follower fetched, want 4 and current", hw)
	}
	// All committed at a clean close: the restarted leader's high watermark
	// is current at once (ListOffsets answers without waiting).
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	p = partitionIn(t, dir)
	p.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	if hw := p.HighWatermark(); hw != 4 || !p.HighWatermarkCurrent() {
		t.Fatalf("hw %d (current %v) after restarting with everything committed, want 4 and current", hw, p.HighWatermarkCurrent())
	}
}

func countRecords(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		n += int(h.LastOffsetDelta) + 1
		b = b[h.Size():]
	}
	return n
}

// A crash keeps the last periodic checkpoint: older than the high watermark
// was, never newer.
func TestCrashedReplicaStartsFromLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	p := partitionIn(t, dir)
	p.SetRole(leaderOf12)
	for range 5 {
		appendDurable(t, p)
	}
	p.UpdateFollower(2, 2)
	if err := p.checkpointHW(); err != nil {
		t.Fatal(err)
	}
	p.UpdateFollower(2, 5)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("hw %d, want 5", hw)
	}
	c := partitionIn(t, crashCopy(t, dir))
	if hw := c.HighWatermark(); hw != 2 {
		t.Fatalf("hw %d after a crash, want the last checkpoint 2", hw)
	}
	if err := p.checkpointHW(); err != nil {
		t.Fatal(err)
	}
	if hw := partitionIn(t, crashCopy(t, dir)).HighWatermark(); hw != 5 {
		t.Fatalf("hw %d after the next checkpoint and a crash, want 5", hw)
	}
}

// A follower that truncates below its saved high watermark lowers the saved
// value too: after a crash, the different data a new leader wrote at those
// offsets is not taken for committed.
func TestFollowerTruncationLowersCheckpoint(t *testing.T) {
	// l leads alone; the follower copies its 5 committed offsets.
	l := testPartition(t)
	l.SetRole(Role{Leader: true, LeaderID: 2, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 2})
	for range 5 {
		appendDurable(t, l)
	}
	dir := t.TempDir()
	f := partitionIn(t, dir)
	f.SetRole(Role{LeaderID: 2, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 1})
	copyFrom(t, f, l)
	if err := f.checkpointHW(); err != nil || f.HighWatermark() != 5 {
		t.Fatalf("hw %d: %v", f.HighWatermark(), err)
	}
	// An unclean leader u had only 2 offsets and wrote 3 of its own at epoch
	// 1, of which 1 is committed: the follower cuts to 2 and copies them.
	u := testPartition(t)
	u.SetRole(Role{Leader: true, LeaderID: 3, Replicas: []int32{1, 3}, ISR: []int32{3}, Self: 3})
	for range 2 {
		appendDurable(t, u)
	}
	u.SetRole(Role{Leader: true, LeaderID: 3, LeaderEpoch: 1, Replicas: []int32{1, 3}, ISR: []int32{3}, Self: 3})
	for range 3 {
		appendDurable(t, u)
	}
	f.SetRole(Role{LeaderID: 3, LeaderEpoch: 1, Replicas: []int32{1, 3}, ISR: []int32{3}, Self: 1})
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	b, err := u.ReadForFollower(2, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AppendFromLeader(context.Background(), b, 3); err != nil {
		t.Fatal(err)
	}
	if hw, end := f.HighWatermark(), f.LogEndOffset(); hw != 3 || end != 5 {
		t.Fatalf("hw %d end %d, want 3 and 5", hw, end)
	}
	if hw := partitionIn(t, crashCopy(t, dir)).HighWatermark(); hw != 2 {
		t.Fatalf("hw %d after a crash, want 2 (the truncation point, not the old 5)", hw)
	}
}

// The manager saves every partition's high watermark periodically.
func TestManagerCheckpointsPeriodically(t *testing.T) {
	root := t.TempDir()
	m, err := NewManager(ManagerOptions{Dir: root, Flush: partlog.FlushAlways, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.ApplyTopic("t", [16]byte{1}, checkpointTestConfig, map[int32]Role{0: {Leader: true, LeaderID: 1, Replicas: []int32{1}, ISR: []int32{1}, Self: 1}}); err != nil {
		t.Fatal(err)
	}
	p := m.Get("t", 0)
	for range 4 {
		appendDurable(t, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.RunHighWatermarkCheckpoints(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	file := filepath.Join(partitionDir(root, "t", 0), "high-watermark-checkpoint")
	var got string
	testharness.Eventually(t, 5*time.Second, "high watermark 4 saved", func() bool {
		b, _ := os.ReadFile(file)
		got = string(b)
		return got == "0\n4\n"
	}, func() string { return "file holds " + got })
}
