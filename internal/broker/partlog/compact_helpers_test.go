package partlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// kv is one record a compaction test writes: a nil val is a tombstone, a
// nil key a record without key.
type kv struct {
	key, val []byte
}

func k(key, val string) kv { return kv{key: []byte(key), val: []byte(val)} }
func tomb(key string) kv   { return kv{key: []byte(key)} }

// kvBatch builds a batch of records with timestamps ts, ts+1, ...
func kvBatch(ts int64, recs ...kv) []byte {
	rs := make([]batch.Record, len(recs))
	for i, r := range recs {
		rs[i] = batch.Record{Timestamp: ts + int64(i), Key: r.key, Value: r.val}
	}
	return batch.Build(ts, rs)
}

// setProducer turns a built batch into an idempotent producer's batch.
func setProducer(b []byte, pid int64, epoch int16, seq int32) []byte {
	be := binary.BigEndian
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	batch.SetMaxTimestamp(b, int64(be.Uint64(b[35:]))) // recomputes the CRC
	return b
}

// rec is one record as read back.
type rec struct {
	off      int64
	key, val string
	tomb     bool
	nokey    bool
}

func (r rec) String() string {
	switch {
	case r.tomb:
		return fmt.Sprintf("%d:%s=<tomb>", r.off, r.key)
	case r.nokey:
		return fmt.Sprintf("%d:<nokey>=%s", r.off, r.val)
	}
	return fmt.Sprintf("%d:%s=%s", r.off, r.key, r.val)
}

// readRecords reads the whole log through ScanBatches, checking that
// batches are valid and offsets strictly increase (gaps allowed).
func readRecords(t testing.TB, l *Log) ([]rec, []batch.Header) {
	t.Helper()
	var out []rec
	var hs []batch.Header
	last := int64(-1)
	err := l.ScanBatches(l.LogStartOffset(), func(h batch.Header, b []byte) error {
		if _, err := batch.Check(b); err != nil {
			return err
		}
		if h.BaseOffset <= last {
			return fmt.Errorf("batch at %d after %d", h.BaseOffset, last)
		}
		last = h.LastOffset()
		hs = append(hs, h)
		rs, err := batch.Records(b)
		if err != nil {
			return err
		}
		for _, r := range rs {
			out = append(out, rec{off: r.Offset, key: string(r.Key), val: string(r.Value), tomb: r.Key != nil && r.Value == nil, nokey: r.Key == nil})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out, hs
}

// model computes what cleaning everything below end leaves of recs (read
// from an uncleaned log): the latest record of each key below end, records
// without key, and everything at or past end. Tombstones below end are
// dropped when dropTombs.
func model(recs []rec, end int64, dropTombs bool) []rec {
	latest := map[string]int64{}
	for _, r := range recs {
		if r.off < end && !r.nokey {
			latest[r.key] = r.off
		}
	}
	var out []rec
	for _, r := range recs {
		if r.off >= end || r.nokey {
			out = append(out, r)
			continue
		}
		if latest[r.key] != r.off {
			continue
		}
		if r.tomb && dropTombs {
			continue
		}
		out = append(out, r)
	}
	return out
}

func sameRecs(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func diffRecs(t testing.TB, what string, got, want []rec) {
	t.Helper()
	if sameRecs(got, want) {
		return
	}
	t.Fatalf("%s: got %d records, want %d\ngot:  %v\nwant: %v", what, len(got), len(want), head(got), head(want))
}

func head(rs []rec) []rec {
	if len(rs) > 40 {
		return rs[:40]
	}
	return rs
}

// compactCfg is a small-segment compacted configuration.
func compactCfg(segBytes int64) Config {
	return Config{SegmentBytes: segBytes, IndexIntervalBytes: 256, Cleanup: CleanupCompact, DeleteRetentionMs: int64(time.Hour / time.Millisecond)}
}

// nowClock is a clock at the real time, so that file modification times
// (which the tombstone rule reads) and the log's clock agree.
func nowClock() *clock {
	c := &clock{}
	c.ms.Store(time.Now().UnixMilli())
	return c
}

// compactAll cleans until nothing is left to clean below upTo.
func compactAll(t testing.TB, l *Log, m *OffsetMap, upTo int64) int {
	t.Helper()
	passes := 0
	for ; passes < 1000; passes++ {
		_, err := l.Compact(context.Background(), CompactOptions{UpTo: upTo, Map: m})
		if err == ErrNothingToClean {
			return passes
		}
		if err != nil {
			t.Fatalf("compact pass %d: %v", passes, err)
		}
	}
	t.Fatalf("compaction did not finish in %d passes", passes)
	return passes
}

// ageSegments sets the modification time of every segment file in dir to
// d before now (the tombstone rule reads it).
func ageSegments(t testing.TB, dir string, now time.Time, d time.Duration) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range m {
		if err := os.Chtimes(f, now.Add(-d), now.Add(-d)); err != nil {
			t.Fatal(err)
		}
	}
}

// copyDirTimes copies the regular files of src into a new directory, keeping modification times.
func copyDirTimes(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		p := filepath.Join(dst, e.Name())
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(p, fi.ModTime(), fi.ModTime())
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
