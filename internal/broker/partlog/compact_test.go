package partlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// fillKeys appends n batches of 1-3 records over nkeys keys, values naming
// the round, and returns what the log holds.
func fillKeys(t testing.TB, l *Log, rng *rand.Rand, n, nkeys int, ts int64) {
	t.Helper()
	for i := range n {
		var rs []kv
		for j := range 1 + rng.IntN(3) {
			rs = append(rs, k(fmt.Sprintf("key-%03d", rng.IntN(nkeys)), fmt.Sprintf("v%d.%d-%s", i, j, "payload")))
		}
		mustAppend(t, l, kvBatch(ts+int64(i), rs...), 1)
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	dir := t.TempDir()
	c := nowClock()
	l := open(t, dir, compactCfg(2048), withClock(c))
	rng := rand.New(rand.NewPCG(1, 2))
	fillKeys(t, l, rng, 300, 40, c.Millis()-100_000)
	before, _ := readRecords(t, l)
	segsBefore := l.SegmentCount()
	end := l.LogEndOffset()
	activeBase := l.segs[len(l.segs)-1].base

	res, err := l.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 20)})
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if res.End != activeBase || res.FirstDirty != 0 {
		t.Fatalf("pass covered [%d, %d), want [0, %d)", res.FirstDirty, res.End, activeBase)
	}
	// Sources are grouped by their size before cleaning, as Kafka does:
	// full segments are rewritten one by one, and merge in later passes.
	if res.RecordsRemoved == 0 || res.BytesReclaimed <= 0 || l.SegmentCount() != segsBefore {
		t.Fatalf("nothing reclaimed: %+v, %d segments before, %d after", res, segsBefore, l.SegmentCount())
	}
	got, _ := readRecords(t, l)
	want := model(before, activeBase, false)
	diffRecs(t, "after one pass", got, want)
	if l.LogEndOffset() != end || l.LogStartOffset() != 0 {
		t.Fatalf("log now [%d, %d), was [0, %d)", l.LogStartOffset(), l.LogEndOffset(), end)
	}
	st := l.CleanerState(end)
	if st.FirstDirtyOffset != activeBase || st.Passes != 1 || st.BytesReclaimed != res.BytesReclaimed || st.LastClean.IsZero() {
		t.Fatalf("cleaner state %+v after %+v", st, res)
	}
	if _, err := l.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 20)}); !errors.Is(err, ErrNothingToClean) {
		t.Fatalf("second pass: %v, want ErrNothingToClean", err)
	}

	// After a restart the same records, the checkpoint, and more cleaning
	// of segments the restart loaded.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, compactCfg(2048), withClock(c))
	got2, _ := readRecords(t, l)
	diffRecs(t, "after reopen", got2, want)
	if fd := l.CleanerState(end).FirstDirtyOffset; fd != activeBase {
		t.Fatalf("checkpoint after reopen %d, want %d", fd, activeBase)
	}
	fillKeys(t, l, rng, 200, 40, c.Millis()-50_000)
	all := append(got2, nil...)
	more, _ := readRecords(t, l)
	all = more
	end = l.LogEndOffset()
	activeBase = l.segs[len(l.segs)-1].base
	compactAll(t, l, NewOffsetMap(1<<20), end)
	got3, _ := readRecords(t, l)
	diffRecs(t, "second round", got3, model(all, activeBase, false))
	if n := l.SegmentCount(); n >= segsBefore {
		t.Fatalf("%d segments after the second round, %d at first: cleaned segments did not merge", n, segsBefore)
	}
}
