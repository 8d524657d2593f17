// Package batch reads, checks and patches Kafka RecordBatch v2 bytes.
//
// The broker stores the bytes producers send and serves them back to consumers
// unchanged, so this package works on []byte in place: it parses the fixed
// 61-byte header, verifies the CRC-32C, and patches the few fields that lie
// outside the CRC (base offset, partition leader epoch). Records are only
// decoded where the broker itself needs their contents (timestamp lookups, the
// group coordinator), never to re-encode a batch.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of the fixed RecordBatch v2 header; records follow it.
const HeaderSize = 61

// Byte positions of the header fields (big endian).
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// lengthPrefix is the part of the batch not counted by the Length field.
	lengthPrefix = 12
	// minLength is the smallest legal Length: the header after the length field.
	minLength = HeaderSize - lengthPrefix
	// magicPrefix is how many bytes are needed to see the magic byte.
	magicPrefix = offMagic + 1
)

// Compression codecs, as stored in attribute bits 0-2.
const (
	CompressionNone   int8 = 0
	CompressionGzip   int8 = 1
	CompressionSnappy int8 = 2
	CompressionLZ4    int8 = 3
	CompressionZstd   int8 = 4
)

// Attribute bits above the codec.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Sentinel errors. Functions wrap them with detail; test with errors.Is.
var (
	// ErrCorrupt means the bytes are not a well-formed RecordBatch v2.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrUnsupportedMagic means the bytes are an old message set (magic 0 or 1) or unknown.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
	// ErrTruncated means the bytes end before the batch does.
	ErrTruncated = errors.New("truncated record batch")
	// ErrUnsupportedCompression means attribute bits 0-2 name no codec Kafka defines.
	ErrUnsupportedCompression = errors.New("unsupported compression codec")
)

// crc32c is the checksum Kafka uses for v2 batches. crc32.MakeTable hands out
// the standard library's shared Castagnoli table, so calling it is cheap.
func crc32c(b []byte) uint32 {
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// Header is the fixed part of a RecordBatch v2.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes of the whole batch, header included.
func (h Header) Size() int { return lengthPrefix + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compression is the codec from attribute bits 0-2 (see the Compression* constants).
func (h Header) Compression() int8 { return int8(h.Attributes & attrCompressionMask) }

// IsTransactional reports attribute bit 4.
func (h Header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports attribute bit 5 (transaction markers).
func (h Header) IsControl() bool { return h.Attributes&attrControl != 0 }

// LogAppendTime reports attribute bit 3: every record's timestamp is MaxTimestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// ParseHeader decodes the fixed header at the start of b. It needs 17 bytes to
// see the magic byte and 61 for the whole header. A Length too small to hold
// the header is reported as ErrCorrupt, so Size is always at least HeaderSize
// for a header that parsed.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < magicPrefix {
		return Header{}, fmt.Errorf("%d bytes, need %d to read magic: %w", len(b), magicPrefix, ErrTruncated)
	}
	if m := int8(b[offMagic]); m != 2 {
		return Header{}, fmt.Errorf("magic %d: %w", m, ErrUnsupportedMagic)
	}
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%d bytes, need %d for the header: %w", len(b), HeaderSize, ErrTruncated)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
	if h.Length < minLength {
		return Header{}, fmt.Errorf("length %d below minimum %d: %w", h.Length, minLength, ErrCorrupt)
	}
	return h, nil
}

// Check verifies what a log needs to trust bytes it wrote itself or copied
// from a leader: b is exactly one batch, magic 2, a consistent Length, a
// non-negative LastOffsetDelta and a good CRC-32C. Unlike Validate it accepts
// batches without records and does not look at the records.
func Check(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, err
	}
	if h.Size() > len(b) {
		return Header{}, fmt.Errorf("batch at offset %d needs %d bytes, have %d: %w", h.BaseOffset, h.Size(), len(b), ErrTruncated)
	}
	if h.Size() < len(b) {
		return Header{}, fmt.Errorf("batch at offset %d is %d bytes but %d were given: %w", h.BaseOffset, h.Size(), len(b), ErrCorrupt)
	}
	if h.LastOffsetDelta < 0 {
		return Header{}, fmt.Errorf("batch at offset %d: last offset delta %d: %w", h.BaseOffset, h.LastOffsetDelta, ErrCorrupt)
	}
	if got := crc32c(b[offAttributes:]); got != h.CRC {
		return Header{}, fmt.Errorf("batch at offset %d: crc %08x, computed %08x: %w", h.BaseOffset, h.CRC, got, ErrCorrupt)
	}
	return h, nil
}

