package partlog

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestAppendReadRoundTripAcrossSegmentRolls(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 2048, IndexIntervalBytes: 256})
	var as []appended
	for i := range 120 {
		as = append(as, mustAppend(t, l, mkBatch(int64(1000+i), 1+i%4, "rt"), 0))
	}
	if l.SegmentCount() < 10 {
		t.Fatalf("%d segments, expected many rolls", l.SegmentCount())
	}
	if got, want := l.LogEndOffset(), as[len(as)-1].h.LastOffset()+1; got != want {
		t.Fatalf("log end %d, want %d", got, want)
	}
	if !bytes.Equal(readAll(t, l), concat(as)) {
		t.Fatal("bytes read differ from bytes appended")
	}
	// Every offset, including those inside batches, starts at its batch.
	for _, a := range as {
		for off := a.h.BaseOffset; off <= a.h.LastOffset(); off++ {
			got, err := l.Read(off, 1, l.LogEndOffset(), true)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if !bytes.Equal(got, a.b) {
				t.Fatalf("read %d did not return its batch %d-%d", off, a.h.BaseOffset, a.h.LastOffset())
			}
		}
	}
	if l.Size() != int64(len(concat(as))) {
		t.Fatalf("size %d, want %d", l.Size(), len(concat(as)))
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	idxs, _ := filepath.Glob(filepath.Join(dir, "*.index"))
	tidxs, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
	if len(segs) != l.SegmentCount() || len(idxs) != len(segs) || len(tidxs) != len(segs) {
		t.Fatalf("files: %d logs, %d indexes, %d time indexes for %d segments", len(segs), len(idxs), len(tidxs), l.SegmentCount())
	}
	if base := filepath.Base(segs[0]); base != "00000000000000000000.log" {
		t.Fatalf("first segment named %s", base)
	}
}

func TestReadWithSmallMaxBytesReturnsOneBatchWhenMinOne(t *testing.T) {
	l := open(t, t.TempDir(), Config{})
	a := mustAppend(t, l, mkBatch(1, 5, "big"), 0)
	mustAppend(t, l, mkBatch(2, 5, "next"), 0)
	got, err := l.Read(0, 10, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, a.b) {
		t.Fatalf("minOne read returned %d bytes, want the first batch (%d)", len(got), len(a.b))
	}
	got, err = l.Read(0, 10, l.LogEndOffset(), false)
	if err != nil || len(got) != 0 {
		t.Fatalf("read without minOne: %d bytes, %v; want nothing", len(got), err)
	}
	// maxBytes that fits one and a half batches returns exactly one.
	got, err = l.Read(0, len(a.b)+len(a.b)/2, l.LogEndOffset(), false)
	if err != nil || !bytes.Equal(got, a.b) {
		t.Fatalf("read of 1.5 batches: %d bytes, %v", len(got), err)
	}
}

func TestReadRespectsLimit(t *testing.T) {
	l := open(t, t.TempDir(), Config{})
	a := mustAppend(t, l, mkBatch(1, 3, "a"), 0) // 0-2
	b := mustAppend(t, l, mkBatch(1, 3, "b"), 0) // 3-5
	mustAppend(t, l, mkBatch(1, 3, "c"), 0)      // 6-8
	cases := []struct {
		offset, limit int64
		want          []byte
	}{
		{0, 9, concat([]appended{a, b, {b: mustRead(t, l, 6)}})},
		{0, 6, concat([]appended{a, b})},
		{0, 5, a.b}, // limit inside batch b: b is not whole below the limit
		{0, 3, a.b},
		{0, 2, nil},
		{4, 6, b.b},
		{3, 3, nil},
		{6, 6, nil},
	}
	for _, c := range cases {
		got, err := l.Read(c.offset, 1<<20, c.limit, true)
		if err != nil {
			t.Fatalf("read %d limit %d: %v", c.offset, c.limit, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("read %d limit %d: %d bytes, want %d", c.offset, c.limit, len(got), len(c.want))
		}
	}
}

func mustRead(t *testing.T, l *Log, off int64) []byte {
	t.Helper()
	b, err := l.Read(off, 1, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadOutOfRange(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 500, RetentionBytes: 600})
	for i := range 10 {
		mustAppend(t, l, mkBatch(int64(i), 2, "r"), 0)
	}
	leo := l.LogEndOffset()
	if _, err := l.Read(leo+1, 100, leo+10, true); !isOutOfRange(err) {
		t.Fatalf("read past end: %v", err)
	}
	if got, err := l.Read(leo, 100, leo, true); err != nil || len(got) != 0 {
		t.Fatalf("read at end: %d bytes, %v", len(got), err)
	}
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	start := l.LogStartOffset()
	if start == 0 {
		t.Fatal("log start did not move")
	}
	if _, err := l.Read(start-1, 100, leo, true); !isOutOfRange(err) {
		t.Fatalf("read below start: %v", err)
	}
	if _, err := l.Read(start, 100, leo, true); err != nil {
		t.Fatalf("read at start: %v", err)
	}
}

func TestRestartPreservesDataAndOffsets(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 1500, IndexIntervalBytes: 200})
	var as []appended
	for i := range 40 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i*10), 3, "p"), 0))
	}
	leo, segs := l.LogEndOffset(), l.SegmentCount()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Config{SegmentBytes: 1500, IndexIntervalBytes: 200})
	if l.LogEndOffset() != leo || l.SegmentCount() != segs || l.DurableEnd() != leo {
		t.Fatalf("after restart end %d segments %d durable %d, want %d %d %d", l.LogEndOffset(), l.SegmentCount(), l.DurableEnd(), leo, segs, leo)
	}
	if !bytes.Equal(readAll(t, l), concat(as)) {
		t.Fatal("data changed across restart")
	}
	a := mustAppend(t, l, mkBatch(999, 2, "after"), 0)
	if a.h.BaseOffset != leo {
		t.Fatalf("append after restart at %d, want %d", a.h.BaseOffset, leo)
	}
	// A restart without Close (a crash) finds the same data too.
	crashDir := t.TempDir()
	copyDir(t, dir, crashDir)
	l2 := open(t, crashDir, Config{SegmentBytes: 1500, IndexIntervalBytes: 200})
	if l2.LogEndOffset() != leo+2 {
		t.Fatalf("crash copy end %d, want %d", l2.LogEndOffset(), leo+2)
	}
	if !bytes.Equal(readAll(t, l2), append(concat(as), a.b...)) {
		t.Fatal("crash copy data differs")
	}
}

