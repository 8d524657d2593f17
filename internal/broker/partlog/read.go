package partlog

import (
	"errors"
	"fmt"
	"os"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// segView is what a reader needs of a segment, snapshotted under the Log's
// read lock. The segment's fileMu stays read-locked until release, so its
// files cannot be closed or truncated underneath the reader.
type segView struct {
	s    *segment
	size int64
	idx  offsetView
	tidx timeView
}

// viewLocked snapshots s, reopening its files if the FileCache closed
// them; the caller holds l.mu (read or write) and releases the view.
func viewLocked(s *segment) (segView, error) {
	s.fileMu.RLock()
	if err := s.acquireRLocked(); err != nil {
		s.fileMu.RUnlock()
		return segView{}, err
	}
	return segView{s: s, size: s.size, idx: s.idx.view(), tidx: s.tidx.view()}, nil
}

func (v segView) release() { v.s.fileMu.RUnlock() }

// startPos is where to begin scanning for offset: the indexed batch at or
// before it.
func (v segView) startPos(offset int64) (int64, error) {
	if offset <= v.s.base {
		return 0, nil
	}
	return lookupPos(v.idx, uint32(min(offset-v.s.base, maxRelOffset)))
}

// walker steps over the batches of a segment by their headers, reading the
// file in chunks and jumping over large batches without reading them.
type walker struct {
	f      *os.File
	pos    int64 // next batch
	end    int64
	buf    []byte
	bufPos int64 // file position of buf[0]
	bufLen int
}

func newWalker(v segView, pos int64) *walker {
	return &walker{f: v.s.log, pos: pos, end: v.size, buf: make([]byte, 8<<10), bufPos: -1}
}

// next returns the header and position of the next batch, false at the end
// of the data. A torn batch at the end (only possible while a truncation
// races a reader that snapshotted before it) also ends the walk.
func (w *walker) next() (batch.Header, int64, bool, error) {
	if w.end-w.pos < batch.HeaderSize {
		return batch.Header{}, 0, false, nil
	}
	if w.bufPos < 0 || w.pos < w.bufPos || w.pos+batch.HeaderSize > w.bufPos+int64(w.bufLen) {
		n, err := preadFull(w.f, w.buf[:min(int64(len(w.buf)), w.end-w.pos)], w.pos)
		if err != nil {
			return batch.Header{}, 0, false, fmt.Errorf("read %s at %d: %w", w.f.Name(), w.pos, err)
		}
		w.bufPos, w.bufLen = w.pos, n
		if n < batch.HeaderSize {
			return batch.Header{}, 0, false, nil
		}
	}
	h, err := batch.ParseHeader(w.buf[w.pos-w.bufPos : w.bufLen])
	if err != nil {
		return batch.Header{}, 0, false, fmt.Errorf("batch header in %s at %d: %w", w.f.Name(), w.pos, err)
	}
	if int64(h.Size()) > w.end-w.pos {
		return batch.Header{}, 0, false, nil
	}
	pos := w.pos
	w.pos += int64(h.Size())
	return h, pos, true, nil
}

// bytes returns the whole batch h at pos. The slice may point into the
// walker's buffer and is valid until the next call to next.
func (w *walker) bytes(h batch.Header, pos int64) ([]byte, error) {
	size := int64(h.Size())
	if w.bufPos >= 0 && pos >= w.bufPos && pos+size <= w.bufPos+int64(w.bufLen) {
		return w.buf[pos-w.bufPos : pos-w.bufPos+size], nil
	}
	b := make([]byte, size)
	n, err := preadFull(w.f, b, pos)
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", w.f.Name(), pos, err)
	}
	if int64(n) < size {
		return nil, fmt.Errorf("read %s at %d: %d of %d bytes: %w", w.f.Name(), pos, n, size, batch.ErrTruncated)
	}
	return b, nil
}

// findBatch returns the first batch of the segment whose last offset is >=
// offset, with its position; false when the segment's data ends before.
func findBatch(v segView, offset int64) (batch.Header, int64, bool, error) {
	pos, err := v.startPos(offset)
	if err != nil {
		return batch.Header{}, 0, false, err
	}
	w := newWalker(v, pos)
	for {
		h, pos, ok, err := w.next()
		if err != nil || !ok {
			return batch.Header{}, 0, false, err
		}
		if h.LastOffset() >= offset {
			return h, pos, true, nil
		}
	}
}

