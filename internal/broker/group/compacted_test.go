package group

import (
	"slices"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// compactedHistory is a partition's history: commits, an offset deletion and
// a group deletion, framed with the real offsets a log assigns.
func compactedHistory(p int32) (batches [][]byte, g1, g2, g3 string) {
	g1, g2, g3 = groupIn("one", p), groupIn("two", p), groupIn("three", p)
	steps := [][]keyValue{
		{offsetRecord(g1, "t", 0, 1), offsetRecord(g1, "t", 1, 1), offsetRecord(g2, "t", 0, 5)},
		{offsetRecord(g1, "t", 0, 2), offsetRecord(g3, "t", 0, 10)},
		{offsetRecord(g1, "t", 0, 3), {key: offsetKey(g2, "t", 0)}}, // g2's offset deleted
		{{key: offsetKey(g3, "t", 0)}, {key: groupKey(g3)}},         // g3 deleted
		{offsetRecord(g1, "t", 1, 4), offsetRecord(g2, "u", 2, 6)},  // g2 lives on in u
		{offsetRecord(g2, "u", 2, 7), offsetRecord(g1, "t", 0, 3)},  // a repeat of the latest value
	}
	next := int64(0)
	for _, kvs := range steps {
		b := buildBatch(1, kvs)
		batch.SetBaseOffset(b, next)
		next += int64(len(kvs))
		batches = append(batches, b)
	}
	return batches, g1, g2, g3
}

// compactForTest does to batches what the log cleaner does: keep only the
// latest record of each key (and, with dropTombstones, not even that when
// it is a tombstone past delete.retention.ms), leaving the header of a batch
// that lost every record.
func compactForTest(t *testing.T, batches [][]byte, dropTombstones bool) [][]byte {
	t.Helper()
	latest := make(map[string]int64)
	for _, b := range batches {
		recs, err := batch.Records(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			latest[string(r.Key)] = r.Offset
		}
	}
	var out [][]byte
	removedAll := 0
	for _, b := range batches {
		f, _, removed, err := batch.Filter(b, func(r batch.Record) bool {
			return latest[string(r.Key)] == r.Offset && !(dropTombstones && r.Value == nil)
		})
		if err != nil {
			t.Fatalf("filter: %v", err)
		}
		removedAll += removed
		if f == nil {
			h, err := batch.Check(b)
			if err != nil {
				t.Fatal(err)
			}
			f = batch.EmptyBatch(h)
		}
		out = append(out, f)
	}
	if removedAll == 0 {
		t.Fatal("compaction removed nothing: the test would prove nothing")
	}
	return out
}

// A coordinator loading a compacted __consumer_offsets partition (offset
// gaps inside batches, batches without records) ends with the same
// offsets as one loading the whole history.
func TestLoadCompactedPartition(t *testing.T) {
	const p = 2
	history, g1, g2, g3 := compactedHistory(p)
	for _, tc := range []struct {
		name    string
		batches [][]byte
	}{
		{"whole history", history},
		{"compacted, tombstones kept", compactForTest(t, history, false)},
		{"compacted, tombstones removed", compactForTest(t, history, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newMemLog()
			log.parts[p] = tc.batches
			c := newCoordinator(t, log)
			loadPartition(t, c, p)
			for _, want := range []struct {
				group, topic string
				partition    int32
				offset       int64
			}{
				{g1, "t", 0, 3}, {g1, "t", 1, 4}, {g2, "t", 0, -1}, {g2, "u", 2, 7}, {g3, "t", 0, -1},
			} {
				if got := fetch(t, c, want.group, want.topic, want.partition); got != want.offset {
					t.Errorf("%s %s-%d: offset %d, want %d", want.group, want.topic, want.partition, got, want.offset)
				}
			}
			if code, ids := listGroups(t, c); code != 0 || !slices.Equal(ids, sorted(g1, g2)) {
				t.Errorf("groups %s %v, want %v", errName(code), ids, sorted(g1, g2))
			}
		})
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
