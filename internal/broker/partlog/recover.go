package partlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// recover loads the directory into l (Open calls it before any other use).
//
// Segments wholly below the recovery point were fsynced with their indexes
// before the point was written, so only their indexes get a cheap
// consistency check. The last segment, and any segment at or past the
// recovery point, is read batch by batch and checked fully; the first bad
// batch ends the log there. After a clean Close the recovery point equals the
// log end, and the last segment is only checked from its last index entry.
func (l *Log) recover() error {
	created := false
	if _, err := os.Stat(l.dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	if created {
		if err := syncDir(filepath.Dir(l.dir)); err != nil {
			return err
		}
	}
	// A cleaner swap a crash interrupted is finished or undone first.
	if err := l.recoverCleanerSwap(); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	if l.epochs, err = loadEpochCache(filepath.Join(l.dir, epochCheckpointFile)); err != nil {
		return err
	}
	l.recoveryPoint = l.readRecoveryPoint()
	rp := l.recoveryPoint

	dirChanged := false
	var toSync []*segment // the last segment, when it was scanned or checked
	for i, base := range bases {
		s := newSegment(l.dir, base, l.files)
		idxMissing, tidxMissing, err := s.openFiles(false)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		if idxMissing || tidxMissing {
			dirChanged = true
		}
		last := i == len(bases)-1
		nextBase := int64(-1)
		if !last {
			nextBase = bases[i+1]
		}
		checked, cut, err := l.recoverSegment(s, last, nextBase, rp, !idxMissing && !tidxMissing)
		if err != nil {
			return err
		}
		if cut && !last {
			// Data after a corrupt point cannot be trusted to follow on.
			for j := len(bases) - 1; j > i; j-- {
				doomed := newSegment(l.dir, bases[j], l.files)
				if err := doomed.remove(); err != nil {
					return err
				}
				l.logger.Warn("removed segment after corrupt data", "segment", bases[j])
			}
			dirChanged = true
		}
		if last || cut {
			if checked {
				toSync = append(toSync, s)
			}
			break
		}
		// An inactive segment is finished here: sealed, and what the scan
		// read made durable, so that the file cache may close its files.
		// A node with many segments never holds them all open.
		if err := s.seal(); err != nil {
			return err
		}
		if checked {
			if _, err := s.syncFiles(true); err != nil {
				return err
			}
		}
		s.unpin()
	}
	if len(l.segs) == 0 {
		s := newSegment(l.dir, 0, l.files)
		if _, _, err := s.openFiles(true); err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		dirChanged = true
	}

	act := l.active()
	if err := l.keepIndexesInMemory(act); err != nil {
		return err
	}
	if act.size > 0 {
		act.rollBase = l.firstBatchTime(act)
	}
	l.leo = act.next
	for _, s := range l.segs {
		l.size += s.size
	}

	// What the scan read may have been in the page cache only (a process
	// crash, not a power loss): make it durable before reporting it so.
	if dirChanged {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	for _, s := range toSync {
		if _, err := s.syncFiles(true); err != nil {
			return err
		}
	}
	l.durable.Store(l.leo)

	changed := l.epochs.truncateFromEnd(l.leo)
	changed = l.epochs.truncateFromStart(l.segs[0].base) || changed
	if changed {
		if err := l.epochs.persist(); err != nil {
			return err
		}
	}
	// A torn tail may have cut the log below the saved high watermark: data
	// appended there later is not known to be committed.
	l.hwCheckpoint = l.readHighWatermark()
	if l.hwCheckpoint > l.leo {
		l.logger.Warn("high watermark checkpoint above the recovered log end; lowering it",
			"checkpoint", l.hwCheckpoint, "log_end", l.leo)
		if err := l.writeHighWatermarkLocked(l.leo); err != nil {
			return err
		}
	}
	// From now on appends go to the active segment: only what lies below it
	// is known to be on disk.
	if err := l.writeRecoveryPointLocked(act.base); err != nil {
		return err
	}
	if err := l.loadCleanerCheckpoint(); err != nil {
		return err
	}
	l.logger.Debug("opened log", "log_start", l.segs[0].base, "log_end", l.leo,
		"segments", len(l.segs), "bytes", l.size)
	return nil
}

// recoverSegment loads one segment (see recover): trusted from its indexes
// when it lies below the recovery point, checked from its last index entry
// when it is the last one after a clean close, scanned batch by batch
// otherwise. checked says the segment's data was read (its files should be
// fsynced before the log reports them durable); cut that the scan cut a
// corrupt or torn tail.
func (l *Log) recoverSegment(s *segment, last bool, nextBase, rp int64, haveIndexes bool) (checked, cut bool, err error) {
	if !last && rp >= 0 && nextBase <= rp && haveIndexes {
		err := l.loadTrusted(s, nextBase)
		if err == nil {
			return false, false, nil
		}
		l.logger.Info("segment index inconsistent; rebuilding", "segment", s.base, "reason", err)
	}
	if last && rp >= s.base && haveIndexes {
		ok, err := l.loadClean(s, rp)
		if err != nil {
			return false, false, err
		}
		if ok {
			return true, false, nil
		}
	}
	if !haveIndexes && !last && rp >= 0 && nextBase <= rp {
		l.logger.Info("segment index missing; rebuilding", "segment", s.base)
	}
	cut, err = l.scanSegment(s, nextBase)
	if err != nil {
		return false, false, err
	}
	return true, cut, nil
}

// listSegments returns the base offsets of the .log files, after removing
// temporary files and index files whose segment is gone.
func (l *Log) listSegments() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list dir: %w", err)
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, e := range entries {
		if base, ok := parseSegmentName(e.Name(), logSuffix); ok && e.Type().IsRegular() {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		orphan := false
		if base, ok := parseSegmentName(name, indexSuffix); ok {
			orphan = !logs[base]
		} else if base, ok := parseSegmentName(name, timeIndexSuffix); ok {
			orphan = !logs[base]
		}
		if !orphan && !strings.HasSuffix(name, tmpSuffix) && !strings.HasSuffix(name, deletedSuffix) {
			continue
		}
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
			return nil, fmt.Errorf("remove leftover %s: %w", name, err)
		}
		l.logger.Info("removed leftover file", "file", name)
		removed = true
	}
	if removed {
		if err := syncDir(l.dir); err != nil {
			return nil, err
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// readRecoveryPoint returns the stored recovery point, or -1 (scan all).
func (l *Log) readRecoveryPoint() int64 {
	data, err := os.ReadFile(filepath.Join(l.dir, recoveryPointFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("unreadable recovery point; checking every segment", "err", err)
		}
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) == 2 && fields[0] == "0" {
		if rp, err := strconv.ParseInt(fields[1], 10, 64); err == nil && rp >= 0 {
			return rp
		}
	}
	l.logger.Warn("malformed recovery point; checking every segment", "content", string(data))
	return -1
}

// loadTrusted opens an inactive segment below the recovery point without
// reading its data: the sizes of the index files must be whole entries, the
// last offset entry must point at a batch header with the right offset, and
// the last time entry (written when the segment was sealed) gives the
// segment's largest timestamp.
func (l *Log) loadTrusted(s *segment, nextBase int64) error {
	fi, err := s.log.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", filepath.Base(s.logPath), err)
	}
	s.size = fi.Size()
	span := nextBase - s.base
	ifi, err := s.idx.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", filepath.Base(s.idxPath), err)
	}
	tfi, err := s.tidx.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", filepath.Base(s.tidxPath), err)
	}
	if ifi.Size()%offsetEntrySize != 0 || tfi.Size()%timeEntrySize != 0 {
		return fmt.Errorf("index sizes %d and %d are not whole entries", ifi.Size(), tfi.Size())
	}
	if s.size == 0 {
		// The cleaner leaves an empty segment when it removed every batch.
		if ifi.Size() != 0 || tfi.Size() != 0 {
			return errors.New("empty data file with index entries")
		}
		s.next = nextBase
		return nil
	}
	s.idx.n = int(ifi.Size() / offsetEntrySize)
	s.tidx.n = int(tfi.Size() / timeEntrySize)
	if s.idx.n == 0 {
		return l.checkUnindexed(s, nextBase)
	}
	if s.tidx.n == 0 {
		return errors.New("time index empty")
	}
	iv, tv := s.idx.view(), s.tidx.view()
	first, err := iv.at(0)
	if err != nil {
		return err
	}
	lastE, err := iv.at(iv.n - 1)
	if err != nil {
		return err
	}
	if first.rel > lastE.rel || first.pos > lastE.pos || int64(lastE.rel) >= span || int64(lastE.pos) >= s.size {
		return fmt.Errorf("offset index entries out of range (first %+v, last %+v)", first, lastE)
	}
	var hdr [batch.HeaderSize]byte
	if n, err := preadFull(s.log, hdr[:], int64(lastE.pos)); err != nil || n < len(hdr) {
		return fmt.Errorf("read batch at indexed position %d: %d bytes, %w", lastE.pos, n, err)
	}
	h, err := batch.ParseHeader(hdr[:])
	if err != nil {
		return fmt.Errorf("batch at indexed position %d: %w", lastE.pos, err)
	}
	if h.BaseOffset != s.base+int64(lastE.rel) || int64(lastE.pos)+int64(h.Size()) > s.size {
		return fmt.Errorf("indexed position %d holds offset %d, index says %d", lastE.pos, h.BaseOffset, s.base+int64(lastE.rel))
	}
	if n, err := preadFull(s.log, hdr[:], 0); err != nil || n < len(hdr) {
		return fmt.Errorf("read first batch header: %d bytes, %w", n, err)
	}
	firstH, err := batch.ParseHeader(hdr[:])
	if err != nil {
		return fmt.Errorf("first batch: %w", err)
	}
	s.firstTS = firstH.MaxTimestamp // the cleaner's lag clock
	tFirst, err := tv.at(0)
	if err != nil {
		return err
	}
	tLast, err := tv.at(tv.n - 1)
	if err != nil {
		return err
	}
	if tFirst.ts > tLast.ts || tFirst.rel > tLast.rel || int64(tLast.rel) >= span {
		return fmt.Errorf("time index entries out of range (first %+v, last %+v)", tFirst, tLast)
	}
	s.tidx.last = tLast
	s.maxTS = tLast.ts
	s.maxTSOffset = s.base + int64(tLast.rel)
	s.next = nextBase
	return nil
}

// checkUnindexed vouches for a trusted segment without offset index
// entries. That is only consistent when the batches before its last one add
// up to less than one index interval, so walking its headers is cheap; the
// walk also yields the largest timestamp the time index must agree with.
func (l *Log) checkUnindexed(s *segment, nextBase int64) error {
	v := segView{s: s, size: s.size, idx: s.idx.view(), tidx: s.tidx.view()}
	w := newWalker(v, 0)
	var end int64
	maxTS, maxTSOffset := int64(-1), int64(-1)
	for {
		h, pos, ok, err := w.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		// An entry is due for a batch with an interval's worth of bytes before it.
		if pos >= int64(l.cfg.IndexIntervalBytes) {
			return errors.New("no offset index entries for a segment that needs some")
		}
		if h.LastOffset() >= nextBase {
			return fmt.Errorf("batch ending at %d reaches the next segment", h.LastOffset())
		}
		if h.MaxTimestamp > maxTS {
			maxTS, maxTSOffset = h.MaxTimestamp, h.BaseOffset
		}
		if pos == 0 {
			s.firstTS = h.MaxTimestamp
		}
		end = pos + int64(h.Size())
	}
	if end != s.size {
		return fmt.Errorf("batches end at %d of %d bytes", end, s.size)
	}
	want := timeEntry{ts: -1}
	if s.tidx.n > 0 {
		var err error
		if want, err = v.tidx.at(s.tidx.n - 1); err != nil {
			return err
		}
	}
	if want.ts != maxTS || (maxTS >= 0 && s.base+int64(want.rel) != maxTSOffset) {
		return fmt.Errorf("time index says %d at %d, batches %d at %d", want.ts, s.base+int64(want.rel), maxTS, maxTSOffset)
	}
	s.tidx.last = want
	s.maxTS, s.maxTSOffset = maxTS, maxTSOffset
	s.next = nextBase
	return nil
}

// loadClean opens the last segment after a clean shutdown (recovery point
// at or above its base): its indexes were fsynced at Close, so only the
// batches after the last offset index entry are read and checked. It
// returns false, leaving a full scan to the caller, if anything disagrees,
// such as the data not ending exactly at the recovery point.
func (l *Log) loadClean(s *segment, rp int64) (bool, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Base(s.logPath), err)
	}
	size := fi.Size()
	ifi, err := s.idx.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Base(s.idxPath), err)
	}
	tfi, err := s.tidx.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Base(s.tidxPath), err)
	}
	if ifi.Size()%offsetEntrySize != 0 || tfi.Size()%timeEntrySize != 0 {
		return false, nil
	}
	s.idx.n = int(ifi.Size() / offsetEntrySize)
	s.tidx.n = int(tfi.Size() / timeEntrySize)
	idx, err := s.idx.load()
	if err != nil {
		return false, nil
	}
	tidx, err := s.tidx.load()
	if err != nil {
		return false, nil
	}
	for i, e := range idx {
		if int64(e.pos) >= size || s.base+int64(e.rel) >= rp || (i > 0 && (e.rel <= idx[i-1].rel || e.pos <= idx[i-1].pos)) {
			return false, nil
		}
	}
	for i, e := range tidx {
		if s.base+int64(e.rel) >= rp || (i > 0 && (e.ts <= tidx[i-1].ts || e.rel < tidx[i-1].rel)) {
			return false, nil
		}
	}
	s.idx.mem, s.idx.inMem = idx, true
	s.tidx.mem, s.tidx.inMem = tidx, true
	s.tidx.last = timeEntry{ts: -1}
	if len(tidx) > 0 {
		last := tidx[len(tidx)-1]
		s.tidx.last = last
		s.maxTS, s.maxTSOffset = last.ts, s.base+int64(last.rel)
	}
	start, expect := int64(0), int64(-1)
	if len(idx) > 0 {
		start = int64(idx[len(idx)-1].pos)
		expect = s.base + int64(idx[len(idx)-1].rel)
	}
	// The tail is accounted as if appended afresh after the last entry.
	s.size, s.next, s.bytesSinceIdx = start, s.base, 0
	end, reason, err := l.verifyBatches(s, start, size, expect, -1)
	if err != nil {
		return false, err
	}
	if reason != "" || end != size || (size > 0 && s.next != rp) || (size == 0 && s.base != rp) {
		l.logger.Info("log was not closed cleanly after all; scanning its last segment",
			"segment", s.base, "reason", reason)
		return false, nil
	}
	l.logger.Debug("loaded last segment from its indexes", "segment", s.base, "checked_bytes", size-start)
	return true, nil
}

