package partlog

// The cleaner: log compaction as Kafka's LogCleaner does it, adapted.
//
// The log below the cleaner checkpoint (FirstDirtyOffset) is clean: it holds
// at most one record per key that is not superseded by a later clean record.
// A pass maps the keys of the dirty section [FirstDirty, E) to their latest
// offsets (OffsetMap), then rewrites every inactive segment below the mapped
// end, keeping a keyed record only when no later offset of its key is
// mapped. Offsets never change; removed records leave gaps. E stays below
// the high watermark the caller passes, so every replica cleans the same
// committed data and stays identical below it.
//
// Rewriting is crash-safe: the output is written next to the sources as
// <base>.log.cleaned (and indexes), fsynced, then swapped in under the
// Log's lock after a marker file (cleaner-swap) naming the output and its
// sources is made durable. Open rolls a swap with a marker forward and
// deletes .cleaned files without one (recoverCleanerSwap), so a crash at
// any point leaves the old or the new segment set.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	cleanerSwapFile       = "cleaner-swap"
	cleanedSuffix         = ".cleaned"
	cleanChunkBytes       = 1 << 20
)

// cleanerStats are the counters CleanerState reports; guarded by Log.mu.
type cleanerStats struct {
	lastClean    time.Time
	lastDuration time.Duration
	reclaimed    int64
	passes       uint64
}

// cleanPlan is the log as a pass saw it when it started.
type cleanPlan struct {
	firstDirty, end int64
	segs            []*segment // the inactive segments, ascending
	ends            []int64    // ends[i]: base of the segment after segs[i]
	sizes           []int64
	mtimes          []time.Time // of the .log files: tombstone age
	truncGen        uint64
	cfg             Config
	now             time.Time
	segCount        int
	// filterer keeps its codecs and buffers across the pass's batches
	// (setting up a zstd encoder per batch cost more than compressing it).
	filterer *batch.Filterer
}

