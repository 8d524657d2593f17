package partlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestOffsetMap(t *testing.T) {
	m := NewOffsetMap(1 << 20)
	if m.Bytes() > offsetMapMinSlots*offsetMapSlotBytes {
		t.Fatalf("a fresh map holds %d bytes", m.Bytes())
	}
	for i := range 20000 {
		if !m.Put([]byte(fmt.Sprint("key", i%15000)), int64(i)) {
			t.Fatalf("put %d refused with %d of %d entries", i, m.Len(), m.MaxEntries())
		}
	}
	if m.Len() != 15000 || m.LatestOffset() != 19999 {
		t.Fatalf("len %d latest %d", m.Len(), m.LatestOffset())
	}
	for i := range 15000 {
		want := int64(i)
		if i < 5000 {
			want += 15000
		}
		if got, ok := m.Get([]byte(fmt.Sprint("key", i))); !ok || got != want {
			t.Fatalf("key%d: %d %v, want %d", i, got, ok, want)
		}
	}
	if _, ok := m.Get([]byte("absent")); ok {
		t.Fatal("absent key found")
	}
	if m.Bytes() > 1<<20 {
		t.Fatalf("map grew to %d bytes, budget 1 MiB", m.Bytes())
	}
	// Full at 9/10 of the budget's slots: new keys refused, old ones updated.
	for i := 15000; !m.Full(); i++ {
		m.Put([]byte(fmt.Sprint("key", i)), 1)
	}
	if m.Len() != m.MaxEntries() || m.MaxEntries() != 32768*9/10 { // 32768 slots of 24 bytes fit 1 MiB
		t.Fatalf("full at %d of %d", m.Len(), m.MaxEntries())
	}
	if m.Put([]byte("one more"), 5) {
		t.Fatal("a full map took a new key")
	}
	if !m.Put([]byte("key7"), 99) {
		t.Fatal("a full map refused an update")
	}
	if got, _ := m.Get([]byte("key7")); got != 99 {
		t.Fatalf("update lost: %d", got)
	}
	m.Clear()
	if m.Len() != 0 || m.Bytes() > offsetMapMinSlots*offsetMapSlotBytes {
		t.Fatalf("after clear: %d entries, %d bytes", m.Len(), m.Bytes())
	}
	if _, ok := m.Get([]byte("key7")); ok {
		t.Fatal("key survived clear")
	}
	if tiny := NewOffsetMap(1); tiny.MaxEntries() != 1 || !tiny.Put([]byte("a"), 1) || tiny.Put([]byte("b"), 2) {
		t.Fatal("the smallest map must hold exactly one key")
	}
}

