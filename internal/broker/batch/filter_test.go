package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// filterCodecs are the codecs Filter re-encodes with, named for compressWith.
var filterCodecs = []struct {
	name string
	id   int8
}{
	{"none", CompressionNone}, {"gzip", CompressionGzip}, {"snappy-raw", CompressionSnappy},
	{"snappy-xerial", CompressionSnappy}, {"lz4", CompressionLZ4}, {"zstd", CompressionZstd},
}

// filterInput builds n records with franz-go's encoder: keys cycle over
// five values, every seventh value is null (a tombstone), timestamps run
// out of order, some records carry headers.
func filterInput(n int) []kmsg.Record {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		r := kmsg.Record{
			Attributes:       0,
			TimestampDelta64: int64((i * 37) % 11),
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i%5)),
			Value:            bytes.Repeat([]byte{byte('a' + i%26)}, 50+i),
		}
		if i%7 == 3 {
			r.Value = nil
		}
		if i%4 == 1 {
			r.Headers = []kmsg.Header{{Key: "h", Value: []byte(fmt.Sprint(i))}, {Key: "null"}}
		}
		if i == 6 {
			r.Key = nil
		}
		recs[i] = r
	}
	return recs
}

// filterBatch wraps franz-go encoded records (compressed with codecName) in
// a header with every field set to something recognisable; edit may change
// the header before it is encoded.
func filterBatch(t *testing.T, codecName string, codec int8, recs []kmsg.Record, edit func(*kmsg.RecordBatch)) []byte {
	t.Helper()
	raw := encodeRecords(recs)
	section := raw
	if codec != CompressionNone {
		section = compressWith(t, codecName, raw)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          1000,
		PartitionLeaderEpoch: 9,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       50_000,
		MaxTimestamp:         50_000 + 10,
		ProducerID:           77,
		ProducerEpoch:        4,
		FirstSequence:        300,
		NumRecords:           int32(len(recs)),
		Records:              section,
	}
	if edit != nil {
		edit(&kb)
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	recompute(b)
	return b
}

// decompressIndependently inflates a records section with the codec
// libraries directly, not through this package.
func decompressIndependently(t *testing.T, codec int8, src []byte) []byte {
	t.Helper()
	var r io.Reader
	switch codec {
	case CompressionNone:
		return src
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case CompressionSnappy:
		out, err := s2.Decode(nil, src)
		if err != nil {
			t.Fatalf("raw snappy decode: %v", err)
		}
		return out
	case CompressionLZ4:
		r = lz4.NewReader(bytes.NewReader(src))
	case CompressionZstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxZstdWindow))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(src, nil)
		if err != nil {
			t.Fatalf("zstd decode: %v", err)
		}
		return out
	default:
		t.Fatalf("codec %d", codec)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("codec %d decode: %v", codec, err)
	}
	return out
}

// checkClientReadable checks what Kafka clients demand of a compressed
// records section beyond decoding: the Java client's lz4 reader refuses
// frames without independent blocks, and zstd decoders need only support
// windows of 8 MiB.
func checkClientReadable(t *testing.T, codec int8, section []byte) {
	t.Helper()
	switch codec {
	case CompressionLZ4:
		// Frame magic (4 bytes, little endian), then the FLG byte:
		// version 01 in bits 6-7, block independence in bit 5.
		if len(section) < 5 || binary.LittleEndian.Uint32(section) != 0x184D2204 {
			t.Fatal("lz4 section is not an lz4 frame")
		}
		if flg := section[4]; flg>>6 != 1 || flg&0x20 == 0 {
			t.Fatalf("lz4 FLG %08b: want version 1 with independent blocks", flg)
		}
	case CompressionZstd:
		var zh zstd.Header
		if err := zh.Decode(section); err != nil {
			t.Fatalf("zstd frame header: %v", err)
		}
		if zh.WindowSize > MaxZstdWindow {
			t.Fatalf("zstd window %d above %d", zh.WindowSize, MaxZstdWindow)
		}
	case CompressionSnappy:
		// A raw block, as franz-go writes by default: no xerial framing.
		if bytes.HasPrefix(section, []byte(xerialMagic)) {
			t.Fatal("snappy section is xerial-framed, want a raw block")
		}
	}
}