// Compact runs one cleaning pass (see the top of this file). Only one pass
// runs at a time per log; reads and appends go on meanwhile, and the log is
// locked only to swap a rewritten group of segments in. It returns
// ErrNothingToClean when no dirty inactive data lies below opts.UpTo. A
// cancelled ctx, or a log that retention or truncation changed under the
// pass, stops it with the segments not yet swapped left as they were.
func (l *Log) Compact(ctx context.Context, opts CompactOptions) (CompactResult, error) {
	if opts.Map == nil {
		return CompactResult{}, errors.New("compact: no offset map")
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	began := time.Now()
	p, err := l.planClean(opts.UpTo)
	if err != nil {
		return CompactResult{}, fmt.Errorf("compact: %w", err)
	}
	p.filterer = new(batch.Filterer)
	defer p.filterer.Close()
	res := CompactResult{FirstDirty: p.firstDirty, End: p.firstDirty, SegmentsBefore: p.segCount, SegmentsAfter: p.segCount}
	if !p.cfg.Cleanup.Compacts() {
		return res, fmt.Errorf("compact: cleanup policy of %s does not compact", l.dir)
	}
	if p.end <= p.firstDirty {
		return res, ErrNothingToClean
	}
	m := opts.Map
	m.Clear()
	pids := map[int64]int64{} // producer id -> base of its last batch below the mapped end
	mapped, err := l.buildOffsetMap(ctx, p, opts, pids, &res)
	if err != nil {
		return res, fmt.Errorf("compact: map keys of [%d, %d): %w", p.firstDirty, p.end, err)
	}
	if mapped <= p.firstDirty {
		return res, ErrNothingToClean
	}
	res.End = mapped
	if err := l.scanProducers(ctx, p, pids); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	for _, g := range groupSegments(p, mapped) {
		if err := l.cleanGroup(ctx, p, g, mapped, opts, pids, &res); err != nil {
			return res, fmt.Errorf("compact: segments %d-%d: %w", p.segs[g[0]].base, p.segs[g[1]].base, err)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.SegmentsAfter = len(l.segs)
	res.Duration = time.Since(began)
	if l.truncGen != p.truncGen {
		// A truncation may have put new data below mapped: leave the
		// checkpoint where truncation put it.
		return res, fmt.Errorf("compact: %w", ErrCleanAborted)
	}
	if err := l.setFirstDirtyLocked(mapped, true); err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	l.cleanStats.lastClean = l.now()
	l.cleanStats.lastDuration = res.Duration
	l.cleanStats.reclaimed += res.BytesReclaimed
	l.cleanStats.passes++
	l.logger.Info("cleaned log", "first_dirty", p.firstDirty, "end", mapped,
		"bytes_read", res.BytesRead, "bytes_written", res.BytesWritten, "bytes_reclaimed", res.BytesReclaimed,
		"records_removed", res.RecordsRemoved, "tombstones_removed", res.TombstonesRemoved,
		"segments_before", res.SegmentsBefore, "segments_after", res.SegmentsAfter, "took", res.Duration)
	return res, nil
}

// planClean snapshots what a pass works on.
func (l *Log) planClean(upTo int64) (*cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.writableLocked(); err != nil {
		return nil, err
	}
	now := l.now()
	p := &cleanPlan{
		firstDirty: l.firstDirtyLocked(),
		truncGen:   l.truncGen,
		cfg:        l.cfg,
		now:        now,
		segCount:   len(l.segs),
	}
	p.end = l.cleanableEndLocked(upTo, p.firstDirty, now)
	inactive := l.segs[:len(l.segs)-1]
	p.segs = slices.Clone(inactive)
	for i, s := range inactive {
		p.ends = append(p.ends, l.segs[i+1].base)
		p.sizes = append(p.sizes, s.size)
		var mt time.Time
		if fi, err := os.Stat(s.logPath); err == nil {
			mt = fi.ModTime()
		} else {
			return nil, fmt.Errorf("stat %s: %w", filepath.Base(s.logPath), err)
		}
		p.mtimes = append(p.mtimes, mt)
	}
	return p, nil
}

// firstDirtyLocked is the checkpoint, within the log's bounds.
func (l *Log) firstDirtyLocked() int64 {
	return min(max(l.firstDirty, l.segs[0].base), l.leo)
}

// cleanableEndLocked is where a pass started now would stop: the least of
// upTo, the active segment's base and the base of the first dirty segment
// written to within min.compaction.lag.ms (by its largest timestamp).
func (l *Log) cleanableEndLocked(upTo, firstDirty int64, now time.Time) int64 {
	e := min(upTo, l.active().base)
	if lag := l.cfg.MinCompactionLagMs; lag > 0 {
		for i, s := range l.segs[:len(l.segs)-1] {
			if s.base >= e {
				break
			}
			if l.segs[i+1].base <= firstDirty {
				continue // clean
			}
			if s.largestTime().UnixMilli() > now.UnixMilli()-lag {
				e = min(e, s.base)
				break
			}
		}
	}
	return e
}

// cleanView snapshots s for the cleaner, or ErrCleanAborted when s is no
// longer an inactive segment of the log as the plan saw it.
func (l *Log) cleanView(p *cleanPlan, s *segment) (segView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return segView{}, ErrClosed
	}
	if l.truncGen != p.truncGen || !l.holdsInactiveLocked(s) {
		return segView{}, ErrCleanAborted
	}
	v, err := viewLocked(s)
	if errors.Is(err, errSegmentGone) {
		return segView{}, ErrCleanAborted
	}
	return v, err
}

func (l *Log) holdsInactiveLocked(s *segment) bool {
	i := l.segmentIndexLocked(s.base)
	return l.segs[i] == s && i < len(l.segs)-1
}

// readCleanChunk reads whole batches of s from pos, about cleanChunkBytes
// (one batch when it is larger), into buf if it fits. No lock is held once
// it returns, so throttling never blocks the log. nil at the segment's end.
func (l *Log) readCleanChunk(p *cleanPlan, s *segment, pos int64, buf []byte) ([]byte, error) {
	v, err := l.cleanView(p, s)
	if err != nil {
		return nil, err
	}
	defer v.release()
	if pos >= v.size {
		return nil, nil
	}
	n := min(int64(len(buf)), v.size-pos)
	got, err := preadFull(v.s.log, buf[:n], pos)
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", filepath.Base(v.s.log.Name()), pos, err)
	}
	if int64(got) < n {
		return nil, ErrCleanAborted // cut underneath: a truncation
	}
	end := 0
	for end+batch.HeaderSize <= got {
		h, err := batch.ParseHeader(buf[end:got])
		if err != nil {
			return nil, fmt.Errorf("segment %d at position %d: %w", s.base, pos+int64(end), err)
		}
		if end+h.Size() > got {
			break
		}
		end += h.Size()
	}
	if end > 0 {
		return buf[:end], nil
	}
	if got < batch.HeaderSize {
		return nil, fmt.Errorf("segment %d: %d bytes at position %d, less than a batch header: %w", s.base, got, pos, batch.ErrTruncated)
	}
	h, err := batch.ParseHeader(buf[:got])
	if err != nil {
		return nil, fmt.Errorf("segment %d at position %d: %w", s.base, pos, err)
	}
	if pos+int64(h.Size()) > v.size {
		return nil, fmt.Errorf("segment %d: batch at position %d runs past the data: %w", s.base, pos, batch.ErrTruncated)
	}
	big := make([]byte, h.Size())
	if got, err := preadFull(v.s.log, big, pos); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", filepath.Base(v.s.log.Name()), pos, err)
	} else if got < len(big) {
		return nil, ErrCleanAborted
	}
	return big, nil
}