// Read returns whole batches, starting with the one that contains offset,
// holding only batches whose last offset is below limit, and at most
// maxBytes in total, except that with minOne the first batch is returned even
// if it is larger. The result is a fresh slice the caller owns. It is empty
// (and no error) when offset is at limit or at LogEndOffset. Offsets below
// LogStartOffset or above LogEndOffset give ErrOffsetOutOfRange.
//
// Read uses the sparse index to find where to start and pread to read, so it
// runs concurrently with appends.
func (l *Log) Read(offset int64, maxBytes int, limit int64, minOne bool) ([]byte, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	start, leo := l.segs[0].base, l.leo
	if offset < start || offset > leo {
		l.mu.RUnlock()
		return nil, fmt.Errorf("read at offset %d, log holds %d to %d: %w", offset, start, leo, ErrOffsetOutOfRange)
	}
	limit = min(limit, leo)
	if offset >= limit {
		l.mu.RUnlock()
		return nil, nil
	}
	v, err := viewLocked(l.segs[l.segmentIndexLocked(offset)])
	l.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("read at offset %d: %w", offset, err)
	}
	for {
		out, found, err := readSegment(v, offset, maxBytes, limit, minOne)
		prev := v.s
		v.release()
		if err != nil {
			return nil, fmt.Errorf("read at offset %d: %w", offset, err)
		}
		if found {
			return out, nil
		}
		// The offset fell in a gap after this segment's data (removed by
		// the cleaner, or lost in a crash before it was fsynced): serve the
		// next segment, as Kafka does.
		next, ok, err := l.viewAfter(prev, offset)
		if err != nil || !ok {
			return nil, err
		}
		v = next
	}
}

// viewAfter snapshots where a search that found nothing at or after
// offset in prev goes on: the segment after prev while prev is still in
// the log, else the one that holds offset now. The cleaner may have merged
// prev with the segments after it meanwhile; the segment after it by base
// would then skip what they held.
func (l *Log) viewAfter(prev *segment, offset int64) (segView, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return segView{}, false, ErrClosed
	}
	i := l.segmentIndexLocked(prev.base)
	if l.segs[i] == prev {
		i++
	} else {
		i = l.segmentIndexLocked(offset)
	}
	if i >= len(l.segs) {
		return segView{}, false, nil
	}
	v, err := viewLocked(l.segs[i])
	return v, err == nil, err
}

func readSegment(v segView, offset int64, maxBytes int, limit int64, minOne bool) ([]byte, bool, error) {
	first, pos, found, err := findBatch(v, offset)
	if err != nil || !found {
		return nil, false, err
	}
	if first.LastOffset() >= limit {
		return nil, true, nil
	}
	// Allocate no more than the batches below limit take: the slice returned
	// keeps its whole array alive while the response waits to be written,
	// and the fetch budget counts only what is returned. Where the batch
	// holding limit starts (found through the index) ends what can be
	// returned; maxBytes bounds it further.
	dataEnd := v.size
	if _, limitPos, ok, err := findBatch(v, limit); err != nil {
		return nil, false, err
	} else if ok {
		dataEnd = limitPos
	}
	want := min(int64(max(maxBytes, 0)), dataEnd-pos)
	if want < int64(first.Size()) {
		if !minOne {
			return nil, true, nil
		}
		want = int64(first.Size())
	}
	buf := make([]byte, want)
	n, err := preadFull(v.s.log, buf, pos)
	if err != nil {
		return nil, false, fmt.Errorf("read %s at %d: %w", v.s.log.Name(), pos, err)
	}
	// Keep whole batches below limit.
	end := 0
	for end+batch.HeaderSize <= n {
		h, err := batch.ParseHeader(buf[end:n])
		if err != nil {
			return nil, false, fmt.Errorf("batch header in %s at %d: %w", v.s.log.Name(), pos+int64(end), err)
		}
		if end+h.Size() > n || h.LastOffset() >= limit {
			break
		}
		end += h.Size()
	}
	return buf[:end:end], true, nil
}

// ScanBatches calls fn for every batch from the one containing from up to
// the log end as it was when the scan began (replaying producer state or
// consumer offsets at start-up). b is valid only during the call. fn may call
// other methods of the Log. An error from fn stops the scan and is returned.
func (l *Log) ScanBatches(from int64, fn func(h batch.Header, b []byte) error) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	end := l.leo
	next := max(from, l.segs[0].base)
	l.mu.RUnlock()
	for next < end {
		chunk, err := l.Read(next, 1<<20, end, true)
		if errors.Is(err, ErrOffsetOutOfRange) {
			// Retention or truncation moved the log meanwhile.
			lso, leo := l.LogStartOffset(), l.LogEndOffset()
			if next < lso {
				next = lso
				continue
			}
			if next >= leo {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("scan batches from %d: %w", from, err)
		}
		if len(chunk) == 0 {
			return nil
		}
		for len(chunk) > 0 {
			h, err := batch.ParseHeader(chunk)
			if err != nil {
				return fmt.Errorf("scan batches at %d: %w", next, err)
			}
			if err := fn(h, chunk[:h.Size():h.Size()]); err != nil {
				return err
			}
			next = h.LastOffset() + 1
			chunk = chunk[h.Size():]
		}
	}
	return nil
}

