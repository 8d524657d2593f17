package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func sampleRecords() []Record {
	return []Record{
		{Timestamp: 1000, Key: []byte("k0"), Value: []byte("v0")},
		{Timestamp: 990, Key: nil, Value: []byte("no key")},
		{Timestamp: 1020, Key: []byte{}, Value: nil, Headers: []RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "null", Value: nil}}},
		{Timestamp: 1005, Key: []byte("k3"), Value: bytes.Repeat([]byte("abc"), 100)},
	}
}

// recompute fixes the CRC after a test edits covered bytes, so that a later
// check fails for the reason the test is about and not for the CRC.
func recompute(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
}

func TestBuildValidateRecordsRoundTrip(t *testing.T) {
	in := sampleRecords()
	b := Build(1000, in)
	SetBaseOffset(b, 500)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("validate built batch: %v", err)
	}
	if h.BaseOffset != 500 || h.NumRecords != 4 || h.LastOffsetDelta != 3 || h.LastOffset() != 503 {
		t.Fatalf("header offsets: %+v", h)
	}
	if h.BaseTimestamp != 1000 || h.MaxTimestamp != 1020 {
		t.Fatalf("timestamps base %d max %d, want 1000 1020", h.BaseTimestamp, h.MaxTimestamp)
	}
	if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.PartitionLeaderEpoch != -1 {
		t.Fatalf("producer fields: %+v", h)
	}
	if h.Size() != len(b) || h.Compression() != CompressionNone || h.IsControl() || h.IsTransactional() || h.LogAppendTime() {
		t.Fatalf("size/attributes: %+v len %d", h, len(b))
	}
	out, err := Records(b)
	if err != nil {
		t.Fatalf("records: %v", err)
	}
	want := append([]Record(nil), in...)
	for i := range want {
		want[i].Offset = 500 + int64(i)
	}
	assertRecords(t, out, want)

	// An independent decoder (franz-go's kmsg) must read the same batch.
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg read: %v", err)
	}
	if kb.NumRecords != 4 || kb.FirstOffset != 500 || uint32(kb.CRC) != h.CRC {
		t.Fatalf("kmsg view: %+v", kb)
	}
	raw := kb.Records
	for i := range in {
		var kr kmsg.Record
		if err := kr.ReadFrom(raw); err != nil {
			t.Fatalf("kmsg record %d: %v", i, err)
		}
		if int(kr.OffsetDelta) != i || kr.TimestampDelta64 != in[i].Timestamp-1000 || !bytes.Equal(kr.Value, in[i].Value) || (kr.Key == nil) != (in[i].Key == nil) {
			t.Fatalf("kmsg record %d: %+v", i, kr)
		}
		raw = raw[recordWireSize(t, raw):]
	}
}

// recordWireSize is the length varint plus the record it announces.
func recordWireSize(t *testing.T, b []byte) int {
	t.Helper()
	l, n := binary.Varint(b)
	if n <= 0 {
		t.Fatal("bad record length varint")
	}
	return n + int(l)
}

func assertRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.Timestamp != w.Timestamp {
			t.Errorf("record %d offset/ts %d/%d, want %d/%d", i, g.Offset, g.Timestamp, w.Offset, w.Timestamp)
		}
		if !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) {
			t.Errorf("record %d key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		}
		if !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
			t.Errorf("record %d value %q (nil %v), want %q (nil %v)", i, g.Value, g.Value == nil, w.Value, w.Value == nil)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Errorf("record %d has %d headers, want %d", i, len(g.Headers), len(w.Headers))
			continue
		}
		for j := range w.Headers {
			gh, wh := g.Headers[j], w.Headers[j]
			if gh.Key != wh.Key || !bytes.Equal(gh.Value, wh.Value) || (gh.Value == nil) != (wh.Value == nil) {
				t.Errorf("record %d header %d: %+v, want %+v", i, j, gh, wh)
			}
		}
	}
}

func TestBuildWithoutRecordsReturnsNil(t *testing.T) {
	if b := Build(0, nil); b != nil {
		t.Fatalf("Build(no records) = %d bytes, want nil", len(b))
	}
}