// kmsgRecords parses a plain records section with franz-go.
func kmsgRecords(t *testing.T, section []byte, n int) []kmsg.Record {
	t.Helper()
	var out []kmsg.Record
	for len(section) > 0 {
		l, k := binary.Varint(section)
		if k <= 0 || l < 0 || int(l) > len(section)-k {
			t.Fatalf("record %d: bad length prefix", len(out))
		}
		var r kmsg.Record
		if err := r.ReadFrom(section[:k+int(l)]); err != nil {
			t.Fatalf("record %d: kmsg: %v", len(out), err)
		}
		out = append(out, r)
		section = section[k+int(l):]
	}
	if len(out) != n {
		t.Fatalf("kmsg read %d records, want %d", len(out), n)
	}
	return out
}

func TestFilterRoundTripEveryCodec(t *testing.T) {
	in := filterInput(40)
	// A Filterer used for every codec in turn must write what Filter
	// writes, and what it returned stays intact after its later calls.
	var shared Filterer
	defer shared.Close()
	type result struct {
		out  []byte
		want []Record
	}
	var results []result
	defer func() {
		for i, r := range results {
			got, err := Records(r.out)
			if err != nil {
				t.Fatalf("shared Filterer's output %d after later calls: %v", i, err)
			}
			assertRecords(t, got, r.want)
		}
	}()
	for _, c := range filterCodecs {
		t.Run(c.name, func(t *testing.T) {
			b := filterBatch(t, c.name, c.id, in, nil)
			orig := append([]byte(nil), b...)
			all, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			// Keep a pattern with holes at the start, middle and end: drop
			// the first and the last record and every third one.
			drop := func(off int64) bool { d := off - 1000; return d == 0 || d == 39 || d%3 == 1 }
			var seen []int64
			out, kept, removed, err := Filter(b, func(r Record) bool {
				seen = append(seen, r.Offset)
				return !drop(r.Offset)
			})
			if err != nil {
				t.Fatalf("filter: %v", err)
			}
			if !bytes.Equal(b, orig) {
				t.Fatal("Filter modified its input")
			}
			if len(seen) != 40 || seen[0] != 1000 || seen[39] != 1039 {
				t.Fatalf("keep saw offsets %v", seen)
			}
			var want []Record
			var wantK []kmsg.Record
			wantMax := int64(math.MinInt64)
			for i, r := range all {
				if !drop(r.Offset) {
					want = append(want, r)
					wantK = append(wantK, in[i])
					wantMax = max(wantMax, r.Timestamp)
				}
			}
			if kept != len(want) || removed != 40-len(want) {
				t.Fatalf("kept %d removed %d, want %d %d", kept, removed, len(want), 40-len(want))
			}
			sout, _, _, err := shared.Filter(b, func(r Record) bool { return !drop(r.Offset) })
			if err != nil || !bytes.Equal(sout, out) {
				t.Fatalf("shared Filterer: %d bytes, err %v; Filter: %d bytes", len(sout), err, len(out))
			}
			results = append(results, result{sout, want})
			h, err := Check(out)
			if err != nil {
				t.Fatalf("check filtered: %v", err)
			}
			wantH := mustHeader(t, b)
			wantH.NumRecords = int32(kept)
			wantH.MaxTimestamp = wantMax
			wantH.Length, wantH.CRC = h.Length, h.CRC
			if h != wantH {
				t.Fatalf("header\n got %+v\nwant %+v", h, wantH)
			}
			if h.LastOffset() != 1039 {
				t.Fatalf("last offset %d, want the original 1039", h.LastOffset())
			}
			got, err := Records(out)
			if err != nil {
				t.Fatalf("records of filtered batch: %v", err)
			}
			assertRecords(t, got, want)

			checkClientReadable(t, c.id, out[HeaderSize:])
			// Independently: the records section, inflated by the codec
			// library, is exactly the kept records as franz-go encodes them.
			section := decompressIndependently(t, c.id, out[HeaderSize:])
			if !bytes.Equal(section, encodeRecords(wantK)) {
				t.Fatal("filtered records are not the kept records byte for byte")
			}
			krecs := kmsgRecords(t, section, kept)
			for i, kr := range krecs {
				if kr.OffsetDelta != wantK[i].OffsetDelta || kr.TimestampDelta64 != wantK[i].TimestampDelta64 {
					t.Fatalf("record %d: deltas %d/%d, want %d/%d", i, kr.OffsetDelta, kr.TimestampDelta64, wantK[i].OffsetDelta, wantK[i].TimestampDelta64)
				}
			}

			// Filtering a filtered batch (gaps in offset deltas) works, and
			// keeping all of it returns it as it is.
			out2, kept2, removed2, err := Filter(out, func(r Record) bool { return r.Offset != want[0].Offset })
			if err != nil || kept2 != kept-1 || removed2 != 1 {
				t.Fatalf("second filter: kept %d removed %d err %v", kept2, removed2, err)
			}
			got2, err := Records(out2)
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, got2, want[1:])
		})
	}
}

