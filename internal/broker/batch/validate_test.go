package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []struct {
	name string
	id   int8
}{
	{"gzip", CompressionGzip}, {"snappy-raw", CompressionSnappy}, {"snappy-xerial", CompressionSnappy},
	{"lz4", CompressionLZ4}, {"zstd", CompressionZstd},
}

func threeRecords() []kmsg.Record {
	return []kmsg.Record{
		{OffsetDelta: 0, TimestampDelta64: 0, Key: []byte("a"), Value: []byte("one")},
		{OffsetDelta: 1, TimestampDelta64: 30, Value: []byte("two")},
		{OffsetDelta: 2, TimestampDelta64: 10, Value: []byte("three"), Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}},
	}
}

// TestValidateWalksCompressedRecords: every codec's records are decoded and
// checked at produce, and what Validate learned (records' max timestamp,
// decompressed size) is reported.
func TestValidateWalksCompressedRecords(t *testing.T) {
	raw := encodeRecords(threeRecords())
	for _, c := range allCodecs {
		t.Run(c.name, func(t *testing.T) {
			b := assemble(c.id, compressWith(t, c.name, raw), 3, 1000, 1005) // claims 1005, records reach 1030
			v, err := ValidateFor(b, 1<<20)
			if err != nil {
				t.Fatalf("valid %s batch refused: %v", c.name, err)
			}
			if v.RecordsMaxTimestamp != 1030 || v.MaxTimestamp != 1005 || v.RecordBytes != int64(len(raw)) {
				t.Fatalf("validated %+v, want records max ts 1030, header 1005, %d record bytes", v, len(raw))
			}
		})
	}
}

// TestValidateRefusesRecordsThatDisagreeWithTheHeader: compressed or not,
// a batch whose records do not match its header is refused with
// ErrInvalidRecord, and a bad record is named by its index.
func TestValidateRefusesRecordsThatDisagreeWithTheHeader(t *testing.T) {
	three := threeRecords()
	swapped := threeRecords()
	swapped[1].OffsetDelta, swapped[2].OffsetDelta = 2, 1
	badKey := encodeRecords(three[:1])
	badKey[4] = 0x7e // key length 63 inside a record of a few bytes
	cases := []struct {
		name      string
		records   []byte
		count     int32
		recordIdx int32 // -1: a batch-level error
	}{
		{"claims more records than it holds", encodeRecords(three), 4, -1},
		{"claims 2^31-1 records", encodeRecords(three), math.MaxInt32, -1},
		{"claims fewer records than it holds", encodeRecords(three), 2, -1},
		{"offset deltas out of order", encodeRecords(swapped), 3, 1},
		{"key longer than its record", badKey, 1, 0},
		{"random bytes", bytes.Repeat([]byte{0x05, 0xff, 0x13}, 40), 3, 0},
		{"all zeros", make([]byte, 4096), 3, 0},
	}
	for _, tc := range cases {
		for _, c := range append([]struct {
			name string
			id   int8
		}{{"none", CompressionNone}}, allCodecs...) {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				section := tc.records
				if c.id != CompressionNone {
					section = compressWith(t, c.name, tc.records)
				}
				b := assemble(c.id, section, tc.count, 0, 0)
				start := time.Now()
				_, err := ValidateFor(b, 1<<20)
				if !errors.Is(err, ErrInvalidRecord) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err %v, want ErrInvalidRecord (which is also ErrCorrupt)", err)
				}
				var re *RecordError
				if got := errors.As(err, &re); got != (tc.recordIdx >= 0) || (got && re.Index != tc.recordIdx) {
					t.Fatalf("err %v: record error %v %+v, want record %d", err, got, re, tc.recordIdx)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("took %v", d)
				}
				if _, err := Records(b); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Records accepted what Validate refused: %v", err)
				}
			})
		}
	}
}

// TestValidateRefusesProducerIDWithoutSequence: as Kafka, an idempotent
// batch (producer id set) needs a base sequence.
func TestValidateRefusesProducerIDWithoutSequence(t *testing.T) {
	b := assemble(CompressionNone, encodeRecords(threeRecords()), 3, 0, 0)
	binary.BigEndian.PutUint64(b[offProducerID:], 7)
	recompute(b)
	if _, err := ValidateFor(b, 1<<20); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("producer id 7, sequence -1: %v", err)
	}
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0)
	recompute(b)
	if _, err := ValidateFor(b, 1<<20); err != nil {
		t.Fatalf("producer id 7, sequence 0: %v", err)
	}
}