// copyDir copies the files of a live log, as a crash would leave them.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// holdFsync makes fsync passes wait (only the first one with once) until
// the returned function is called; the test's cleanup calls it too, before
// the log is closed, so a failing test cannot hang.
func holdFsync(t *testing.T, l *Log, once bool) func() {
	release := make(chan struct{})
	var first, closeOnce sync.Once
	if once {
		l.beforeFsync = func() error { first.Do(func() { <-release }); return nil }
	} else {
		l.beforeFsync = func() error { <-release; return nil }
	}
	rel := func() { closeOnce.Do(func() { close(release) }) }
	t.Cleanup(rel)
	return rel
}

// recoveryCase writes a log, closes it, damages it, and reopens it.
func recoveryCase(t *testing.T, damage func(t *testing.T, dir string, as []appended)) (*Log, []appended, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1500, IndexIntervalBytes: 200}
	l := open(t, dir, cfg)
	var as []appended
	for i := range 20 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i), 2, "d"), 0))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	damage(t, dir, as)
	logs := &logBuffer{}
	return open(t, dir, cfg, withLogger(logs)), as, logs
}

func TestRecoveryCutsGarbageAppendedToSegment(t *testing.T) {
	var before int64
	var path string
	l, as, logs := recoveryCase(t, func(t *testing.T, dir string, _ []appended) {
		path = lastSegmentFile(t, dir)
		before = fileSize(t, path)
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		garbage := make([]byte, 333)
		for i := range garbage {
			garbage[i] = byte(i*7 + 3)
		}
		if _, err := f.Write(garbage); err != nil {
			t.Fatal(err)
		}
		f.Close()
	})
	leo := as[len(as)-1].h.LastOffset() + 1
	if l.LogEndOffset() != leo {
		t.Fatalf("end %d after cutting garbage, want %d", l.LogEndOffset(), leo)
	}
	if got := fileSize(t, path); got != before {
		t.Fatalf("segment is %d bytes, want the %d before the garbage", got, before)
	}
	if !bytes.Equal(readAll(t, l), concat(as)) {
		t.Fatal("earlier data damaged")
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "bytes_cut=333") {
		t.Fatalf("no warning about the 333 bytes cut:\n%s", out)
	}
	a := mustAppend(t, l, mkBatch(5, 1, "new"), 0)
	if a.h.BaseOffset != leo {
		t.Fatalf("new append at %d, want %d", a.h.BaseOffset, leo)
	}
}

func TestRecoveryCutsTornLastBatch(t *testing.T) {
	l, as, logs := recoveryCase(t, func(t *testing.T, dir string, as []appended) {
		path := lastSegmentFile(t, dir)
		if err := os.Truncate(path, fileSize(t, path)-7); err != nil {
			t.Fatal(err)
		}
	})
	last := as[len(as)-1]
	if l.LogEndOffset() != last.h.BaseOffset {
		t.Fatalf("end %d, want %d (the torn batch's base)", l.LogEndOffset(), last.h.BaseOffset)
	}
	if !bytes.Equal(readAll(t, l), concat(as[:len(as)-1])) {
		t.Fatal("data before the torn batch damaged")
	}
	if !strings.Contains(logs.String(), "bytes_cut=") {
		t.Fatalf("no warning:\n%s", logs.String())
	}
	if a := mustAppend(t, l, mkBatch(5, 1, "new"), 0); a.h.BaseOffset != last.h.BaseOffset {
		t.Fatalf("append after cut at %d", a.h.BaseOffset)
	}
}

func TestRecoveryCutsBatchWithBadCRC(t *testing.T) {
	l, as, _ := recoveryCase(t, func(t *testing.T, dir string, as []appended) {
		path := lastSegmentFile(t, dir)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// Flip a byte of the last batch's last record value.
		pos := fileSize(t, path) - 3
		var b [1]byte
		if _, err := f.ReadAt(b[:], pos); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x55
		if _, err := f.WriteAt(b[:], pos); err != nil {
			t.Fatal(err)
		}
	})
	last := as[len(as)-1]
	if l.LogEndOffset() != last.h.BaseOffset {
		t.Fatalf("end %d, want %d", l.LogEndOffset(), last.h.BaseOffset)
	}
	if !bytes.Equal(readAll(t, l), concat(as[:len(as)-1])) {
		t.Fatal("data before the bad batch damaged")
	}
}