// Validate checks a batch a producer sent. b must be exactly one batch: magic
// 2, Length consistent with len(b), CRC-32C correct, at least one record,
// LastOffsetDelta == NumRecords-1, a known codec. For uncompressed batches it
// also walks every record: the count must match, each record's framing must
// stay inside the batch, and offset deltas must run 0, 1, 2, ... as offsets
// are assigned by adding them to the base offset. Compressed batches are not
// decompressed here.
func Validate(b []byte) (Header, error) {
	h, err := Check(b)
	if err != nil {
		return Header{}, err
	}
	if h.NumRecords < 1 {
		return Header{}, fmt.Errorf("record count %d: %w", h.NumRecords, ErrCorrupt)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return Header{}, fmt.Errorf("last offset delta %d with %d records: %w", h.LastOffsetDelta, h.NumRecords, ErrCorrupt)
	}
	switch c := h.Compression(); c {
	case CompressionNone:
		if err := walkRecords(b[HeaderSize:], h, nil); err != nil {
			return Header{}, err
		}
	case CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
	default:
		return Header{}, fmt.Errorf("codec %d: %w", c, ErrUnsupportedCompression)
	}
	return h, nil
}

// Split cuts a produce payload (one or more concatenated batches) into
// batches. The returned slices alias b; each has its capacity capped at its
// own end so an append cannot overwrite the next batch. Only the framing is
// checked here; call Validate on each batch.
func Split(b []byte) ([][]byte, error) {
	var out [][]byte
	for pos := 0; pos < len(b); {
		h, err := ParseHeader(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", len(out), pos, err)
		}
		end := pos + h.Size()
		if end > len(b) {
			return nil, fmt.Errorf("batch %d at byte %d needs %d bytes, have %d: %w", len(out), pos, h.Size(), len(b)-pos, ErrTruncated)
		}
		out = append(out, b[pos:end:end])
		pos = end
	}
	return out, nil
}

// SetBaseOffset patches the base offset in place. It lies outside the CRC.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetLeaderEpoch patches the partition leader epoch in place. It lies outside the CRC.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetMaxTimestampAndAppendTime stamps a batch for a LogAppendTime topic: the
// base and max timestamps become ts, the timestamp-type attribute bit is set,
// and, as these fields are covered by the CRC, the CRC is recomputed. Readers
// then take every record's timestamp to be ts.
func SetMaxTimestampAndAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	attrs := be.Uint16(b[offAttributes:]) | attrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
}

// RecordHeader is one header of a record.
type RecordHeader struct {
	Key   string
	Value []byte // nil for a null value
}

// Record is one decoded record with its absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value (tombstone)
	Headers   []RecordHeader
}

