package partlog

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Index files are flat arrays of big-endian entries, like Kafka's:
//
//	.index      relative offset uint32, file position uint32   (8 bytes)
//	.timeindex  timestamp int64, relative offset uint32        (12 bytes)
//
// Both are sparse: an offset entry is added once IndexIntervalBytes of batches
// were written since the previous one; a time entry at the same moments, and
// only when the segment's largest timestamp grew since the previous time
// entry. The active segment keeps its entries in memory too; inactive
// segments are searched with pread, which keeps memory flat however much
// data a node stores.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
	maxEntrySize    = timeEntrySize
)

// indexEntry is what sparseIndex needs of its entry type. Only encode reads
// its receiver, so a zero E can describe the type. Entries travel as arrays,
// not slices, so buffers stay on the stack despite the generic calls.
type indexEntry[E any] interface {
	size() int    // bytes on disk
	kind() string // names the index in errors
	encode() (b [maxEntrySize]byte)
	decode(b [maxEntrySize]byte) E
}

type offsetEntry struct {
	rel uint32 // batch base offset minus segment base
	pos uint32 // byte position of that batch in the .log file
}

func (offsetEntry) size() int    { return offsetEntrySize }
func (offsetEntry) kind() string { return "offset" }

func (e offsetEntry) encode() (b [maxEntrySize]byte) {
	binary.BigEndian.PutUint32(b[0:], e.rel)
	binary.BigEndian.PutUint32(b[4:], e.pos)
	return b
}

func (offsetEntry) decode(b [maxEntrySize]byte) offsetEntry {
	return offsetEntry{rel: binary.BigEndian.Uint32(b[0:]), pos: binary.BigEndian.Uint32(b[4:])}
}

type timeEntry struct {
	ts  int64  // largest timestamp in the segment up to rel's batch
	rel uint32 // base offset of the first batch that reached ts, minus segment base
}

func (timeEntry) size() int    { return timeEntrySize }
func (timeEntry) kind() string { return "time" }

func (e timeEntry) encode() (b [maxEntrySize]byte) {
	binary.BigEndian.PutUint64(b[0:], uint64(e.ts))
	binary.BigEndian.PutUint32(b[8:], e.rel)
	return b
}

func (timeEntry) decode(b [maxEntrySize]byte) timeEntry {
	return timeEntry{ts: int64(binary.BigEndian.Uint64(b[0:])), rel: binary.BigEndian.Uint32(b[8:])}
}

// sparseIndex is one index file. n and mem change only under the Log's
// write lock; readers work on a view copied under the read lock.
type sparseIndex[E indexEntry[E]] struct {
	f     *os.File
	n     int
	mem   []E
	inMem bool
	// deferred collects entries in memory only, while a recovery scan
	// rebuilds the index; replace then writes them all at once.
	deferred bool
}

// offsetIndex is a segment's .index file.
type offsetIndex = sparseIndex[offsetEntry]

func (x *sparseIndex[E]) append(e E) error {
	if !x.deferred {
		buf, size := e.encode(), e.size()
		if _, err := x.f.WriteAt(buf[:size], int64(x.n)*int64(size)); err != nil {
			return fmt.Errorf("append %s index entry: %w", e.kind(), err)
		}
	}
	x.n++
	if x.inMem {
		x.mem = append(x.mem, e)
	}
	return nil
}

// replace rewrites the whole file with entries (after a scan or truncation).
// A fresh slice is used so views handed to readers never see it change.
func (x *sparseIndex[E]) replace(entries []E, keepInMem bool) error {
	var zero E
	size := zero.size()
	buf := make([]byte, len(entries)*size)
	for i, e := range entries {
		b := e.encode()
		copy(buf[i*size:], b[:size])
	}
	if err := rewrite(x.f, buf); err != nil {
		return fmt.Errorf("rewrite %s index: %w", zero.kind(), err)
	}
	x.deferred = false
	x.n = len(entries)
	x.inMem = keepInMem
	x.mem = nil
	if keepInMem {
		x.mem = append([]E(nil), entries...)
	}
	return nil
}

// load reads every entry into memory, for the active segment.
func (x *sparseIndex[E]) load() ([]E, error) {
	v := x.view()
	out := make([]E, v.n)
	for i := range out {
		e, err := v.at(i)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (x *sparseIndex[E]) view() indexView[E] {
	if x.inMem {
		return indexView[E]{n: x.n, mem: x.mem[:x.n:x.n]}
	}
	return indexView[E]{n: x.n, f: x.f}
}

// timeIndex is a segment's .timeindex file. It also remembers its last
// entry, which decides whether the next batch adds one.
type timeIndex struct {
	sparseIndex[timeEntry]
	last timeEntry // last entry written; ts -1 when there is none
}

func (x *timeIndex) append(e timeEntry) error {
	if err := x.sparseIndex.append(e); err != nil {
		return err
	}
	x.last = e
	return nil
}

func (x *timeIndex) replace(entries []timeEntry, keepInMem bool) error {
	if err := x.sparseIndex.replace(entries, keepInMem); err != nil {
		return err
	}
	x.last = timeEntry{ts: -1}
	if len(entries) > 0 {
		x.last = entries[len(entries)-1]
	}
	return nil
}

// indexView is a stable snapshot of an index for lock-free lookups.
type indexView[E indexEntry[E]] struct {
	n   int
	mem []E
	f   *os.File
}

type (
	offsetView = indexView[offsetEntry]
	timeView   = indexView[timeEntry]
)

func (v indexView[E]) at(i int) (E, error) {
	var zero E
	if v.mem != nil {
		return v.mem[i], nil
	}
	var buf [maxEntrySize]byte
	size := zero.size()
	n, err := preadFull(v.f, buf[:size], int64(i)*int64(size))
	if err != nil {
		return zero, fmt.Errorf("read %s index entry %d: %w", zero.kind(), i, err)
	}
	if n < size {
		return zero, fmt.Errorf("read %s index entry %d: file shorter than %d entries", zero.kind(), i, v.n)
	}
	return zero.decode(buf), nil
}

// lastWhere returns the last entry for which below holds, and false when
// there is none. Entries are sorted, so below holds for a prefix of them.
func (v indexView[E]) lastWhere(below func(E) bool) (E, bool, error) {
	var zero E
	lo, hi := 0, v.n // invariant: below holds for [0,lo), not for [hi,n)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := v.at(mid)
		if err != nil {
			return zero, false, err
		}
		if below(e) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return zero, false, nil
	}
	e, err := v.at(lo - 1)
	if err != nil {
		return zero, false, err
	}
	return e, true, nil
}

// lookupPos returns the position of the last indexed batch whose base is
// <= rel, or 0: the place to start scanning for rel.
func lookupPos(v offsetView, rel uint32) (int64, error) {
	e, _, err := v.lastWhere(func(e offsetEntry) bool { return e.rel <= rel })
	return int64(e.pos), err
}

// lookupBefore returns the relative offset of the last entry with a
// timestamp below ts, and false when there is none. Every batch before that
// entry's batch has smaller timestamps, so a search for ts starts there.
func lookupBefore(v timeView, ts int64) (uint32, bool, error) {
	e, ok, err := v.lastWhere(func(e timeEntry) bool { return e.ts < ts })
	return e.rel, ok, err
}

// rewrite replaces a file's content in place.
func rewrite(f *os.File, data []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	_, err := f.WriteAt(data, 0)
	return err
}