// eachBatch calls fn with every batch of s whose last offset is >= from,
// CRC-checked, reading in throttled chunks; fn returns false to stop. b is
// valid only during the call.
func (l *Log) eachBatch(ctx context.Context, p *cleanPlan, s *segment, from int64, opts CompactOptions, res *CompactResult,
	fn func(h batch.Header, b []byte) (bool, error)) error {
	v, err := l.cleanView(p, s)
	if err != nil {
		return err
	}
	pos, err := v.startPos(from)
	v.release()
	if err != nil {
		return err
	}
	buf := make([]byte, cleanChunkBytes)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := l.readCleanChunk(p, s, pos, buf)
		if err != nil || len(chunk) == 0 {
			return err
		}
		res.BytesRead += int64(len(chunk))
		if err := opts.Throttle.Wait(ctx, len(chunk)); err != nil {
			return err
		}
		for off := 0; off < len(chunk); {
			if err := ctx.Err(); err != nil {
				return err
			}
			h, _ := batch.ParseHeader(chunk[off:]) // framing checked by readCleanChunk
			b := chunk[off : off+h.Size() : off+h.Size()]
			if _, err := batch.Check(b); err != nil {
				return fmt.Errorf("segment %d at position %d: %w", s.base, pos+int64(off), err)
			}
			off += h.Size()
			if h.LastOffset() < from {
				continue
			}
			more, err := fn(h, b)
			if err != nil || !more {
				return err
			}
		}
		pos += int64(len(chunk))
	}
}