func TestThrottle(t *testing.T) {
	ctx := context.Background()
	var nilT *Throttle
	if err := nilT.Wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := NewThrottle(0).Wait(ctx, 1<<30); err != nil || time.Since(start) > time.Second {
		t.Fatalf("unlimited throttle: %v after %v", err, time.Since(start))
	}
	th := NewThrottle(200_000) // a burst of 200 kB, then 200 kB/s
	start = time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := th.Wait(ctx, 5_000); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if time.Since(start) > 400*time.Millisecond { // paced at the rate it would take 500ms
		t.Fatalf("100 kB within the burst took %v", time.Since(start))
	}
	th = NewThrottle(200_000)
	start = time.Now()
	if err := th.Wait(ctx, 260_000); err != nil { // 60 kB over the burst: 0.3 s
		t.Fatal(err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("260 kB with a 200 kB burst took %v, want about 300ms", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := th.Wait(cctx, 1_000_000); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

// TestCleanerStateAndRetention: dirty ratio, cleanable end with
// min.compaction.lag.ms, due by ratio or by max.compaction.lag.ms (which
// makes retention roll the active segment), retention that deletes only
// under a delete policy, and the checkpoint across restarts.
func TestCleanerStateAndRetention(t *testing.T) {
	c := nowClock()
	dir := t.TempDir()
	cfg := compactCfg(600)
	cfg.RetentionMs, cfg.RetentionBytes = 1, 1
	cfg.MinCleanableDirtyRatio = 0.9
	l := open(t, dir, cfg, withClock(c))
	for i := range 30 {
		mustAppend(t, l, kvBatch(c.Millis()-3_600_000, k(fmt.Sprint("k", i%5), "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv")), 1)
	}
	if n, err := l.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("retention under compact: deleted %d, %v", n, err)
	}
	st := l.CleanerState(l.LogEndOffset())
	activeBase := l.segs[len(l.segs)-1].base
	if st.FirstDirtyOffset != 0 || st.CleanableEnd != activeBase || st.CleanBytes != 0 || st.DirtyBytes != l.Size()-l.segs[len(l.segs)-1].size || st.DirtyRatio != 1 || !st.Due {
		t.Fatalf("state of a dirty log: %+v (active at %d)", st, activeBase)
	}
	if st.OldestDirty.UnixMilli() != c.Millis()-3_600_000 {
		t.Fatalf("oldest dirty %v", st.OldestDirty)
	}
	// The high watermark bounds it.
	if st := l.CleanerState(3); st.CleanableEnd != 3 {
		t.Fatalf("cleanable end %d under a high watermark of 3", st.CleanableEnd)
	}
	// min.compaction.lag.ms holds back segments with recent timestamps.
	cfg.MinCompactionLagMs = int64(2 * time.Hour / time.Millisecond)
	l.SetConfig(cfg)
	if st := l.CleanerState(l.LogEndOffset()); st.CleanableEnd != 0 || st.DirtyBytes != 0 || st.Due {
		t.Fatalf("state under a 2h min lag of 1h old data: %+v", st)
	}
	if _, err := l.Compact(context.Background(), CompactOptions{UpTo: l.LogEndOffset(), Map: NewOffsetMap(1 << 16)}); !errors.Is(err, ErrNothingToClean) {
		t.Fatalf("pass under min lag: %v", err)
	}
	cfg.MinCompactionLagMs = 0
	l.SetConfig(cfg)
	compactAll(t, l, NewOffsetMap(1<<16), l.LogEndOffset())
	st = l.CleanerState(l.LogEndOffset())
	if st.FirstDirtyOffset != activeBase || st.DirtyBytes != 0 || st.Due || st.Passes != 1 || st.CleanBytes == 0 {
		t.Fatalf("state of a clean log: %+v", st)
	}

	// max.compaction.lag.ms: the active segment is rolled once that old,
	// and the log is due whatever its ratio.
	for i := range 3 {
		mustAppend(t, l, kvBatch(c.Millis(), k(fmt.Sprint("n", i), "v")), 1)
	}
	cfg.MaxCompactionLagMs = int64(time.Minute / time.Millisecond)
	l.SetConfig(cfg)
	segs := l.SegmentCount()
	c.Advance(2 * time.Minute)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != segs+1 {
		t.Fatalf("active segment not rolled for max.compaction.lag.ms: %d segments, were %d", l.SegmentCount(), segs)
	}
	if st := l.CleanerState(l.LogEndOffset()); !st.Due || st.DirtyRatio >= 0.9 {
		t.Fatalf("state past max lag: %+v", st)
	}

	// Under compact,delete retention deletes again; the checkpoint follows
	// the log start.
	cfg.Cleanup = CleanupCompactDelete
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention under compact,delete: %d %v", n, err)
	}
	if st := l.CleanerState(l.LogEndOffset()); st.FirstDirtyOffset < l.LogStartOffset() {
		t.Fatalf("checkpoint %d below log start %d", st.FirstDirtyOffset, l.LogStartOffset())
	}
	// Restart: the stored checkpoint is clamped to the log.
	fd := l.CleanerState(l.LogEndOffset()).FirstDirtyOffset
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, cfg, withClock(c))
	if got := l.CleanerState(l.LogEndOffset()).FirstDirtyOffset; got != fd {
		t.Fatalf("checkpoint after restart %d, want %d", got, fd)
	}
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if string(data) != "0\n1000\n" {
		t.Fatalf("checkpoint after a full truncation: %q", data)
	}
	// A malformed checkpoint counts the whole log as dirty.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cleanerCheckpointFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, cfg, withClock(c))
	if got := l.CleanerState(l.LogEndOffset()).FirstDirtyOffset; got != 1000 {
		t.Fatalf("checkpoint from garbage %d", got)
	}
	// A malformed swap marker stops Open rather than guess.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cleanerSwapFile), []byte("0\n5\n3 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir, Config: cfg}); err == nil {
		t.Fatal("open with a malformed swap marker succeeded")
	}
}
