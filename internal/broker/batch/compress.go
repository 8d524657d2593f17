package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedSize bounds what Records will inflate one batch to, so a
// small hostile batch (a compression bomb) cannot exhaust memory.
const MaxDecompressedSize = 256 << 20

// xerialMagic opens snappy data in the framing the Java client's
// snappy-java library writes: magic, then version and compatible-version
// int32s, then chunks of [int32 length][raw snappy block].
const xerialMagic = "\x82SNAPPY\x00"

const xerialHeaderSize = 16

// decompress inflates the records section of a compressed batch.
func decompress(codec int8, src []byte) ([]byte, error) {
	switch codec {
	case CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w: %w", ErrCorrupt, err)
		}
		defer r.Close()
		return readLimited("gzip", r)
	case CompressionSnappy:
		return unsnappy(src)
	case CompressionLZ4:
		return readLimited("lz4", lz4.NewReader(bytes.NewReader(src)))
	case CompressionZstd:
		// One decoder per call: a shared one would be package state, and
		// Records is not on a hot path (timestamp lookups, coordinator replay).
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxDecompressedSize))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		defer d.Close()
		out, err := d.DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w: %w", ErrCorrupt, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, ErrUnsupportedCompression)
	}
}

// readLimited reads r to the end, refusing more than MaxDecompressedSize.
func readLimited(codec string, r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, MaxDecompressedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", codec, ErrCorrupt, err)
	}
	if len(out) > MaxDecompressedSize {
		return nil, fmt.Errorf("%s: inflates past %d bytes: %w", codec, MaxDecompressedSize, ErrCorrupt)
	}
	return out, nil
}

// unsnappy decodes raw snappy blocks and the xerial framing Java producers use.
func unsnappy(src []byte) ([]byte, error) {
	if len(src) < len(xerialMagic) || string(src[:len(xerialMagic)]) != xerialMagic {
		return snappyBlock(nil, src)
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("snappy: xerial header cut short: %w", ErrCorrupt)
	}
	var out []byte
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("snappy: xerial chunk length cut short: %w", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("snappy: xerial chunk of %d bytes with %d left: %w", n, len(rest), ErrCorrupt)
		}
		var err error
		out, err = snappyBlock(out, rest[:n])
		if err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return out, nil
}

// snappyBlock appends one decoded raw snappy block to dst.
func snappyBlock(dst, block []byte) ([]byte, error) {
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
	if len(dst)+n > MaxDecompressedSize {
		return nil, fmt.Errorf("snappy: inflates past %d bytes: %w", MaxDecompressedSize, ErrCorrupt)
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := s2.Decode(dst[start:], block); err != nil {
		return nil, fmt.Errorf("snappy: %w: %w", ErrCorrupt, err)
	}
	return dst, nil
}