// buildOffsetMap maps the keys of the dirty section, segment by segment,
// and returns where the mapping ends: p.end, or the first record whose key
// did not fit. Like Kafka it may end inside a segment: ending at a segment
// boundary would need either a worst-case estimate of a segment's keys
// (its offset span, which with large segments cuts every pass to one
// segment) or undoing the entries of a segment mapped in part. What a pass
// does is a function of the log and that end alone, so replicas stay
// identical, and every pass makes progress (the map holds at least one
// key). Producer ids of the batches it covers go to pids. Transactional
// and control batches are not mapped: they are kept as they are, and an
// aborted record must not supersede a committed one.
func (l *Log) buildOffsetMap(ctx context.Context, p *cleanPlan, opts CompactOptions, pids map[int64]int64, res *CompactResult) (int64, error) {
	m := opts.Map
	firstSeg := true
	for i, s := range p.segs {
		if p.ends[i] <= p.firstDirty {
			continue
		}
		if s.base >= p.end {
			break
		}
		from, stop := max(s.base, p.firstDirty), min(p.ends[i], p.end)
		full, fullAt := false, int64(0)
		err := l.eachBatch(ctx, p, s, from, opts, res, func(h batch.Header, b []byte) (bool, error) {
			if h.BaseOffset >= stop {
				return false, nil
			}
			if !h.IsControl() && !h.IsTransactional() && h.NumRecords > 0 {
				_, _, _, err := p.filterer.FilterFor(b, p.cfg.MaxMessageBytes, func(r batch.Record) bool {
					if full || r.Offset < from || r.Offset >= stop || r.Key == nil {
						return true
					}
					if !m.Put(r.Key, r.Offset) {
						full, fullAt = true, r.Offset
					}
					return true
				})
				if err != nil {
					return false, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
				}
			}
			if h.ProducerID >= 0 && (!full || h.BaseOffset < fullAt) {
				pids[h.ProducerID] = max(pids[h.ProducerID], h.BaseOffset)
			}
			return !full, nil
		})
		if err != nil {
			return 0, err
		}
		if full {
			if firstSeg {
				l.logger.Warn("cleaner offset map too small for one segment; cleaning what fits, more passes follow",
					"segment", s.base, "map_entries", m.Len(), "mapped_end", fullAt)
			} else {
				l.logger.Info("cleaner offset map full; the next pass goes on from here",
					"segment", s.base, "map_entries", m.Len(), "mapped_end", fullAt)
			}
			return fullAt, nil
		}
		if stop < p.ends[i] {
			return stop, nil
		}
		firstSeg = false
	}
	return p.end, nil
}

// scanProducers adds the producer ids of the clean section's batches to
// pids, from their headers: the last batch of a producer below the mapped
// end is kept, so its state survives.
func (l *Log) scanProducers(ctx context.Context, p *cleanPlan, pids map[int64]int64) error {
	for i, s := range p.segs {
		if s.base >= p.firstDirty {
			return nil
		}
		v, err := l.cleanView(p, s)
		if err != nil {
			return err
		}
		w := newWalker(v, 0)
		for {
			if err = ctx.Err(); err != nil {
				break
			}
			h, _, ok, werr := w.next()
			if err = werr; err != nil || !ok || h.BaseOffset >= p.firstDirty {
				break
			}
			if h.ProducerID >= 0 {
				pids[h.ProducerID] = max(pids[h.ProducerID], h.BaseOffset)
			}
		}
		v.release()
		if err != nil {
			return fmt.Errorf("scan producers of segment %d: %w", p.segs[i].base, err)
		}
	}
	return nil
}

// groupSegments cuts the inactive segments below mapped into runs that are
// rewritten into one segment each: while the sources together fit
// SegmentBytes and their offsets fit one segment's index, as Kafka's
// groupSegmentsBySize. Each group is [first, last] indexes into p.segs.
func groupSegments(p *cleanPlan, mapped int64) [][2]int {
	var groups [][2]int
	for i := 0; i < len(p.segs) && p.segs[i].base < mapped; {
		j, size := i, p.sizes[i]
		for j+1 < len(p.segs) && p.segs[j+1].base < mapped &&
			size+p.sizes[j+1] <= p.cfg.SegmentBytes && p.ends[j+1]-1-p.segs[i].base <= maxRelOffset {
			j++
			size += p.sizes[j]
		}
		groups = append(groups, [2]int{i, j})
		i = j + 1
	}
	return groups
}

// cleanedPaths points a fresh segment at the .cleaned names of base's files.
func newCleanedSegment(l *Log, base int64) *segment {
	s := newSegment(l.dir, base, l.files)
	s.logPath += cleanedSuffix
	s.idxPath += cleanedSuffix
	s.tidxPath += cleanedSuffix
	return s
}

