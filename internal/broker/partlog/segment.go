package partlog

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	tmpSuffix       = ".tmp"
	deletedSuffix   = ".deleted"
	baseNameDigits  = 20
)

// segmentName is Kafka's file name for a segment: the base offset in 20 digits.
func segmentName(base int64) string {
	return fmt.Sprintf("%0*d", baseNameDigits, base)
}

// parseSegmentName returns the base offset of a name like
// 00000000000000000042.log, and false for anything else.
func parseSegmentName(name, suffix string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, suffix)
	if !ok || len(stem) != baseNameDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// segment is one .log file with its two indexes.
//
// Locking: the fields below "Log.mu" change only under the Log's write lock.
// fileMu guards the files' lifetime: whoever reads or fsyncs the files
// without holding the Log's lock holds fileMu.RLock; closing, deleting or
// truncating takes fileMu.Lock, which waits for those reads to finish. Lock
// order is Log.mu then fileMu; nobody takes Log.mu while holding fileMu.
//
// An inactive segment's files may be closed by the FileCache while nobody
// reads them (log, idx.f and tidx.f are then nil) and are reopened by the
// next reader (acquireRLocked), under openMu; see FileCache.
type segment struct {
	base     int64
	logPath  string // paths change (markDeleted) under Log.mu and openMu
	idxPath  string
	tidxPath string
	cache    *FileCache

	fileMu sync.RWMutex
	closed bool // deleted or its log closed: never reopened
	log    *os.File
	idx    offsetIndex
	tidx   timeIndex

	// openMu guards reopening and pinned; FileCache.mu guards elem.
	openMu sync.Mutex
	pinned bool          // files must stay open (active, unsynced, being recovered or truncated)
	elem   *list.Element // in cache.lru while inactive and open

	// Log.mu:
	size          int64     // bytes of whole batches in the .log file
	next          int64     // offset after the last batch; base when empty (active segment only)
	maxTS         int64     // largest batch MaxTimestamp, -1 when none
	maxTSOffset   int64     // base offset of the first batch that reached maxTS
	firstTS       int64     // MaxTimestamp of the first batch; -1 when unknown (cleaner lag)
	bytesSinceIdx int64     // bytes appended since the last offset index entry
	rollBase      time.Time // when the first batch was appended (age-based roll)
}

// newSegment describes a segment; it starts pinned (see FileCache).
func newSegment(dir string, base int64, cache *FileCache) *segment {
	name := filepath.Join(dir, segmentName(base))
	return &segment{
		base:        base,
		logPath:     name + logSuffix,
		idxPath:     name + indexSuffix,
		tidxPath:    name + timeIndexSuffix,
		cache:       cache,
		pinned:      true,
		next:        base,
		maxTS:       -1,
		maxTSOffset: -1,
		firstTS:     -1,
	}
}

// openFiles opens (creating if needed) the three files. With truncate the
// segment starts empty. It reports which index files were missing.
func (s *segment) openFiles(truncate bool) (idxMissing, tidxMissing bool, err error) {
	flag := os.O_RDWR | os.O_CREATE
	if truncate {
		flag |= os.O_TRUNC
	}
	open := func(path string) (*os.File, bool, error) {
		_, statErr := os.Stat(path)
		missing := errors.Is(statErr, os.ErrNotExist)
		f, err := os.OpenFile(path, flag, 0o644)
		if err != nil {
			return nil, false, fmt.Errorf("open %s: %w", filepath.Base(path), err)
		}
		return f, missing, nil
	}
	if s.log, _, err = open(s.logPath); err != nil {
		return false, false, err
	}
	if s.idx.f, idxMissing, err = open(s.idxPath); err != nil {
		s.log.Close()
		return false, false, err
	}
	if s.tidx.f, tidxMissing, err = open(s.tidxPath); err != nil {
		s.log.Close()
		s.idx.f.Close()
		return false, false, err
	}
	s.tidx.last = timeEntry{ts: -1}
	return idxMissing, tidxMissing, nil
}

// rel converts an absolute offset to one relative to the segment base.
func (s *segment) rel(off int64) uint32 { return uint32(off - s.base) }

// fitsOffsets reports whether a batch ending at last can be indexed here.
func (s *segment) fitsOffsets(last int64) bool {
	return last-s.base <= maxRelOffset
}

