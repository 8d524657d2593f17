package partlog

import (
	"runtime"
	"testing"
)

// TestReadAllocatesOnlyWhatItReturns: a read whose limit (the high
// watermark) lies far below the segment's end, with a huge maxBytes,
// allocates about what it returns, not the rest of the segment: the
// returned slice keeps its whole array alive while a fetch response waits
// to be written, and the fetch budget counts only the returned bytes.
func TestReadAllocatesOnlyWhatItReturns(t *testing.T) {
	l := open(t, t.TempDir(), Config{SegmentBytes: 64 << 20}, withFlush(FlushNever))
	var as []appended
	for i := range 400 {
		as = append(as, mustAppend(t, l, mkBatch(int64(i), 50, "r"), 0)) // ~3.5 KiB each
	}
	limit := as[3].h.BaseOffset // three batches below the limit
	want := len(concat(as[:3]))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := l.Read(0, 1<<30, limit, true)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("read %d bytes, want the %d bytes of the three batches below the limit", len(got), want)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("read %d bytes below the limit of a %d-byte segment, allocating %d bytes", len(got), len(concat(as)), allocated)
	if allocated > uint64(want)+64<<10 {
		t.Fatalf("allocated %d bytes to return %d (the segment holds %d)", allocated, want, len(concat(as)))
	}
}
