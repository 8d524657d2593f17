package partlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// gappyLog is a cleaned log with gaps between batches and between
// segments: keys a.. are overwritten, so most early batches vanish.
func gappyLog(t *testing.T, dir string, c *clock) (*Log, []rec) {
	t.Helper()
	l := open(t, dir, compactCfg(600), withClock(c))
	ts := c.Millis() - 60_000
	for i := range 60 {
		key := "hot"
		if i%11 == 0 {
			key = "cold-" + string(rune('a'+i/11))
		}
		mustAppend(t, l, kvBatch(ts+int64(i)*10, k(key, "value-"+string(rune('A'+i%26)))), 1)
	}
	compactAll(t, l, NewOffsetMap(1<<20), l.LogEndOffset())
	recs, _ := readRecords(t, l)
	return l, recs
}

// TestGapsAreReadable: after cleaning, Read at an offset inside a gap
// returns the next batch, ScanBatches and OffsetForTimestamp work, and a
// full recovery scan accepts the gaps.
func TestGapsAreReadable(t *testing.T) {
	c := nowClock()
	dir := t.TempDir()
	l, recs := gappyLog(t, dir, c)
	if len(recs) >= 40 {
		t.Fatalf("cleaning left %d of 60 records; the test wants gaps", len(recs))
	}
	empty := 0
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.size == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Fatal("no segment was cleaned empty; the test wants one")
	}
	// Every offset of the log, gap or not, reads the batch holding it or
	// the next one.
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		b, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		h, err := batch.Check(b[:mustHeader(t, b).Size()])
		if err != nil {
			t.Fatal(err)
		}
		want := int64(-1)
		for _, r := range recs {
			if r.off >= off {
				want = r.off
				break
			}
		}
		if h.LastOffset() < off || (want >= 0 && (h.BaseOffset > want || h.LastOffset() < want)) {
			t.Fatalf("read at %d returned batch [%d, %d]; next record at %d", off, h.BaseOffset, h.LastOffset(), want)
		}
	}
	// Timestamps: the first record at or after each record's time.
	for _, r := range recs {
		ts := c.Millis() - 60_000 + r.off*10
		off, _, ok, err := l.OffsetForTimestamp(ts)
		if err != nil || !ok || off != r.off {
			t.Fatalf("offset for timestamp of record %d: %d %v %v", r.off, off, ok, err)
		}
	}
	// A full scan at open (no recovery point) accepts gaps.
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
	for _, p := range mustGlob(t, filepath.Join(dir, "*.index")) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	l = open(t, dir, compactCfg(600), withClock(c))
	got, _ := readRecords(t, l)
	diffRecs(t, "after a full recovery scan", got, recs)
	if l.LogEndOffset() != end {
		t.Fatalf("log end %d after the scan, want %d", l.LogEndOffset(), end)
	}
}

