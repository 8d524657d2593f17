package partlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
)

// FuzzCompact appends random keyed records, tombstones, records without
// key and idempotent batches, cleans at random points up to random high
// watermarks with random map sizes, restarts at random, and checks that a
// final pass leaves exactly the latest record of each key below its end,
// every offset in place, and a log that reopens the same.
func FuzzCompact(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint16(200))
	f.Add(uint64(3), uint64(99), uint16(60))
	f.Add(uint64(42), uint64(7), uint16(400))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, nops uint16) {
		rng := rand.New(rand.NewPCG(s1, s2))
		c := nowClock()
		dir := t.TempDir()
		cfg := compactCfg(int64(300 + rng.IntN(3000)))
		openLog := func() *Log {
			l, err := Open(Options{Dir: dir, Config: cfg, Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		l := openLog()
		defer func() { _ = l.Close() }()
		var all []rec // everything appended, as an uncleaned log holds it
		nkeys := 1 + rng.IntN(40)
		for op := range int(nops % 500) {
			switch r := rng.IntN(20); {
			case r < 15:
				var rs []kv
				for range 1 + rng.IntN(4) {
					key := fmt.Sprint("k", rng.IntN(nkeys))
					switch rng.IntN(10) {
					case 0:
						rs = append(rs, tomb(key))
					case 1:
						rs = append(rs, kv{val: []byte(fmt.Sprint("nokey", op))})
					default:
						rs = append(rs, k(key, fmt.Sprint(op, "-", rng.IntN(1000))))
					}
				}
				b := kvBatch(c.Millis()-1000, rs...)
				if rng.IntN(4) == 0 {
					b = setProducer(b, int64(rng.IntN(3)), 0, int32(op))
				}
				res, err := l.Append(b, 1)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range rs {
					all = append(all, rec{off: res.BaseOffset + int64(i), key: string(r.key), val: string(r.val), tomb: r.key != nil && r.val == nil, nokey: r.key == nil})
				}
			case r < 18:
				upTo := l.LogStartOffset() + rng.Int64N(l.LogEndOffset()-l.LogStartOffset()+1)
				m := NewOffsetMap(int64(offsetMapSlotBytes * (2 + rng.IntN(200))))
				if _, err := l.Compact(context.Background(), CompactOptions{UpTo: upTo, Map: m}); err != nil && !errors.Is(err, ErrNothingToClean) {
					t.Fatalf("pass up to %d: %v", upTo, err)
				}
			default:
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog()
			}
		}
		l.mu.Lock()
		if l.active().size > 0 {
			if err := l.rollLocked(); err != nil {
				t.Fatal(err)
			}
		}
		l.mu.Unlock()
		end := l.LogEndOffset()
		compactAll(t, l, NewOffsetMap(int64(offsetMapSlotBytes*(2+rng.IntN(100)))), end)
		got, _ := readRecords(t, l)
		want := model(all, end, false)
		diffRecs(t, "after the final pass", got, want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog()
		got, _ = readRecords(t, l)
		diffRecs(t, "after reopening", got, want)
		if l.LogEndOffset() != end {
			t.Fatalf("log end %d after reopening, want %d", l.LogEndOffset(), end)
		}
	})
}
