package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// What Fetch serves from a compacted log, one batch at a time: a fetch
// offset whose batch was removed, one inside a batch that lost records
// (offset gaps inside it), and one at a batch that lost every record but
// keeps its header as its producer's last. Consumers reading one batch per
// fetch must pass all of them and see exactly the latest records.
func TestFetchFromCompactedLog(t *testing.T) {
	const topic = "fetch-compacted"
	cfg := inproc.Config(t)
	cfg.LogCleanerBackoff = 20 * time.Millisecond
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, topic, 1, map[string]*string{
		"cleanup.policy": strp("compact"), "segment.ms": strp("1"), "min.cleanable.dirty.ratio": strp("0"),
	})
	// Two idempotent producers; each Flush sends its records as one batch.
	p1 := inproc.NodeClient(t, n, kgo.DefaultProduceTopic(topic), kgo.ManualFlushing())
	p2 := inproc.NodeClient(t, n, kgo.DefaultProduceTopic(topic), kgo.ManualFlushing())
	sendBatch := func(cl *kgo.Client, keys []string, value string) int64 {
		t.Helper()
		ctx := testharness.Context(t, 15*time.Second)
		var first int64 = -1
		errs := make(chan error, len(keys))
		for _, k := range keys {
			cl.Produce(ctx, &kgo.Record{Key: []byte(k), Value: []byte(value)}, func(r *kgo.Record, err error) {
				if err == nil && (first < 0 || r.Offset < first) {
					first = r.Offset
				}
				errs <- err
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		for range keys {
			if err := <-errs; err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		return first
	}
	all := []string{"a", "b", "c", "d", "e"}
	removed := sendBatch(p1, all, "v1")                   // 0-4: every record superseded, batch removed
	gapped := sendBatch(p1, all, "v2")                    // 5-9: a and b superseded
	headerOnly := sendBatch(p1, []string{"a", "b"}, "v3") // 10-11: superseded by p2, p1's last batch
	last := sendBatch(p2, []string{"a", "b"}, "v4")       // 12-13
	if removed != 0 || gapped != 5 || headerOnly != 10 || last != 12 {
		t.Fatalf("batches at %d %d %d %d, want 0 5 10 12", removed, gapped, headerOnly, last)
	}
	// Markers from p2 roll the segment until everything up to 14 is cleaned.
	testharness.Eventually(t, 30*time.Second, "cleaned past offset 14", func() bool {
		st, _ := n.PartitionCleaner(topic, 0)
		if st.State.FirstDirtyOffset >= 14 {
			return true
		}
		if st.State.CleanableEnd < 14 {
			sendBatch(p2, []string{"~roll"}, "m")
		}
		return false
	})

	// Raw fetches of one batch each (PartitionMaxBytes 1: KIP-74 still
	// gives the first batch whole).
	fetchOne := func(offset int64) batch.Header {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = -1
		req.MaxBytes = 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, offset, 1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testharness.Context(t, 10*time.Second), p1)
		if err != nil {
			t.Fatalf("fetch at %d: %v", offset, err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatalf("fetch at %d: error code %d", offset, sp.ErrorCode)
		}
		bs, err := batch.Split(sp.RecordBatches)
		if err != nil || len(bs) != 1 {
			t.Fatalf("fetch at %d: %d batches, err %v; want exactly one", offset, len(bs), err)
		}
		h, err := batch.Check(bs[0])
		if err != nil {
			t.Fatalf("fetch at %d: %v", offset, err)
		}
		recs, err := batch.Records(bs[0])
		if err != nil || len(recs) != int(h.NumRecords) {
			t.Fatalf("fetch at %d: %d records of %d, err %v", offset, len(recs), h.NumRecords, err)
		}
		return h
	}
	for _, tc := range []struct {
		offset     int64
		base, last int64
		records    int32
		what       string
	}{
		{0, 5, 9, 3, "offset of a removed batch: the next batch, which lost its first records"},
		{4, 5, 9, 3, "last offset of a removed batch"},
		{6, 5, 9, 3, "a removed offset inside a batch"},
		{9, 5, 9, 3, "a kept offset inside a batch"},
		{10, 10, 11, 0, "a batch that kept only its header"},
		{11, 10, 11, 0, "inside a header-only batch"},
		{12, 12, 13, 2, "the batch after it"},
	} {
		h := fetchOne(tc.offset)
		if h.BaseOffset != tc.base || h.LastOffset() != tc.last || h.NumRecords != tc.records {
			t.Errorf("%s (fetch at %d): batch %d-%d with %d records, want %d-%d with %d",
				tc.what, tc.offset, h.BaseOffset, h.LastOffset(), h.NumRecords, tc.base, tc.last, tc.records)
		}
	}

	// A consumer reading one batch per fetch, from the start and from the
	// header-only batch, sees exactly the latest records and gets past it.
	want := map[int64]string{7: "c=v2", 8: "d=v2", 9: "e=v2", 12: "a=v4", 13: "b=v4"}
	for _, start := range []int64{0, 10} {
		cl := inproc.NodeClient(t, n, kgo.FetchMaxPartitionBytes(1), kgo.FetchMaxBytes(1),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(start)}}))
		ctx := testharness.Context(t, 20*time.Second)
		got := map[int64]string{}
		prev := int64(-1)
		for prev < 13 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("from %d: consumer stuck after offset %d, got %v", start, prev, got)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("from %d: fetch: %v", start, err) })
			for _, r := range fs.Records() {
				if r.Offset <= prev {
					t.Fatalf("from %d: offset %d after %d", start, r.Offset, prev)
				}
				prev = r.Offset
				if r.Offset <= 13 {
					got[r.Offset] = fmt.Sprintf("%s=%s", r.Key, r.Value)
				}
			}
		}
		for off, kv := range want {
			if off >= start && got[off] != kv {
				t.Errorf("from %d: offset %d = %q, want %q (all %v)", start, off, got[off], kv, got)
			}
		}
		if start == 0 && len(got) != len(want) {
			t.Errorf("from 0: got %v, want %v", got, want)
		}
	}
}
