package batch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// RecordError is a problem with one record of a batch; Index is the record's
// position in the batch (0-based), as Kafka's ProduceResponse RecordErrors
// report it.
type RecordError struct {
	Index int32
	Err   error
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

// Validated is what Validate learned about a batch by walking its records.
type Validated struct {
	Header
	// RecordsMaxTimestamp is the largest record timestamp (create time);
	// Header.MaxTimestamp is what the producer claimed.
	RecordsMaxTimestamp int64
	// RecordBytes is the size of the records section, decompressed.
	RecordBytes int64
	// FirstKeyless is the index of the first record without a key (a null
	// key; an empty one is a key), -1 when every record has one: a
	// compacted topic refuses such records.
	FirstKeyless int32
}

// Validate checks a batch a producer sent, allowing compressed records to
// inflate to InflateLimit(0); see ValidateFor.
func Validate(b []byte) (Header, error) {
	v, err := ValidateFor(b, 0)
	return v.Header, err
}

// ValidateFor checks a batch a producer sent to a topic with the given
// max.message.bytes. b must be exactly one batch: magic 2, Length consistent
// with len(b), CRC-32C correct, a known codec, at least one record and
// LastOffsetDelta == NumRecords-1, a base sequence of at least 0 when a
// producer id is set. Then every record is walked, decompressing
// compressed batches as a stream that may inflate to at most
// InflateLimit(maxMessageBytes) bytes and is never held whole in memory: each
// record's varints and lengths must stay inside the record and the record
// inside the batch, offset deltas must run 0, 1, 2, ..., and exactly
// NumRecords records must be there, nothing after them.
//
// Errors wrap ErrCorrupt (frame, CRC, undecodable compressed data),
// ErrInvalidRecord (records disagree with the header or are malformed; a
// *RecordError names the record when one is at fault), ErrTooLarge (past the
// inflate limits), ErrUnsupportedCompression or ErrUnsupportedMagic.
func ValidateFor(b []byte, maxMessageBytes int32) (Validated, error) {
	return validate(b, InflateLimit(maxMessageBytes))
}

// validate is ValidateFor with the inflate limit given directly (tests and
// the fuzz target use small limits).
func validate(b []byte, inflateLimit int64) (Validated, error) {
	h, err := Check(b)
	if err != nil {
		return Validated{}, err
	}
	if h.NumRecords < 1 {
		return Validated{}, fmt.Errorf("record count %d, a batch needs at least one: %w", h.NumRecords, ErrInvalidRecord)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return Validated{}, fmt.Errorf("last offset delta %d with a record count of %d (want %d): %w", h.LastOffsetDelta, h.NumRecords, h.NumRecords-1, ErrInvalidRecord)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return Validated{}, fmt.Errorf("producer id %d with base sequence %d: %w", h.ProducerID, h.BaseSequence, ErrInvalidRecord)
	}
	v := Validated{Header: h, RecordsMaxTimestamp: math.MinInt64, FirstKeyless: -1} // at least one record follows
	index := int32(0)
	track := func(r Record) bool {
		v.RecordsMaxTimestamp = max(v.RecordsMaxTimestamp, r.Timestamp)
		if r.Key == nil && v.FirstKeyless < 0 {
			v.FirstKeyless = index
		}
		index++
		return true
	}
	switch c := h.Compression(); c {
	case CompressionNone:
		v.RecordBytes = int64(len(b) - HeaderSize)
		if err := walk(&sliceInput{b: b[HeaderSize:]}, h, false, false, track); err != nil {
			return Validated{}, err
		}
	case CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
		r, close, err := inflate(c, b[HeaderSize:], inflateLimit)
		if err != nil {
			return Validated{}, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		defer close()
		counted := &countingReader{r: r}
		err = walk(streamInput{bufio.NewReaderSize(counted, 16<<10)}, h, false, false, track)
		if err != nil {
			return Validated{}, err
		}
		v.RecordBytes = counted.n
	default:
		return Validated{}, fmt.Errorf("codec %d: %w", c, ErrUnsupportedCompression)
	}
	return v, nil
}

// Records decodes every record of one batch, decompressing it if needed
// (gzip, snappy raw or xerial-framed, lz4 frames, zstd) up to
// InflateLimit(0) bytes. The returned keys, values and header values point
// into one private buffer, not into b, so they stay valid after b is reused.
// Under LogAppendTime every record's Timestamp is the batch's MaxTimestamp,
// as Kafka clients read it. Unlike Validate it accepts what a compacted log
// holds: a batch without records, and offset deltas with gaps (rising, at
// most LastOffsetDelta). Read paths that only need timestamps use
// SeekTimestamp and SeekMaxTimestamp instead, which never decompress.
func Records(b []byte) ([]Record, error) {
	h, err := Check(b)
	if err != nil {
		return nil, err
	}
	if h.NumRecords < 0 {
		return nil, fmt.Errorf("record count %d: %w", h.NumRecords, ErrInvalidRecord)
	}
	var data []byte
	if h.Compression() == CompressionNone {
		// Copy so the records do not alias the caller's (often reused) buffer.
		data = append([]byte(nil), b[HeaderSize:]...)
	} else {
		data, err = inflateAll(h.Compression(), b[HeaderSize:], InflateLimit(0))
		if err != nil {
			return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	// A record takes at least 7 bytes, which bounds the allocation for a lying count.
	capHint := min(int(h.NumRecords), len(data)/7+1)
	recs := make([]Record, 0, capHint)
	err = walk(&sliceInput{b: data}, h, true, true, func(r Record) bool { recs = append(recs, r); return true })
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// SeekTimestamp finds the first record at or after ts in batch h without
// decompressing anything. For an uncompressed batch, b is the whole batch
// and its records are walked: the answer is exact. A compressed batch is
// answered from its header alone (b may be nil): if its MaxTimestamp reaches
// ts, its base offset with MaxTimestamp, the place from which a consumer
// sees every record at or after ts. found is false when no record of the
// batch is that recent.
func SeekTimestamp(h Header, b []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	if h.MaxTimestamp < ts {
		return -1, -1, false, nil
	}
	if h.Compression() != CompressionNone || h.LogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, true, nil
	}
	offset, timestamp = -1, -1
	err = walkUncompressed(h, b, func(r Record) bool {
		if r.Timestamp >= ts {
			offset, timestamp, found = r.Offset, r.Timestamp, true
			return false
		}
		return true
	})
	return offset, timestamp, found, err
}

// SeekMaxTimestamp finds the record carrying the batch's MaxTimestamp without
// decompressing: the first such record of an uncompressed batch (b is the
// whole batch), the base offset of a compressed one (b may be nil). found is
// false when no record of an uncompressed batch has that timestamp.
func SeekMaxTimestamp(h Header, b []byte) (offset int64, found bool, err error) {
	if h.Compression() != CompressionNone || h.LogAppendTime() {
		return h.BaseOffset, true, nil
	}
	offset = -1
	err = walkUncompressed(h, b, func(r Record) bool {
		if r.Timestamp == h.MaxTimestamp {
			offset, found = r.Offset, true
			return false
		}
		return true
	})
	return offset, found, err
}

func walkUncompressed(h Header, b []byte, fn func(Record) bool) error {
	if len(b) != h.Size() {
		return fmt.Errorf("batch at offset %d is %d bytes, %d given: %w", h.BaseOffset, h.Size(), len(b), ErrCorrupt)
	}
	err := walk(&sliceInput{b: b[HeaderSize:]}, h, false, true, fn)
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// errStopped ends a walk whose callback asked to stop.
var errStopped = errors.New("walk stopped")

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// input is what records are parsed from: the records section of an
// uncompressed (or already inflated) batch, or a decompressing stream.
// ReadByte and field return io.EOF or io.ErrUnexpectedEOF when the data ends;
// any other error comes from the decompressor and is passed on as it is.
type input interface {
	io.ByteReader
	// field consumes the next n bytes, returning them if keep is set.
	field(n int, keep bool) ([]byte, error)
	// left is how many bytes remain, or -1 when unknown (a stream).
	left() int
}

// sliceInput reads records from memory; fields alias it.
type sliceInput struct{ b []byte }

func (s *sliceInput) ReadByte() (byte, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c, nil
}

func (s *sliceInput) field(n int, keep bool) ([]byte, error) {
	if n > len(s.b) {
		return nil, io.ErrUnexpectedEOF
	}
	v := s.b[:n:n]
	s.b = s.b[n:]
	if !keep {
		return nil, nil
	}
	return v, nil
}

func (s *sliceInput) left() int { return len(s.b) }

// streamInput reads records from a decompressing stream. It never keeps
// fields (it skips them), so a record costs no memory whatever its size.
type streamInput struct{ r *bufio.Reader }

func (s streamInput) ReadByte() (byte, error) { return s.r.ReadByte() }

func (s streamInput) field(n int, keep bool) ([]byte, error) {
	if keep {
		return nil, errors.New("batch: a stream does not keep record fields")
	}
	if k, err := s.r.Discard(n); k < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return nil, nil
}

func (s streamInput) left() int { return -1 }

// walk parses h.NumRecords records from in, which must hold exactly them,
// calling fn for each until it returns false (then walk returns errStopped).
// With keep, Key, Value and Headers point into in (a sliceInput); without,
// they are left nil and nothing is allocated per record, except that a
// record with a key gets an empty non-nil Key (no allocation) so that
// callers can tell records without one. Without gaps the
// offset deltas must run 0, 1, 2, ... (what a producer sends); with gaps
// they need only rise and stay within LastOffsetDelta (what compaction
// leaves, see Filter).
func walk(in input, h Header, keep, gaps bool, fn func(Record) bool) error {
	p := recordParser{in: in, keep: keep, gaps: gaps, lastDelta: -1}
	p.mem, _ = in.(*sliceInput)
	for i := int32(0); i < h.NumRecords; i++ {
		r, err := p.record(h, i)
		if err != nil {
			if isEnd(err) {
				return fmt.Errorf("batch at offset %d: records end after %d of the %d the header counts: %w", h.BaseOffset, i, h.NumRecords, ErrInvalidRecord)
			}
			if errors.Is(err, ErrInvalidRecord) {
				err = &RecordError{Index: i, Err: err}
			}
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if !fn(r) {
			return errStopped
		}
	}
	switch _, err := in.ReadByte(); {
	case err == nil:
		return fmt.Errorf("batch at offset %d: data after its %d records: %w", h.BaseOffset, h.NumRecords, ErrInvalidRecord)
	case err != io.EOF:
		return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return nil
}

// isEnd reports whether err means the input ran out.
func isEnd(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF
}

// recordParser parses one record at a time; rest counts the bytes left in
// the current record's body, so no field can overrun its record.
type recordParser struct {
	in   input
	mem  *sliceInput // in, when it is in memory: the produce hot path
	keep bool
	rest int64
	// gaps allows offset deltas that skip values; lastDelta is the
	// previous record's (-1 before the first).
	gaps      bool
	lastDelta int32
	// null: the last field bytes read was null (length -1).
	null bool
}

// errBodyShort is returned when a record's fields need more bytes than its
// length gave it.
var errBodyShort = fmt.Errorf("fields overrun the record's length: %w", ErrInvalidRecord)

func (p *recordParser) byte() (byte, error) {
	if p.rest <= 0 {
		return 0, errBodyShort
	}
	if s := p.mem; s != nil && len(s.b) > 0 {
		c := s.b[0]
		s.b, p.rest = s.b[1:], p.rest-1
		return c, nil
	}
	c, err := p.in.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	p.rest--
	return c, nil
}

// varlong reads a zig-zag varint of the current record.
func (p *recordParser) varlong() (int64, error) {
	if s := p.mem; s != nil {
		// Decode from memory in one call.
		b := s.b
		if int64(len(b)) > p.rest {
			b = b[:max(p.rest, 0)]
		}
		v, n := binary.Varint(b)
		switch {
		case n > 0:
			s.b, p.rest = s.b[n:], p.rest-int64(n)
			return v, nil
		case n < 0:
			return 0, fmt.Errorf("varint overflows 64 bits: %w", ErrInvalidRecord)
		case len(b) < len(s.b):
			return 0, errBodyShort
		default:
			return 0, io.ErrUnexpectedEOF
		}
	}
	var ux uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := p.byte()
		if err != nil {
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		ux |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			x := int64(ux >> 1)
			if ux&1 != 0 {
				x = ^x
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("varint overflows 64 bits: %w", ErrInvalidRecord)
}

func (p *recordParser) varint() (int32, error) {
	v, err := p.varlong()
	if err != nil {
		return 0, err
	}
	if v != int64(int32(v)) {
		return 0, fmt.Errorf("varint %d overflows int32: %w", v, ErrInvalidRecord)
	}
	return int32(v), nil
}

// bytes reads a varint length and that many bytes; length -1 gives nil.
func (p *recordParser) bytes(what string, nullable bool) ([]byte, error) {
	n, err := p.varint()
	if err != nil {
		return nil, err
	}
	p.null = n == -1 && nullable
	if p.null {
		return nil, nil
	}
	if n < 0 || int64(n) > p.rest {
		return nil, fmt.Errorf("%s length %d with %d bytes left in the record: %w", what, n, p.rest, ErrInvalidRecord)
	}
	var v []byte
	if s := p.mem; s != nil && int(n) <= len(s.b) {
		v, s.b = s.b[:n:n], s.b[n:]
		if !p.keep {
			v = nil
		}
	} else if v, err = p.in.field(int(n), p.keep); err != nil {
		return nil, err
	}
	p.rest -= int64(n)
	if v == nil && p.keep {
		v = []byte{}
	}
	return v, nil
}

// record parses the record at the front of the input: its length, then
// attributes, timestamp delta, offset delta (index, or with gaps above the
// previous one and at most the header's LastOffsetDelta), key,
// value and headers, which must fill the length exactly.
func (p *recordParser) record(h Header, index int32) (Record, error) {
	p.rest = binary.MaxVarintLen32 // room for the length itself
	length, err := p.varint()
	if err != nil {
		if err == io.ErrUnexpectedEOF && p.rest == binary.MaxVarintLen32 {
			err = io.EOF // not one byte of this record
		}
		return Record{}, err
	}
	if length < 0 {
		return Record{}, fmt.Errorf("record length %d: %w", length, ErrInvalidRecord)
	}
	if l := p.in.left(); l >= 0 && int(length) > l {
		return Record{}, fmt.Errorf("record length %d with %d bytes left in the batch: %w", length, l, ErrInvalidRecord)
	}
	p.rest = int64(length)
	if _, err := p.byte(); err != nil { // record attributes: unused by Kafka
		return Record{}, err
	}
	tsDelta, err := p.varlong()
	if err != nil {
		return Record{}, err
	}
	offDelta, err := p.varint()
	if err != nil {
		return Record{}, err
	}
	switch {
	case !p.gaps && offDelta != index:
		return Record{}, fmt.Errorf("offset delta %d, expected %d: %w", offDelta, index, ErrInvalidRecord)
	case p.gaps && (offDelta <= p.lastDelta || offDelta > h.LastOffsetDelta):
		return Record{}, fmt.Errorf("offset delta %d after %d, last offset delta %d: %w", offDelta, p.lastDelta, h.LastOffsetDelta, ErrInvalidRecord)
	}
	p.lastDelta = offDelta
	key, err := p.bytes("key", true)
	if err != nil {
		return Record{}, err
	}
	if key == nil && !p.null {
		key = []byte{} // a key, left out (see walk)
	}
	value, err := p.bytes("value", true)
	if err != nil {
		return Record{}, err
	}
	nh, err := p.varint()
	if err != nil {
		return Record{}, err
	}
	// A header needs at least two bytes, which bounds a lying count.
	if nh < 0 || int64(nh) > p.rest/2 {
		return Record{}, fmt.Errorf("header count %d with %d bytes left in the record: %w", nh, p.rest, ErrInvalidRecord)
	}
	var headers []RecordHeader
	if p.keep && nh > 0 {
		headers = make([]RecordHeader, 0, nh)
	}
	for range nh {
		k, err := p.bytes("header key", false)
		if err != nil {
			return Record{}, err
		}
		v, err := p.bytes("header value", true)
		if err != nil {
			return Record{}, err
		}
		if p.keep {
			headers = append(headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if p.rest != 0 {
		return Record{}, fmt.Errorf("%d bytes left inside the record after its fields: %w", p.rest, ErrInvalidRecord)
	}
	ts := h.BaseTimestamp + tsDelta
	if h.LogAppendTime() {
		ts = h.MaxTimestamp
	}
	return Record{
		Offset:    h.BaseOffset + int64(offDelta),
		Timestamp: ts,
		Key:       key,
		Value:     value,
		Headers:   headers,
	}, nil
}