func mustHeader(t *testing.T, b []byte) batch.Header {
	t.Helper()
	h, err := batch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAppendReplicatedGaps: a follower copies a compacted leader's batches,
// whose offsets jump, and ends up with the same records; a batch below the
// log end or offsets that do not increase are refused.
func TestAppendReplicatedGaps(t *testing.T) {
	c := nowClock()
	leader, recs := gappyLog(t, t.TempDir(), c)
	f := open(t, t.TempDir(), compactCfg(600), withClock(c))
	for next := leader.LogStartOffset(); next < leader.LogEndOffset(); {
		chunk, err := leader.Read(next, 500, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) == 0 {
			break
		}
		parts, _ := batch.Split(chunk)
		if _, err := f.AppendReplicated(chunk); err != nil {
			t.Fatalf("append replicated at %d: %v", next, err)
		}
		next = mustHeader(t, parts[len(parts)-1]).LastOffset() + 1
	}
	got, _ := readRecords(t, f)
	diffRecs(t, "follower", got, recs)

	// Refused: below the log end; offsets not increasing.
	last := mustAppendable(t, kvBatch(1, k("x", "y")), f.LogEndOffset()-1)
	if _, err := f.AppendReplicated(last); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("batch below the log end: %v", err)
	}
	a := mustAppendable(t, kvBatch(1, k("x", "1"), k("x", "2")), f.LogEndOffset()+5)
	b := mustAppendable(t, kvBatch(1, k("x", "3")), f.LogEndOffset()+6) // inside a
	if _, err := f.AppendReplicated(append(append([]byte(nil), a...), b...)); !errors.Is(err, batch.ErrCorrupt) {
		t.Fatalf("overlapping batches: %v", err)
	}
	before := f.LogEndOffset()
	// A gap wider than a segment's offset index can span.
	far := before + maxRelOffset + 10
	if _, err := f.AppendReplicated(mustAppendable(t, kvBatch(1, k("far", "away")), far)); err != nil {
		t.Fatalf("append after a wide gap: %v", err)
	}
	if f.LogEndOffset() != far+1 {
		t.Fatalf("log end %d, want %d", f.LogEndOffset(), far+1)
	}
	g2, _ := readRecords(t, f)
	if g2[len(g2)-1].off != far || len(g2) != len(recs)+1 {
		t.Fatalf("after the wide gap: %v", g2[len(g2)-3:])
	}
	// And the empty active segment of a fresh follower is rebased.
	f2 := open(t, t.TempDir(), compactCfg(600), withClock(c))
	if _, err := f2.AppendReplicated(mustAppendable(t, kvBatch(1, k("far", "away")), far)); err != nil {
		t.Fatalf("first append after a wide gap: %v", err)
	}
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	f2 = open(t, f2.Dir(), compactCfg(600), withClock(c))
	if got, _ := readRecords(t, f2); len(got) != 1 || got[0].off != far {
		t.Fatalf("reopened follower holds %v", got)
	}
}

// mustAppendable gives a built batch its base offset, as a leader would.
func mustAppendable(t *testing.T, b []byte, base int64) []byte {
	t.Helper()
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, 1)
	return b
}

// TestTruncateIntoGap: truncating to an offset inside a gap keeps the
// batches below it and ends the log there; the cleaner checkpoint follows.
func TestTruncateIntoGap(t *testing.T) {
	c := nowClock()
	l, recs := gappyLog(t, t.TempDir(), c)
	// Find a gap: two consecutive records more than one apart.
	gapAt := int64(-1)
	var below []rec
	for i := 1; i < len(recs); i++ {
		if recs[i].off > recs[i-1].off+1 {
			gapAt = recs[i-1].off + 1
			below = recs[:i]
			break
		}
	}
	if gapAt < 0 {
		t.Fatal("no gap")
	}
	if err := l.TruncateTo(gapAt); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != gapAt {
		t.Fatalf("log end %d after truncating to %d", l.LogEndOffset(), gapAt)
	}
	got, _ := readRecords(t, l)
	diffRecs(t, "after truncation", got, below)
	if fd := l.CleanerState(l.LogEndOffset()).FirstDirtyOffset; fd > gapAt {
		t.Fatalf("cleaner checkpoint %d above the truncated end %d", fd, gapAt)
	}
	data, err := os.ReadFile(filepath.Join(l.Dir(), cleanerCheckpointFile))
	if err != nil || string(data) != fmt.Sprintf("0\n%d\n", gapAt) {
		t.Fatalf("checkpoint file %q %v, want %d", data, err, gapAt)
	}
	// Appends go on from there.
	mustAppend(t, l, kvBatch(c.Millis(), k("new", "data")), 2)
	if _, err := l.Compact(context.Background(), CompactOptions{UpTo: l.LogEndOffset(), Map: NewOffsetMap(1 << 16)}); err != nil && !errors.Is(err, ErrNothingToClean) {
		t.Fatal(err)
	}
}
