package broker_test

// Issue 11, findings 4 and 5: compressed batches are validated at produce
// (garbage, lying counts and bombs are refused, nothing is appended, and
// consumers read past the refusal), and ListOffsets by timestamp never
// inflates a stored batch.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// Codec ids of RecordBatch attribute bits 0-2.
const (
	codecGzip = 1
	codecZstd = 4
)

// wireRecords encodes records with franz-go's encoder (offset deltas as given).
func wireRecords(recs []kmsg.Record) []byte {
	var out []byte
	for _, r := range recs {
		r.Length = 0
		body := r.AppendTo(nil)[1:]
		r.Length = int32(len(body))
		out = r.AppendTo(out)
	}
	return out
}

// rawBatch wraps a (compressed) records section in a v2 header that claims
// count records, with a correct CRC: only the records can be wrong.
func rawBatch(codec int16, section []byte, count int32, baseTS, maxTS int64) []byte {
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: codec,
		LastOffsetDelta: count - 1, FirstTimestamp: baseTS, MaxTimestamp: maxTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count,
		Records: section,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func gzipped(t *testing.T, write func(w io.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	write(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}

// hugeRecord writes, through w, one well-framed record whose value is size
// zero bytes: a compression bomb that only inflating shows to be one.
func hugeRecord(t *testing.T, w io.Writer, size int) {
	t.Helper()
	body := []byte{0}                    // attributes
	body = binary.AppendVarint(body, 0)  // timestamp delta
	body = binary.AppendVarint(body, 0)  // offset delta
	body = binary.AppendVarint(body, -1) // null key
	body = binary.AppendVarint(body, int64(size))
	head := append(binary.AppendVarint(nil, int64(len(body)+size+1)), body...)
	zeros := make([]byte, 1<<20)
	if _, err := w.Write(head); err != nil {
		t.Fatal(err)
	}
	for left := size; left > 0; left -= len(zeros) {
		if _, err := w.Write(zeros[:min(left, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte{0}); err != nil { // no headers
		t.Fatal(err)
	}
}

func logEnd(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(testharness.Context(t, 5*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// produceValues produces one record per value with a real franz-go producer
// using codec, and fails on any error.
func produceValues(t *testing.T, n *broker.Node, topic string, codec kgo.CompressionCodec, values ...string) {
	t.Helper()
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec))
	ctx := testharness.Context(t, 10*time.Second)
	for _, v := range values {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

// assertConsumesInOrder reads the topic from the start with a franz-go
// consumer: exactly want, at offsets 0, 1, 2, ...
func assertConsumesInOrder(t *testing.T, n *broker.Node, topic string, want []string) {
	t.Helper()
	recs := consumeN(t, n, topic, len(want))
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != want[i] {
			t.Fatalf("record %d: offset %d value %q, want offset %d value %q", i, r.Offset, r.Value, i, want[i])
		}
	}
}

// TestProduceRefusesInvalidCompressedBatches: garbage gzip and zstd payloads
// with a correct CRC are refused with CORRUPT_MESSAGE; a batch claiming
// 2^31-1 records, or more or fewer than it holds, and records out of order
// with INVALID_RECORD naming the record; each with a message saying what
// was wrong. Nothing is appended (the log end does not move), and a
// consumer reads every record produced before and after, offsets contiguous.
func TestProduceRefusesInvalidCompressedBatches(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "validated", 1, nil)
	cl := inproc.NodeClient(t, n)

	produceValues(t, n, "validated", kgo.GzipCompression(), "b0", "b1", "b2")
	produceValues(t, n, "validated", kgo.ZstdCompression(), "b3", "b4")

	three := wireRecords([]kmsg.Record{
		{OffsetDelta: 0, Value: []byte("x")}, {OffsetDelta: 1, Value: []byte("y")}, {OffsetDelta: 2, Value: []byte("z")},
	})
	swapped := wireRecords([]kmsg.Record{
		{OffsetDelta: 0, Value: []byte("x")}, {OffsetDelta: 2, Value: []byte("y")}, {OffsetDelta: 1, Value: []byte("z")},
	})
	garbage := bytes.Repeat([]byte("\x13\x37 not a compressed stream "), 20)
	gz := func(raw []byte) []byte { return gzipped(t, func(w io.Writer) { _, _ = w.Write(raw) }) }
	cases := []struct {
		name      string
		batch     []byte
		code      *kerr.Error
		message   string // a part of the error message
		recordIdx int32  // -1: no record error
	}{
		{"garbage gzip", rawBatch(codecGzip, garbage, 3, 0, 0), kerr.CorruptMessage, "gzip", -1},
		{"garbage zstd", rawBatch(codecZstd, garbage, 3, 0, 0), kerr.CorruptMessage, "zstd", -1},
		{"count 2^31-1", rawBatch(codecGzip, gz(three), math.MaxInt32, 0, 0), kerr.InvalidRecord, "records end after 3 of the 2147483647", -1},
		{"count above records", rawBatch(codecZstd, zstded(t, three), 4, 0, 0), kerr.InvalidRecord, "records end after 3 of the 4", -1},
		{"count below records", rawBatch(codecGzip, gz(three), 2, 0, 0), kerr.InvalidRecord, "data after its 2 records", -1},
		{"offset deltas out of order", rawBatch(codecZstd, zstded(t, swapped), 3, 0, 0), kerr.InvalidRecord, "offset delta 2, expected 1", 1},
		{"valid gzip of random records", rawBatch(codecGzip, gz(garbage), 3, 0, 0), kerr.InvalidRecord, "record 0", 0},
	}
	want := []string{"b0", "b1", "b2", "b3", "b4"}
	for _, tc := range cases {
		r := rawProduce(t, cl, "validated", 0, tc.batch)
		msg := ""
		if r.ErrorMessage != nil {
			msg = *r.ErrorMessage
		}
		if r.ErrorCode != tc.code.Code || !strings.Contains(msg, tc.message) {
			t.Errorf("%s: error %d %q, want %s with a message containing %q", tc.name, r.ErrorCode, msg, tc.code.Message, tc.message)
		}
		switch {
		case tc.recordIdx < 0 && len(r.ErrorRecords) != 0:
			t.Errorf("%s: record errors %+v, want none", tc.name, r.ErrorRecords)
		case tc.recordIdx >= 0 && (len(r.ErrorRecords) != 1 || r.ErrorRecords[0].RelativeOffset != tc.recordIdx):
			t.Errorf("%s: record errors %+v, want record %d", tc.name, r.ErrorRecords, tc.recordIdx)
		}
		if end := logEnd(t, adm, "validated"); end != int64(len(want)) {
			t.Fatalf("%s: log end %d after the refusal, want %d", tc.name, end, len(want))
		}
		// The partition takes the next valid batch right after the refusal.
		v := "after " + tc.name
		produceValues(t, n, "validated", kgo.Lz4Compression(), v)
		want = append(want, v)
	}

	produceValues(t, n, "validated", kgo.SnappyCompression(), "last")
	assertConsumesInOrder(t, n, "validated", append(want, "last"))
}

// TestProduceRefusesDecompressionBomb: the finding's bomb, about 200 KB of
// gzip inflating to 200 MiB (one well-framed record), is refused with
// MESSAGE_TOO_LARGE and a message naming the limit, after inflating at most
// the 64 MiB limit as a stream: the whole process (node and client)
// allocates a small fraction of what inflating it would take. The log end
// does not move and a consumer reads past it.
func TestProduceRefusesDecompressionBomb(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "bombed", 1, nil)
	cl := inproc.NodeClient(t, n)
	produceValues(t, n, "bombed", kgo.GzipCompression(), "before")

	const inflated = 200 << 20
	bomb := rawBatch(codecGzip, gzipped(t, func(w io.Writer) { hugeRecord(t, w, inflated) }), 1, 0, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	r := rawProduce(t, cl, "bombed", 0, bomb)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte batch inflating to %d MiB: refused in %v; process allocated %.1f MiB meanwhile, heap %.1f -> %.1f MiB",
		len(bomb), inflated>>20, took.Round(time.Millisecond), float64(allocated)/(1<<20),
		float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20))

	msg := ""
	if r.ErrorMessage != nil {
		msg = *r.ErrorMessage
	}
	if r.ErrorCode != kerr.MessageTooLarge.Code || !strings.Contains(msg, fmt.Sprint(64<<20)) {
		t.Fatalf("bomb: error %d %q, want MESSAGE_TOO_LARGE naming the %d-byte limit", r.ErrorCode, msg, 64<<20)
	}
	// Inflating it whole would allocate at least 200 MiB, buffering it to
	// the limit 64 MiB; the stream needs a few hundred KiB. 32 MiB leaves
	// room for whatever else the node and client do meanwhile.
	if allocated > 32<<20 {
		t.Fatalf("refusing the bomb allocated %d MiB", allocated>>20)
	}
	if end := logEnd(t, adm, "bombed"); end != 1 {
		t.Fatalf("log end %d after the bomb, want 1", end)
	}
	produceValues(t, n, "bombed", kgo.ZstdCompression(), "after")
	assertConsumesInOrder(t, n, "bombed", []string{"before", "after"})
}

// TestListOffsetsByTimestampNeverInflates: a stored gzip batch that
// inflates to 60 MiB (under the limit, so a legitimate batch) is answered by
// ListOffsets by timestamp and by max timestamp from its header, many
// times, allocating far less than one inflation would; the answers are the
// batch's base offset and max timestamp, and a consumer starting there gets
// the records at or after the time.
func TestListOffsetsByTimestampNeverInflates(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "timed", 1, nil)
	cl := inproc.NodeClient(t, n)

	const base = int64(1_700_000_000_000)
	three := wireRecords([]kmsg.Record{
		{OffsetDelta: 0, TimestampDelta64: 0, Value: []byte("t0")},
		{OffsetDelta: 1, TimestampDelta64: 10, Value: []byte("t10")},
		{OffsetDelta: 2, TimestampDelta64: 20, Value: []byte("t20")},
	})
	if r := rawProduce(t, cl, "timed", 0, rawBatch(codecZstd, zstded(t, three), 3, base, base+20)); r.ErrorCode != 0 {
		t.Fatalf("zstd batch: error %d", r.ErrorCode)
	}
	big := rawBatch(codecGzip, gzipped(t, func(w io.Writer) { hugeRecord(t, w, 60<<20) }), 1, base+1000, base+1000)
	if r := rawProduce(t, cl, "timed", 0, big); r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("60 MiB gzip batch: error %d base %d", r.ErrorCode, r.BaseOffset)
	}

	ctx := testharness.Context(t, 20*time.Second)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 10
	for range rounds {
		got, err := adm.ListOffsetsAfterMilli(ctx, base+500, "timed")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := got.Lookup("timed", 0); o.Err != nil || o.Offset != 3 || o.Timestamp != base+1000 {
			t.Fatalf("offset after base+500: %+v, want 3 at base+1000", o)
		}
		maxTS, err := adm.ListMaxTimestampOffsets(ctx, "timed")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := maxTS.Lookup("timed", 0); o.Err != nil || o.Offset != 3 || o.Timestamp != base+1000 {
			t.Fatalf("max timestamp: %+v, want 3 at base+1000", o)
		}
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d lookups of each kind over a batch inflating to 60 MiB allocated %.1f MiB", rounds, float64(allocated)/(1<<20))
	if allocated > 40<<20 {
		t.Fatalf("%d lookups allocated %d MiB: something inflated the batch", 2*rounds, allocated>>20)
	}

	// Inside the compressed batch the answer is its base offset with its max
	// timestamp: reading from there, nothing at or after the time is missed.
	got, err := adm.ListOffsetsAfterMilli(ctx, base+15, "timed")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("timed", 0); o.Offset != 0 || o.Timestamp != base+20 {
		t.Fatalf("offset after base+15: %+v, want 0 (the batch) at base+20", o)
	}
}
