package partlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

func withFiles(c *FileCache) opt { return func(o *Options) { o.Files = c } }

// fillSegments appends batches to l until it has at least n segments and
// waits until every rolled segment is fsynced (and so handed to the cache).
func fillSegments(t testing.TB, l *Log, n int, tag string) []appended {
	t.Helper()
	var out []appended
	for i := 0; l.SegmentCount() < n; i++ {
		out = append(out, mustAppend(t, l, mkBatch(1_700_000_000_000+int64(i)*10, 4, fmt.Sprintf("%s%d", tag, i)), 1))
	}
	syncAll(t, l)
	return out
}

// syncAll waits until the log end is durable and no rolled segment waits
// for its fsync.
func syncAll(t testing.TB, l *Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := l.Sync(t.Context(), l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		l.mu.RLock()
		pending := len(l.unsynced)
		l.mu.RUnlock()
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rolled segments still not fsynced", pending)
		}
		l.requestSync()
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFileCacheBoundsOpenFiles: three logs of 40+ segments each share a
// cache of 12 files (4 segments). However many segments the logs hold and
// whichever of them readers visit, the files open under the data directory
// stay within the cap plus each log's active segment; every read returns
// the right data; and reopening the logs (an unclean open that scans every
// segment and a clean one that trusts them) does not hold every segment
// open either.
func TestFileCacheBoundsOpenFiles(t *testing.T) {
	root := t.TempDir()
	const capFiles, logs, segments = 12, 3, 40
	bound := capFiles + logs*FilesPerSegment
	cache := NewFileCache(capFiles)
	cfg := Config{SegmentBytes: 1000, IndexIntervalBytes: 200}

	var ls []*Log
	var want [][]byte
	for i := range logs {
		l := open(t, filepath.Join(root, fmt.Sprintf("p%d", i)), cfg, withFiles(cache))
		want = append(want, concat(fillSegments(t, l, segments, "b")))
		ls = append(ls, l)
	}
	check := func(when string) {
		t.Helper()
		if under, all := testharness.OpenFDs(t, root); under > bound {
			t.Fatalf("%s: %d files open under the data dir (process: %d), want at most %d (cap %d + %d active segments)",
				when, under, all, bound, capFiles, logs)
		} else {
			t.Logf("%s: %d files open under the data dir (process: %d); cap %d + %d active segments; %+v",
				when, under, all, capFiles, logs, cache.Stats())
		}
		if st := cache.Stats(); st.OpenFiles > capFiles {
			t.Fatalf("%s: cache holds %d files, cap %d", when, st.OpenFiles, capFiles)
		}
	}
	check("after writing")

	// Read every log from its start, then offsets at random: each read may
	// reopen a segment and close another.
	for i, l := range ls {
		if got := readAll(t, l); !bytes.Equal(got, want[i]) {
			t.Fatalf("log %d: read back differs from what was appended", i)
		}
		check(fmt.Sprintf("after reading log %d", i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		l := ls[r.IntN(logs)]
		off := r.Int64N(l.LogEndOffset())
		b, err := l.Read(off, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		h, err := batch.Check(b)
		if err != nil || off < h.BaseOffset || off > h.LastOffset() {
			t.Fatalf("read at %d: batch %d-%d, %v", off, h.BaseOffset, h.LastOffset(), err)
		}
	}
	check("after random reads")
	if st := cache.Stats(); st.Evictions == 0 || st.Opens == 0 {
		t.Fatalf("no segment was closed and reopened: %+v", st)
	}

	// Unclean reopen (no recovery point: every segment is scanned), then a
	// clean one; each must leave at most the cap open.
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if under, _ := testharness.OpenFDs(t, root); under != 0 {
		t.Fatalf("%d files still open after Close", under)
	}
	for i := range logs {
		if err := os.Remove(filepath.Join(root, fmt.Sprintf("p%d", i), recoveryPointFile)); err != nil {
			t.Fatal(err)
		}
	}
	for round, what := range []string{"unclean reopen", "clean reopen"} {
		cache = NewFileCache(capFiles)
		ls = ls[:0]
		for i := range logs {
			l := open(t, filepath.Join(root, fmt.Sprintf("p%d", i)), cfg, withFiles(cache))
			if n := l.SegmentCount(); n < segments {
				t.Fatalf("%s: log %d has %d segments, want %d", what, i, n, segments)
			}
			ls = append(ls, l)
		}
		check("after " + what)
		for i, l := range ls {
			if got := readAll(t, l); !bytes.Equal(got, want[i]) {
				t.Fatalf("%s: log %d read back differs", what, i)
			}
		}
		check("after reading everything following the " + what)
		if round == 0 {
			for _, l := range ls {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestFileCacheNeverClosesUnderAReader: a reader holding a segment keeps
// its files open while every other segment is closed and reopened around
// it, and what it reads afterwards is right.
func TestFileCacheNeverClosesUnderAReader(t *testing.T) {
	cache := NewFileCache(FilesPerSegment) // one inactive segment
	l := open(t, t.TempDir(), Config{SegmentBytes: 1000, IndexIntervalBytes: 200}, withFiles(cache))
	want := concat(fillSegments(t, l, 10, "r"))

	l.mu.RLock()
	held, err := viewLocked(l.segs[0])
	l.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	// Visit every other segment: the cache must close something, never
	// the held one.
	for _, off := range []int64{l.segs[3].base, l.segs[5].base, l.segs[7].base, l.segs[2].base} {
		if _, err := l.Read(off, 1, l.LogEndOffset(), true); err != nil {
			t.Fatal(err)
		}
	}
	if st := cache.Stats(); st.Evictions == 0 {
		t.Fatalf("nothing was evicted: %+v", st)
	}
	if held.s.log == nil {
		t.Fatal("the cache closed a segment a reader holds")
	}
	got, found, err := readSegment(held, held.s.base, 1<<20, l.LogEndOffset(), true)
	held.release()
	if err != nil || !found || !bytes.HasPrefix(want, got) || len(got) == 0 {
		t.Fatalf("read through the held view: %d bytes, found %v, err %v", len(got), found, err)
	}
	// Released, it is evictable again: one more read elsewhere closes it.
	if _, err := l.Read(l.segs[8].base, 1, l.LogEndOffset(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(l.segs[6].base, 1, l.LogEndOffset(), true); err != nil {
		t.Fatal(err)
	}
	l.segs[0].fileMu.RLock()
	l.segs[0].openMu.Lock()
	closed := l.segs[0].log == nil
	l.segs[0].openMu.Unlock()
	l.segs[0].fileMu.RUnlock()
	if !closed {
		t.Fatalf("released segment still open with a one-segment cap: %+v", cache.Stats())
	}
}

// TestFileCacheTruncateIntoClosedSegment: truncating into a segment whose
// files the cache closed reopens them, keeps them open as the active
// segment, and appends continue there.
func TestFileCacheTruncateIntoClosedSegment(t *testing.T) {
	cache := NewFileCache(FilesPerSegment)
	dir := t.TempDir()
	l := open(t, dir, Config{SegmentBytes: 1000, IndexIntervalBytes: 200}, withFiles(cache))
	as := fillSegments(t, l, 12, "t")
	// Make sure segment 2 is closed: read two later ones.
	for _, i := range []int{9, 10} {
		if _, err := l.Read(l.segs[i].base, 1, l.LogEndOffset(), true); err != nil {
			t.Fatal(err)
		}
	}
	target := l.segs[2]
	target.fileMu.RLock()
	target.openMu.Lock()
	wasClosed := target.log == nil
	target.openMu.Unlock()
	target.fileMu.RUnlock()
	if !wasClosed {
		t.Fatal("segment 2 still open; the test would prove nothing")
	}
	cut := target.base + 1
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if l.active() != target {
		t.Fatalf("active segment is %d, want %d", l.active().base, target.base)
	}
	var kept []appended
	for _, a := range as {
		if a.h.LastOffset() < l.LogEndOffset() {
			kept = append(kept, a)
		}
	}
	// Churn the cache: the active segment must stay open.
	for range 3 {
		for _, s := range l.segs[:2] {
			if _, err := l.Read(s.base, 1, l.LogEndOffset(), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept = append(kept, mustAppend(t, l, mkBatch(1_800_000_000_000, 3, "after"), 2))
	syncAll(t, l)
	if got := readAll(t, l); !bytes.Equal(got, concat(kept)) {
		t.Fatal("log after truncation into a closed segment differs")
	}
}

// TestFileCacheConcurrentReadersAndEviction races readers of random
// offsets in two logs sharing a one-segment cache against appends that roll
// segments, retention that deletes the oldest, truncation back into closed
// segments, and each other; every read
// must return whole, valid batches holding the offset asked for. Run with
// -race.
func TestFileCacheConcurrentReadersAndEviction(t *testing.T) {
	cache := NewFileCache(FilesPerSegment)
	cfg := Config{SegmentBytes: 1000, IndexIntervalBytes: 200, RetentionBytes: 20_000}
	ls := []*Log{
		open(t, t.TempDir(), cfg, withFiles(cache)),
		open(t, t.TempDir(), cfg, withFiles(cache)),
	}
	for _, l := range ls {
		fillSegments(t, l, 15, "c")
	}
	stop := make(chan struct{})
	var truncations atomic.Int64 // odd while a truncation runs
	var readers, writer sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 6 {
		readers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 500 {
				l := ls[r.IntN(len(ls))]
				start, end := l.LogStartOffset(), l.LogEndOffset()
				off := start + r.Int64N(end-start)
				gen := truncations.Load()
				b, err := l.Read(off, 1+r.IntN(3000), end, true)
				if isOutOfRange(err) {
					continue // retention moved the start meanwhile
				}
				if err == nil && len(b) == 0 && (gen%2 == 1 || truncations.Load() != gen) {
					continue // a truncation cut the log below off meanwhile
				}
				if err != nil {
					errs <- fmt.Errorf("read at %d: %w", off, err)
					return
				}
				parts, err := batch.Split(b)
				if err != nil || len(parts) == 0 {
					errs <- fmt.Errorf("read at %d: %d parts, %v", off, len(parts), err)
					return
				}
				h, err := batch.Check(parts[0])
				if err != nil || off < h.BaseOffset || off > h.LastOffset() {
					errs <- fmt.Errorf("read at %d: first batch %d-%d, %v", off, h.BaseOffset, h.LastOffset(), err)
					return
				}
			}
		})
	}
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l := ls[i%len(ls)]
			if _, err := l.Append(mkBatch(1_700_000_000_000, 3, "w"), 1); err != nil {
				errs <- err
				return
			}
			if i%50 == 0 {
				if _, err := l.EnforceRetention(); err != nil {
					errs <- err
					return
				}
			}
			if i%37 == 0 {
				// Cut back into older segments, whose files the cache
				// may have closed, as a diverged follower does.
				truncations.Add(1)
				err := l.TruncateTo(max(l.LogStartOffset(), l.LogEndOffset()-30))
				truncations.Add(1)
				if err != nil {
					errs <- err
					return
				}
			}
		}
	})
	readers.Wait()
	close(stop)
	writer.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := cache.Stats(); st.Evictions == 0 {
		t.Fatalf("no eviction happened: %+v", st)
	}
}
