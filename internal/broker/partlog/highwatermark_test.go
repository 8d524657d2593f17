package partlog

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storedHW is what the checkpoint file holds, -1 when there is none.
func storedHW(t *testing.T, dir string) int64 {
	t.Helper()
	l := &Log{dir: dir, logger: slog.New(slog.DiscardHandler)}
	return l.readHighWatermark()
}

func TestHighWatermarkCheckpointSurvivesCloseAndCrash(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 20} // no roll: no background file writes to race the copy
	l := open(t, dir, cfg)
	if got := l.CheckpointedHighWatermark(); got != 0 {
		t.Fatalf("fresh log: checkpointed high watermark %d, want the log start 0", got)
	}
	for i := range 10 {
		mustAppend(t, l, mkBatch(int64(i), 2, "h"), 0) // offsets 0-19
	}
	if err := l.CheckpointHighWatermark(12, l.TruncationGeneration()); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 12 {
		t.Fatalf("stored %d, want 12", got)
	}
	// A crash: the files as they are, the log never closed.
	crashDir := t.TempDir()
	copyDir(t, dir, crashDir)
	if got := open(t, crashDir, cfg).CheckpointedHighWatermark(); got != 12 {
		t.Fatalf("after a crash: %d, want 12", got)
	}
	// A value above the log end is stored capped at it.
	if err := l.CheckpointHighWatermark(1000, l.TruncationGeneration()); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 20 {
		t.Fatalf("stored %d for a value above the log end 20", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckpointHighWatermark(5, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("checkpoint on a closed log: %v, want ErrClosed", err)
	}
	if got := open(t, dir, cfg).CheckpointedHighWatermark(); got != 20 {
		t.Fatalf("after a clean close: %d, want 20", got)
	}
	if _, err := os.Stat(filepath.Join(dir, highWatermarkFile+tmpSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestHighWatermarkCheckpointCappedByTornTail(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 20}
	l := open(t, dir, cfg)
	for i := range 5 {
		mustAppend(t, l, mkBatch(int64(i), 2, "t"), 0) // 0-9
	}
	if err := l.CheckpointHighWatermark(10, l.TruncationGeneration()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The last batch (8-9) is torn: the log recovers to 8.
	path := lastSegmentFile(t, dir)
	if err := os.Truncate(path, fileSize(t, path)-7); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	l = open(t, dir, cfg, withLogger(logs))
	if l.LogEndOffset() != 8 {
		t.Fatalf("recovered end %d, want 8", l.LogEndOffset())
	}
	if got := l.CheckpointedHighWatermark(); got != 8 {
		t.Fatalf("checkpointed high watermark %d after a torn tail, want the log end 8", got)
	}
	// The file itself was lowered: new data at 8-9 is not the committed data
	// the old value named.
	if got := storedHW(t, dir); got != 8 {
		t.Fatalf("stored %d, want 8", got)
	}
	if !strings.Contains(logs.String(), "high watermark checkpoint above the recovered log end") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
	mustAppend(t, l, mkBatch(9, 4, "new"), 1) // 8-11
	crashDir := t.TempDir()
	copyDir(t, dir, crashDir)
	if got := open(t, crashDir, cfg).CheckpointedHighWatermark(); got != 8 {
		t.Fatalf("after new appends and a crash: %d, want 8", got)
	}
}

func TestHighWatermarkCheckpointLoweredByTruncation(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1000, IndexIntervalBytes: 100}
	l := open(t, dir, cfg)
	for i := range 20 {
		mustAppend(t, l, mkBatch(int64(i), 3, "x"), 0) // 0-59
	}
	gen := l.TruncationGeneration()
	if err := l.CheckpointHighWatermark(50, gen); err != nil {
		t.Fatal(err)
	}
	// Offset 31 lies in batch 30-32: the log ends at 30, and so does the
	// checkpoint, before anything is appended at 30 again.
	if err := l.TruncateTo(31); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 30 {
		t.Fatalf("stored %d after truncating to 30, want 30", got)
	}
	for i := range 10 {
		mustAppend(t, l, mkBatch(int64(i), 3, "other"), 1) // 30-59, other data
	}
	// A value read before the truncation is refused by its generation.
	if err := l.CheckpointHighWatermark(50, gen); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 30 {
		t.Fatalf("stale value stored: %d, want 30", got)
	}
	if err := l.CheckpointHighWatermark(45, l.TruncationGeneration()); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 45 {
		t.Fatalf("stored %d, want 45", got)
	}
	// Emptying the log and restarting it lowers it to the new start; a value
	// below the log start reads as the start.
	if err := l.TruncateFullyAndStartAt(7); err != nil {
		t.Fatal(err)
	}
	if got := storedHW(t, dir); got != 7 {
		t.Fatalf("stored %d after restarting the log at 7, want 7", got)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if got := l.CheckpointedHighWatermark(); got != 100 {
		t.Fatalf("checkpointed high watermark %d below the log start 100", got)
	}
}

func TestHighWatermarkCheckpointMalformedReadsAsNone(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{})
	mustAppend(t, l, mkBatch(1, 5, "m"), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"", "0\n", "1\n3\n", "0\n-4\n", "0\nabc\n", "\x00\x00\x00"} {
		if err := os.WriteFile(filepath.Join(dir, highWatermarkFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		l := open(t, dir, Config{})
		if got := l.CheckpointedHighWatermark(); got != 0 {
			t.Errorf("checkpoint %q: high watermark %d, want the log start 0", content, got)
		}
		_ = l.Close()
	}
}