// Records decodes every record of one batch, decompressing it if needed
// (gzip, snappy raw or xerial-framed, lz4 frames, zstd). The returned keys,
// values and header values point into one private buffer, not into b, so
// they stay valid after b is reused. Under LogAppendTime every record's
// Timestamp is the batch's MaxTimestamp, as Kafka clients read it.
func Records(b []byte) ([]Record, error) {
	h, err := Check(b)
	if err != nil {
		return nil, err
	}
	if h.NumRecords < 0 {
		return nil, fmt.Errorf("record count %d: %w", h.NumRecords, ErrCorrupt)
	}
	var data []byte
	if h.Compression() == CompressionNone {
		// Copy so the records do not alias the caller's (often reused) buffer.
		data = append([]byte(nil), b[HeaderSize:]...)
	} else {
		data, err = decompress(h.Compression(), b[HeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	// A record takes at least 7 bytes, which bounds the allocation for a lying count.
	capHint := min(int(h.NumRecords), len(data)/7+1)
	recs := make([]Record, 0, capHint)
	err = walkRecords(data, h, func(r Record) { recs = append(recs, r) })
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// walkRecords parses h.NumRecords records from data, which must hold exactly
// them. With a nil fn it only checks framing and does not allocate.
func walkRecords(data []byte, h Header, fn func(Record)) error {
	r := reader{b: data}
	for i := int32(0); i < h.NumRecords; i++ {
		if err := r.record(h, i, fn); err != nil {
			return fmt.Errorf("batch at offset %d record %d: %w", h.BaseOffset, i, err)
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("batch at offset %d: %d bytes after %d records: %w", h.BaseOffset, len(r.b), h.NumRecords, ErrCorrupt)
	}
	return nil
}

// reader consumes Kafka's zig-zag varints and length-prefixed fields.
type reader struct{ b []byte }

func (r *reader) varlong() (int64, error) {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("bad varint: %w", ErrCorrupt)
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) varint() (int32, error) {
	v, err := r.varlong()
	if err != nil {
		return 0, err
	}
	if v != int64(int32(v)) {
		return 0, fmt.Errorf("varint %d overflows int32: %w", v, ErrCorrupt)
	}
	return int32(v), nil
}

// bytes reads a varint length and that many bytes; length -1 gives nil.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 || int(n) > len(r.b) {
		return nil, fmt.Errorf("field length %d with %d bytes left: %w", n, len(r.b), ErrCorrupt)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// record parses the record at the front of r.b and advances past it.
func (r *reader) record(h Header, index int32, fn func(Record)) error {
	length, err := r.varint()
	if err != nil {
		return err
	}
	if length < 0 || int(length) > len(r.b) {
		return fmt.Errorf("record length %d with %d bytes left: %w", length, len(r.b), ErrCorrupt)
	}
	body := reader{b: r.b[:length]}
	r.b = r.b[length:]

	if len(body.b) < 1 {
		return fmt.Errorf("record without attributes: %w", ErrCorrupt)
	}
	body.b = body.b[1:] // record attributes: unused by Kafka
	tsDelta, err := body.varlong()
	if err != nil {
		return err
	}
	offDelta, err := body.varint()
	if err != nil {
		return err
	}
	if offDelta != index {
		return fmt.Errorf("offset delta %d, expected %d: %w", offDelta, index, ErrCorrupt)
	}
	key, err := body.bytes()
	if err != nil {
		return err
	}
	value, err := body.bytes()
	if err != nil {
		return err
	}
	nh, err := body.varint()
	if err != nil {
		return err
	}
	// A header needs at least two bytes, which bounds a lying count.
	if nh < 0 || int(nh) > len(body.b)/2 {
		return fmt.Errorf("header count %d with %d bytes left: %w", nh, len(body.b), ErrCorrupt)
	}
	var headers []RecordHeader
	if fn != nil && nh > 0 {
		headers = make([]RecordHeader, 0, nh)
	}
	for range nh {
		k, err := body.bytes()
		if err != nil {
			return err
		}
		if k == nil {
			return fmt.Errorf("null header key: %w", ErrCorrupt)
		}
		v, err := body.bytes()
		if err != nil {
			return err
		}
		if fn != nil {
			headers = append(headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if len(body.b) != 0 {
		return fmt.Errorf("%d bytes left inside record: %w", len(body.b), ErrCorrupt)
	}
	if fn != nil {
		ts := h.BaseTimestamp + tsDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		fn(Record{
			Offset:    h.BaseOffset + int64(offDelta),
			Timestamp: ts,
			Key:       key,
			Value:     value,
			Headers:   headers,
		})
	}
	return nil
}

// Build encodes an uncompressed batch holding recs, with base offset 0,
// producer id/epoch/sequence -1, partition leader epoch -1, offset deltas
// 0..n-1 (rec.Offset is ignored), timestamp deltas from baseTimestamp, the
// max timestamp over the records and a valid CRC. It returns nil for no
// records: a batch needs at least one. The log assigns the real offsets.
func Build(baseTimestamp int64, recs []Record) []byte {
	if len(recs) == 0 {
		return nil
	}
	b := make([]byte, HeaderSize, HeaderSize+64*len(recs))
	maxTS := recs[0].Timestamp
	var body []byte
	for i, rec := range recs {
		maxTS = max(maxTS, rec.Timestamp)
		body = body[:0]
		body = append(body, 0) // record attributes
		body = binary.AppendVarint(body, rec.Timestamp-baseTimestamp)
		body = binary.AppendVarint(body, int64(i))
		body = appendBytes(body, rec.Key)
		body = appendBytes(body, rec.Value)
		body = binary.AppendVarint(body, int64(len(rec.Headers)))
		for _, hd := range rec.Headers {
			body = binary.AppendVarint(body, int64(len(hd.Key)))
			body = append(body, hd.Key...)
			body = appendBytes(body, hd.Value)
		}
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], 0)
	be.PutUint32(b[offLength:], uint32(len(b)-lengthPrefix))
	be.PutUint32(b[offLeaderEpoch:], ^uint32(0))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], 0)
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(baseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], ^uint16(0))
	be.PutUint32(b[offBaseSequence:], ^uint32(0))
	be.PutUint32(b[offNumRecords:], uint32(len(recs)))
	be.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
	return b
}

// appendBytes appends a varint length and v; nil is encoded as length -1.
func appendBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}