// scanSegment reads and checks every batch of s, rebuilds both indexes, and
// cuts the file at the first bad batch. It reports whether it cut.
func (l *Log) scanSegment(s *segment, nextBase int64) (bool, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Base(s.logPath), err)
	}
	fileSize := fi.Size()
	l.logger.Debug("scanning segment", "segment", s.base, "bytes", fileSize)
	s.size, s.next, s.maxTS, s.maxTSOffset, s.bytesSinceIdx = 0, s.base, -1, -1, 0
	s.idx.mem, s.idx.n, s.idx.inMem, s.idx.deferred = nil, 0, true, true
	s.tidx.mem, s.tidx.n, s.tidx.inMem, s.tidx.deferred = nil, 0, true, true
	s.tidx.last = timeEntry{ts: -1}

	end, reason, err := l.verifyBatches(s, 0, fileSize, -1, nextBase)
	if err != nil {
		return false, err
	}
	cut := end < fileSize
	if cut {
		l.logger.Warn("cut corrupt or torn data at the end of a segment",
			"segment", s.base, "offset", s.next, "position", end,
			"bytes_cut", fileSize-end, "reason", reason)
		if err := s.log.Truncate(end); err != nil {
			return false, fmt.Errorf("truncate %s at %d: %w", filepath.Base(s.logPath), end, err)
		}
	}
	if err := s.idx.replace(s.idx.mem, true); err != nil {
		return false, err
	}
	if err := s.tidx.replace(s.tidx.mem, true); err != nil {
		return false, err
	}
	return cut, nil
}