// TestValidateRefusesUndecodableCompressedData: garbage that is not valid
// compressed data, and valid compressed data cut short, are ErrCorrupt,
// not ErrInvalidRecord.
func TestValidateRefusesUndecodableCompressedData(t *testing.T) {
	raw := encodeRecords(threeRecords())
	for _, c := range allCodecs {
		t.Run(c.name, func(t *testing.T) {
			good := compressWith(t, c.name, raw)
			for name, section := range map[string][]byte{
				"garbage":   bytes.Repeat([]byte("not compressed at all "), 10),
				"truncated": good[:len(good)-3],
			} {
				_, err := ValidateFor(assemble(c.id, section, 3, 0, 0), 1<<20)
				if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidRecord) && name == "garbage" {
					t.Errorf("%s: err %v, want ErrCorrupt", name, err)
				}
			}
		})
	}
}

// bombWriter compresses with codec into buf, as a stream.
func bombWriter(t *testing.T, codec string, buf *bytes.Buffer) io.WriteCloser {
	t.Helper()
	switch codec {
	case "gzip":
		w, err := gzip.NewWriterLevel(buf, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		return w
	case "lz4":
		return lz4.NewWriter(buf)
	case "zstd":
		w, err := zstd.NewWriter(buf, zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		return w
	case "snappy-xerial":
		return &xerialWriter{out: buf}
	}
	t.Fatalf("no bomb for %s", codec)
	return nil
}

// xerialWriter writes xerial-framed snappy, one 64 KiB chunk per Write.
type xerialWriter struct {
	out    *bytes.Buffer
	header bool
}

func (x *xerialWriter) Write(p []byte) (int, error) {
	if !x.header {
		x.out.WriteString(xerialMagic)
		x.out.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		x.header = true
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		c := s2.EncodeSnappy(nil, rest[:n])
		x.out.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c))))
		x.out.Write(c)
		rest = rest[n:]
	}
	return len(p), nil
}

func (x *xerialWriter) Close() error { return nil }

