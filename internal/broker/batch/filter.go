package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
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
// as franz-go and librdkafka write it; lz4 as a frame of independent
// blocks; zstd with a 1 MiB window).
//
// b may be a batch Filter already wrote: offset deltas may have gaps.
// Compressed records may inflate to InflateLimit(0); see FilterFor. Errors
// wrap those of Records: ErrCorrupt (ErrInvalidRecord for records that
// disagree with the header), ErrTruncated, ErrTooLarge,
// ErrUnsupportedCompression, ErrUnsupportedMagic. On error keep may have
// seen some records; nothing is returned.
//
// Filter sets up its compressors for each call; a caller filtering many
// batches uses a Filterer, which keeps them (a zstd encoder costs more to
// create than compressing a batch does).
func Filter(b []byte, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	var f Filterer
	defer f.Close()
	return f.filter(b, InflateLimit(0), keep)
}

// FilterFor is Filter for a batch of a topic with the given
// max.message.bytes, whose compressed records may inflate to
// InflateLimit(maxMessageBytes), as much as ValidateFor let them.
func FilterFor(b []byte, maxMessageBytes int32, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	var f Filterer
	defer f.Close()
	return f.filter(b, InflateLimit(maxMessageBytes), keep)
}

// A Filterer filters batches as Filter does, keeping its compressors, the
// zstd decompressor and its buffers from one call to the next (so it holds
// about as much memory as the largest batch it inflated). The zero value is
// ready to use. It is not safe for concurrent use; Close releases it.
type Filterer struct {
	zenc      *zstd.Encoder
	zdec      *zstd.Decoder
	zdecLimit int64 // the inflate limit zdec was made for
	gz        *gzip.Writer
	lz        *lz4.Writer
	data      []byte // the inflated records of the batch being filtered
	records   []byte // the kept records, before compression
	spans     [][2]int
}

// Filter is the package's Filter, with f's compressors.
func (f *Filterer) Filter(b []byte, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	return f.filter(b, InflateLimit(0), keep)
}

// FilterFor is the package's FilterFor, with f's compressors.
func (f *Filterer) FilterFor(b []byte, maxMessageBytes int32, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	return f.filter(b, InflateLimit(maxMessageBytes), keep)
}

// Close releases the zstd encoder and decoder. f may be used again after.
func (f *Filterer) Close() {
	if f.zenc != nil {
		_ = f.zenc.Close()
	}
	if f.zdec != nil {
		f.zdec.Close()
	}
	*f = Filterer{}
}

func (f *Filterer) filter(b []byte, limit int64, keep func(Record) bool) (out []byte, kept, removed int, err error) {
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
		if data, err = f.inflate(codec, b[HeaderSize:], limit); err != nil {
			return nil, 0, 0, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	default:
		return nil, 0, 0, fmt.Errorf("batch at offset %d: codec %d: %w", h.BaseOffset, codec, ErrUnsupportedCompression)
	}

	// Kept records as byte ranges of data: when fn runs, in has just
	// consumed the record, so its end is where in now starts.
	spans := f.spans[:0]
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
	f.spans = spans
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
	// they are gathered first and compressed after the header.
	var records []byte
	if codec == CompressionNone {
		records = make([]byte, HeaderSize, HeaderSize+size)
	} else {
		records = f.records[:0]
	}
	for _, s := range spans {
		records = append(records, data[s[0]:s[1]]...)
	}
	if codec == CompressionNone {
		out = records
	} else {
		f.records = records
		if out, err = f.compress(codec, records); err != nil {
			return nil, 0, 0, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if int64(len(out)) > math.MaxInt32 {
			// A compressor that inflated a batch that fit its Length
			// before; refuse rather than wrap the Length.
			return nil, 0, 0, fmt.Errorf("batch at offset %d: filtered batch of %d bytes: %w", h.BaseOffset, len(out), ErrTooLarge)
		}
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

// inflate decompresses a records section into f.data, within limit.
func (f *Filterer) inflate(codec int8, src []byte, limit int64) ([]byte, error) {
	if codec != CompressionZstd {
		r, close, err := inflate(codec, src, limit)
		if err != nil {
			return nil, err
		}
		defer close()
		f.data, err = readAllInto(f.data[:0], r)
		return f.data, err
	}
	if f.zdec == nil || f.zdecLimit != limit {
		if f.zdec != nil {
			f.zdec.Close()
			f.zdec = nil
		}
		d, err := newZstdDecoder(limit)
		if err != nil {
			return nil, err
		}
		f.zdec, f.zdecLimit = d, limit
	}
	if err := f.zdec.Reset(bytes.NewReader(src)); err != nil {
		return nil, fmt.Errorf("zstd: %w: %w", ErrCorrupt, err)
	}
	var err error
	f.data, err = readAllInto(f.data[:0], &capReader{r: f.zdec, left: limit, limit: limit, codec: "zstd"})
	return f.data, err
}

// readAllInto is io.ReadAll appending to dst.
func readAllInto(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // let append pick the growth
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// compress returns a new batch of HeaderSize zero bytes (for the caller
// to fill) followed by src compressed with codec the way Kafka clients
// read it.
func (f *Filterer) compress(codec int8, src []byte) ([]byte, error) {
	switch codec {
	case CompressionGzip:
		buf := bytes.NewBuffer(make([]byte, HeaderSize, HeaderSize+len(src)/2))
		if f.gz == nil {
			w, err := gzip.NewWriterLevel(buf, gzip.DefaultCompression)
			if err != nil {
				return nil, fmt.Errorf("gzip: %w", err)
			}
			f.gz = w
		} else {
			f.gz.Reset(buf)
		}
		if _, err := f.gz.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := f.gz.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CompressionSnappy:
		out := make([]byte, HeaderSize+s2.MaxEncodedLen(len(src)))
		n := len(s2.EncodeSnappy(out[HeaderSize:], src))
		return out[:HeaderSize+n], nil
	case CompressionLZ4:
		buf := bytes.NewBuffer(make([]byte, HeaderSize, HeaderSize+len(src)/2))
		if f.lz == nil {
			f.lz = lz4.NewWriter(buf)
		} else {
			f.lz.Reset(buf)
		}
		if _, err := f.lz.Write(src); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := f.lz.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CompressionZstd:
		if f.zenc == nil {
			enc, err := zstd.NewWriter(nil,
				zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(filterZstdWindow),
				zstd.WithZeroFrames(true))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			f.zenc = enc
		}
		return f.zenc.EncodeAll(src, make([]byte, HeaderSize, HeaderSize+len(src)/2)), nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, ErrUnsupportedCompression)
	}
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