// account updates the in-memory state and indexes for a batch written at pos.
func (s *segment) account(h batch.Header, pos int64, interval int64) error {
	if pos == 0 {
		s.firstTS = h.MaxTimestamp
	}
	if h.MaxTimestamp > s.maxTS {
		s.maxTS = h.MaxTimestamp
		s.maxTSOffset = h.BaseOffset
	}
	if s.bytesSinceIdx >= interval {
		if err := s.idx.append(offsetEntry{rel: s.rel(h.BaseOffset), pos: uint32(pos)}); err != nil {
			return err
		}
		if s.maxTS > s.tidx.last.ts {
			if err := s.tidx.append(timeEntry{ts: s.maxTS, rel: s.rel(s.maxTSOffset)}); err != nil {
				return err
			}
		}
		s.bytesSinceIdx = 0
	}
	s.bytesSinceIdx += int64(h.Size())
	s.size = pos + int64(h.Size())
	s.next = h.LastOffset() + 1
	return nil
}

// seal prepares a segment that stops being active: a last time index entry
// records its true largest timestamp (retention and timestamp lookups read
// it from there later), and the in-memory copies of the indexes are dropped.
func (s *segment) seal() error {
	if err := s.finishTimeIndex(); err != nil {
		return err
	}
	s.idx.inMem, s.idx.mem = false, nil
	s.tidx.inMem, s.tidx.mem = false, nil
	return nil
}

func (s *segment) finishTimeIndex() error {
	if s.maxTS > s.tidx.last.ts {
		return s.tidx.append(timeEntry{ts: s.maxTS, rel: s.rel(s.maxTSOffset)})
	}
	return nil
}

// syncFiles fsyncs the data file and, with indexes, the two index files.
// It skips a segment closed meanwhile (deleted by retention or truncation)
// and one whose files the FileCache closed: only segments already fsynced
// are handed to the cache.
func (s *segment) syncFiles(indexes bool) (synced bool, err error) {
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	s.openMu.Lock()
	lf, xf, tf := s.log, s.idx.f, s.tidx.f
	closed := s.closed
	s.openMu.Unlock()
	if closed || lf == nil {
		return false, nil
	}
	if err := lf.Sync(); err != nil {
		return false, fmt.Errorf("fsync %s: %w", filepath.Base(lf.Name()), err)
	}
	if indexes {
		if err := xf.Sync(); err != nil {
			return false, fmt.Errorf("fsync %s: %w", filepath.Base(xf.Name()), err)
		}
		if err := tf.Sync(); err != nil {
			return false, fmt.Errorf("fsync %s: %w", filepath.Base(tf.Name()), err)
		}
	}
	return true, nil
}

// closeFiles waits for in-flight reads, then closes the files.
func (s *segment) closeFiles() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	return s.closeFilesLocked()
}

func (s *segment) closeFilesLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.cache != nil {
		s.cache.remove(s)
	}
	var errs []error
	for _, f := range []*os.File{s.log, s.idx.f, s.tidx.f} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close segment %d: %w", s.base, err)
	}
	return nil
}

// remove closes the segment and deletes its files, the data file first so
// that a crash in between leaves only orphan indexes, which Open removes.
func (s *segment) remove() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	cerr := s.closeFilesLocked()
	var errs []error
	for _, p := range []string{s.logPath, s.idxPath, s.tidxPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(append(errs, cerr)...); err != nil {
		return fmt.Errorf("remove segment %d: %w", s.base, err)
	}
	return nil
}

// markDeleted renames the segment's files out of the way (reads through
// open descriptors go on working), so that the slow part of deleting, which
// waits for those reads, can run without the Log's lock while a new segment
// with the same base offset can already be created. The caller holds l.mu.
func (s *segment) markDeleted() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	var errs []error
	for _, p := range []*string{&s.logPath, &s.idxPath, &s.tidxPath} {
		if err := os.Rename(*p, *p+deletedSuffix); err != nil {
			errs = append(errs, err)
			continue
		}
		*p += deletedSuffix
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mark segment %d deleted: %w", s.base, err)
	}
	return nil
}

// largestTime is what time-based retention compares: the largest record
// timestamp, or the file's modification time when batches carry none.
func (s *segment) largestTime() time.Time {
	if s.maxTS >= 0 {
		return time.UnixMilli(s.maxTS)
	}
	if fi, err := os.Stat(s.logPath); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}