func TestRecordsDoNotAliasInput(t *testing.T) {
	b := Build(1, []Record{{Timestamp: 1, Key: []byte("key"), Value: []byte("value")}})
	recs, err := Records(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if string(recs[0].Key) != "key" || string(recs[0].Value) != "value" {
		t.Fatalf("records changed with the input buffer: %q %q", recs[0].Key, recs[0].Value)
	}
}

func TestPatchedOffsetAndEpochKeepCRCValid(t *testing.T) {
	b := Build(5, sampleRecords())
	SetBaseOffset(b, 1<<40)
	SetLeaderEpoch(b, 7)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("validate after patching: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 7 {
		t.Fatalf("patched header %+v", h)
	}
}

func TestSetMaxTimestampAndAppendTimeRecomputesCRC(t *testing.T) {
	b := Build(1000, sampleRecords())
	SetMaxTimestampAndAppendTime(b, 99_999)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("validate after stamping: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 99_999 || h.BaseTimestamp != 99_999 {
		t.Fatalf("stamped header %+v", h)
	}
	recs, err := Records(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != 99_999 {
			t.Fatalf("record %d timestamp %d, want the append time", r.Offset, r.Timestamp)
		}
	}
}

func TestValidateRejectsBadCRC(t *testing.T) {
	b := Build(1, sampleRecords())
	b[len(b)-1] ^= 0x40
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped payload byte: err %v, want ErrCorrupt", err)
	}
	b = Build(1, sampleRecords())
	b[offAttributes+1] ^= 0x01 // attributes are covered by the CRC too
	if _, err := Check(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped attribute: err %v, want ErrCorrupt", err)
	}
}

func TestValidateRejectsTruncatedBatch(t *testing.T) {
	b := Build(1, sampleRecords())
	for _, n := range []int{0, 5, 16, 17, 40, HeaderSize, len(b) - 1} {
		if _, err := Validate(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("first %d of %d bytes: err %v, want ErrTruncated", n, len(b), err)
		}
	}
}

func TestValidateRejectsTrailingBytes(t *testing.T) {
	b := append(Build(1, sampleRecords()), 0)
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("extra byte: err %v, want ErrCorrupt", err)
	}
}

// oldMessageSet is a magic 1 message as a pre-0.11 client sends it.
func oldMessageSet() []byte {
	msg := make([]byte, 0, 64)
	msg = binary.BigEndian.AppendUint64(msg, 0) // offset
	msg = binary.BigEndian.AppendUint32(msg, 22)
	msg = binary.BigEndian.AppendUint32(msg, 0) // crc (not checked: refused before)
	msg = append(msg, 1, 0)                     // magic 1, attributes
	msg = binary.BigEndian.AppendUint64(msg, 0) // timestamp
	msg = binary.BigEndian.AppendUint32(msg, 0xffffffff)
	msg = binary.BigEndian.AppendUint32(msg, 0)
	return msg
}

func TestOldMagicIsUnsupported(t *testing.T) {
	old := oldMessageSet()
	if _, err := ParseHeader(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("ParseHeader(magic 1): %v", err)
	}
	if _, err := Validate(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("Validate(magic 1): %v", err)
	}
	if _, err := Split(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("Split(magic 1): %v", err)
	}
	b := Build(1, sampleRecords())
	b[offMagic] = 0
	if _, err := Split(append(Build(1, sampleRecords()), b...)); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("Split(v2 then magic 0): %v", err)
	}
}

func TestValidateChecksCountsAndFraming(t *testing.T) {
	cases := []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"no records", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			return b
		}},
		{"last offset delta not count-1", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 7)
			return b
		}},
		{"count larger than records", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offNumRecords:], 5)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 4)
			return b
		}},
		{"count smaller than records", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offNumRecords:], 3)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 2)
			return b
		}},
		{"record length past the batch", func(b []byte) []byte {
			b[HeaderSize] = 0x7e // zig-zag 63: larger than the first record
			return b
		}},
		{"unknown codec", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[offAttributes:], 6)
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(Build(1, []Record{{Timestamp: 1, Value: []byte("a")}, {Timestamp: 2, Value: []byte("b")}, {Timestamp: 3, Value: []byte("c")}, {Timestamp: 4, Value: []byte("d")}}))
			recompute(b)
			_, err := Validate(b)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedCompression) {
				t.Fatalf("err %v, want a validation error", err)
			}
		})
	}
}

func TestValidateRejectsOutOfOrderOffsetDeltas(t *testing.T) {
	recs := []kmsg.Record{{OffsetDelta: 1, Value: []byte("a")}, {OffsetDelta: 0, Value: []byte("b")}}
	b := assemble(CompressionNone, encodeRecords(recs), 2, 0, 0)
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped offset deltas: err %v, want ErrCorrupt", err)
	}
}

