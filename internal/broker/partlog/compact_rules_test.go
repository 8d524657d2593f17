package partlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// TestCompactTombstones: a tombstone removes its key's older values at
// once and goes itself only once its segment was last written longer ago
// than delete.retention.ms; records without key stay.
func TestCompactTombstones(t *testing.T) {
	c := nowClock()
	dir := t.TempDir()
	cfg := compactCfg(400)
	cfg.DeleteRetentionMs = int64(time.Hour / time.Millisecond)
	l := open(t, dir, cfg, withClock(c))
	ts := c.Millis() - 1000
	mustAppend(t, l, kvBatch(ts, k("a", "1"), k("b", "1"), kv{val: []byte("no key")}), 1)
	mustAppend(t, l, kvBatch(ts, k("a", "2"), tomb("b")), 1)
	mustAppend(t, l, kvBatch(ts, tomb("a"), k("c", "1")), 1)
	for i := range 10 {
		mustAppend(t, l, kvBatch(ts, k(fmt.Sprintf("filler-%d", i), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), 1)
	}
	before, _ := readRecords(t, l)
	end := l.LogEndOffset()
	activeBase := l.segs[len(l.segs)-1].base
	compactAll(t, l, NewOffsetMap(1<<16), end)
	got, _ := readRecords(t, l)
	diffRecs(t, "young tombstones", got, model(before, activeBase, false))

	// An hour later, by the clock and the files' times, they go. New data
	// makes the log dirty again.
	c.Advance(2 * time.Hour)
	ageSegments(t, dir, c.Now(), 90*time.Minute)
	mustAppend(t, l, kvBatch(c.Millis(), k("d", "1")), 1)
	l.mu.Lock()
	if err := l.rollLocked(); err != nil {
		t.Fatal(err)
	}
	l.mu.Unlock()
	all, _ := readRecords(t, l)
	activeBase = l.segs[len(l.segs)-1].base
	compactAll(t, l, NewOffsetMap(1<<16), l.LogEndOffset())
	got, _ = readRecords(t, l)
	want := model(all, activeBase, true)
	diffRecs(t, "old tombstones", got, want)
	for _, r := range got {
		if r.tomb {
			t.Fatalf("tombstone %v survived", r)
		}
	}
	if len(got) == 0 || !got[0].nokey {
		t.Fatalf("the record without key went: %v", got)
	}
}

// TestCompactKeepsProducerState: an idempotent producer's batches whose
// records are all superseded vanish, except its last batch below the
// cleaned end, which stays as a header with its producer fields.
func TestCompactKeepsProducerState(t *testing.T) {
	c := nowClock()
	l := open(t, t.TempDir(), compactCfg(300), withClock(c))
	ts := c.Millis() - 1000
	for i := range 6 {
		b := setProducer(kvBatch(ts, k("p", fmt.Sprint(i))), 42, 3, int32(i))
		mustAppend(t, l, b, 1)
	}
	for i := range 8 {
		mustAppend(t, l, kvBatch(ts, k("p", fmt.Sprint("plain", i)), k(fmt.Sprint("f", i), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), 1)
	}
	compactAll(t, l, NewOffsetMap(1<<16), l.LogEndOffset())
	_, hs := readRecords(t, l)
	var mine []batch.Header
	for _, h := range hs {
		if h.ProducerID == 42 {
			mine = append(mine, h)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("producer 42 has %d batches after cleaning, want its last one: %+v", len(mine), mine)
	}
	h := mine[0]
	if h.BaseOffset != 5 || h.NumRecords != 0 || h.ProducerEpoch != 3 || h.BaseSequence != 5 || h.LastOffset() != 5 {
		t.Fatalf("kept producer batch %+v", h)
	}
}

// TestCompactTinyMapSeveralPasses: an offset map too small for one segment
// still makes progress, pass after pass, to the result of one big pass.
func TestCompactTinyMapSeveralPasses(t *testing.T) {
	c := nowClock()
	rng := rand.New(rand.NewPCG(3, 4))
	var logs [2]*Log
	for i := range logs {
		logs[i] = open(t, t.TempDir(), compactCfg(4096), withClock(c))
	}
	for range 150 {
		b := kvBatch(c.Millis()-1000, k(fmt.Sprintf("k%02d", rng.IntN(50)), "v"), k(fmt.Sprintf("k%02d", rng.IntN(50)), fmt.Sprint(rng.IntN(1000))))
		for _, l := range logs {
			mustAppend(t, l, append([]byte(nil), b...), 1)
		}
	}
	end := logs[0].LogEndOffset()
	tiny := NewOffsetMap(8 * offsetMapSlotBytes)
	if tiny.MaxEntries() != 7 {
		t.Fatalf("tiny map holds %d", tiny.MaxEntries())
	}
	passes := compactAll(t, logs[0], tiny, end)
	if passes < 4 {
		t.Fatalf("%d passes with a 7-key map", passes)
	}
	if one := compactAll(t, logs[1], NewOffsetMap(1<<20), end); one != 1 {
		t.Fatalf("%d passes with a big map", one)
	}
	a, _ := readRecords(t, logs[0])
	b, _ := readRecords(t, logs[1])
	diffRecs(t, "tiny map vs big map", a, b)
}

// TestCompactDeterministic: logs with the same batches but different
// segment sizes and pass histories hold the same records once cleaned up
// to the same end, as replicas must.
func TestCompactDeterministic(t *testing.T) {
	c := nowClock()
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int64{500, 1300, 5000}
	var logs []*Log
	for _, s := range sizes {
		logs = append(logs, open(t, t.TempDir(), compactCfg(s), withClock(c)))
	}
	var cut int64
	for i := range 400 {
		var rs []kv
		for range 1 + rng.IntN(3) {
			key := fmt.Sprintf("k%02d", rng.IntN(30))
			if rng.IntN(8) == 0 {
				rs = append(rs, tomb(key))
			} else {
				rs = append(rs, k(key, fmt.Sprint(i)))
			}
		}
		b := kvBatch(c.Millis()-1000, rs...)
		if rng.IntN(3) == 0 {
			b = setProducer(b, int64(rng.IntN(4)), 0, int32(i))
		}
		for j, l := range logs {
			mustAppend(t, l, append([]byte(nil), b...), 1)
			// Different histories: the first log is cleaned along the way.
			if j == 0 && i%97 == 50 {
				compactAll(t, l, NewOffsetMap(1<<10), l.LogEndOffset())
			}
		}
		if i == 350 {
			cut = logs[0].LogEndOffset()
		}
	}
	// Clean all up to the same end: seal the active segments there.
	for _, l := range logs {
		l.mu.Lock()
		if err := l.rollLocked(); err != nil {
			t.Fatal(err)
		}
		l.mu.Unlock()
	}
	var first []rec
	for i, l := range logs {
		compactAll(t, l, NewOffsetMap(1<<20), cut)
		got, _ := readRecords(t, l)
		if i == 0 {
			first = got
			continue
		}
		diffRecs(t, fmt.Sprintf("log %d vs log 0", i), got, first)
	}
}

// TestCompactConcurrentReads: readers going over the log while it is
// cleaned always see valid batches in offset order and every key's latest
// value (which cleaning never removes).
func TestCompactConcurrentReads(t *testing.T) {
	c := nowClock()
	l := open(t, t.TempDir(), compactCfg(1024), withClock(c))
	rng := rand.New(rand.NewPCG(9, 9))
	fillKeys(t, l, rng, 200, 30, c.Millis()-1000)
	recs, _ := readRecords(t, l)
	latest := map[string]rec{}
	for _, r := range recs {
		latest[r.key] = r
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var scans atomic.Int64
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				seen := map[string]rec{}
				last := int64(-1)
				err := l.ScanBatches(0, func(h batch.Header, b []byte) error {
					if h.BaseOffset <= last {
						return fmt.Errorf("batch %d after %d", h.BaseOffset, last)
					}
					last = h.LastOffset()
					rs, err := batch.Records(b)
					for _, r := range rs {
						seen[string(r.Key)] = rec{off: r.Offset, key: string(r.Key), val: string(r.Value)}
					}
					return err
				})
				if err == nil {
					for key, r := range latest {
						if seen[key] != r {
							err = fmt.Errorf("key %s: read %v, latest %v", key, seen[key], r)
							break
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
				scans.Add(1)
			}
		}()
	}
	// Besides the readers running at any time, one reads at every step of
	// every swap that runs outside the log's lock.
	l.testCleanHook = func(step string) error {
		if step == "written" || step == "swapped" {
			got, _ := readRecords(t, l)
			if len(got) < len(latest) {
				t.Errorf("at %s: %d records, %d keys", step, len(got), len(latest))
			}
		}
		return nil
	}
	tiny := NewOffsetMap(32 * offsetMapSlotBytes)
	if passes := compactAll(t, l, tiny, l.LogEndOffset()); passes < 3 {
		t.Fatalf("%d passes", passes)
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if scans.Load() == 0 {
		t.Fatal("no reader finished a scan")
	}
}

// TestCompactRacesRetentionAndTruncation: a pass whose sources retention
// deleted or truncation cut while it wrote is aborted; the log is intact
// and a later pass works.
func TestCompactRacesRetentionAndTruncation(t *testing.T) {
	for _, what := range []string{"retention", "truncation", "close"} {
		t.Run(what, func(t *testing.T) {
			c := nowClock()
			dir := t.TempDir()
			cfg := compactCfg(800)
			l := open(t, dir, cfg, withClock(c))
			rng := rand.New(rand.NewPCG(1, 1))
			fillKeys(t, l, rng, 100, 20, c.Millis()-1000)
			end := l.LogEndOffset()
			fired := false
			l.testCleanHook = func(step string) error {
				if step != "written" || fired {
					return nil
				}
				fired = true
				switch what {
				case "retention":
					cfg.Cleanup, cfg.RetentionBytes = CleanupCompactDelete, 1
					l.SetConfig(cfg)
					if n, err := l.EnforceRetention(); err != nil || n == 0 {
						t.Errorf("retention: %d %v", n, err)
					}
				case "truncation":
					if err := l.TruncateTo(5); err != nil {
						t.Error(err)
					}
				case "close":
					if err := l.Close(); err != nil {
						t.Error(err)
					}
				}
				return nil
			}
			before, _ := readRecords(t, l)
			_, err := l.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 16)})
			want := ErrCleanAborted
			if what == "close" {
				want = ErrClosed
			}
			if !errors.Is(err, want) {
				t.Fatalf("pass: %v, want %v", err, want)
			}
			if what == "close" {
				l = open(t, dir, cfg, withClock(c))
				got, _ := readRecords(t, l)
				diffRecs(t, "after close", got, before)
			} else {
				got, _ := readRecords(t, l)
				for _, r := range got {
					if r.off < l.LogStartOffset() || r.off >= l.LogEndOffset() {
						t.Fatalf("record %v outside the log", r)
					}
				}
			}
			checkNoLeftovers(t, dir)
			l.testCleanHook = nil
			if _, err := l.Compact(context.Background(), CompactOptions{UpTo: l.LogEndOffset(), Map: NewOffsetMap(1 << 16)}); err != nil && !errors.Is(err, ErrNothingToClean) {
				t.Fatalf("pass after the race: %v", err)
			}
		})
	}
}

// TestCompactCancelAndThrottle: a throttled pass is paced, and one whose
// context ends stops promptly, leaving the log as it was.
func TestCompactCancelAndThrottle(t *testing.T) {
	c := nowClock()
	dir := t.TempDir()
	l := open(t, dir, compactCfg(4000), withClock(c))
	rng := rand.New(rand.NewPCG(2, 2))
	fillKeys(t, l, rng, 600, 50, c.Millis()-1000)
	before, _ := readRecords(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Compact(ctx, CompactOptions{UpTo: l.LogEndOffset(), Map: NewOffsetMap(1 << 20), Throttle: NewThrottle(20_000)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled pass: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled pass took %v", d)
	}
	got, _ := readRecords(t, l)
	diffRecs(t, "after a cancelled pass", got, before)
	checkNoLeftovers(t, dir)
	if st := l.CleanerState(l.LogEndOffset()); st.FirstDirtyOffset != 0 || st.Passes != 0 {
		t.Fatalf("state after a cancelled pass: %+v", st)
	}
	// Paced: every byte read (mapped, then rewritten) and written counts.
	const rate = 100_000
	dirty := l.CleanerState(l.LogEndOffset()).DirtyBytes
	start = time.Now()
	res, err := l.Compact(context.Background(), CompactOptions{UpTo: l.LogEndOffset(), Map: NewOffsetMap(1 << 20), Throttle: NewThrottle(rate)})
	if err != nil {
		t.Fatal(err)
	}
	if res.BytesRead < 2*dirty {
		t.Fatalf("read %d bytes of %d dirty ones (mapped and rewritten)", res.BytesRead, dirty)
	}
	least := time.Duration(float64(res.BytesRead+res.BytesWritten-rate) / rate * float64(time.Second)) // the first second's worth is a burst
	if d := time.Since(start); least < 200*time.Millisecond || d < least*9/10 {
		t.Fatalf("pass of %d bytes read and %d written took %v at %d B/s", res.BytesRead, res.BytesWritten, d, rate)
	}
}

// TestCompactLeavesTransactionsAlone: transactional and control batches
// are kept as they are and their records supersede nothing (transactions
// are cleaned once their outcome is known, a later step).
func TestCompactLeavesTransactionsAlone(t *testing.T) {
	c := nowClock()
	l := open(t, t.TempDir(), compactCfg(300), withClock(c))
	ts := c.Millis() - 1000
	mustAppend(t, l, kvBatch(ts, k("a", "plain-1")), 1)
	txn := setProducer(kvBatch(ts, k("a", "txn"), k("b", "txn")), 9, 0, 0)
	txn[22] |= 0x10 // transactional attribute
	setProducer(txn, 9, 0, 0)
	mustAppend(t, l, txn, 1)
	for i := range 10 {
		mustAppend(t, l, kvBatch(ts, k("b", fmt.Sprint("plain-", i)), k(fmt.Sprint("f", i), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), 1)
	}
	compactAll(t, l, NewOffsetMap(1<<16), l.LogEndOffset())
	got, hs := readRecords(t, l)
	if got[0].key != "a" || got[0].val != "plain-1" {
		t.Fatalf("a transactional record superseded a plain one: %v", got[:3])
	}
	if got[1].val != "txn" || got[2].val != "txn" || !hs[1].IsTransactional() {
		t.Fatalf("transactional batch not kept whole: %v", got[:3])
	}
}

// gzipBatch recompresses a built batch's records with gzip.
func gzipBatch(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b[batch.HeaderSize:]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), b[:batch.HeaderSize]...), buf.Bytes()...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	out[22] |= byte(batch.CompressionGzip)
	batch.SetMaxTimestamp(out, int64(binary.BigEndian.Uint64(out[35:]))) // recomputes the CRC
	if _, err := batch.Validate(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompactCompressedBatches: compressed batches lose their superseded
// records and are recompressed with their codec.
func TestCompactCompressedBatches(t *testing.T) {
	c := nowClock()
	l := open(t, t.TempDir(), compactCfg(1500), withClock(c))
	rng := rand.New(rand.NewPCG(4, 4))
	var all []rec
	for i := range 80 {
		var rs []kv
		for j := range 2 + rng.IntN(5) {
			rs = append(rs, k(fmt.Sprint("k", rng.IntN(12)), fmt.Sprint(i, ".", j)))
		}
		res := mustAppend(t, l, gzipBatch(t, kvBatch(c.Millis()-1000, rs...)), 1)
		for j, r := range rs {
			all = append(all, rec{off: res.h.BaseOffset + int64(j), key: string(r.key), val: string(r.val)})
		}
	}
	activeBase := l.segs[len(l.segs)-1].base
	compactAll(t, l, NewOffsetMap(1<<16), l.LogEndOffset())
	got, hs := readRecords(t, l)
	diffRecs(t, "compressed", got, model(all, activeBase, false))
	for _, h := range hs {
		if h.NumRecords > 0 && h.Compression() != batch.CompressionGzip {
			t.Fatalf("batch at %d lost its codec: %d", h.BaseOffset, h.Compression())
		}
	}
}