// bomb is a batch with one well-framed record whose value is size zero
// bytes, compressed as a stream: only inflating it shows it is too big.
func bomb(t *testing.T, codec string, id int8, size int) []byte {
	t.Helper()
	var body []byte
	body = append(body, 0)               // attributes
	body = binary.AppendVarint(body, 0)  // timestamp delta
	body = binary.AppendVarint(body, 0)  // offset delta
	body = binary.AppendVarint(body, -1) // null key
	body = binary.AppendVarint(body, int64(size))
	prefix := binary.AppendVarint(nil, int64(len(body)+size+1))
	prefix = append(prefix, body...)
	var buf bytes.Buffer
	w := bombWriter(t, codec, &buf)
	if _, err := w.Write(prefix); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(zeros) {
		if _, err := w.Write(zeros[:min(left, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte{0}); err != nil { // no headers
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return assemble(id, buf.Bytes(), 1, 0, 0)
}

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestValidateRefusesBombsInBoundedMemory: a well-framed record that
// inflates past the limit is refused with ErrTooLarge after inflating at
// most the limit, allocating a small fraction of it (the stream is never
// held whole), while the same batch passes under a limit that fits it.
func TestValidateRefusesBombsInBoundedMemory(t *testing.T) {
	const size, limit = 24 << 20, 8 << 20
	for _, codec := range []struct {
		name string
		id   int8
	}{{"gzip", CompressionGzip}, {"lz4", CompressionLZ4}, {"zstd", CompressionZstd}, {"snappy-xerial", CompressionSnappy}} {
		t.Run(codec.name, func(t *testing.T) {
			b := bomb(t, codec.name, codec.id, size)
			var err error
			alloc := allocated(func() { _, err = validate(b, limit) })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d-byte %s bomb inflating to %d: err %v, want ErrTooLarge", len(b), codec.name, size, err)
			}
			// Far below the 24 MiB the bomb inflates to: what a streaming
			// decoder needs. lz4 may take two buffers of its largest block
			// size (4 MiB) when its pool is cold.
			bound := uint64(6 << 20)
			if codec.id == CompressionLZ4 {
				bound = 10 << 20
			}
			if alloc > bound {
				t.Fatalf("refusing the bomb allocated %d bytes, bound %d", alloc, bound)
			}
			t.Logf("%d-byte %s batch inflating to %d MiB refused; %d KiB allocated", len(b), codec.name, size>>20, alloc>>10)
			v, err := validate(b, 2*size)
			if err != nil || v.RecordBytes <= size {
				t.Fatalf("under a %d-byte limit: %+v %v", 2*size, v, err)
			}
		})
	}
}

// TestValidateForDefaultLimitRefusesGzipBomb: the finding's bomb, about
// 200 KB of gzip inflating to 200 MiB, is refused under the default limit
// (64 MiB) with memory far below it.
func TestValidateForDefaultLimitRefusesGzipBomb(t *testing.T) {
	b := bomb(t, "gzip", CompressionGzip, 200<<20)
	var err error
	alloc := allocated(func() { _, err = ValidateFor(b, 1048588) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if alloc > 4<<20 {
		t.Fatalf("refusing the bomb allocated %d bytes", alloc)
	}
	t.Logf("%d-byte gzip batch inflating to 200 MiB refused; %d KiB allocated", len(b), alloc>>10)
	if InflateLimit(1048588) != MinInflateLimit || InflateLimit(100<<20) != 100<<20 {
		t.Fatalf("InflateLimit: %d %d", InflateLimit(1048588), InflateLimit(100<<20))
	}
}

// TestValidateRefusesLargeZstdWindow: a zstd stream asking for a window
// above MaxZstdWindow is refused before the decoder allocates it.
func TestValidateRefusesLargeZstdWindow(t *testing.T) {
	raw := encodeRecords(threeRecords())
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(64<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// Flush before the end so the frame does not get a single-segment header.
	if _, err := w.Write(raw[:10]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw[10:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := assemble(CompressionZstd, buf.Bytes(), 3, 0, 0)
	var verr error
	alloc := allocated(func() { _, verr = ValidateFor(b, 1<<20) })
	if !errors.Is(verr, ErrTooLarge) {
		t.Fatalf("64 MiB window: err %v, want ErrTooLarge", verr)
	}
	if alloc > 4<<20 {
		t.Fatalf("refusing allocated %d bytes", alloc)
	}
}

// TestSeekTimestampNeverInflates: time lookups answer compressed batches
// from the header (a payload that does not even decompress is never
// touched) and uncompressed ones exactly.
func TestSeekTimestampNeverInflates(t *testing.T) {
	garbage := assemble(CompressionZstd, []byte("not zstd"), 3, 1000, 1030)
	h, err := Check(garbage)
	if err != nil {
		t.Fatal(err)
	}
	SetBaseOffset(garbage, 40)
	h.BaseOffset = 40
	if off, ts, ok, err := SeekTimestamp(h, nil, 1010); off != 40 || ts != 1030 || !ok || err != nil {
		t.Fatalf("compressed: %d %d %v %v, want 40 1030", off, ts, ok, err)
	}
	if _, _, ok, err := SeekTimestamp(h, garbage, 1031); ok || err != nil {
		t.Fatalf("compressed past max: %v %v", ok, err)
	}
	if off, ok, err := SeekMaxTimestamp(h, garbage); off != 40 || !ok || err != nil {
		t.Fatalf("compressed max: %d %v %v", off, ok, err)
	}

	plain := assemble(CompressionNone, encodeRecords(threeRecords()), 3, 1000, 1030)
	SetBaseOffset(plain, 40)
	h, _ = Check(plain)
	for _, tc := range []struct{ ts, off, got int64 }{{0, 40, 1000}, {1001, 41, 1030}, {1030, 41, 1030}} {
		if off, ts, ok, err := SeekTimestamp(h, plain, tc.ts); off != tc.off || ts != tc.got || !ok || err != nil {
			t.Fatalf("uncompressed seek %d: %d %d %v %v, want %d %d", tc.ts, off, ts, ok, err, tc.off, tc.got)
		}
	}
	if off, ok, err := SeekMaxTimestamp(h, plain); off != 41 || !ok || err != nil {
		t.Fatalf("uncompressed max: %d %v %v", off, ok, err)
	}
}

// TestSetMaxTimestampKeepsCRCValid: the leader's correction of a claimed
// max timestamp leaves a batch that validates, with the new value.
func TestSetMaxTimestampKeepsCRCValid(t *testing.T) {
	b := assemble(CompressionNone, encodeRecords(threeRecords()), 3, 1000, 5)
	v, err := ValidateFor(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	SetMaxTimestamp(b, v.RecordsMaxTimestamp)
	if v, err = ValidateFor(b, 1<<20); err != nil || v.MaxTimestamp != 1030 {
		t.Fatalf("after SetMaxTimestamp: %+v %v", v, err)
	}
}