func TestParseHeaderRejectsShortLength(t *testing.T) {
	b := Build(1, sampleRecords())
	binary.BigEndian.PutUint32(b[offLength:], 48)
	if _, err := ParseHeader(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("length 48: %v", err)
	}
}

func TestSplitReturnsEachBatchWithoutCopying(t *testing.T) {
	var payload []byte
	var sizes []int
	for i := range 3 {
		b := Build(int64(i), sampleRecords()[:i+1])
		sizes = append(sizes, len(b))
		payload = append(payload, b...)
	}
	parts, err := Split(payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	pos := 0
	for i, p := range parts {
		if len(p) != sizes[i] || cap(p) != sizes[i] || &p[0] != &payload[pos] {
			t.Fatalf("part %d: len %d cap %d aliased %v", i, len(p), cap(p), &p[0] == &payload[pos])
		}
		if _, err := Validate(p); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		pos += len(p)
	}
	if _, err := Split(payload[:len(payload)-3]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("partial trailing batch: %v", err)
	}
	if _, err := Split(payload[:len(payload)-sizes[2]+10]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("trailing 10 bytes: %v", err)
	}
	if parts, err := Split(nil); err != nil || len(parts) != 0 {
		t.Fatalf("Split(nil) = %d, %v", len(parts), err)
	}
}

// encodeRecords writes records with franz-go's encoder, independent of ours.
func encodeRecords(recs []kmsg.Record) []byte {
	var out []byte
	for _, r := range recs {
		r.Length = 0
		body := r.AppendTo(nil)[1:] // drop the 1-byte zero length
		r.Length = int32(len(body))
		out = r.AppendTo(out)
	}
	return out
}

// assemble wraps a (possibly compressed) records section in a v2 header with a valid CRC.
func assemble(codec int8, records []byte, n int32, baseTS, maxTS int64) []byte {
	kb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      n - 1,
		FirstTimestamp:       baseTS,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           n,
		Records:              records,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-12))
	recompute(b)
	return b
}

func compressWith(t *testing.T, codec string, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case "gzip":
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "snappy-raw":
		return s2.EncodeSnappy(nil, raw)
	case "snappy-xerial":
		// Two chunks, as snappy-java writes for larger inputs.
		half := len(raw) / 2
		out := []byte(xerialMagic)
		out = binary.BigEndian.AppendUint32(out, 1)
		out = binary.BigEndian.AppendUint32(out, 1)
		for _, part := range [][]byte{raw[:half], raw[half:]} {
			c := s2.EncodeSnappy(nil, part)
			out = binary.BigEndian.AppendUint32(out, uint32(len(c)))
			out = append(out, c...)
		}
		// Cross-check our framing against the library's xerial decoder.
		if got, err := xerial.Decode(out); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("xerial reference decode: %v", err)
		}
		return out
	case "lz4":
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(raw, nil)
	default:
		t.Fatalf("unknown codec %s", codec)
	}
	return buf.Bytes()
}

func TestRecordsDecodesEveryCodec(t *testing.T) {
	var krecs []kmsg.Record
	var want []Record
	for i := range 50 {
		kr := kmsg.Record{
			TimestampDelta64: int64(i * 3),
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i)),
			Value:            bytes.Repeat([]byte{byte('a' + i%26)}, 200+i),
			Headers:          []kmsg.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}},
		}
		if i%10 == 0 {
			kr.Key = nil
		}
		krecs = append(krecs, kr)
		want = append(want, Record{
			Offset: 100 + int64(i), Timestamp: 10_000 + int64(i*3), Key: kr.Key, Value: kr.Value,
			Headers: []RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}},
		})
	}
	raw := encodeRecords(krecs)
	codecs := []struct {
		name string
		id   int8
	}{
		{"none", CompressionNone}, {"gzip", CompressionGzip}, {"snappy-raw", CompressionSnappy},
		{"snappy-xerial", CompressionSnappy}, {"lz4", CompressionLZ4}, {"zstd", CompressionZstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			section := raw
			if c.id != CompressionNone {
				section = compressWith(t, c.name, raw)
				if len(section) >= len(raw) {
					t.Fatalf("%s did not compress: %d >= %d", c.name, len(section), len(raw))
				}
			}
			b := assemble(c.id, section, int32(len(krecs)), 10_000, 10_000+49*3)
			SetBaseOffset(b, 100)
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if h.Compression() != c.id {
				t.Fatalf("compression %d, want %d", h.Compression(), c.id)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatalf("records: %v", err)
			}
			assertRecords(t, got, want)
		})
	}
}

