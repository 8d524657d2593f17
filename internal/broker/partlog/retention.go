package partlog

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// EnforceRetention deletes whole inactive segments, oldest first, while the
// segment's largest timestamp is older than now-RetentionMs, or while the log
// would still hold at least RetentionBytes without it. LogStartOffset moves
// to the first remaining segment's base. The active segment is never
// deleted, but when it is non-empty and older than SegmentMs, or all its data
// has expired, it is rolled first so that it can be, as Kafka does. Only a
// log whose cleanup policy deletes loses segments; a compacted one with
// max.compaction.lag.ms has its active segment rolled once it is that old,
// so that the cleaner can take it. It returns how many segments it deleted.
// The cleaner checkpoint follows the log start up.
func (l *Log) EnforceRetention() (int, error) {
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return 0, fmt.Errorf("enforce retention: %w", err)
	}
	now := l.now()
	cfg := l.cfg
	deletes := cfg.Cleanup.Deletes()
	expired := func(s *segment) bool {
		return deletes && cfg.RetentionMs > 0 && s.largestTime().UnixMilli() < now.UnixMilli()-cfg.RetentionMs
	}
	olderThan := func(s *segment, ms int64) bool {
		return ms > 0 && !s.rollBase.IsZero() && now.Sub(s.rollBase) >= time.Duration(ms)*time.Millisecond
	}
	if act := l.active(); act.size > 0 {
		aged := olderThan(act, cfg.SegmentMs)
		lagged := cfg.Cleanup.Compacts() && olderThan(act, cfg.MaxCompactionLagMs)
		if aged || lagged || expired(act) {
			if err := l.rollLocked(); err != nil {
				l.mu.Unlock()
				return 0, fmt.Errorf("enforce retention: %w", err)
			}
		}
	}
	total := l.size
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		bySize := deletes && cfg.RetentionBytes > 0 && total-s.size >= cfg.RetentionBytes
		if !bySize && !expired(s) {
			break
		}
		total -= s.size
		n++
	}
	if n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	doomed := slices.Clone(l.segs[:n])
	for i, s := range doomed {
		if err := s.markDeleted(); err != nil {
			// Keep the log consistent: delete only the segments before it.
			doomed, n = doomed[:i], i
			l.failLocked(fmt.Errorf("retention: %w", err))
			break
		}
	}
	if n == 0 {
		l.mu.Unlock()
		return 0, fmt.Errorf("enforce retention: could not delete segment %d", l.segs[0].base)
	}
	total = l.size
	for _, s := range doomed {
		total -= s.size
	}
	l.segs = slices.Clone(l.segs[n:])
	l.size = total
	l.unsynced = slices.DeleteFunc(l.unsynced, func(s *segment) bool { return slices.Contains(doomed, s) })
	start := l.segs[0].base
	l.firstDirty = max(l.firstDirty, start) // Open clamps a stored one likewise
	var err error
	if l.epochs.truncateFromStart(start) {
		err = l.epochs.persist()
	}
	l.mu.Unlock()

	// Outside the lock: removal waits for reads still using the files.
	for _, s := range doomed {
		err = errors.Join(err, s.remove())
	}
	err = errors.Join(err, syncDir(l.dir))
	l.logger.Info("retention deleted segments", "segments", n, "log_start", start)
	if err != nil {
		err = fmt.Errorf("enforce retention: %w", err)
		l.mu.Lock()
		l.failLocked(err)
		l.mu.Unlock()
		return n, err
	}
	return n, nil
}

