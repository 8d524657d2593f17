// Package batch reads, checks and patches Kafka RecordBatch v2 bytes.
//
// The broker stores the bytes producers send and serves them back to consumers
// unchanged, so this package works on []byte in place: it parses the fixed
// 61-byte header, verifies the CRC-32C, and patches the few fields that lie
// outside the CRC (base offset, partition leader epoch, and a max timestamp
// that disagrees with the records). Validate walks every record of a batch a
// producer sends, decompressing as a bounded stream (compress.go); after that
// records are decoded only where the broker itself needs their contents (the
// group coordinator, and log compaction, which re-encodes a batch without the
// records it drops: filter.go), and compressed batches are never inflated on
// a read path (timestamp lookups use the header).
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
	// ErrInvalidRecord means the batch's frame is intact but its records
	// are not what the header says: a count that does not match, offset
	// deltas out of order, a record whose fields overrun it. It wraps
	// ErrCorrupt. Kafka answers these with INVALID_RECORD.
	ErrInvalidRecord error = &subError{msg: "invalid record", parent: ErrCorrupt}
	// ErrTooLarge means a compressed batch inflates past InflateLimit (or
	// needs a zstd window above MaxZstdWindow).
	ErrTooLarge = errors.New("record batch too large when decompressed")
)

// subError is a sentinel that is also its parent for errors.Is.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

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

// SetMaxTimestamp sets the batch's max timestamp and, as it is covered by the
// CRC, recomputes the CRC. The leader uses it, as Kafka does, when a
// producer's claimed max timestamp disagrees with its records
// (Validated.RecordsMaxTimestamp), so that time lookups can trust headers.
func SetMaxTimestamp(b []byte, ts int64) {
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
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