// cleanGroup rewrites one group of segments into a .cleaned segment and
// swaps it in. A group of one segment that loses nothing is left alone.
func (l *Log) cleanGroup(ctx context.Context, p *cleanPlan, g [2]int, mapped int64, opts CompactOptions,
	pids map[int64]int64, res *CompactResult) (err error) {
	srcs := p.segs[g[0] : g[1]+1]
	out := newCleanedSegment(l, srcs[0].base)
	if _, _, err := out.openFiles(true); err != nil {
		return err
	}
	swapped := false
	defer func() {
		if !swapped && !errors.Is(err, errCrashed) {
			err = errors.Join(err, out.remove())
		}
	}()
	interval := int64(p.cfg.IndexIntervalBytes)
	changed := len(srcs) > 1
	var pending []byte
	written := int64(0)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := opts.Throttle.Wait(ctx, len(pending)); err != nil {
			return err
		}
		if err := l.injectedWriteFault(); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(out.logPath), err)
		}
		if _, err := out.log.WriteAt(pending, written); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(out.logPath), err)
		}
		written += int64(len(pending))
		res.BytesWritten += int64(len(pending))
		pending = pending[:0]
		return nil
	}
	var newest time.Time
	var srcBytes int64
	var removed, tombs int64
	for k, s := range srcs {
		mt := p.mtimes[g[0]+k]
		if mt.After(newest) {
			newest = mt
		}
		srcBytes += p.sizes[g[0]+k]
		dropTombstones := p.now.Sub(mt) > time.Duration(p.cfg.DeleteRetentionMs)*time.Millisecond
		err := l.eachBatch(ctx, p, s, s.base, opts, res, func(h batch.Header, b []byte) (bool, error) {
			kept, n, t, err := filterForClean(p.filterer, h, b, p.cfg.MaxMessageBytes, mapped, opts.Map, pids, dropTombstones)
			if err != nil {
				return false, err
			}
			removed, tombs = removed+n, tombs+t
			if len(kept) != len(b) || (len(kept) > 0 && &kept[0] != &b[0]) {
				changed = true
			}
			if kept == nil {
				return true, nil
			}
			kh, err := batch.ParseHeader(kept)
			if err != nil {
				return false, fmt.Errorf("filtered batch at offset %d: %w", h.BaseOffset, err)
			}
			if err := out.account(kh, written+int64(len(pending)), interval); err != nil {
				return false, err
			}
			pending = append(pending, kept...)
			if len(pending) >= cleanChunkBytes {
				return true, flush()
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	if err := out.seal(); err != nil {
		return err
	}
	out.next = p.ends[g[1]]
	// Tombstone and lag timing must not restart because the data moved.
	if err := os.Chtimes(out.logPath, newest, newest); err != nil {
		return fmt.Errorf("set time of %s: %w", filepath.Base(out.logPath), err)
	}
	if _, err := out.syncFiles(true); err != nil {
		return err
	}
	if err := l.cleanHook("written"); err != nil {
		return err
	}
	// Once the marker is committed the files belong to the swap, whatever
	// happens next: Open rolls it forward.
	committed, err := l.swapCleaned(p, srcs, out)
	swapped = committed
	if err != nil {
		return err
	}
	res.RecordsRemoved += removed
	res.TombstonesRemoved += tombs
	res.BytesReclaimed += srcBytes - out.size
	return nil
}

// filterForClean is what a batch below the mapped end keeps: a keyed
// record only when it is its key's latest (tombstones only while young);
// records without key, transactional and control batches, and what lies
// at or past mapped, untouched. A batch that loses every record vanishes,
// unless it is its producer's last, which keeps its header (EmptyBatch).
func filterForClean(f *batch.Filterer, h batch.Header, b []byte, maxMessageBytes int32, mapped int64, m *OffsetMap, pids map[int64]int64, dropTombstones bool) (kept []byte, removed, tombs int64, err error) {
	if h.IsControl() || h.IsTransactional() || h.BaseOffset >= mapped {
		return b, 0, 0, nil
	}
	lastOfProducer := h.ProducerID >= 0 && pids[h.ProducerID] == h.BaseOffset
	if h.NumRecords == 0 {
		if lastOfProducer {
			return b, 0, 0, nil
		}
		return nil, 0, 0, nil
	}
	out, _, n, err := f.FilterFor(b, maxMessageBytes, func(r batch.Record) bool {
		if r.Offset >= mapped || r.Key == nil {
			return true
		}
		if latest, ok := m.Get(r.Key); ok && latest > r.Offset {
			return false
		}
		if r.Value == nil && dropTombstones {
			tombs++
			return false
		}
		return true
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("filter batch at offset %d: %w", h.BaseOffset, err)
	}
	if out == nil && lastOfProducer {
		out = batch.EmptyBatch(h)
	}
	return out, int64(n), tombs, nil
}

// errCrashed is what the test hook returns to stop a pass as a crash
// would: without cleaning up.
var errCrashed = errors.New("simulated crash")

// cleanHook runs the test hook at a step of the swap protocol.
func (l *Log) cleanHook(step string) error {
	if l.testCleanHook == nil {
		return nil
	}
	return l.testCleanHook(step)
}

// swapCleaned replaces srcs by out, which is written and fsynced under its
// .cleaned names. Under the Log's lock, after checking that srcs are still
// exactly those segments (retention, truncation or a close may have changed
// the log since the plan): the marker naming out and srcs is made durable
// (the commit point; written under the lock so that nothing can change the
// sources between it and the swap, which Open would then roll forward over
// the change), the sources are renamed *.deleted, the .cleaned files take
// the final names, the marker goes, and the segment list changes. Readers
// holding a source keep reading its open files until they release it;
// the sources are removed after the lock is released.
func (l *Log) swapCleaned(p *cleanPlan, srcs []*segment, out *segment) (committed bool, err error) {
	marker := filepath.Join(l.dir, cleanerSwapFile)
	var data []byte
	data = fmt.Appendf(data, "0\n%d\n", out.base)
	for i, s := range srcs {
		if i > 0 {
			data = append(data, ' ')
		}
		data = strconv.AppendInt(data, s.base, 10)
	}
	data = append(data, '\n')
	// The content is fsynced outside the lock; under it, a rename commits.
	tmp := marker + tmpSuffix
	if err := writeFileSynced(tmp, data); err != nil {
		return false, err
	}

	l.mu.Lock()
	i := l.segmentIndexLocked(srcs[0].base)
	inPlace := !l.closed && l.failErr == nil && l.truncGen == p.truncGen &&
		i+len(srcs) < len(l.segs) && slices.Equal(l.segs[i:i+len(srcs)], srcs)
	if inPlace {
		for k, s := range srcs {
			inPlace = inPlace && s.size == p.sizes[slices.Index(p.segs, srcs[0])+k]
		}
	}
	if !inPlace {
		closed := l.closed
		l.mu.Unlock()
		_ = os.Remove(tmp)
		if closed {
			return false, ErrClosed
		}
		return false, ErrCleanAborted
	}
	unlocked := false
	defer func() {
		if !unlocked {
			l.mu.Unlock()
		}
	}()
	fail := func(err error) error {
		err = fmt.Errorf("swap cleaned segment %d: %w", out.base, err)
		l.failLocked(err)
		return err
	}
	if err := os.Rename(tmp, marker); err != nil {
		return true, fail(err)
	}
	if err := syncDir(l.dir); err != nil {
		return true, fail(err)
	}
	if err := l.cleanHook("marker"); err != nil {
		return true, err
	}
	for _, s := range srcs {
		if err := s.markDeleted(); err != nil {
			return true, fail(err)
		}
	}
	if err := l.cleanHook("deleted"); err != nil {
		return true, err
	}
	if err := out.renameCleaned(); err != nil {
		return true, fail(err)
	}
	if err := l.cleanHook("renamed"); err != nil {
		return true, err
	}
	if err := syncDir(l.dir); err != nil {
		return true, fail(err)
	}
	if err := os.Remove(marker); err != nil {
		return true, fail(err)
	}
	if err := syncDir(l.dir); err != nil {
		return true, fail(err)
	}
	if err := l.cleanHook("unmarked"); err != nil {
		return true, err
	}
	var srcSize int64
	for _, s := range srcs {
		srcSize += s.size
	}
	l.segs = slices.Concat(l.segs[:i], []*segment{out}, l.segs[i+len(srcs):])
	l.size += out.size - srcSize
	l.unsynced = slices.DeleteFunc(l.unsynced, func(u *segment) bool { return slices.Contains(srcs, u) })
	l.mu.Unlock()
	unlocked = true

	out.unpin()
	if err := l.cleanHook("swapped"); err != nil {
		return true, err
	}
	// Waits for readers still on the old files; Open removes *.deleted
	// files a crash leaves behind.
	for _, s := range srcs {
		err = errors.Join(err, s.remove())
	}
	if err != nil {
		l.logger.Warn("removing cleaned-away segment files failed; the next open removes them", "err", err)
	}
	return true, nil
}

// renameCleaned gives a segment written under .cleaned names its final
// names; its open files stay valid.
func (s *segment) renameCleaned() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	for _, p := range []*string{&s.logPath, &s.idxPath, &s.tidxPath} {
		final := strings.TrimSuffix(*p, cleanedSuffix)
		if err := os.Rename(*p, final); err != nil {
			return fmt.Errorf("rename %s: %w", filepath.Base(*p), err)
		}
		*p = final
	}
	return nil
}

// writeFileSynced writes data to path and fsyncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// recoverCleanerSwap finishes or undoes a swap a crash interrupted (Open,
// before the segments are listed): with a marker the swap had committed and
// is rolled forward; without, .cleaned files are leftovers of a pass that
// had not, and go.
func (l *Log) recoverCleanerSwap() error {
	marker := filepath.Join(l.dir, cleanerSwapFile)
	data, err := os.ReadFile(marker)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", cleanerSwapFile, err)
	}
	if err == nil {
		newBase, srcs, perr := parseSwapMarker(data)
		if perr != nil {
			// Written atomically, so this is not a torn write: refuse to guess.
			return fmt.Errorf("%s: %w", cleanerSwapFile, perr)
		}
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			final := filepath.Join(l.dir, segmentName(newBase)+suffix)
			if err := os.Rename(final+cleanedSuffix, final); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("roll cleaned segment %d forward: %w", newBase, err)
			}
		}
		for _, b := range srcs[1:] {
			for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if err := os.Remove(filepath.Join(l.dir, segmentName(b)+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("roll cleaned segment %d forward: %w", newBase, err)
				}
			}
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
		if err := os.Remove(marker); err != nil {
			return fmt.Errorf("remove %s: %w", cleanerSwapFile, err)
		}
		l.logger.Warn("finished a cleaner swap a crash interrupted", "segment", newBase, "sources", srcs)
	}
	left, err := filepath.Glob(filepath.Join(l.dir, "*"+cleanedSuffix))
	if err != nil {
		return fmt.Errorf("list cleaned leftovers: %w", err)
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("remove leftover %s: %w", filepath.Base(f), err)
		}
		l.logger.Info("removed leftover of an interrupted cleaning pass", "file", filepath.Base(f))
	}
	if len(left) > 0 || data != nil {
		return syncDir(l.dir)
	}
	return nil
}

