package partlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failures records what a log reports through Options.OnFailure.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) report(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) get() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

func withOnFailure(f *failures) opt { return func(o *Options) { o.OnFailure = f.report } }

// A failed fsync fails the log: the batch it covered never becomes durable,
// later appends are refused, and the owner hears of it exactly once, with
// the directory and the cause.
func TestFsyncFailureFailsLogAndTellsOwnerOnce(t *testing.T) {
	dir := t.TempDir()
	var fs failures
	var fail sync.Mutex // guards failing
	failing := false
	eio := syscall.EIO
	l := open(t, dir, Config{}, withOnFailure(&fs), func(o *Options) {
		o.BeforeFsync = func() error {
			fail.Lock()
			defer fail.Unlock()
			if failing {
				return eio
			}
			return nil
		}
	})
	ctx := testContext(t)
	first := mustAppend(t, l, mkBatch(1, 3, "a"), 0)
	if err := l.Sync(ctx, first.h.LastOffset()+1); err != nil {
		t.Fatalf("sync before the fault: %v", err)
	}
	durable := l.DurableEnd()

	fail.Lock()
	failing = true
	fail.Unlock()
	second := mustAppend(t, l, mkBatch(2, 3, "b"), 0)
	err := l.Sync(ctx, second.h.LastOffset()+1)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync over a failing fsync: %v, want EIO", err)
	}
	if got := l.DurableEnd(); got != durable {
		t.Fatalf("durable end moved from %d to %d although the fsync failed", durable, got)
	}
	if _, err := l.Append(mkBatch(3, 1, "c"), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append after a failed fsync: %v, want the sticky EIO", err)
	}
	if err := l.Sync(ctx, second.h.LastOffset()+1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second sync after a failed fsync: %v", err)
	}
	if err := l.CheckpointHighWatermark(1, l.TruncationGeneration()); !errors.Is(err, syscall.EIO) {
		t.Fatalf("checkpoint after a failed fsync: %v", err)
	}
	if err := l.Failed(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Failed() = %v", err)
	}
	got := fs.get()
	if len(got) != 1 {
		t.Fatalf("OnFailure called %d times, want once: %v", len(got), got)
	}
	if !errors.Is(got[0], syscall.EIO) || !strings.Contains(got[0].Error(), dir) {
		t.Fatalf("reported failure %q should name %s and wrap EIO", got[0], dir)
	}
}

// A write that fails on a full disk fails the log although the file could
// be cut back to a batch boundary: the next append is refused even once
// the disk has room again, and a reopened log holds exactly what came
// before the failed write.
func TestWriteFailureFailsLog(t *testing.T) {
	dir := t.TempDir()
	var fs failures
	l := open(t, dir, Config{}, withOnFailure(&fs))
	var as []appended
	for i := range 3 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i), 2, "ok"), 0))
	}
	size := fileSize(t, lastSegmentFile(t, dir))
	l.mu.Lock()
	l.writeFault = func() error { return syscall.ENOSPC }
	l.mu.Unlock()
	if _, err := l.Append(mkBatch(9, 2, "lost"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	l.mu.Lock()
	l.writeFault = nil
	l.mu.Unlock()
	if _, err := l.Append(mkBatch(10, 2, "later"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append after the failed write: %v, want the sticky ENOSPC", err)
	}
	if _, err := l.AppendReplicated(as[0].b); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("replicated append after the failed write: %v", err)
	}
	if got := fileSize(t, lastSegmentFile(t, dir)); got != size {
		t.Fatalf("segment is %d bytes after the failed write, was %d", got, size)
	}
	if got := fs.get(); len(got) != 1 || !errors.Is(got[0], syscall.ENOSPC) {
		t.Fatalf("OnFailure got %v, want one ENOSPC", got)
	}
	l.Abandon()

	re := open(t, dir, Config{})
	if got, want := readAll(t, re), concat(as); string(got) != string(want) {
		t.Fatalf("reopened log holds %d bytes, want the %d appended before the failure", len(got), len(want))
	}
	mustAppend(t, re, mkBatch(11, 1, "again"), 0) // a reopened log works
}

// Abandon writes nothing: unlike Close it neither fsyncs nor moves the
// recovery point, and Close after it does nothing more. What was written
// survives a reopen (the kernel still has it), recovered by a scan.
func TestAbandonWritesNothing(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Config{})
	ctx := testContext(t)
	a := mustAppend(t, l, mkBatch(1, 2, "a"), 0)
	if err := l.Sync(ctx, a.h.LastOffset()+1); err != nil {
		t.Fatal(err)
	}
	rpPath := filepath.Join(dir, recoveryPointFile)
	before, err := os.ReadFile(rpPath)
	if err != nil {
		t.Fatalf("no recovery point after a sync: %v", err)
	}
	b := mustAppend(t, l, mkBatch(2, 2, "b"), 0)
	fsyncs := l.FsyncCount()
	l.Abandon()
	if err := l.Close(); err != nil {
		t.Fatalf("close after abandon: %v", err)
	}
	if got := l.FsyncCount(); got != fsyncs {
		t.Fatalf("abandon fsynced: %d fsyncs, had %d", got, fsyncs)
	}
	after, err := os.ReadFile(rpPath)
	if err != nil || string(after) != string(before) {
		t.Fatalf("recovery point %q after abandon (err %v), was %q", after, err, before)
	}
	if _, err := l.Append(mkBatch(3, 1, "c"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after abandon: %v", err)
	}
	re := open(t, dir, Config{})
	if got, want := readAll(t, re), concat([]appended{a, b}); string(got) != string(want) {
		t.Fatalf("reopened log holds %d bytes, want %d", len(got), len(want))
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Deleting a failed log (a topic deleted to free space) removes it without
// flushing or reporting anything more.
func TestDeleteFailedLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	var fs failures
	l := open(t, dir, Config{}, withOnFailure(&fs))
	mustAppend(t, l, mkBatch(1, 2, "a"), 0)
	l.mu.Lock()
	l.writeFault = func() error { return syscall.ENOSPC }
	l.mu.Unlock()
	if _, err := l.Append(mkBatch(2, 2, "b"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	fsyncs := l.FsyncCount()
	if err := l.Delete(); err != nil {
		t.Fatalf("delete a failed log: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory still there: %v", err)
	}
	if got := len(fs.get()); got != 1 || l.FsyncCount() != fsyncs {
		t.Fatalf("%d failures reported, %d fsyncs by delete; want 1 and none", got, l.FsyncCount()-fsyncs)
	}
}