func TestRecoveryRemovesSegmentsAfterCorruptPoint(t *testing.T) {
	var firstSegEnd int64
	l, as, logs := recoveryCase(t, func(t *testing.T, dir string, as []appended) {
		// A crash: no recovery point, so every segment is scanned.
		if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
			t.Fatal(err)
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		if len(segs) < 3 {
			t.Fatalf("only %d segments", len(segs))
		}
		size := fileSize(t, segs[0])
		if err := os.Truncate(segs[0], size-1); err != nil {
			t.Fatal(err)
		}
		firstSegEnd = size
	})
	// Everything after the torn batch of the first segment is gone.
	got := readAll(t, l)
	if int64(len(got)) >= firstSegEnd || l.SegmentCount() != 1 {
		t.Fatalf("kept %d bytes in %d segments, first segment had %d", len(got), l.SegmentCount(), firstSegEnd)
	}
	if !bytes.HasPrefix(concat(as), got) {
		t.Fatal("kept data is not a prefix of what was written")
	}
	if !strings.Contains(logs.String(), "removed segment after corrupt data") {
		t.Fatalf("no warning about removed segments:\n%s", logs.String())
	}
	if a := mustAppend(t, l, mkBatch(1, 1, "x"), 0); a.h.BaseOffset != l.LogEndOffset()-1 {
		t.Fatalf("append went to %d", a.h.BaseOffset)
	}
}

func TestRecoveryRebuildsDeletedIndex(t *testing.T) {
	for _, which := range []string{"first", "last"} {
		t.Run(which, func(t *testing.T) {
			var removed []string
			l, as, _ := recoveryCase(t, func(t *testing.T, dir string, _ []appended) {
				idx, _ := filepath.Glob(filepath.Join(dir, "*.index"))
				tidx, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
				i := 0
				if which == "last" {
					i = len(idx) - 1
				}
				removed = []string{idx[i], tidx[i]}
				for _, p := range removed {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			})
			for _, p := range removed {
				if fileSize(t, p) == 0 {
					t.Errorf("%s not rebuilt", filepath.Base(p))
				}
			}
			if !bytes.Equal(readAll(t, l), concat(as)) {
				t.Fatal("read after index rebuild differs")
			}
			for _, a := range as {
				got, err := l.Read(a.h.LastOffset(), 1, l.LogEndOffset(), true)
				if err != nil || !bytes.Equal(got, a.b) {
					t.Fatalf("read %d after rebuild: %v", a.h.LastOffset(), err)
				}
			}
		})
	}
}

func TestRecoveryRebuildsCorruptIndexBelowRecoveryPoint(t *testing.T) {
	l, as, logs := recoveryCase(t, func(t *testing.T, dir string, _ []appended) {
		idx, _ := filepath.Glob(filepath.Join(dir, "*.index"))
		// Point the first segment's last entry at a wrong position.
		if err := os.WriteFile(idx[0], []byte{0, 0, 0, 3, 0, 0, 0, 9}, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if !strings.Contains(logs.String(), "rebuilding") {
		t.Fatalf("inconsistent index not noticed:\n%s", logs.String())
	}
	if !bytes.Equal(readAll(t, l), concat(as)) {
		t.Fatal("read after index rebuild differs")
	}
}

func TestOrphanIndexFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{})
	mustAppend(t, l, mkBatch(1, 1, "o"), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, segmentName(500)+indexSuffix)
	tmp := filepath.Join(dir, recoveryPointFile+tmpSuffix)
	deleted := filepath.Join(dir, segmentName(0)+logSuffix+deletedSuffix)
	for _, p := range []string{orphan, tmp, deleted} {
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = open(t, dir, Config{})
	for _, p := range []string{orphan, tmp, deleted} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", filepath.Base(p), err)
		}
	}
	if l.LogEndOffset() != 1 {
		t.Fatalf("end %d", l.LogEndOffset())
	}
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	t.Run("held fsync", func(t *testing.T) {
		// The first fsync is held until every writer has appended: all of
		// them must then be covered by one more fsync, not one each.
		l := open(t, t.TempDir(), Config{})
		release := holdFsync(t, l, true)
		const writers = 32
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := l.Append(mkBatch(int64(i), 1, "g"), 0)
				if err == nil {
					err = l.Sync(context.Background(), res.LastOffset+1)
				}
				errs <- err
			}()
		}
		testharness.Eventually(t, 10*time.Second, "all appends", func() bool { return l.LogEndOffset() == writers })
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if l.DurableEnd() != writers {
			t.Fatalf("durable end %d, want %d", l.DurableEnd(), writers)
		}
		if n := l.FsyncCount(); n > 3 {
			t.Fatalf("%d fsyncs for %d appends; group commit should need 2", n, writers)
		}
	})
	t.Run("free running", func(t *testing.T) {
		l := open(t, t.TempDir(), Config{})
		const writers, each = 16, 40
		var wg sync.WaitGroup
		var failed sync.Map
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := mkBatch(int64(w), 1, "f")
				for range each {
					res, err := l.Append(slices.Clone(b), 0)
					if err == nil {
						err = l.Sync(context.Background(), res.LastOffset+1)
					}
					if err != nil {
						failed.Store(w, err)
						return
					}
					if l.DurableEnd() <= res.LastOffset {
						failed.Store(w, errors.New("Sync returned before the offset was durable"))
						return
					}
				}
			}()
		}
		wg.Wait()
		failed.Range(func(k, v any) bool { t.Errorf("writer %v: %v", k, v); return true })
		appends := uint64(writers * each)
		if n := l.FsyncCount(); n*2 > appends {
			t.Fatalf("%d fsyncs for %d appends; expected them shared", n, appends)
		} else {
			t.Logf("%d fsyncs for %d appends", n, appends)
		}
	})
}