func TestRecordsRejectsCorruptCompressedData(t *testing.T) {
	for _, codec := range []int8{CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		b := assemble(codec, []byte("definitely not compressed data"), 1, 0, 0)
		if _, err := Validate(b); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidRecord) {
			t.Errorf("codec %d: Validate err %v, want ErrCorrupt (undecodable), not ErrInvalidRecord", codec, err)
		}
		if _, err := Records(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("codec %d: Records err %v, want ErrCorrupt", codec, err)
		}
	}
}

func TestRecordsRejectsLyingCountInCompressedBatch(t *testing.T) {
	raw := encodeRecords([]kmsg.Record{{OffsetDelta: 0, Value: []byte("only one")}})
	b := assemble(CompressionGzip, compressWith(t, "gzip", raw), 2, 0, 0)
	if _, err := Records(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("count 2 with one record: %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(Build(1, sampleRecords()))
	f.Add(Build(0, []Record{{Value: []byte("x")}}))
	f.Add(oldMessageSet())
	raw := encodeRecords([]kmsg.Record{{OffsetDelta: 0, Key: []byte("k"), Value: []byte("v")}})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	_ = w.Close()
	f.Add(assemble(CompressionGzip, gz.Bytes(), 1, 0, 0))
	f.Add(assemble(CompressionSnappy, s2.EncodeSnappy(nil, raw), 1, 0, 0))
	three := encodeRecords(threeRecords())
	f.Add(three)
	f.Add(append(three, 0))
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	defer zenc.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzCompressed(t, b, zenc)
		h, err := Validate(b)
		if err == nil {
			if h.Size() != len(b) || h.NumRecords < 1 {
				t.Fatalf("accepted inconsistent batch: %+v len %d", h, len(b))
			}
			if recs, err := Records(b); err == nil && h.Compression() == CompressionNone && len(recs) != int(h.NumRecords) {
				t.Fatalf("%d records decoded, header says %d", len(recs), h.NumRecords)
			}
		}
		// Recompute the CRC so the fuzzer reaches the record walk too.
		if len(b) >= HeaderSize {
			c := append([]byte(nil), b...)
			recompute(c)
			_, _ = Validate(c)
			_, _ = Records(c)
		}
		parts, err := Split(b)
		if err == nil {
			total := 0
			for _, p := range parts {
				total += len(p)
			}
			if total != len(b) {
				t.Fatalf("split covers %d of %d bytes", total, len(b))
			}
		}
	})
}

// fuzzCompressed feeds b to the validator as the records section of a
// batch with a correct CRC, for every codec: once as it is (arbitrary bytes
// claiming to be compressed) and once compressed (arbitrary records). The
// validator must not panic, must allocate a bounded amount whatever it is
// fed, must not inflate past its limit, and may accept only batches whose
// records decode to exactly the count the header claims.
func fuzzCompressed(t *testing.T, b []byte, zenc *zstd.Encoder) {
	const limit = 1 << 20
	var gz, l4 bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write(b)
	_ = gw.Close()
	lw := lz4.NewWriter(&l4)
	_, _ = lw.Write(b)
	_ = lw.Close()
	packed := map[int8][]byte{
		CompressionGzip:   gz.Bytes(),
		CompressionSnappy: s2.EncodeSnappy(nil, b),
		CompressionLZ4:    l4.Bytes(),
		CompressionZstd:   zenc.EncodeAll(b, nil),
	}
	count := int32(1)
	if len(b) > 0 {
		count = int32(b[0]%4) + 1
	}
	for codec, section := range packed {
		for _, payload := range [][]byte{b, section} {
			batch := assemble(codec, payload, count, 0, 0)
			var v Validated
			var err error
			alloc := allocated(func() { v, err = validate(batch, limit) })
			// lz4 blocks (up to 4 MiB) and the 1 MiB zstd window are the
			// most a decoder keeps; the records are never held.
			if alloc > 12<<20 {
				t.Fatalf("codec %d: validating %d bytes allocated %d", codec, len(batch), alloc)
			}
			if err != nil {
				continue
			}
			if v.RecordBytes > limit {
				t.Fatalf("codec %d: accepted %d inflated bytes over the %d limit", codec, v.RecordBytes, limit)
			}
			recs, rerr := Records(batch)
			if rerr != nil || len(recs) != int(count) {
				t.Fatalf("codec %d: validated, but Records gives %d records (want %d): %v", codec, len(recs), count, rerr)
			}
		}
	}
}