// TruncateTo removes every batch that holds an offset >= offset, as a
// follower does when its log diverged from the leader's. Batches are whole:
// when offset falls inside a batch that batch goes too, so LogEndOffset can
// end up below offset. Offsets already at or past LogEndOffset leave the log
// alone; an offset below LogStartOffset empties it and restarts it there
// (see TruncateFullyAndStartAt). Indexes and the epoch cache follow.
func (l *Log) TruncateTo(offset int64) (err error) {
	l.hwMu.Lock()
	defer l.hwMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if offset < 0 {
		return fmt.Errorf("truncate to %d: negative offset", offset)
	}
	// Past the checks every error is one of the disk, and the files may no
	// longer match the log's state.
	defer func() {
		if err != nil {
			l.failLocked(err)
		}
	}()
	if offset >= l.leo {
		// No batch to cut, but an epoch a leadership recorded at the log
		// end without appending (AssignEpoch) goes: it names no data, and a
		// follower announcing it as its last fetched epoch would be told to
		// truncate again and again.
		if offset == l.leo && l.epochs.truncateFromEnd(offset) {
			if err := l.epochs.persist(); err != nil {
				return fmt.Errorf("truncate to %d: %w", offset, err)
			}
		}
		return nil
	}
	if offset < l.segs[0].base {
		return l.truncateFullyLocked(offset)
	}
	oldLEO := l.leo
	i := l.segmentIndexLocked(offset)
	s := l.segs[i]
	// s becomes the active segment: its files stay open from now on.
	if err := s.pin(); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}

	// No reader can snapshot while we hold mu, so an unlocked view is safe.
	v := segView{s: s, size: s.size, idx: s.idx.view(), tidx: s.tidx.view()}
	h, cutPos, found, err := findBatch(v, offset)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	// In a gap (a compacted log) the batch found starts past offset: the
	// log then ends at offset.
	newLEO := min(h.BaseOffset, offset)
	if !found {
		// offset lies in a gap after this segment's data: keep all of it.
		cutPos = s.size
		if newLEO, err = segmentEnd(v); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	} else if cutPos == 0 {
		newLEO = s.base
	}

	// Lower the recovery point and the high watermark checkpoint first: the
	// segment we cut may be below the one, the new end below the other.
	if err := l.lowerHighWatermarkLocked(newLEO); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if l.recoveryPoint > s.base {
		if err := l.writeRecoveryPointLocked(s.base); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	doomed := slices.Clone(l.segs[i+1:])
	for j := len(doomed) - 1; j >= 0; j-- {
		if err := doomed[j].remove(); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	l.segs = slices.Clone(l.segs[:i+1])
	l.unsynced = slices.DeleteFunc(l.unsynced, func(u *segment) bool { return u == s || slices.Contains(doomed, u) })

	s.fileMu.Lock()
	err = l.truncateSegmentLocked(s, cutPos, newLEO)
	s.fileMu.Unlock()
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	l.leo = newLEO
	l.size = 0
	for _, seg := range l.segs {
		l.size += seg.size
	}
	l.truncGen++
	if l.durable.Load() > newLEO {
		l.durable.Store(newLEO)
	}
	if len(doomed) > 0 {
		if err := syncDir(l.dir); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	if l.epochs.truncateFromEnd(newLEO) {
		if err := l.epochs.persist(); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	// Data appended from newLEO on is dirty.
	if l.firstDirty > newLEO {
		if err := l.setFirstDirtyLocked(newLEO, false); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	l.logger.Info("truncated log", "requested", offset, "old_end", oldLEO, "new_end", newLEO,
		"segments_removed", len(doomed))
	return nil
}

// segmentEnd is the offset after the last batch of a segment (its base when
// empty), found by walking from the last index entry.
func segmentEnd(v segView) (int64, error) {
	end := v.s.base
	pos := int64(0)
	if v.idx.n > 0 {
		e, err := v.idx.at(v.idx.n - 1)
		if err != nil {
			return 0, err
		}
		pos = int64(e.pos)
	}
	w := newWalker(v, pos)
	for {
		h, _, ok, err := w.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return end, nil
		}
		end = h.LastOffset() + 1
	}
}

// truncateSegmentLocked cuts s's data at cutPos (a batch boundary), makes it
// the active segment and fixes its indexes and statistics. The caller holds
// l.mu and s.fileMu.
func (l *Log) truncateSegmentLocked(s *segment, cutPos, newLEO int64) error {
	if err := s.log.Truncate(cutPos); err != nil {
		return fmt.Errorf("truncate %s at %d: %w", s.logPath, cutPos, err)
	}
	// A truncation lost in a crash would bring back the divergent batches.
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.logPath, err)
	}
	idx, err := s.idx.load()
	if err != nil {
		return err
	}
	tidx, err := s.tidx.load()
	if err != nil {
		return err
	}
	idx = slices.DeleteFunc(idx, func(e offsetEntry) bool { return int64(e.pos) >= cutPos })
	tidx = slices.DeleteFunc(tidx, func(e timeEntry) bool { return s.base+int64(e.rel) >= newLEO })
	if err := s.idx.replace(idx, true); err != nil {
		return err
	}
	if err := s.tidx.replace(tidx, true); err != nil {
		return err
	}
	// Every kept time entry describes kept batches, and the entries cover
	// the data up to the last kept offset entry; walk the rest.
	s.maxTS, s.maxTSOffset = -1, -1
	if len(tidx) > 0 {
		s.maxTS, s.maxTSOffset = s.tidx.last.ts, s.base+int64(s.tidx.last.rel)
	}
	start := int64(0)
	if len(idx) > 0 {
		start = int64(idx[len(idx)-1].pos)
	}
	w := newWalker(segView{s: s, size: cutPos}, start)
	for {
		h, _, ok, err := w.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if h.MaxTimestamp > s.maxTS {
			s.maxTS, s.maxTSOffset = h.MaxTimestamp, h.BaseOffset
		}
	}
	s.size = cutPos
	s.next = newLEO
	s.bytesSinceIdx = cutPos - start
	if cutPos == 0 {
		s.rollBase = time.Time{}
	} else if s.rollBase.IsZero() {
		s.rollBase = l.now()
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log, empty,
// at offset: a follower does this when the leader no longer has the offsets
// the follower would need next. The epoch cache is cleared.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.hwMu.Lock()
	defer l.hwMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	if offset < 0 {
		return fmt.Errorf("truncate fully to %d: negative offset", offset)
	}
	err := l.truncateFullyLocked(offset)
	if err != nil {
		l.failLocked(err) // past the check every error is one of the disk
	}
	return err
}

func (l *Log) truncateFullyLocked(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate fully to %d: negative offset", offset)
	}
	oldStart, oldEnd := l.segs[0].base, l.leo
	if err := l.lowerHighWatermarkLocked(offset); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	// Newest first, so a crash midway leaves a prefix of the old log.
	for j := len(l.segs) - 1; j >= 0; j-- {
		if err := l.segs[j].remove(); err != nil {
			return fmt.Errorf("truncate fully to %d: %w", offset, err)
		}
	}
	s := newSegment(l.dir, offset, l.files)
	if _, _, err := s.openFiles(true); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	s.idx.inMem, s.tidx.inMem = true, true
	l.segs = []*segment{s}
	l.leo, l.size = offset, 0
	l.unsynced = nil
	l.truncGen++
	l.durable.Store(offset)
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	if l.epochs.clear() {
		if err := l.epochs.persist(); err != nil {
			return fmt.Errorf("truncate fully to %d: %w", offset, err)
		}
	}
	if err := l.writeRecoveryPointLocked(offset); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	if err := l.setFirstDirtyLocked(offset, false); err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	l.logger.Info("truncated log fully", "old_start", oldStart, "old_end", oldEnd, "new_start", offset)
	return nil
}