func TestSyncHonoursContext(t *testing.T) {
	l := open(t, t.TempDir(), Config{})
	release := holdFsync(t, l, false)
	res, err := l.Append(mkBatch(1, 1, "c"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Sync(ctx, res.LastOffset+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync with expired context: %v", err)
	}
	release()
	if err := l.Sync(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
}

func TestAppendDoesNotWaitForFsync(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 300})
	release := holdFsync(t, l, false)
	// Rolls queue fsyncs of old segments; appends go on while one is held.
	for i := range 20 {
		mustAppend(t, l, mkBatch(int64(i), 2, "nowait"), 0)
	}
	if l.DurableEnd() != 0 {
		t.Fatalf("durable end %d while fsync is held", l.DurableEnd())
	}
	release()
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.DurableEnd() != l.LogEndOffset() {
		t.Fatalf("durable %d, end %d", l.DurableEnd(), l.LogEndOffset())
	}
}

func TestFlushIntervalSyncsInBackground(t *testing.T) {
	l := open(t, t.TempDir(), Config{}, withFlush(FlushInterval), withInterval(5*time.Millisecond))
	res, err := l.Append(mkBatch(1, 3, "i"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Sync returns at once under this policy.
	if err := l.Sync(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "background fsync", func() bool { return l.DurableEnd() == res.LastOffset+1 })
}

func TestFlushNeverSyncsOnlyOnRollAndClose(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 400}, withFlush(FlushNever))
	a := mustAppend(t, l, mkBatch(1, 2, "n"), 0)
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.DurableEnd() != 0 || l.FsyncCount() != 0 {
		t.Fatalf("durable %d after %d fsyncs, want nothing fsynced", l.DurableEnd(), l.FsyncCount())
	}
	for range 5 {
		mustAppend(t, l, mkBatch(1, 2, "n"), 0)
	}
	if l.SegmentCount() < 2 {
		t.Fatal("no roll")
	}
	// The rolled segments get fsynced in the background, the active one not.
	base := func() int64 { l.mu.RLock(); defer l.mu.RUnlock(); return l.active().base }()
	testharness.Eventually(t, 10*time.Second, "rolled segments fsynced", func() bool { return l.DurableEnd() == base })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Config{SegmentBytes: 400}, withFlush(FlushNever))
	got, err := l.Read(0, 1, 100, true)
	if err != nil || !bytes.Equal(got, a.b) {
		t.Fatalf("reopened read: %v", err)
	}
}

func TestRetentionByTimeMovesLogStart(t *testing.T) {
	c := newClock()
	l := open(t, t.TempDir(), Config{SegmentBytes: 600, RetentionMs: 60_000}, withClock(c))
	for range 10 {
		mustAppend(t, l, mkBatch(c.Millis(), 2, "old"), 0)
	}
	c.Advance(2 * time.Minute)
	var fresh []appended
	for range 10 {
		fresh = append(fresh, mustAppend(t, l, mkBatch(c.Millis(), 2, "new"), 0))
	}
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	start := l.LogStartOffset()
	if start > fresh[0].h.BaseOffset {
		t.Fatalf("log start %d passed the first fresh batch %d", start, fresh[0].h.BaseOffset)
	}
	if start < fresh[0].h.BaseOffset-2*3 {
		// Segments are 600 bytes: at most a segment's worth of old data stays.
		t.Logf("log start %d, first fresh batch %d", start, fresh[0].h.BaseOffset)
	}
	for _, p := range []int64{start} {
		if _, err := l.Read(p, 100, l.LogEndOffset(), true); err != nil {
			t.Fatalf("read at new start: %v", err)
		}
	}
	// Once everything expired, even the active segment is rolled and deleted.
	c.Advance(5 * time.Minute)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != l.LogEndOffset() || l.SegmentCount() != 1 || l.Size() != 0 {
		t.Fatalf("after full expiry: start %d end %d segments %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.SegmentCount(), l.Size())
	}
	leo := l.LogEndOffset()
	if a := mustAppend(t, l, mkBatch(c.Millis(), 1, "later"), 0); a.h.BaseOffset != leo {
		t.Fatalf("append after expiry at %d, want %d", a.h.BaseOffset, leo)
	}
}

func TestRetentionBySizeMovesLogStart(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 1000, RetentionBytes: 2500})
	for i := range 40 {
		mustAppend(t, l, mkBatch(int64(i), 2, "s"), 0)
	}
	before := l.Size()
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	if l.Size() < 2500 || l.Size() >= before {
		t.Fatalf("size %d after retention (was %d, limit 2500)", l.Size(), before)
	}
	// One more deletion would have gone below the limit.
	l.mu.RLock()
	first := l.segs[0].size
	l.mu.RUnlock()
	if l.Size()-first >= 2500 {
		t.Fatalf("size %d minus first segment %d still over the limit", l.Size(), first)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(segs) != l.SegmentCount() {
		t.Fatalf("%d files for %d segments", len(segs), l.SegmentCount())
	}
	if want := filepath.Join(dir, segmentName(l.LogStartOffset())+logSuffix); segs[0] != want {
		t.Fatalf("first file %s, want %s", segs[0], want)
	}
	readAll(t, l)
	// Deleted segments stay deleted across a restart.
	start := l.LogStartOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Config{SegmentBytes: 1000, RetentionBytes: 2500})
	if l.LogStartOffset() != start {
		t.Fatalf("log start %d after restart, want %d", l.LogStartOffset(), start)
	}
}

