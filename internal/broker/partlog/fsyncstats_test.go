package partlog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// fsyncOnce appends one batch and waits for the fsync pass that covers it.
func fsyncOnce(t *testing.T, l *Log) {
	t.Helper()
	a := mustAppend(t, l, mkBatch(1, 1, "f"), 0)
	if err := l.Sync(context.Background(), a.h.LastOffset()+1); err != nil {
		t.Fatal(err)
	}
}

func TestFsyncStatsRiseWithSlowPassesAndAgeOut(t *testing.T) {
	const slow = 30 * time.Millisecond
	clk := newClock()
	var delay atomic.Int64
	var observed atomic.Int64
	l := open(t, t.TempDir(), Config{}, withClock(clk), withFlush(FlushAlways), func(o *Options) {
		o.BeforeFsync = func() error { time.Sleep(time.Duration(delay.Load())); return nil }
		o.OnFsync = func(d time.Duration) { observed.Add(1) }
	})

	if st := l.FsyncStats(); st != (FsyncStats{}) {
		t.Fatalf("before any pass: %+v, want zero", st)
	}
	// A fast disk with two slow outliers: the median stays low.
	for i := range 5 {
		if i == 1 || i == 3 {
			delay.Store(int64(slow))
		} else {
			delay.Store(0)
		}
		fsyncOnce(t, l)
	}
	st := l.FsyncStats()
	if st.Passes != 5 || st.Recent != 5 {
		t.Fatalf("after 5 passes: %+v, want 5 passes, 5 recent", st)
	}
	if st.Median >= slow || st.Max < slow {
		t.Fatalf("two slow passes in 5: median %s max %s, want median < %s <= max", st.Median, st.Max, slow)
	}
	if got := observed.Load(); got != 5 {
		t.Fatalf("OnFsync told of %d passes, want 5", got)
	}

	// The disk turns slow: after 3 slow passes, most of the last 5 are,
	// and so is the median.
	delay.Store(int64(slow))
	for range 3 {
		fsyncOnce(t, l)
	}
	st = l.FsyncStats()
	if st.Median < slow || st.Last < slow || st.Recent != fsyncRing {
		t.Fatalf("after 3 slow passes: %+v, want median and last >= %s, %d recent", st, slow, fsyncRing)
	}
	if !st.LastAt.Equal(clk.Now()) {
		t.Fatalf("LastAt %s, want the log's clock %s", st.LastAt, clk.Now())
	}

	// Nothing for longer than the window: the slow passes no longer count,
	// though the log remembers how many it did and the last one.
	clk.Advance(FsyncWindow + time.Second)
	st = l.FsyncStats()
	if st.Recent != 0 || st.Median != 0 || st.Max != 0 || st.Passes != 8 || st.Last < slow {
		t.Fatalf("past the window: %+v, want nothing recent, 8 passes, last >= %s", st, slow)
	}

	// The disk is fast again: within the window, 3 fast passes bring the
	// median down, and a full ring of them pushes the slow ones out.
	clk.Advance(-FsyncWindow - time.Second) // the slow passes are back in the window
	delay.Store(0)
	for range 3 {
		fsyncOnce(t, l)
	}
	if st = l.FsyncStats(); st.Median >= slow || st.Max < slow {
		t.Fatalf("3 fast passes after slow ones: %+v, want median < %s <= max", st, slow)
	}
	for range fsyncRing - 3 {
		fsyncOnce(t, l)
	}
	st = l.FsyncStats()
	if st.Recent != fsyncRing || st.Max >= slow {
		t.Fatalf("after %d fast passes: %+v, want %d recent all under %s", fsyncRing, st, fsyncRing, slow)
	}
}

func TestFsyncStatsAppendRecentPools(t *testing.T) {
	clk := newClock()
	l := open(t, t.TempDir(), Config{}, withClock(clk), withFlush(FlushAlways))
	fsyncOnce(t, l)
	fsyncOnce(t, l)
	pool := l.AppendRecentFsyncs([]time.Duration{time.Hour})
	if len(pool) != 3 || pool[0] != time.Hour {
		t.Fatalf("pooled %v, want the hour kept and 2 passes appended", pool)
	}
}

func TestMedianPicksTheLowerMiddle(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{1, 9}, 1},
		{[]time.Duration{1, 2, 9}, 2},
		{[]time.Duration{1, 2, 8, 9}, 2},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}
