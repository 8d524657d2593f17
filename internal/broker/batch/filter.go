package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// filterZstdWindow is the zstd window Filter compresses with: well within
// MaxZstdWindow, so every reader of this package (and any zstd decoder
// following the format's 8 MiB recommendation) decodes what it writes.
const filterZstdWindow = 1 << 20

// Filter drops records from one batch, as log compaction does. keep is
// called for every record in order, with its absolute Offset and its
// Timestamp as clients read it; its Key, Value and header values point into
// b or a private buffer and must be copied to outlive the call.
//
// When keep accepts every record (or the batch has none), Filter returns b
// itself, neither copied nor re-encoded. When it accepts none, out is nil:
// the caller decides whether to keep a header (EmptyBatch). Otherwise out
// is a new batch holding the kept records' bytes exactly as they were
// (attributes, timestamp and offset deltas, key, value, headers), under the
// same header except for NumRecords, Length, CRC and, for CreateTime, the
// MaxTimestamp of the kept records; LastOffsetDelta stays, as in Kafka, so
// the batch still ends where the producer's sequence numbers say it does.
// A compressed batch is recompressed with its codec (snappy as a raw block,
// as franz-go and librdkafka write it; lz4 as a frame; zstd with a 1 MiB
// window).
//
// b may be a batch Filter already wrote: offset deltas may have gaps.
// Compressed records may inflate to InflateLimit(0); see FilterFor. Errors
// wrap those of Records: ErrCorrupt (ErrInvalidRecord for records that
// disagree with the header), ErrTruncated, ErrTooLarge,
// ErrUnsupportedCompression, ErrUnsupportedMagic. On error keep may have
// seen some records; nothing is returned.
func Filter(b []byte, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	return filter(b, InflateLimit(0), keep)
}

// FilterFor is Filter for a batch of a topic with the given
// max.message.bytes, whose compressed records may inflate to
// InflateLimit(maxMessageBytes), as much as ValidateFor let them.
func FilterFor(b []byte, maxMessageBytes int32, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	return filter(b, InflateLimit(maxMessageBytes), keep)
}

func filter(b []byte, limit int64, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	h, err := Check(b)
	if err != nil {
		return nil, 0, 0, err
	}
	if h.NumRecords < 0 {
		return nil, 0, 0, fmt.Errorf("batch at offset %d: record count %d: %w", h.BaseOffset, h.NumRecords, ErrInvalidRecord)
	}
	codec := h.Compression()
	var data []byte
	switch codec {
	case CompressionNone:
		data = b[HeaderSize:]
	case CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
		if data, err = inflateAll(codec, b[HeaderSize:], limit); err != nil {
			return nil, 0, 0, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	default:
		return nil, 0, 0, fmt.Errorf("batch at offset %d: codec %d: %w", h.BaseOffset, codec, ErrUnsupportedCompression)
	}

	// Kept records as byte ranges of data: when fn runs, in has just
	// consumed the record, so its end is where in now starts.
	var spans [][2]int
	in := &sliceInput{b: data}
	start := 0
	maxTS := int64(math.MinInt64)
	err = walk(in, h, true, true, func(r Record) bool {
		end := len(data) - len(in.b)
		if keep(r) {
			kept++
			maxTS = max(maxTS, r.Timestamp)
			if n := len(spans); n > 0 && spans[n-1][1] == start {
				spans[n-1][1] = end // runs of kept records copy as one
			} else {
				spans = append(spans, [2]int{start, end})
			}
		} else {
			removed++
		}
		start = end
		return true
	})
	if err != nil {
		return nil, 0, 0, err
	}
	switch {
	case removed == 0:
		return b, kept, 0, nil
	case kept == 0:
		return nil, 0, removed, nil
	}

	size := 0
	for _, s := range spans {
		size += s[1] - s[0]
	}
	// Uncompressed, the records go straight into the new batch; compressed,
	// they are gathered first, then the compressed form follows the header.
	var records []byte
	if codec == CompressionNone {
		out = make([]byte, HeaderSize, HeaderSize+size)
		records = out
	} else {
		records = make([]byte, 0, size)
	}
	for _, s := range spans {
		records = append(records, data[s[0]:s[1]]...)
	}
	if codec == CompressionNone {
		out = records
	} else {
		packed, err := compress(codec, records)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if int64(len(packed)) > math.MaxInt32-minLength {
			// A compressor that inflates a batch that fit its Length
			// before; refuse rather than wrap the Length.
			return nil, 0, 0, fmt.Errorf("batch at offset %d: filtered records compress to %d bytes: %w", h.BaseOffset, len(packed), ErrTooLarge)
		}
		out = make([]byte, HeaderSize, HeaderSize+len(packed))
		out = append(out, packed...)
	}
	copy(out, b[:HeaderSize])
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-lengthPrefix))
	be.PutUint32(out[offNumRecords:], uint32(kept))
	if !h.LogAppendTime() {
		be.PutUint64(out[offMaxTimestamp:], uint64(maxTS))
	}
	be.PutUint32(out[offCRC:], crc32c(out[offAttributes:]))
	return out, kept, removed, nil
}

// compress encodes a records section with codec the way Kafka clients
// read it.
func compress(codec int8, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CompressionGzip:
		w, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case CompressionSnappy:
		return s2.EncodeSnappy(nil, src), nil
	case CompressionLZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
	case CompressionZstd:
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(filterZstdWindow),
			zstd.WithZeroFrames(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil), nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, ErrUnsupportedCompression)
	}
	return buf.Bytes(), nil
}

// EmptyBatch returns a batch with h's header and no records: uncompressed,
// NumRecords 0, Length and CRC to match. It keeps base offset, last offset
// delta, base and max timestamps, producer id, epoch and base sequence,
// partition leader epoch, and the transactional, control and timestamp-type
// attributes. It is what compaction leaves of a batch whose records are all
// gone but whose producer state must survive (the last batch of a producer
// id, as Kafka's cleaner keeps it), and what readers see as a batch to skip.
func EmptyBatch(h Header) []byte {
	b := make([]byte, HeaderSize)
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offLength:], uint32(HeaderSize-lengthPrefix))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(h.Attributes&^attrCompressionMask))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offNumRecords:], 0)
	be.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
	return b
}
