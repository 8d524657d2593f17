package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The bounds on decompression, in one place. Everything that inflates a
// batch (produce validation, Records) goes through inflate, which enforces
// them while streaming, so a small hostile batch (a compression bomb) is
// refused after at most InflateLimit bytes of work and never held in memory.
const (
	// MinInflateLimit is the least the records of one compressed batch may
	// inflate to: 64 MiB. A batch may always inflate to max.message.bytes
	// (it could have been sent uncompressed), and 64 MiB leaves room for
	// the compression ratios real producers reach on the batch sizes they
	// build (franz-go and librdkafka cap a batch at about 1 MiB before
	// compression; the Java producer's default batch.size is 16 KiB after
	// it). Validation streams, so the limit costs CPU, not memory.
	MinInflateLimit = 64 << 20

	// MaxZstdWindow is the largest zstd window (history a decoder must
	// keep) accepted: 8 MiB, what the zstd format recommends every decoder
	// support. Levels 1 to 19 stay within it; a streaming encoder at levels
	// 20-22 asks for more and is refused.
	MaxZstdWindow = 8 << 20
)

// InflateLimit is the most bytes the records section of one compressed
// batch may inflate to on a topic with the given max.message.bytes: the
// larger of the two, so that any batch the topic accepts uncompressed is
// also accepted compressed.
func InflateLimit(maxMessageBytes int32) int64 {
	return max(int64(maxMessageBytes), MinInflateLimit)
}

// xerialMagic opens snappy data in the framing the Java client's
// snappy-java library writes: magic, then version and compatible-version
// int32s, then chunks of [int32 length][raw snappy block].
const xerialMagic = "\x82SNAPPY\x00"

const xerialHeaderSize = 16

// inflate returns a reader of the decompressed records section src of a
// batch compressed with codec, which fails with ErrTooLarge once more than
// limit bytes come out and with ErrCorrupt when the data does not decode.
// Memory stays bounded by the codec's window (gzip 32 KiB, lz4 4 MiB
// blocks, zstd MaxZstdWindow, snappy one block of at most ~22x its
// compressed size), never by the decompressed size. Call close when done.
func inflate(codec int8, src []byte, limit int64) (r io.Reader, close func(), err error) {
	var name string
	close = func() {}
	switch codec {
	case CompressionGzip:
		name = "gzip"
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w: %w", ErrCorrupt, err)
		}
		r, close = zr, func() { _ = zr.Close() }
	case CompressionSnappy:
		name = "snappy"
		if r, err = unsnappy(src, limit); err != nil {
			return nil, nil, err
		}
	case CompressionLZ4:
		name = "lz4"
		r = lz4.NewReader(bytes.NewReader(src))
	case CompressionZstd:
		name = "zstd"
		// One synchronous decoder per call: a shared one would be package
		// state (a Filterer keeps its own).
		d, err := newZstdDecoder(limit)
		if err != nil {
			return nil, nil, err
		}
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			d.Close()
			return nil, nil, fmt.Errorf("zstd: %w: %w", ErrCorrupt, err)
		}
		r, close = d, d.Close
	default:
		return nil, nil, fmt.Errorf("codec %d: %w", codec, ErrUnsupportedCompression)
	}
	return &capReader{r: r, left: limit, limit: limit, codec: name}, close, nil
}

// newZstdDecoder returns a decoder within the bounds above for records
// that may inflate to limit bytes. Concurrency 1 decodes on the caller's
// goroutine and starts none.
func newZstdDecoder(limit int64) (*zstd.Decoder, error) {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(MaxZstdWindow),
		zstd.WithDecoderMaxMemory(uint64(limit)))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return d, nil
}

// inflateAll decompresses a whole records section (at most limit bytes).
func inflateAll(codec int8, src []byte, limit int64) ([]byte, error) {
	r, close, err := inflate(codec, src, limit)
	if err != nil {
		return nil, err
	}
	defer close()
	return io.ReadAll(r)
}

// capReader counts what a decompressor produces, refuses more than limit
// bytes, and classifies the decompressor's errors: io.EOF passes through,
// everything else becomes ErrCorrupt (or ErrTooLarge for a zstd window or
// size beyond the limits).
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
	codec string
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var probe [1]byte
		n, err := c.r.Read(probe[:])
		if n > 0 {
			return 0, fmt.Errorf("%s: records inflate past the %d-byte limit: %w", c.codec, c.limit, ErrTooLarge)
		}
		return 0, c.classify(err)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, c.classify(err)
}

func (c *capReader) classify(err error) error {
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fmt.Errorf("%s: %w (window limit %d bytes, size limit %d bytes): %w", c.codec, err, MaxZstdWindow, c.limit, ErrTooLarge)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: compressed data ends early: %w", c.codec, ErrCorrupt)
	default:
		return fmt.Errorf("%s: %w: %w", c.codec, ErrCorrupt, err)
	}
}

// unsnappy reads raw snappy blocks and the xerial framing Java producers
// use, one block at a time.
func unsnappy(src []byte, limit int64) (io.Reader, error) {
	if len(src) < len(xerialMagic) || string(src[:len(xerialMagic)]) != xerialMagic {
		out, err := snappyBlock(nil, src, limit)
		if err != nil {
			return nil, err
		}
		return bytes.NewReader(out), nil
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("snappy: xerial header cut short: %w", ErrCorrupt)
	}
	return &xerialReader{rest: src[xerialHeaderSize:], limit: limit}, nil
}

// xerialReader decodes xerial chunks one at a time into a reused buffer.
type xerialReader struct {
	rest  []byte
	buf   []byte
	pos   int
	limit int64
}

func (x *xerialReader) Read(p []byte) (int, error) {
	for x.pos == len(x.buf) {
		if len(x.rest) == 0 {
			return 0, io.EOF
		}
		if len(x.rest) < 4 {
			return 0, fmt.Errorf("snappy: xerial chunk length cut short: %w", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(x.rest)
		x.rest = x.rest[4:]
		if uint64(n) > uint64(len(x.rest)) {
			return 0, fmt.Errorf("snappy: xerial chunk of %d bytes with %d left: %w", n, len(x.rest), ErrCorrupt)
		}
		var err error
		if x.buf, err = snappyBlock(x.buf[:0], x.rest[:n], x.limit); err != nil {
			return 0, err
		}
		x.rest, x.pos = x.rest[n:], 0
	}
	n := copy(p, x.buf[x.pos:])
	x.pos += n
	return n, nil
}

// snappyBlock decodes one raw snappy block into dst (reused if large enough).
func snappyBlock(dst, block []byte, limit int64) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w: %w", ErrCorrupt, err)
	}
	// A snappy tag of at most 3 bytes copies at most 64: data cannot inflate by
	// more than about 22x, so a larger claimed size is a lie and is refused
	// before allocating for it.
	if n > 22*len(block)+64 {
		return nil, fmt.Errorf("snappy: block of %d bytes claims %d: %w", len(block), n, ErrCorrupt)
	}
	if int64(n) > limit {
		return nil, fmt.Errorf("snappy: block inflates to %d bytes, past the %d-byte limit: %w", n, limit, ErrTooLarge)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := s2.Decode(dst, block); err != nil {
		return nil, fmt.Errorf("snappy: %w: %w", ErrCorrupt, err)
	}
	return dst, nil
}