func TestSegmentRollsByAge(t *testing.T) {
	c := newClock()
	l := open(t, t.TempDir(), Config{SegmentMs: 1000}, withClock(c))
	mustAppend(t, l, mkBatch(c.Millis(), 1, "a"), 0)
	c.Advance(999 * time.Millisecond)
	mustAppend(t, l, mkBatch(c.Millis(), 1, "a"), 0)
	if l.SegmentCount() != 1 {
		t.Fatalf("rolled too early: %d segments", l.SegmentCount())
	}
	c.Advance(time.Millisecond)
	a := mustAppend(t, l, mkBatch(c.Millis(), 1, "b"), 0)
	if l.SegmentCount() != 2 {
		t.Fatalf("%d segments after the segment aged, want 2", l.SegmentCount())
	}
	l.mu.RLock()
	base := l.active().base
	l.mu.RUnlock()
	if base != a.h.BaseOffset {
		t.Fatalf("new segment base %d, want %d", base, a.h.BaseOffset)
	}
	// An idle but aged active segment is rolled by the retention pass.
	c.Advance(time.Second)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 3 {
		t.Fatalf("%d segments after the retention pass, want 3", l.SegmentCount())
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1000, IndexIntervalBytes: 100}
	l := open(t, dir, cfg)
	var as []appended
	for i := range 30 {
		as = append(as, mustAppend(t, l, mkBatch(int64(100+i), 3, "t"), int32(i/10)))
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	segsBefore := l.SegmentCount()
	// Offset 44 lies inside batch 14 (42-44): the whole batch goes.
	if err := l.TruncateTo(44); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 42 {
		t.Fatalf("end %d after truncating inside a batch, want 42", l.LogEndOffset())
	}
	if l.DurableEnd() > 42 {
		t.Fatalf("durable end %d above the log end", l.DurableEnd())
	}
	if l.SegmentCount() >= segsBefore {
		t.Fatalf("segments %d, had %d: later segments not removed", l.SegmentCount(), segsBefore)
	}
	if !bytes.Equal(readAll(t, l), concat(as[:14])) {
		t.Fatal("kept data differs")
	}
	if e, end := l.EndOffsetForEpoch(2); e != 1 || end != 42 {
		t.Fatalf("epoch 2 after truncation: (%d, %d), want (1, 42)", e, end)
	}
	if e, _ := l.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch %d, want 1", e)
	}
	if _, _, found, _ := l.OffsetForTimestamp(100 + 20); found {
		t.Fatal("timestamp of a truncated batch still found")
	}
	// Appends continue at the new end, and everything survives a restart.
	b := mustAppend(t, l, mkBatch(500, 2, "after"), 3)
	if b.h.BaseOffset != 42 {
		t.Fatalf("append after truncation at %d", b.h.BaseOffset)
	}
	if off, ts, found, err := l.MaxTimestamp(); err != nil || !found || off != 43 || ts != 501 {
		t.Fatalf("max timestamp after truncation: %d %d %v %v", off, ts, found, err)
	}
	want := append(concat(as[:14]), b.b...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, cfg)
	if !bytes.Equal(readAll(t, l), want) || l.LogEndOffset() != 44 {
		t.Fatalf("after restart end %d", l.LogEndOffset())
	}
	// Truncating to a segment boundary or to the start.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 || l.SegmentCount() != 1 {
		t.Fatalf("after truncating to 0: end %d size %d segments %d", l.LogEndOffset(), l.Size(), l.SegmentCount())
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epochs left after truncating everything")
	}
	if err := l.TruncateTo(10); err != nil || l.LogEndOffset() != 0 {
		t.Fatalf("truncating past the end: %v, end %d", err, l.LogEndOffset())
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 500})
	for i := range 10 {
		mustAppend(t, l, mkBatch(int64(i), 2, "f"), 1)
	}
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epoch cache not cleared")
	}
	a := mustAppend(t, l, mkBatch(1, 1, "g"), 2)
	if a.h.BaseOffset != 1000 {
		t.Fatalf("append at %d", a.h.BaseOffset)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Config{SegmentBytes: 500})
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1001 {
		t.Fatalf("after restart start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestEpochCachePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{})
	mustAppend(t, l, mkBatch(1, 2, "e"), 0) // 0-1 epoch 0
	mustAppend(t, l, mkBatch(1, 2, "e"), 0) // 2-3
	mustAppend(t, l, mkBatch(1, 2, "e"), 1) // 4-5 epoch 1
	mustAppend(t, l, mkBatch(1, 2, "e"), 3) // 6-7 epoch 3
	check := func(l *Log) {
		t.Helper()
		if e, ok := l.LatestEpoch(); !ok || e != 3 {
			t.Fatalf("latest epoch %d %v", e, ok)
		}
		cases := []struct {
			in, epoch int32
			end       int64
		}{
			{-1, -1, -1}, {0, 0, 4}, {1, 1, 6}, {2, 1, 6}, {3, 3, 8}, {7, 3, 8},
		}
		for _, c := range cases {
			if e, end := l.EndOffsetForEpoch(c.in); e != c.epoch || end != c.end {
				t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c.in, e, end, c.epoch, c.end)
			}
		}
	}
	check(l)
	// An older epoch does not rewrite history.
	mustAppend(t, l, mkBatch(1, 2, "e"), 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, epochCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "0\n3\n0 0\n1 4\n3 6\n" {
		t.Fatalf("checkpoint content %q", data)
	}
	l = open(t, dir, Config{})
	if e, end := l.EndOffsetForEpoch(3); e != 3 || end != 10 {
		t.Fatalf("epoch 3 after restart: (%d, %d)", e, end)
	}
	// A new leader records its epoch before appending.
	if err := l.AssignEpoch(5); err != nil {
		t.Fatal(err)
	}
	if e, end := l.EndOffsetForEpoch(4); e != 3 || end != 10 {
		t.Fatalf("epoch 4 after AssignEpoch(5): (%d, %d)", e, end)
	}
	l2 := open(t, t.TempDir(), Config{})
	if e, end := l2.EndOffsetForEpoch(0); e != -1 || end != -1 {
		t.Fatalf("empty cache: (%d, %d)", e, end)
	}
}

func TestEpochCacheFollowsRetention(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 400, RetentionBytes: 500})
	for i := range 12 {
		mustAppend(t, l, mkBatch(1, 2, "r"), int32(i/4))
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	start := l.LogStartOffset()
	l.mu.RLock()
	entries := slices.Clone(l.epochs.entries)
	l.mu.RUnlock()
	if len(entries) == 0 || entries[0].StartOffset != start {
		t.Fatalf("epochs %+v after log start moved to %d", entries, start)
	}
}

func TestOffsetForTimestampAndMaxTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 900, IndexIntervalBytes: 150}
	l := open(t, dir, cfg)
	type rec struct{ off, ts int64 }
	var all []rec
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		n := 1 + rng.IntN(4)
		recs := make([]batch.Record, n)
		for j := range recs {
			recs[j] = batch.Record{Timestamp: 10_000 + int64(i*50) + rng.Int64N(400) - 200, Value: []byte("v")}
		}
		b := batch.Build(recs[0].Timestamp, recs)
		res, err := l.Append(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range recs {
			all = append(all, rec{res.BaseOffset + int64(j), r.Timestamp})
		}
	}
	check := func(l *Log) {
		t.Helper()
		for ts := int64(9_000); ts <= 14_000; ts += 37 {
			want := rec{-1, -1}
			for _, r := range all {
				if r.ts >= ts {
					want = r
					break
				}
			}
			off, got, found, err := l.OffsetForTimestamp(ts)
			if err != nil {
				t.Fatal(err)
			}
			if found != (want.off >= 0) || (found && (off != want.off || got != want.ts)) {
				t.Fatalf("OffsetForTimestamp(%d) = %d %d %v, want %d %d", ts, off, got, found, want.off, want.ts)
			}
		}
		maxR := all[0]
		for _, r := range all {
			if r.ts > maxR.ts {
				maxR = r
			}
		}
		off, ts, found, err := l.MaxTimestamp()
		if err != nil || !found || off != maxR.off || ts != maxR.ts {
			t.Fatalf("MaxTimestamp = %d %d %v %v, want %d %d", off, ts, found, err, maxR.off, maxR.ts)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir, cfg))
	// After a crash (no recovery point) the indexes are rebuilt by scanning.
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir, cfg))

	empty := open(t, t.TempDir(), Config{})
	if _, _, found, err := empty.MaxTimestamp(); found || err != nil {
		t.Fatalf("max timestamp of empty log: %v %v", found, err)
	}
	if _, _, found, err := empty.OffsetForTimestamp(0); found || err != nil {
		t.Fatalf("offset for timestamp in empty log: %v %v", found, err)
	}
}