func mustHeader(t *testing.T, b []byte) Header {
	t.Helper()
	h, err := Check(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestFilterUncompressedReadsWithKmsg(t *testing.T) {
	in := filterInput(10)
	b := filterBatch(t, "none", CompressionNone, in, nil)
	out, _, _, err := Filter(b, func(r Record) bool { return r.Offset%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(out); err != nil {
		t.Fatalf("kmsg batch: %v", err)
	}
	if kb.FirstOffset != 1000 || kb.LastOffsetDelta != 9 || kb.NumRecords != 5 || kb.ProducerID != 77 ||
		kb.ProducerEpoch != 4 || kb.FirstSequence != 300 || kb.PartitionLeaderEpoch != 9 || kb.FirstTimestamp != 50_000 {
		t.Fatalf("kmsg header %+v", kb)
	}
	if kb.CRC != int32(crc32c(out[offAttributes:])) {
		t.Fatal("kmsg CRC disagrees")
	}
	krecs := kmsgRecords(t, kb.Records, 5)
	for i, kr := range krecs {
		src := in[2*i]
		if kr.OffsetDelta != int32(2*i) || !bytes.Equal(kr.Key, src.Key) || !bytes.Equal(kr.Value, src.Value) || len(kr.Headers) != len(src.Headers) {
			t.Fatalf("record %d: %+v, want %+v", i, kr, src)
		}
	}
}

func TestFilterKeepAllReturnsInput(t *testing.T) {
	for _, c := range filterCodecs {
		b := filterBatch(t, c.name, c.id, filterInput(8), nil)
		out, kept, removed, err := Filter(b, func(Record) bool { return true })
		if err != nil || kept != 8 || removed != 0 {
			t.Fatalf("%s: kept %d removed %d err %v", c.name, kept, removed, err)
		}
		if &out[0] != &b[0] || len(out) != len(b) {
			t.Fatalf("%s: keep-all did not return the input slice", c.name)
		}
	}
}

func TestFilterKeepNoneReturnsNil(t *testing.T) {
	for _, c := range filterCodecs {
		b := filterBatch(t, c.name, c.id, filterInput(8), nil)
		out, kept, removed, err := Filter(b, func(Record) bool { return false })
		if err != nil || kept != 0 || removed != 8 || out != nil {
			t.Fatalf("%s: out %d bytes kept %d removed %d err %v", c.name, len(out), kept, removed, err)
		}
	}
}

func TestFilterKeepsAttributesAndLogAppendTime(t *testing.T) {
	in := filterInput(6)
	b := filterBatch(t, "lz4", CompressionLZ4, in, func(kb *kmsg.RecordBatch) {
		kb.Attributes |= attrLogAppendTime | attrTransactional
		kb.FirstTimestamp, kb.MaxTimestamp = 123_456, 123_456
	})
	out, kept, _, err := Filter(b, func(r Record) bool {
		if r.Timestamp != 123_456 {
			t.Errorf("offset %d: timestamp %d, want the log append time", r.Offset, r.Timestamp)
		}
		return r.Offset >= 1003
	})
	if err != nil || kept != 3 {
		t.Fatalf("kept %d err %v", kept, err)
	}
	h := mustHeader(t, out)
	if !h.LogAppendTime() || !h.IsTransactional() || h.IsControl() || h.Compression() != CompressionLZ4 || h.MaxTimestamp != 123_456 {
		t.Fatalf("header %+v", h)
	}
	recs, err := Records(out)
	if err != nil || len(recs) != 3 || recs[0].Offset != 1003 || recs[0].Timestamp != 123_456 {
		t.Fatalf("records %+v err %v", recs, err)
	}
}

func TestEmptyBatch(t *testing.T) {
	b := filterBatch(t, "zstd", CompressionZstd, filterInput(5), func(kb *kmsg.RecordBatch) {
		kb.Attributes |= attrTransactional | attrControl | attrLogAppendTime
	})
	h := mustHeader(t, b)
	e := EmptyBatch(h)
	got, err := Check(e)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	want := h
	want.NumRecords, want.Length, want.CRC = 0, minLength, got.CRC
	want.Attributes = h.Attributes &^ attrCompressionMask
	if got != want {
		t.Fatalf("header\n got %+v\nwant %+v", got, want)
	}
	if got.Size() != HeaderSize || len(e) != HeaderSize || got.LastOffset() != 1004 {
		t.Fatalf("size %d len %d last offset %d", got.Size(), len(e), got.LastOffset())
	}
	// Every read path takes it as a batch to skip.
	if recs, err := Records(e); err != nil || len(recs) != 0 {
		t.Fatalf("records: %v %v", recs, err)
	}
	plain := EmptyBatch(Header{BaseOffset: 10, LastOffsetDelta: 3, BaseTimestamp: 5, MaxTimestamp: 9, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: 2})
	ph := mustHeader(t, plain)
	if _, _, found, err := SeekTimestamp(ph, plain, 0); err != nil || found {
		t.Fatalf("seek timestamp: found %v err %v", found, err)
	}
	if _, found, err := SeekMaxTimestamp(ph, plain); err != nil || found {
		t.Fatalf("seek max timestamp: found %v err %v", found, err)
	}
	out, kept, removed, err := Filter(plain, func(Record) bool { t.Fatal("keep called"); return true })
	if err != nil || kept != 0 || removed != 0 || &out[0] != &plain[0] {
		t.Fatalf("filter of an empty batch: kept %d removed %d err %v", kept, removed, err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(plain); err != nil || kb.NumRecords != 0 || kb.FirstOffset != 10 || kb.LastOffsetDelta != 3 {
		t.Fatalf("kmsg: %+v %v", kb, err)
	}
	// The produce path still refuses a batch without records.
	if _, err := Validate(plain); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("validate empty batch: %v", err)
	}
}

func TestRecordsAcceptsGapsButNotDisorder(t *testing.T) {
	mk := func(deltas []int32, last int32) []byte {
		var recs []kmsg.Record
		for _, d := range deltas {
			recs = append(recs, kmsg.Record{OffsetDelta: d, Value: []byte("v")})
		}
		return filterBatch(t, "none", CompressionNone, recs, func(kb *kmsg.RecordBatch) { kb.LastOffsetDelta = last })
	}
	if recs, err := Records(mk([]int32{1, 4, 9}, 9)); err != nil || len(recs) != 3 || recs[2].Offset != 1009 {
		t.Fatalf("gaps: %v %v", recs, err)
	}
	// Gaps are for compacted logs: a producer still sends 0, 1, 2, ...
	if _, err := Validate(mk([]int32{0, 2, 3}, 2)); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("validate with a gap: %v", err)
	}
	for name, b := range map[string][]byte{
		"descending":       mk([]int32{0, 5, 3}, 9),
		"repeated":         mk([]int32{0, 2, 2}, 9),
		"past last delta":  mk([]int32{0, 1, 10}, 9),
		"negative":         mk([]int32{-1, 0, 1}, 9),
		"count above room": mk([]int32{0, 1, 2}, 1),
	} {
		if _, err := Records(b); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: Records err %v, want ErrInvalidRecord", name, err)
		}
		if _, _, _, err := Filter(b, func(Record) bool { return true }); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: Filter err %v, want ErrInvalidRecord", name, err)
		}
	}
}

func TestFilterRejectsLyingBatches(t *testing.T) {
	in := filterInput(4)
	good := filterBatch(t, "none", CompressionNone, in, nil)
	keepOdd := func(r Record) bool { return r.Offset%2 == 1 }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"count above records", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.NumRecords = 5; kb.LastOffsetDelta = 9 }), ErrInvalidRecord},
		{"count below records", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.NumRecords = 3 }), ErrInvalidRecord},
		{"negative count", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.NumRecords = -1 }), ErrInvalidRecord},
		{"huge count", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.NumRecords = math.MaxInt32; kb.LastOffsetDelta = math.MaxInt32 }), ErrInvalidRecord},
		{"compressed count above records", filterBatch(t, "gzip", CompressionGzip, in, func(kb *kmsg.RecordBatch) { kb.NumRecords = 5; kb.LastOffsetDelta = 9 }), ErrInvalidRecord},
		{"truncated", good[:len(good)-3], ErrTruncated},
		{"bad crc", func() []byte { c := append([]byte(nil), good...); c[len(c)-1] ^= 1; return c }(), ErrCorrupt},
		{"negative last offset delta", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.LastOffsetDelta = -1 }), ErrCorrupt},
		{"unknown codec", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.Attributes = 6 }), ErrUnsupportedCompression},
		{"not compressed data", filterBatch(t, "none", CompressionNone, in, func(kb *kmsg.RecordBatch) { kb.Attributes = int16(CompressionZstd) }), ErrCorrupt},
		{"old magic", oldMessageSet(), ErrUnsupportedMagic},
	}
	// A record whose key length overruns it, and a varint of eleven bytes.
	overrun := append([]byte(nil), good...)
	rec0 := HeaderSize + 1 // after the first record's 1-byte length: attributes
	// attributes, ts delta, offset delta (1 byte each here), then the key length.
	overrun[rec0+3] = 0x7e // zig-zag 63: far past the record
	recompute(overrun)
	cases = append(cases, struct {
		name string
		b    []byte
		want error
	}{"key overruns record", overrun, ErrInvalidRecord})
	badVarint := append([]byte(nil), good[:HeaderSize]...)
	badVarint = append(badVarint, bytes.Repeat([]byte{0xff}, 11)...)
	binary.BigEndian.PutUint32(badVarint[offLength:], uint32(len(badVarint)-lengthPrefix))
	recompute(badVarint)
	cases = append(cases, struct {
		name string
		b    []byte
		want error
	}{"eleven-byte varint", badVarint, ErrInvalidRecord})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, _, err := Filter(c.b, keepOdd)
			if !errors.Is(err, c.want) || out != nil {
				t.Fatalf("out %d bytes, err %v, want %v", len(out), err, c.want)
			}
		})
	}
}

