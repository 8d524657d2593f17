package log

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
)

type offsetEntry struct {
	rel uint32 // batch base offset minus segment base
	pos uint32 // byte position of that batch in the .log file
}

type timeEntry struct {
	ts  int64  // largest timestamp in the segment up to rel's batch
	rel uint32 // base offset of the first batch that reached ts, minus segment base
}

// offsetIndex is a segment's .index file. n and mem change only under the
// Log's write lock; readers work on a view copied under the read lock.
type offsetIndex struct {
	f     *os.File
	n     int
	mem   []offsetEntry
	inMem bool
	// deferred collects entries in memory only, while a recovery scan
	// rebuilds the index; replace then writes them all at once.
	deferred bool
}

func (x *offsetIndex) append(e offsetEntry) error {
	if !x.deferred {
		var buf [offsetEntrySize]byte
		binary.BigEndian.PutUint32(buf[0:], e.rel)
		binary.BigEndian.PutUint32(buf[4:], e.pos)
		if _, err := x.f.WriteAt(buf[:], int64(x.n)*offsetEntrySize); err != nil {
			return fmt.Errorf("append offset index entry: %w", err)
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
func (x *offsetIndex) replace(entries []offsetEntry, keepInMem bool) error {
	buf := make([]byte, len(entries)*offsetEntrySize)
	for i, e := range entries {
		binary.BigEndian.PutUint32(buf[i*offsetEntrySize:], e.rel)
		binary.BigEndian.PutUint32(buf[i*offsetEntrySize+4:], e.pos)
	}
	if err := rewrite(x.f, buf); err != nil {
		return fmt.Errorf("rewrite offset index: %w", err)
	}
	x.deferred = false
	x.n = len(entries)
	x.inMem = keepInMem
	x.mem = nil
	if keepInMem {
		x.mem = append([]offsetEntry(nil), entries...)
	}
	return nil
}

// load reads every entry into memory, for the active segment.
func (x *offsetIndex) load() ([]offsetEntry, error) {
	v := x.view()
	out := make([]offsetEntry, v.n)
	for i := range out {
		e, err := v.at(i)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (x *offsetIndex) view() offsetView {
	if x.inMem {
		return offsetView{n: x.n, mem: x.mem[:x.n:x.n]}
	}
	return offsetView{n: x.n, f: x.f}
}

// offsetView is a stable snapshot of an offset index for lock-free lookups.
type offsetView struct {
	n   int
	mem []offsetEntry
	f   *os.File
}

func (v offsetView) at(i int) (offsetEntry, error) {
	if v.mem != nil {
		return v.mem[i], nil
	}
	var buf [offsetEntrySize]byte
	n, err := preadFull(v.f, buf[:], int64(i)*offsetEntrySize)
	if err != nil {
		return offsetEntry{}, fmt.Errorf("read offset index entry %d: %w", i, err)
	}
	if n < offsetEntrySize {
		return offsetEntry{}, fmt.Errorf("read offset index entry %d: file shorter than %d entries", i, v.n)
	}
	return offsetEntry{rel: binary.BigEndian.Uint32(buf[0:]), pos: binary.BigEndian.Uint32(buf[4:])}, nil
}

// lookup returns the position of the last indexed batch whose base is <= rel,
// or 0: the place to start scanning for rel.
func (v offsetView) lookup(rel uint32) (int64, error) {
	lo, hi := 0, v.n // invariant: entries [0,lo) are <= rel, [hi,n) are > rel
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := v.at(mid)
		if err != nil {
			return 0, err
		}
		if e.rel <= rel {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, nil
	}
	e, err := v.at(lo - 1)
	if err != nil {
		return 0, err
	}
	return int64(e.pos), nil
}

// timeIndex is a segment's .timeindex file; same locking as offsetIndex.
type timeIndex struct {
	f        *os.File
	n        int
	mem      []timeEntry
	inMem    bool
	deferred bool
	last     timeEntry // last entry written; ts -1 when there is none
}

func (x *timeIndex) append(e timeEntry) error {
	if !x.deferred {
		var buf [timeEntrySize]byte
		binary.BigEndian.PutUint64(buf[0:], uint64(e.ts))
		binary.BigEndian.PutUint32(buf[8:], e.rel)
		if _, err := x.f.WriteAt(buf[:], int64(x.n)*timeEntrySize); err != nil {
			return fmt.Errorf("append time index entry: %w", err)
		}
	}
	x.n++
	x.last = e
	if x.inMem {
		x.mem = append(x.mem, e)
	}
	return nil
}

func (x *timeIndex) replace(entries []timeEntry, keepInMem bool) error {
	buf := make([]byte, len(entries)*timeEntrySize)
	for i, e := range entries {
		binary.BigEndian.PutUint64(buf[i*timeEntrySize:], uint64(e.ts))
		binary.BigEndian.PutUint32(buf[i*timeEntrySize+8:], e.rel)
	}
	if err := rewrite(x.f, buf); err != nil {
		return fmt.Errorf("rewrite time index: %w", err)
	}
	x.deferred = false
	x.n = len(entries)
	x.inMem = keepInMem
	x.mem = nil
	if keepInMem {
		x.mem = append([]timeEntry(nil), entries...)
	}
	x.last = timeEntry{ts: -1}
	if len(entries) > 0 {
		x.last = entries[len(entries)-1]
	}
	return nil
}

func (x *timeIndex) load() ([]timeEntry, error) {
	v := x.view()
	out := make([]timeEntry, v.n)
	for i := range out {
		e, err := v.at(i)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (x *timeIndex) view() timeView {
	if x.inMem {
		return timeView{n: x.n, mem: x.mem[:x.n:x.n]}
	}
	return timeView{n: x.n, f: x.f}
}

type timeView struct {
	n   int
	mem []timeEntry
	f   *os.File
}

func (v timeView) at(i int) (timeEntry, error) {
	if v.mem != nil {
		return v.mem[i], nil
	}
	var buf [timeEntrySize]byte
	n, err := preadFull(v.f, buf[:], int64(i)*timeEntrySize)
	if err != nil {
		return timeEntry{}, fmt.Errorf("read time index entry %d: %w", i, err)
	}
	if n < timeEntrySize {
		return timeEntry{}, fmt.Errorf("read time index entry %d: file shorter than %d entries", i, v.n)
	}
	return timeEntry{ts: int64(binary.BigEndian.Uint64(buf[0:])), rel: binary.BigEndian.Uint32(buf[8:])}, nil
}

// lookupBefore returns the relative offset of the last entry with a
// timestamp below ts, and false when there is none. Every batch before that
// entry's batch has smaller timestamps, so a search for ts starts there.
func (v timeView) lookupBefore(ts int64) (uint32, bool, error) {
	lo, hi := 0, v.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := v.at(mid)
		if err != nil {
			return 0, false, err
		}
		if e.ts < ts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, false, nil
	}
	e, err := v.at(lo - 1)
	if err != nil {
		return 0, false, err
	}
	return e.rel, true, nil
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