func TestLogAppendTimeStampsBatches(t *testing.T) {
	c := newClock()
	l := open(t, t.TempDir(), Config{LogAppendTime: true}, withClock(c))
	b := mkBatch(5, 3, "lat")
	res, err := l.Append(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.LogAppendTime != c.Millis() {
		t.Fatalf("log append time %d, want %d", res.LogAppendTime, c.Millis())
	}
	got, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := batch.Records(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != c.Millis() {
			t.Fatalf("record timestamp %d, want the append time", r.Timestamp)
		}
	}
	l2 := open(t, t.TempDir(), Config{})
	if res, err := l2.Append(mkBatch(5, 1, "x"), 0); err != nil || res.LogAppendTime != -1 {
		t.Fatalf("create-time append: %+v %v", res, err)
	}
}

func TestAppendReplicatedCopiesLeaderBatches(t *testing.T) {
	leader := open(t, t.TempDir(), Config{})
	for i := range 10 {
		mustAppend(t, leader, mkBatch(int64(i), 2, "rep"), int32(i/5))
	}
	follower := open(t, t.TempDir(), Config{SegmentBytes: 700})
	data, err := leader.Read(0, 1<<20, leader.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := batch.Split(data)
	half := 0
	for _, p := range parts[:5] {
		half += len(p)
	}
	last, err := follower.AppendReplicated(slices.Clone(data[:half]))
	if err != nil || last != 9 {
		t.Fatalf("first half: last %d, %v", last, err)
	}
	// Not contiguous with the follower's end: refused, nothing written.
	if _, err := follower.AppendReplicated(slices.Clone(data[:half])); !isOutOfRange(err) {
		t.Fatalf("replaying the same batches: %v", err)
	}
	bad := slices.Clone(data[half:])
	bad[len(bad)-1] ^= 1
	if _, err := follower.AppendReplicated(bad); !errors.Is(err, batch.ErrCorrupt) {
		t.Fatalf("bad CRC: %v", err)
	}
	if follower.LogEndOffset() != 10 {
		t.Fatalf("end %d after refused appends", follower.LogEndOffset())
	}
	if _, err := follower.AppendReplicated(slices.Clone(data[half:])); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, follower), data) {
		t.Fatal("follower bytes differ from the leader's")
	}
	if follower.SegmentCount() < 2 {
		t.Fatal("follower did not roll")
	}
	if e, end := follower.EndOffsetForEpoch(0); e != 0 || end != 10 {
		t.Fatalf("follower epoch 0: (%d, %d)", e, end)
	}
	if e, _ := follower.LatestEpoch(); e != 1 {
		t.Fatalf("follower latest epoch %d", e)
	}
}