func TestFilterRefusesCompressionBomb(t *testing.T) {
	// One record whose 32 MiB value compresses to a few KiB, against a
	// 1 MiB limit (Filter's own is InflateLimit(0), 64 MiB: too much to
	// build in a test under -race). Refusing it must cost the limit plus
	// the codec's buffers (lz4: two 4 MiB blocks), not the inflated size.
	const limit = 1 << 20
	raw := encodeRecords([]kmsg.Record{{Key: []byte("k"), Value: make([]byte, 32<<20)}, {OffsetDelta: 1, Key: []byte("k")}})
	for _, c := range filterCodecs[1:] {
		b := assemble(c.id, compressWith(t, c.name, raw), 2, 0, 0)
		if len(b) > 2<<20 { // a sixteenth of what it inflates to, at worst (snappy)
			t.Fatalf("%s: bomb is %d bytes", c.name, len(b))
		}
		calls := 0
		var err error
		var f Filterer
		alloc := allocated(func() { _, _, _, err = f.filter(b, limit, func(Record) bool { calls++; return false }) })
		f.Close()
		if !errors.Is(err, ErrTooLarge) && !(c.id == CompressionSnappy && errors.Is(err, ErrCorrupt)) || calls != 0 {
			t.Fatalf("%s: err %v after %d keep calls, want ErrTooLarge before any", c.name, err, calls)
		}
		if alloc > 16<<20 {
			t.Fatalf("%s: refusing the bomb allocated %d bytes", c.name, alloc)
		}
		out, kept, removed, err := FilterFor(b, 64<<20, func(r Record) bool { return r.Offset == 1 })
		if err != nil || kept != 1 || removed != 1 {
			t.Fatalf("%s: FilterFor: kept %d removed %d err %v", c.name, kept, removed, err)
		}
		if h := mustHeader(t, out); h.NumRecords != 1 || h.LastOffsetDelta != 1 || len(out) > 1<<10 {
			t.Fatalf("%s: header %+v, %d bytes", c.name, h, len(out))
		}
	}
}

