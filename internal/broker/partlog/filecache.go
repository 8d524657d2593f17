package partlog

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// FilesPerSegment is how many file descriptors an open segment holds: its
// .log, .index and .timeindex files.
const FilesPerSegment = 3

// DefaultMaxOpenSegmentFiles is the cap of a Log opened without a shared
// FileCache (tests and tools); a broker shares one cache sized from its
// file-handle limit across all its logs.
const DefaultMaxOpenSegmentFiles = 300

// FileCache bounds the file descriptors that inactive segments keep open,
// across every Log that shares it (a broker has one).
//
// A segment is pinned while its files must stay open: the active segment of
// each log (appends write to it), a rolled segment until its files are
// fsynced, and a segment during recovery or truncation. Pinned segments are
// not counted here; each partition holds one active segment, so what they
// cost is bounded by the number of partitions a broker hosts (which the
// controller limits). Every other segment is inactive: its files are opened
// when a reader needs them and stay open in a least-recently-used list;
// when the list holds more than the cap's worth of files, the least recently
// used segments that no reader is using are closed. A reader holds the
// segment's fileMu read lock while it reads, and closing needs the write
// lock, taken only with TryLock, so a segment is never closed under a reader
// and closing never waits for one: with every listed segment busy, the cap
// is exceeded by at most the segments being read at that moment.
//
// Lock order: Log.mu, segment.fileMu, segment.openMu, FileCache.mu; the
// cache only TryLocks a segment's fileMu while holding its own lock.
type FileCache struct {
	max int // files

	mu        sync.Mutex
	lru       list.List // of *segment, most recently used at the front
	open      int       // files held by the segments in lru
	opens     uint64
	evictions uint64
}

// NewFileCache returns a cache keeping at most maxFiles files of inactive
// segments open (rounded down to whole segments, at least one segment).
func NewFileCache(maxFiles int) *FileCache {
	return &FileCache{max: max(maxFiles, FilesPerSegment)}
}

// MaxFiles is the cap.
func (c *FileCache) MaxFiles() int { return c.max }

// FileCacheStats is a snapshot of a FileCache's counters.
type FileCacheStats struct {
	OpenFiles int    // files of inactive segments open now
	Segments  int    // inactive segments open now
	Opens     uint64 // inactive segments (re)opened for readers
	Evictions uint64 // inactive segments closed to stay under the cap
}

// Stats returns the cache's counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCacheStats{OpenFiles: c.open, Segments: c.lru.Len(), Opens: c.opens, Evictions: c.evictions}
}

// add lists s (whose files are open) as the most recently used and closes
// idle segments over the cap. The caller holds s.openMu.
func (c *FileCache) add(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.elem == nil {
		s.elem = c.lru.PushFront(s)
		c.open += FilesPerSegment
	} else {
		c.lru.MoveToFront(s.elem)
	}
	c.evictLocked()
}

// touch marks a listed segment as recently used.
func (c *FileCache) touch(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.elem != nil {
		c.lru.MoveToFront(s.elem)
	}
}

// remove unlists s (pinned again, or closed for good).
func (c *FileCache) remove(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.elem != nil {
		c.lru.Remove(s.elem)
		s.elem = nil
		c.open -= FilesPerSegment
	}
}

// evictLocked closes least recently used segments until the cap holds,
// skipping those a reader holds.
func (c *FileCache) evictLocked() {
	for e := c.lru.Back(); e != nil && c.open > c.max; {
		prev := e.Prev()
		s := e.Value.(*segment)
		if s.fileMu.TryLock() {
			s.closeIdleLocked()
			c.lru.Remove(e)
			s.elem = nil
			c.open -= FilesPerSegment
			c.evictions++
			s.fileMu.Unlock()
		}
		e = prev
	}
}

// errSegmentGone means the segment was deleted (retention, truncation) or
// its log closed.
var errSegmentGone = errors.New("segment deleted or log closed")

// acquireRLocked makes sure a reader's segment has its files open,
// reopening them if the cache closed them, and marks it recently used. The
// caller holds s.fileMu.RLock, which keeps the files open until it releases
// it. Fields it sets are read by other readers only after their own call,
// which orders them through openMu.
func (s *segment) acquireRLocked() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return fmt.Errorf("segment %d: %w", s.base, errSegmentGone)
	}
	if s.log == nil {
		if err := s.reopenLocked(); err != nil {
			return err
		}
		if !s.pinned {
			s.cache.mu.Lock()
			s.cache.opens++
			s.cache.mu.Unlock()
			s.cache.add(s)
		}
		return nil
	}
	if !s.pinned {
		s.cache.touch(s)
	}
	return nil
}

// reopenLocked opens the files of a segment the cache closed. The caller
// holds s.openMu and s.fileMu (read or write).
func (s *segment) reopenLocked() error {
	var opened []*os.File
	open := func(path string) (*os.File, error) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				return nil, fmt.Errorf("reopen %s: out of file handles (raise the open-files limit, or lower --max-open-segment-files or the partitions per broker): %w", filepath.Base(path), err)
			}
			return nil, fmt.Errorf("reopen %s: %w", filepath.Base(path), err)
		}
		opened = append(opened, f)
		return f, nil
	}
	lf, err := open(s.logPath)
	if err != nil {
		return err
	}
	xf, err := open(s.idxPath)
	if err != nil {
		return err
	}
	tf, err := open(s.tidxPath)
	if err != nil {
		return err
	}
	s.log, s.idx.f, s.tidx.f = lf, xf, tf
	return nil
}

// closeIdleLocked closes the files of an inactive segment that the cache
// evicts; the next reader reopens them. The caller holds s.fileMu
// exclusively. Inactive segments were fsynced before they were listed, so a
// close error loses nothing.
func (s *segment) closeIdleLocked() {
	for _, f := range []*os.File{s.log, s.idx.f, s.tidx.f} {
		if f != nil {
			_ = f.Close()
		}
	}
	s.log, s.idx.f, s.tidx.f = nil, nil, nil
}

// pin keeps s's files open until unpin (the segment becomes active again
// after a truncation), reopening them if needed.
func (s *segment) pin() error {
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return fmt.Errorf("segment %d: %w", s.base, errSegmentGone)
	}
	s.pinned = true
	s.cache.remove(s)
	if s.log == nil {
		return s.reopenLocked()
	}
	return nil
}

// unpin hands an inactive segment, whose files are fsynced, to the cache,
// which may close them at once.
func (s *segment) unpin() {
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if !s.pinned || s.closed {
		return
	}
	s.pinned = false
	if s.log != nil {
		s.cache.add(s)
	}
}