// parseSwapMarker reads "0\n<new base>\n<source bases>\n".
func parseSwapMarker(data []byte) (int64, []int64, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "0" {
		return 0, nil, fmt.Errorf("malformed swap marker %q", data)
	}
	newBase, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || newBase < 0 {
		return 0, nil, fmt.Errorf("malformed swap marker %q", data)
	}
	var srcs []int64
	for _, f := range strings.Fields(lines[2]) {
		b, err := strconv.ParseInt(f, 10, 64)
		if err != nil || b < 0 || (len(srcs) > 0 && b <= srcs[len(srcs)-1]) {
			return 0, nil, fmt.Errorf("malformed swap marker %q", data)
		}
		srcs = append(srcs, b)
	}
	if len(srcs) == 0 || srcs[0] != newBase {
		return 0, nil, fmt.Errorf("swap marker %q: sources must start at the new base", data)
	}
	return newBase, srcs, nil
}

// loadCleanerCheckpoint reads the cleaner checkpoint (Open, once the
// segments are loaded) and clamps it into the log; a clamped value is
// written back so that data appended later is not taken for clean.
func (l *Log) loadCleanerCheckpoint() error {
	l.firstDirty, l.firstDirtySaved = l.segs[0].base, -1
	data, err := os.ReadFile(filepath.Join(l.dir, cleanerCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		l.logger.Warn("unreadable cleaner checkpoint; the whole log counts as dirty", "err", err)
		return nil
	}
	fields := strings.Fields(string(data))
	v := int64(-1)
	if len(fields) == 2 && fields[0] == "0" {
		if n, err := strconv.ParseInt(fields[1], 10, 64); err == nil && n >= 0 {
			v = n
		}
	}
	if v < 0 {
		l.logger.Warn("malformed cleaner checkpoint; the whole log counts as dirty", "content", string(data))
		return l.setFirstDirtyLocked(l.segs[0].base, true)
	}
	l.firstDirtySaved = v
	return l.setFirstDirtyLocked(v, true)
}

// setFirstDirtyLocked moves the checkpoint (clamped into the log) and, with
// persist or when a checkpoint file exists, writes it. A failed write fails
// the log.
func (l *Log) setFirstDirtyLocked(v int64, persist bool) error {
	v = min(max(v, l.segs[0].base), l.leo)
	l.firstDirty = v
	if v == l.firstDirtySaved || (!persist && l.firstDirtySaved < 0) {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(l.dir, cleanerCheckpointFile), fmt.Appendf(nil, "0\n%d\n", v)); err != nil {
		err = fmt.Errorf("write cleaner checkpoint: %w", err)
		l.failLocked(err)
		return err
	}
	l.firstDirtySaved = v
	return nil
}

// CleanerState reports the cleaner's view of the log, with upTo as in
// CompactOptions. It reads nothing but what the log holds in memory (and
// stats a segment with no timestamps), under the read lock.
func (l *Log) CleanerState(upTo int64) CleanerState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	now := l.now()
	st := CleanerState{
		FirstDirtyOffset:  l.firstDirtyLocked(),
		LastClean:         l.cleanStats.lastClean,
		LastCleanDuration: l.cleanStats.lastDuration,
		BytesReclaimed:    l.cleanStats.reclaimed,
		Passes:            l.cleanStats.passes,
	}
	st.CleanableEnd = l.cleanableEndLocked(upTo, st.FirstDirtyOffset, now)
	for i, s := range l.segs[:len(l.segs)-1] {
		end := l.segs[i+1].base
		switch {
		case end <= st.FirstDirtyOffset:
			st.CleanBytes += s.size
		case s.base < st.CleanableEnd:
			st.DirtyBytes += s.size
		}
		if end > st.FirstDirtyOffset && st.OldestDirty.IsZero() && s.size > 0 {
			st.OldestDirty = s.firstTime()
		}
	}
	if act := l.active(); st.OldestDirty.IsZero() && act.size > 0 && l.leo > st.FirstDirtyOffset {
		st.OldestDirty = act.rollBase
	}
	if total := st.CleanBytes + st.DirtyBytes; st.DirtyBytes > 0 {
		st.DirtyRatio = float64(st.DirtyBytes) / float64(total)
	}
	if l.cfg.Cleanup.Compacts() && st.DirtyBytes > 0 {
		ratio := l.cfg.MinCleanableDirtyRatio
		if ratio <= 0 {
			ratio = 0.5
		}
		lagged := l.cfg.MaxCompactionLagMs > 0 && !st.OldestDirty.IsZero() &&
			now.Sub(st.OldestDirty) > time.Duration(l.cfg.MaxCompactionLagMs)*time.Millisecond
		st.Due = st.DirtyRatio >= ratio || lagged
	}
	return st
}

// firstTime is when a segment's first batch was written, by its timestamp
// when known, else its largest time.
func (s *segment) firstTime() time.Time {
	if s.firstTS > 0 {
		return time.UnixMilli(s.firstTS)
	}
	return s.largestTime()
}