// FuzzFilter feeds Filter arbitrary batches and keep patterns (record i is
// kept when bit i%64 of mask is set): as they are, with the CRC fixed so the
// record walk is reached, and as the records section of a batch for every
// codec. Filter must not panic; when it succeeds, the input must decode with
// Records too, keep must have seen exactly those records in order, and the
// output must be a valid batch whose records are exactly the kept ones.
func FuzzFilter(f *testing.F) {
	f.Add(Build(1, sampleRecords()), uint64(0b1010))
	f.Add(Build(0, []Record{{Value: []byte("x")}}), uint64(0))
	f.Add(EmptyBatch(Header{BaseOffset: 5, LastOffsetDelta: 2, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}), uint64(1))
	raw := encodeRecords(threeRecords())
	f.Add(raw, uint64(0b101))
	gapped := encodeRecords([]kmsg.Record{{OffsetDelta: 1, Key: []byte("a")}, {OffsetDelta: 3, Value: []byte("b")}})
	f.Add(gapped, uint64(0b10))
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	_ = w.Close()
	f.Add(assemble(CompressionGzip, gz.Bytes(), 3, 0, 0), uint64(0b110))
	f.Add(assemble(CompressionSnappy, s2.EncodeSnappy(nil, raw), 3, 0, 0), uint64(0b011))
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	defer zenc.Close()
	f.Add(assemble(CompressionZstd, zenc.EncodeAll(raw, nil), 3, 0, 0), uint64(0b100))

	// One Filterer for every input, as the cleaner uses one for many
	// batches: after whatever the previous input left in it, it must
	// answer as a fresh one does.
	var shared sharedFilterer
	defer shared.close()
	f.Fuzz(func(t *testing.T, b []byte, mask uint64) {
		shared.check(t, b, mask)
		if len(b) >= HeaderSize {
			c := append([]byte(nil), b...)
			recompute(c)
			shared.check(t, c, mask)
		}
		// b as the records of a batch for each codec, with a count (and
		// so a last offset delta) taken from it.
		count := int32(1)
		if len(b) > 0 {
			count = int32(b[0]%4) + 1
		}
		var gz, l4 bytes.Buffer
		gw := gzip.NewWriter(&gz)
		_, _ = gw.Write(b)
		_ = gw.Close()
		lw := lz4.NewWriter(&l4)
		_, _ = lw.Write(b)
		_ = lw.Close()
		for codec, section := range map[int8][]byte{
			CompressionNone:   b,
			CompressionGzip:   gz.Bytes(),
			CompressionSnappy: s2.EncodeSnappy(nil, b),
			CompressionLZ4:    l4.Bytes(),
			CompressionZstd:   zenc.EncodeAll(b, nil),
		} {
			batch := assemble(codec, section, count, 0, 0)
			binary.BigEndian.PutUint32(batch[offLastOffsetDelta:], uint32(count-1+int32(mask>>60)))
			recompute(batch)
			shared.check(t, batch, mask)
		}
	})
}