func TestAppendRejectsMalformedInput(t *testing.T) {
	l := open(t, t.TempDir(), Config{})
	b := mkBatch(1, 2, "m")
	if _, err := l.Append(b[:len(b)-1], 0); err == nil {
		t.Fatal("short batch accepted")
	}
	if _, err := l.Append(append(slices.Clone(b), 0), 0); !errors.Is(err, batch.ErrCorrupt) {
		t.Fatalf("batch with trailing byte: %v", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatal("malformed input was written")
	}
}

func TestClosedLogRefusesWork(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{})
	mustAppend(t, l, mkBatch(1, 1, "c"), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := l.Append(mkBatch(1, 1, "c"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 100, 1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Sync(context.Background(), 1); err != nil {
		t.Fatalf("sync of data flushed by close: %v", err)
	}
	if l.DurableEnd() != 1 {
		t.Fatalf("durable %d after close", l.DurableEnd())
	}
}

func TestDeleteRemovesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := open(t, dir, Config{})
	mustAppend(t, l, mkBatch(1, 1, "d"), 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory still there: %v", err)
	}
}

func TestScanBatchesVisitsEveryBatchFromOffset(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 800})
	var as []appended
	for i := range 25 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i), 3, "scan"), 0))
	}
	var seen []byte
	err := l.ScanBatches(as[4].h.BaseOffset+1, func(h batch.Header, b []byte) error {
		seen = append(seen, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seen, concat(as[4:])) {
		t.Fatalf("scan saw %d bytes, want %d", len(seen), len(concat(as[4:])))
	}
	stop := errors.New("stop")
	calls := 0
	err = l.ScanBatches(0, func(batch.Header, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("callback error: %v after %d calls", err, calls)
	}
}

func TestConcurrentReadsDuringAppendsTruncationAndRetention(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 2000, RetentionBytes: 6000, IndexIntervalBytes: 128})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for ctx.Err() == nil {
				start, end := l.LogStartOffset(), l.LogEndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int64N(end-start)
				got, err := l.Read(off, 1+rng.IntN(3000), end, true)
				if isOutOfRange(err) || errors.Is(err, ErrClosed) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				parts, err := batch.Split(got)
				if err != nil {
					errs <- err
					return
				}
				for _, p := range parts {
					if _, err := batch.Check(p); err != nil {
						errs <- err
						return
					}
				}
				_, _, _, _ = l.OffsetForTimestamp(int64(rng.IntN(3000)))
				_, _, _, _ = l.MaxTimestamp()
			}
		}()
	}
	for i := range 1500 {
		if _, err := l.Append(mkBatch(int64(i), 1+i%3, "conc"), int32(i/100)); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%50 == 49:
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
		case i%200 == 199:
			if err := l.TruncateTo(l.LogEndOffset() - 5); err != nil {
				t.Fatal(err)
			}
		case i%10 == 0:
			go func() { _ = l.Sync(ctx, l.LogEndOffset()) }()
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := l.Sync(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileReading(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 1000})
	for i := range 50 {
		mustAppend(t, l, mkBatch(int64(i), 2, "cl"), 0)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := l.Read(0, 1<<20, 100, true)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func BenchmarkAppendSync(b *testing.B) {
	l := open(b, b.TempDir(), Config{})
	recs := []batch.Record{{Value: bytes.Repeat([]byte("b"), 1024-batch.HeaderSize-10)}}
	proto := batch.Build(0, recs)
	b.SetBytes(int64(len(proto)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(proto))
		for pb.Next() {
			copy(buf, proto)
			res, err := l.Append(buf, 0)
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.Sync(context.Background(), res.LastOffset+1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(l.FsyncCount())/float64(b.N), "fsyncs/op")
}

func TestRecoveryPointLimitsScanning(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"indexed segments", Config{SegmentBytes: 1500, IndexIntervalBytes: 200}},
		// Segments of one or two batches have no index entries at all.
		{"unindexed segments", Config{SegmentBytes: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, tc.cfg)
			var as []appended
			for i := range 30 {
				as = append(as, mustAppend(t, l, mkBatch(int64(i*7), 2, "rp"), 0))
			}
			segs := l.SegmentCount()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			scans := func(logs *logBuffer) int { return strings.Count(logs.String(), "scanning segment") }

			// Clean shutdown: nothing is scanned.
			logs := &logBuffer{}
			l = open(t, dir, tc.cfg, withDebugLogger(logs))
			if n := scans(logs); n != 0 || !strings.Contains(logs.String(), "loaded last segment from its indexes") {
				t.Fatalf("%d segments scanned after a clean shutdown:\n%s", n, logs)
			}
			if !bytes.Equal(readAll(t, l), concat(as)) {
				t.Fatal("data differs")
			}
			checkTimestamps(t, l, as)
			as = append(as, mustAppend(t, l, mkBatch(1000, 1, "rp"), 0))

			// A crash now: only the active segment is scanned.
			crash := t.TempDir()
			copyDir(t, dir, crash)
			logs = &logBuffer{}
			c := open(t, crash, tc.cfg, withDebugLogger(logs))
			if n := scans(logs); n != 1 {
				t.Fatalf("%d segments scanned after a crash, want the active one:\n%s", n, logs)
			}
			if !bytes.Equal(readAll(t, c), concat(as)) {
				t.Fatal("crash copy differs")
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			// Without a recovery point every segment is scanned.
			crash2 := t.TempDir()
			copyDir(t, dir, crash2)
			if err := os.Remove(filepath.Join(crash2, recoveryPointFile)); err != nil {
				t.Fatal(err)
			}
			logs = &logBuffer{}
			c = open(t, crash2, tc.cfg, withDebugLogger(logs))
			if n := scans(logs); n != segs {
				t.Fatalf("%d segments scanned without a recovery point, want %d", n, segs)
			}
			checkTimestamps(t, c, as)
		})
	}
}

// checkTimestamps compares the log's timestamp lookups with the batches.
func checkTimestamps(t *testing.T, l *Log, as []appended) {
	t.Helper()
	var maxTS, maxOff int64 = -1, -1
	for _, a := range as {
		recs, err := batch.Records(a.b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Timestamp > maxTS {
				maxTS, maxOff = r.Timestamp, r.Offset
			}
		}
	}
	if off, ts, found, err := l.MaxTimestamp(); err != nil || !found || off != maxOff || ts != maxTS {
		t.Fatalf("MaxTimestamp = %d %d %v %v, want %d %d", off, ts, found, err, maxOff, maxTS)
	}
	for _, a := range as {
		off, _, found, err := l.OffsetForTimestamp(a.h.BaseTimestamp)
		if err != nil || !found || off > a.h.BaseOffset {
			t.Fatalf("OffsetForTimestamp(%d) = %d %v %v, want at most %d", a.h.BaseTimestamp, off, found, err, a.h.BaseOffset)
		}
	}
}

func TestReadSkipsGapLeftByLostSegmentTail(t *testing.T) {
	// A power loss under FlushNever can lose whole batches at the end of a
	// rolled segment while a later segment survives: offsets then have a
	// gap, which reads skip as Kafka's do.
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1000}
	l := open(t, dir, cfg)
	var as []appended
	for i := range 20 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i), 2, "gap"), 0))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	first := fileSize(t, segs[0])
	// Find the batches of the first segment and drop its last one.
	var pos int64
	k := 0
	for pos+int64(len(as[k].b)) < first {
		pos += int64(len(as[k].b))
		k++
	}
	lost := as[k]
	if err := os.Truncate(segs[0], pos); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, cfg)
	if l.LogEndOffset() != as[len(as)-1].h.LastOffset()+1 {
		t.Fatalf("end %d", l.LogEndOffset())
	}
	got, err := l.Read(lost.h.BaseOffset, 1, l.LogEndOffset(), true)
	if err != nil || !bytes.Equal(got, as[k+1].b) {
		t.Fatalf("read in the gap: %v, got %d bytes, want the next segment's first batch", err, len(got))
	}
	var seen []byte
	if err := l.ScanBatches(0, func(_ batch.Header, b []byte) error { seen = append(seen, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	want := append(concat(as[:k]), concat(as[k+1:])...)
	if !bytes.Equal(seen, want) {
		t.Fatal("scan across the gap differs")
	}
	// Truncating into the gap keeps the data before it.
	if err := l.TruncateTo(lost.h.BaseOffset + 1); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != lost.h.BaseOffset {
		t.Fatalf("end %d after truncating into the gap, want %d", l.LogEndOffset(), lost.h.BaseOffset)
	}
	if a := mustAppend(t, l, mkBatch(1, 1, "refill"), 0); a.h.BaseOffset != lost.h.BaseOffset {
		t.Fatalf("append after truncation at %d", a.h.BaseOffset)
	}
}