// verifyBatches reads batches of s from pos to fileSize, checks each fully
// (framing, magic, CRC, offsets following on from expect, below nextBase)
// and accounts it in s. It returns where the good data ends and, if it ends
// early, why. err is only for I/O failures.
func (l *Log) verifyBatches(s *segment, pos, fileSize, expect, nextBase int64) (int64, string, error) {
	interval := int64(l.cfg.IndexIntervalBytes)
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, pos, fileSize-pos), 1<<20)
	buf := make([]byte, batch.HeaderSize, 64<<10)
	for pos < fileSize {
		if fileSize-pos < batch.HeaderSize {
			return pos, "torn batch header", nil
		}
		buf = buf[:batch.HeaderSize]
		if _, err := io.ReadFull(r, buf); err != nil {
			return pos, "", fmt.Errorf("read %s at %d: %w", filepath.Base(s.logPath), pos, err)
		}
		h, err := batch.ParseHeader(buf)
		if err != nil {
			return pos, err.Error(), nil
		}
		size := int64(h.Size())
		if size > fileSize-pos {
			return pos, fmt.Sprintf("torn batch: %d bytes announced, %d in the file", size, fileSize-pos), nil
		}
		buf = slices.Grow(buf, int(size)-len(buf))[:size]
		if _, err := io.ReadFull(r, buf[batch.HeaderSize:]); err != nil {
			return pos, "", fmt.Errorf("read %s at %d: %w", filepath.Base(s.logPath), pos, err)
		}
		if _, err := batch.Check(buf); err != nil {
			return pos, err.Error(), nil
		}
		switch {
		case expect >= 0 && h.BaseOffset < expect:
			// Above is fine: compaction leaves gaps.
			return pos, fmt.Sprintf("batch at offset %d where at least %d was expected", h.BaseOffset, expect), nil
		case h.BaseOffset < s.base:
			return pos, fmt.Sprintf("batch at offset %d below segment base", h.BaseOffset), nil
		case nextBase >= 0 && h.LastOffset() >= nextBase:
			return pos, fmt.Sprintf("batch ending at offset %d reaches the next segment", h.LastOffset()), nil
		case !s.fitsOffsets(h.LastOffset()):
			return pos, fmt.Sprintf("batch ending at offset %d too far from segment base", h.LastOffset()), nil
		}
		if err := s.account(h, pos, interval); err != nil {
			return pos, "", err
		}
		pos += size
		expect = h.LastOffset() + 1
	}
	return pos, "", nil
}

// keepIndexesInMemory loads the active segment's indexes into memory.
func (l *Log) keepIndexesInMemory(s *segment) error {
	if !s.idx.inMem {
		entries, err := s.idx.load()
		if err != nil {
			return fmt.Errorf("load index of segment %d: %w", s.base, err)
		}
		s.idx.mem, s.idx.inMem = entries, true
	}
	if !s.tidx.inMem {
		entries, err := s.tidx.load()
		if err != nil {
			return fmt.Errorf("load time index of segment %d: %w", s.base, err)
		}
		s.tidx.mem, s.tidx.inMem = entries, true
	}
	return nil
}

// firstBatchTime is the age reference of a reopened active segment: its
// first batch's timestamp when plausible, else now. The in-memory time of
// the first append is lost with the process.
func (l *Log) firstBatchTime(s *segment) time.Time {
	now := l.now()
	var hdr [batch.HeaderSize]byte
	if n, err := preadFull(s.log, hdr[:], 0); err != nil || n < len(hdr) {
		return now
	}
	h, err := batch.ParseHeader(hdr[:])
	if err != nil || h.MaxTimestamp <= 0 {
		return now
	}
	if t := time.UnixMilli(h.MaxTimestamp); t.Before(now) {
		return t
	}
	return now
}