// OffsetForTimestamp finds the first record whose timestamp is >= ts and
// returns its offset and timestamp (ListOffsets by time). found is false when
// no record is that recent. It reads batch headers through the time index
// and never decompresses: in a compressed batch the answer is the batch's
// base offset and max timestamp (see batch.SeekTimestamp).
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, false, ErrClosed
	}
	// Timestamps are not ordered, but the first segment whose largest
	// timestamp reaches ts holds the first record that does.
	var v segView
	ok := false
	for _, s := range l.segs {
		if s.maxTS >= ts {
			if v, err = viewLocked(s); err != nil {
				l.mu.RUnlock()
				return -1, -1, false, fmt.Errorf("offset for timestamp %d: %w", ts, err)
			}
			ok = true
			break
		}
	}
	l.mu.RUnlock()
	for ok {
		offset, timestamp, found, err = findTimestamp(v, ts)
		prev := v.s
		v.release()
		if err != nil {
			return -1, -1, false, fmt.Errorf("offset for timestamp %d: %w", ts, err)
		}
		if found {
			return offset, timestamp, true, nil
		}
		// Only reached when a batch's MaxTimestamp overstates its records.
		// No record of prev reaches ts; nor does any before it (their
		// largest timestamps are below ts), so a segment that merged
		// them may be searched whole.
		if v, ok, err = l.viewAfter(prev, prev.base); err != nil {
			return -1, -1, false, err
		}
	}
	return -1, -1, false, nil
}

func findTimestamp(v segView, ts int64) (int64, int64, bool, error) {
	pos := int64(0)
	rel, ok, err := lookupBefore(v.tidx, ts)
	if err != nil {
		return 0, 0, false, err
	}
	if ok {
		if pos, err = lookupPos(v.idx, rel); err != nil {
			return 0, 0, false, err
		}
	}
	w := newWalker(v, pos)
	for {
		h, pos, ok, err := w.next()
		if err != nil || !ok {
			return 0, 0, false, err
		}
		if h.MaxTimestamp < ts {
			continue
		}
		// Never inflate here: a compressed batch is answered from its
		// header (its base offset), an uncompressed one by walking it.
		var b []byte
		if h.Compression() == batch.CompressionNone {
			if b, err = w.bytes(h, pos); err != nil {
				return 0, 0, false, err
			}
		}
		off, t, found, err := batch.SeekTimestamp(h, b, ts)
		if err != nil || found {
			return off, t, found, err
		}
	}
}

// MaxTimestamp returns the record with the largest timestamp (the first of
// equals), as ListOffsets with timestamp -3 asks. found is false when the log
// is empty or no batch carries a timestamp. Like OffsetForTimestamp it never
// decompresses: in a compressed batch the answer is its base offset.
func (l *Log) MaxTimestamp() (offset, timestamp int64, found bool, err error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, false, ErrClosed
	}
	var best *segment
	for _, s := range l.segs {
		if s.maxTSOffset >= 0 && (best == nil || s.maxTS > best.maxTS) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return -1, -1, false, nil
	}
	maxTS, batchOffset := best.maxTS, best.maxTSOffset
	v, err := viewLocked(best)
	l.mu.RUnlock()
	if err != nil {
		return -1, -1, false, fmt.Errorf("max timestamp: %w", err)
	}
	defer v.release()

	h, pos, ok, err := findBatch(v, batchOffset)
	if err != nil {
		return -1, -1, false, fmt.Errorf("max timestamp: %w", err)
	}
	if !ok || h.BaseOffset != batchOffset {
		// Index and data disagree; the batch-level answer is still right.
		return batchOffset, maxTS, true, nil
	}
	// Never inflate here: a compressed batch answers with its base offset.
	var b []byte
	if h.Compression() == batch.CompressionNone {
		w := newWalker(v, pos)
		if _, _, _, err := w.next(); err != nil {
			return -1, -1, false, fmt.Errorf("max timestamp: %w", err)
		}
		if b, err = w.bytes(h, pos); err != nil {
			return -1, -1, false, fmt.Errorf("max timestamp: %w", err)
		}
	}
	off, ok, err := batch.SeekMaxTimestamp(h, b)
	if err != nil {
		return -1, -1, false, fmt.Errorf("max timestamp: %w", err)
	}
	if ok && h.MaxTimestamp == maxTS {
		return off, maxTS, true, nil
	}
	return batchOffset, maxTS, true, nil
}