// sharedFilterer is a Filterer the fuzz target's inputs share.
type sharedFilterer struct {
	mu sync.Mutex
	f  Filterer
}

// check runs checkFilter with a fresh Filterer, then filters b again with
// the shared one, which must give the same answer.
func (s *sharedFilterer) check(t *testing.T, b []byte, mask uint64) {
	t.Helper()
	var fresh Filterer
	defer fresh.Close()
	want, wantErr := checkFilter(t, &fresh, b, mask)
	s.mu.Lock()
	defer s.mu.Unlock()
	got, _, _, err := s.f.filter(b, fuzzLimit, maskKeep(mask))
	if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("shared Filterer: %d bytes, err %v; a fresh one: %d bytes, err %v", len(got), err, len(want), wantErr)
	}
}

func (s *sharedFilterer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Close()
}

// fuzzLimit is the inflate limit of the fuzz target: small, so that a bomb
// is found quickly.
const fuzzLimit = 1 << 20

// maskKeep keeps record i when bit i%64 of mask is set.
func maskKeep(mask uint64) func(Record) bool {
	i := 0
	return func(Record) bool {
		k := mask&(1<<(i%64)) != 0
		i++
		return k
	}
}

// checkFilter filters b with mask and checks what came out (see
// FuzzFilter). It returns Filter's output and error.
func checkFilter(t *testing.T, f *Filterer, b []byte, mask uint64) ([]byte, error) {
	t.Helper()
	orig := append([]byte(nil), b...)
	var seen []Record
	keepIt := func(i int) bool { return mask&(1<<(i%64)) != 0 }
	out, kept, removed, ferr := f.filter(b, fuzzLimit, func(r Record) bool {
		// Copy: the record may point into a buffer Filter reuses.
		c := Record{Offset: r.Offset, Timestamp: r.Timestamp, Key: cloneBytes(r.Key), Value: cloneBytes(r.Value)}
		for _, h := range r.Headers {
			c.Headers = append(c.Headers, RecordHeader{Key: h.Key, Value: cloneBytes(h.Value)})
		}
		seen = append(seen, c)
		return keepIt(len(seen) - 1)
	})
	if !bytes.Equal(b, orig) {
		t.Fatal("Filter modified its input")
	}
	if ferr != nil {
		if out != nil || kept != 0 || removed != 0 {
			t.Fatalf("error %v with %d bytes out, kept %d removed %d", ferr, len(out), kept, removed)
		}
		return nil, ferr
	}
	h, err := Check(b)
	if err != nil {
		t.Fatalf("Filter accepted a batch Check refuses: %v", err)
	}
	all, err := Records(b)
	if err != nil {
		t.Fatalf("Filter accepted a batch Records refuses: %v", err)
	}
	assertRecords(t, seen, all)
	var want []Record
	for i, r := range all {
		if keepIt(i) {
			want = append(want, r)
		}
	}
	if kept != len(want) || kept+removed != len(all) {
		t.Fatalf("kept %d removed %d of %d, want %d kept", kept, removed, len(all), len(want))
	}
	switch {
	case removed == 0:
		if len(out) != len(b) || (len(b) > 0 && &out[0] != &b[0]) {
			t.Fatal("nothing removed but the input was not returned")
		}
		return out, nil
	case kept == 0:
		if out != nil {
			t.Fatalf("everything removed but %d bytes returned", len(out))
		}
		return nil, nil
	}
	oh, err := Check(out)
	if err != nil {
		t.Fatalf("filtered batch fails its check: %v", err)
	}
	got, err := Records(out)
	if err != nil {
		t.Fatalf("filtered batch does not decode: %v", err)
	}
	assertRecords(t, got, want)
	if oh.BaseOffset != h.BaseOffset || oh.LastOffsetDelta != h.LastOffsetDelta || oh.Attributes != h.Attributes ||
		oh.BaseTimestamp != h.BaseTimestamp || oh.ProducerID != h.ProducerID || oh.ProducerEpoch != h.ProducerEpoch ||
		oh.BaseSequence != h.BaseSequence || oh.PartitionLeaderEpoch != h.PartitionLeaderEpoch || oh.NumRecords != int32(kept) {
		t.Fatalf("header\n got %+v\nfrom %+v", oh, h)
	}
	if !h.LogAppendTime() {
		wantMax := want[0].Timestamp
		for _, r := range want {
			wantMax = max(wantMax, r.Timestamp)
		}
		if oh.MaxTimestamp != wantMax {
			t.Fatalf("max timestamp %d, want %d", oh.MaxTimestamp, wantMax)
		}
	} else if oh.MaxTimestamp != h.MaxTimestamp {
		t.Fatalf("log append time max timestamp %d, want %d", oh.MaxTimestamp, h.MaxTimestamp)
	}
	return out, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// BenchmarkFilter filters batches of 100 records of 1 KiB (keys cycle over
// 10 values, values are half random so zstd has something to do), keeping
// every other record, or all of them (the batch is returned as it is, but
// every record is still decoded), with Filter and with a Filterer kept
// between calls.
func BenchmarkFilter(b *testing.B) {
	recs := make([]kmsg.Record, 100)
	for i := range recs {
		v := make([]byte, 1024)
		for j := 0; j < len(v)/2; j++ {
			v[j] = byte(uint32(i*7919+j*104729) >> 3) // cheap, deterministic noise
		}
		recs[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte(fmt.Sprintf("key-%02d", i%10)), Value: v}
	}
	for _, c := range []struct {
		name string
		id   int8
	}{{"none", CompressionNone}, {"zstd", CompressionZstd}} {
		var section []byte
		raw := encodeRecords(recs)
		if c.id == CompressionZstd {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				b.Fatal(err)
			}
			section = enc.EncodeAll(raw, nil)
			enc.Close()
		} else {
			section = raw
		}
		batch := assemble(c.id, section, int32(len(recs)), 0, 99)
		for _, k := range []struct {
			name string
			keep func(Record) bool
		}{
			{"half", func(r Record) bool { return r.Offset%2 == 0 }},
			{"all", func(Record) bool { return true }},
		} {
			b.Run(c.name+"/"+k.name+"/Filter", func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, _, err := Filter(batch, k.keep); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(c.name+"/"+k.name+"/Filterer", func(b *testing.B) {
				var f Filterer
				defer f.Close()
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, _, err := f.Filter(batch, k.keep); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// The timestamp lookups behind ListOffsets walk a filtered batch (offset
// gaps) and answer with the kept records' offsets.
func TestSeekTimestampInFilteredBatch(t *testing.T) {
	var recs []kmsg.Record
	for i := range 6 {
		recs = append(recs, kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(10 * i), Key: []byte{'k', byte('0' + i)}})
	}
	b := filterBatch(t, "none", CompressionNone, recs, func(kb *kmsg.RecordBatch) { kb.MaxTimestamp = 50_050 })
	// Keep 1001 (ts 50010) and 1004 (ts 50040).
	out, kept, _, err := Filter(b, func(r Record) bool { return r.Offset == 1001 || r.Offset == 1004 })
	if err != nil || kept != 2 {
		t.Fatalf("kept %d err %v", kept, err)
	}
	h := mustHeader(t, out)
	if h.MaxTimestamp != 50_040 {
		t.Fatalf("max timestamp %d, want 50040", h.MaxTimestamp)
	}
	for _, tc := range []struct {
		ts, off, at int64
		found       bool
	}{
		{0, 1001, 50_010, true}, {50_010, 1001, 50_010, true}, {50_011, 1004, 50_040, true},
		{50_040, 1004, 50_040, true}, {50_041, -1, -1, false},
	} {
		off, at, found, err := SeekTimestamp(h, out, tc.ts)
		if err != nil || off != tc.off || at != tc.at || found != tc.found {
			t.Errorf("seek %d: %d at %d found %v err %v, want %d at %d found %v", tc.ts, off, at, found, err, tc.off, tc.at, tc.found)
		}
	}
	if off, found, err := SeekMaxTimestamp(h, out); err != nil || !found || off != 1004 {
		t.Fatalf("seek max timestamp: %d found %v err %v, want 1004", off, found, err)
	}
}
