// Package partlog is one partition's durable log: a directory of segment files
// holding Kafka RecordBatch v2 bytes exactly as producers sent them, with
// Kafka's sparse offset and time indexes, crash recovery, retention, a
// leader-epoch cache, and group-commit fsync.
//
// It knows nothing of Kafka requests or replication. The replica layer
// decides what to append (Append for a leader, AppendReplicated for a
// follower), when to wait for durability (Sync), and what to truncate.
//
// Files in the directory, named like Kafka's:
//
//	00000000000000000000.log        batches, back to back
//	00000000000000000000.index      sparse offset -> position index
//	00000000000000000000.timeindex  sparse timestamp -> offset index
//	leader-epoch-checkpoint         epoch -> first offset, text
//	recovery-point                  offsets below it were fsynced with their
//	                                indexes; Open re-checks only what follows
//	high-watermark-checkpoint       the replica's last saved high watermark,
//	                                never above the log end (highwatermark.go)
//	cleaner-offset-checkpoint       compacted logs: offsets below it are
//	                                clean (compact.go)
//	cleaner-swap                    only while the cleaner swaps segments in
package partlog

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// FlushPolicy says when appended batches are fsynced.
type FlushPolicy int

const (
	// FlushAlways (the default) fsyncs on demand: Sync waits for an fsync
	// that covers the caller's offsets, shared with every concurrent caller.
	FlushAlways FlushPolicy = iota
	// FlushInterval fsyncs every Options.FlushInterval in the background.
	FlushInterval
	// FlushNever leaves writing back to the operating system, except that a
	// segment is fsynced when it is rolled and the log when it is closed.
	FlushNever
)

// String names the policy as the command line spells it.
func (p FlushPolicy) String() string {
	switch p {
	case FlushAlways:
		return "always"
	case FlushInterval:
		return "interval"
	case FlushNever:
		return "never"
	default:
		return fmt.Sprintf("FlushPolicy(%d)", int(p))
	}
}

// ParseFlushPolicy reads a policy as String spells it (configuration is text).
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	for _, p := range []FlushPolicy{FlushAlways, FlushInterval, FlushNever} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown flush policy %q: want always, interval or never", s)
}

// Config is the per-topic log configuration. It can change at run time
// through SetConfig.
type Config struct {
	// SegmentBytes rolls a new segment when the active one would grow past
	// it. <= 0 means 1 GiB; values above 2 GiB - 1 are capped there because
	// index positions are 32-bit.
	SegmentBytes int64
	// SegmentMs rolls a non-empty active segment once it is this old
	// (measured from its first append). <= 0 disables age-based rolling.
	SegmentMs int64
	// RetentionMs deletes segments whose largest timestamp is older than
	// this. -1 (any value <= 0) keeps data forever.
	RetentionMs int64
	// RetentionBytes deletes the oldest segments while the log would still
	// hold at least this many bytes without them. -1 (any value <= 0) means
	// unlimited.
	RetentionBytes int64
	// IndexIntervalBytes is the spacing of index entries. 0 means 4096.
	IndexIntervalBytes int
	// LogAppendTime makes Append stamp every batch with the broker's clock,
	// like Kafka's message.timestamp.type=LogAppendTime.
	LogAppendTime bool

	// Cleanup is cleanup.policy; the fields below apply when it compacts.
	Cleanup CleanupPolicy
	// MinCleanableDirtyRatio: a log is cleaned once its dirty bytes are at
	// least this share of its cleanable bytes. <= 0 means 0.5.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs: segments written to more recently stay dirty.
	MinCompactionLagMs int64
	// MaxCompactionLagMs: dirty data older than this is cleaned whatever the
	// ratio (the active segment is rolled for it). <= 0 means no maximum.
	MaxCompactionLagMs int64
	// DeleteRetentionMs: a tombstone is removed only once the segment
	// holding it was last written to longer ago than this.
	DeleteRetentionMs int64
	// MaxMessageBytes is the topic's max.message.bytes: the cleaner
	// inflates compressed batches up to batch.InflateLimit of it, as much
	// as produce validation let them. 0 means the package minimum.
	MaxMessageBytes int32
}

const (
	defaultSegmentBytes  = 1 << 30
	maxSegmentBytes      = math.MaxInt32
	defaultIndexInterval = 4096
	maxRelOffset         = math.MaxInt32
	defaultFlushInterval = time.Second
	recoveryPointFile    = "recovery-point"
	epochCheckpointFile  = "leader-epoch-checkpoint"
)

func (c Config) normalized() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = defaultSegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, maxSegmentBytes)
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = defaultIndexInterval
	}
	return c
}

// Options configure Open.
type Options struct {
	Dir           string // the partition's directory; created if missing
	Config        Config
	Flush         FlushPolicy
	FlushInterval time.Duration // for FlushInterval; <= 0 means 1s
	Logger        *slog.Logger  // nil means slog.Default()
	Now           func() time.Time
	// Files bounds the open files of inactive segments; a broker shares one
	// across all its logs. nil gives the log its own, of
	// DefaultMaxOpenSegmentFiles.
	Files *FileCache
	// OnFailure, when set, is told once, the first time a write, fsync or
	// checkpoint in the log's directory fails and the log stops accepting
	// writes (see Failed). A broker stops on it, as Kafka takes a failed log
	// directory offline. It runs with the log's lock held: it must not block
	// or call the log.
	OnFailure func(error)
	// BeforeFsync, when set, runs before every fsync pass that has data to
	// flush; an error fails the pass as a failed fsync would. Tests inject
	// failures with it and fault-injection builds (chronik_faults) delay
	// fsync; nil in production.
	BeforeFsync func() error
	// OnFsync, when set, is told how long each fsync pass with data to
	// flush took (BeforeFsync included), on the syncer goroutine: a node
	// feeds its fsync histogram with it. It must not block.
	OnFsync func(time.Duration)
}

// AppendResult tells where an appended batch went.
type AppendResult struct {
	BaseOffset    int64
	LastOffset    int64
	LogAppendTime int64 // ms; -1 unless the batch carries LogAppendTime
}

// Errors returned by the Log; test with errors.Is.
var (
	// ErrOffsetOutOfRange means an offset below LogStartOffset or above LogEndOffset.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrClosed means the Log was closed.
	ErrClosed = errors.New("log closed")
)

// Log is one partition's log. All methods are safe for concurrent use.
//
// Appends, truncation and retention serialize on mu. Reads take mu only to
// pick a segment and snapshot its size and index, then read the file with
// pread while holding the segment's fileMu read lock, so they neither block
// nor are blocked by appends. fsync runs on the syncer goroutine without mu.
type Log struct {
	dir           string
	logger        *slog.Logger
	now           func() time.Time
	flush         FlushPolicy
	flushInterval time.Duration
	files         *FileCache

	// hwMu serializes high-watermark checkpoint writes with truncation and
	// Close; taken before mu.
	hwMu sync.Mutex

	mu            sync.RWMutex
	cfg           Config
	segs          []*segment // ascending base offsets; the last is active; never empty while open
	leo           int64
	size          int64
	epochs        epochCache
	unsynced      []*segment // rolled segments whose files were not fsynced yet
	truncGen      uint64     // bumped on truncation; an fsync pass begun before must not raise durable
	recoveryPoint int64      // persisted; -1 before the first write
	hwCheckpoint  int64      // persisted high watermark; -1 if none; guarded by hwMu
	closed        bool
	failErr       error // sticky: after an I/O failure the log refuses writes (failLocked)
	onFailure     func(error)

	durable atomic.Int64
	fsyncs  atomic.Uint64

	// Group commit: Sync callers take nextDone, which the syncer closes when
	// the pass that starts after they took it is over.
	syncMu   sync.Mutex
	nextDone chan struct{}
	// passDone and passEnd are the pass running now (nil when none) and
	// the log end it will at least cover: a Sync for offsets below passEnd
	// waits for that pass rather than for the next one, so a pass started
	// early (StartSync) is not paid twice.
	passDone chan struct{}
	passEnd  int64
	syncReq  chan struct{} // capacity 1: "a pass is wanted"
	stop     chan struct{}
	closedCh chan struct{} // closed once Close has flushed everything
	wg       sync.WaitGroup

	// beforeFsync is Options.BeforeFsync; tests in this package also set it
	// directly.
	beforeFsync func() error
	onFsync     func(time.Duration)
	fsyncRec    FsyncRecord // recent passes, for FsyncStats
	// writeFault, when set by tests in this package, fails segment writes
	// before any byte is written, as a full disk does.
	writeFault func() error

	// The cleaner (compact.go). cleanMu serializes passes; the fields
	// below it are guarded by mu.
	cleanMu         sync.Mutex
	firstDirty      int64 // cleaner checkpoint: offsets below it are clean
	firstDirtySaved int64 // what cleaner-offset-checkpoint holds; -1 if no file
	cleanStats      cleanerStats
	// testCleanHook, set by tests in this package, runs at each step of a
	// cleaning swap; an error stops the pass there as a crash would.
	testCleanHook func(step string) error
}

// Open opens the log in opts.Dir, creating the directory if needed, and
// recovers it: segments past the recovery point are scanned batch by batch;
// a truncated batch, bad length, bad magic or bad CRC ends the valid data
// there; indexes that are missing or inconsistent are rebuilt.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("open log: no directory")
	}
	l := &Log{
		dir:           opts.Dir,
		logger:        opts.Logger,
		now:           opts.Now,
		flush:         opts.Flush,
		flushInterval: opts.FlushInterval,
		files:         opts.Files,
		onFailure:     opts.OnFailure,
		beforeFsync:   opts.BeforeFsync,
		onFsync:       opts.OnFsync,
		cfg:           opts.Config.normalized(),
		recoveryPoint: -1,
		hwCheckpoint:  -1,
		nextDone:      make(chan struct{}),
		syncReq:       make(chan struct{}, 1),
		stop:          make(chan struct{}),
		closedCh:      make(chan struct{}),
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if l.files == nil {
		l.files = NewFileCache(DefaultMaxOpenSegmentFiles)
	}
	l.logger = l.logger.With("dir", opts.Dir)
	if l.now == nil {
		l.now = time.Now
	}
	if l.flushInterval <= 0 {
		l.flushInterval = defaultFlushInterval
	}
	switch l.flush {
	case FlushAlways, FlushInterval, FlushNever:
	default:
		return nil, fmt.Errorf("open log %s: unknown flush policy %d", opts.Dir, l.flush)
	}
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			_ = s.closeFiles()
		}
		return nil, fmt.Errorf("open log %s: %w", opts.Dir, err)
	}
	l.wg.Add(1)
	go l.runSyncer()
	return l, nil
}

// Dir is the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset still stored.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[0].base
}

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// Size is the number of bytes of all segments' data files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// SegmentCount is the number of segments, the active one included.
func (l *Log) SegmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// SetConfig replaces the configuration; it applies to the next append,
// roll and retention pass.
func (l *Log) SetConfig(c Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = c.normalized()
}

// Config returns the configuration in effect, with defaults filled in.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// writableLocked is the check every mutation starts with.
func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failErr
}

// failLocked makes the log refuse further writes after an I/O error in its
// directory and tells the owner, once. Like Kafka, any failed write, fsync
// or checkpoint counts, even one that left the files consistent: after
// ENOSPC or EIO the disk is not to be trusted with more data, and the
// owner's answer (a broker stops, so leadership moves to a replica with a
// working disk) beats refusing every write while staying the leader. After
// a failed fsync the kernel may also have dropped dirty pages that a later
// fsync would not report. The caller holds mu for writing.
func (l *Log) failLocked(err error) {
	if l.failErr != nil {
		return
	}
	l.failErr = fmt.Errorf("log unusable after a storage failure: %w", err)
	if l.onFailure == nil {
		l.logger.Error("storage failure; the log refuses further writes", "err", err)
		return
	}
	l.onFailure(fmt.Errorf("partition log %s: %w", l.dir, err)) // the owner logs what happens next
}

// Failed is the storage failure that made the log refuse writes, nil while
// it works.
func (l *Log) Failed() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.failErr
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// Append assigns the next offsets to one batch, which the caller has
// validated, and writes it to the active segment, rolling first when the
// segment is full or old. It patches the base offset and leader epoch into
// b in place (and, under Config.LogAppendTime, the timestamps and CRC) and
// keeps no reference to b. It records leaderEpoch in the epoch cache when it
// is new. It does not wait for fsync: call Sync for that.
func (l *Log) Append(b []byte, leaderEpoch int32) (AppendResult, error) {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append: %w", err)
	}
	if h.Size() != len(b) {
		return AppendResult{}, fmt.Errorf("append: batch of %d bytes in a %d-byte buffer: %w", h.Size(), len(b), batch.ErrCorrupt)
	}
	if h.LastOffsetDelta < 0 {
		return AppendResult{}, fmt.Errorf("append: last offset delta %d: %w", h.LastOffsetDelta, batch.ErrCorrupt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendResult{}, fmt.Errorf("append: %w", err)
	}
	base := l.leo
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, leaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, leaderEpoch
	res := AppendResult{BaseOffset: base, LastOffset: h.LastOffset(), LogAppendTime: -1}
	if l.cfg.LogAppendTime {
		ts := l.now().UnixMilli()
		batch.SetMaxTimestampAndAppendTime(b, ts)
		if h, err = batch.ParseHeader(b); err != nil {
			return AppendResult{}, fmt.Errorf("append: %w", err)
		}
	}
	if h.LogAppendTime() {
		res.LogAppendTime = h.MaxTimestamp
	}
	// The epoch goes to disk before data of that epoch can.
	if err := l.assignEpochLocked(leaderEpoch, base); err != nil {
		l.failLocked(err)
		return AppendResult{}, fmt.Errorf("append: %w", err)
	}
	if err := l.writeBatchesLocked(b, []batch.Header{h}); err != nil {
		return AppendResult{}, fmt.Errorf("append at offset %d: %w", base, err)
	}
	return res, nil
}

// AppendReplicated appends batches that already carry their offsets and
// leader epochs, as a follower copies them from its leader: the first base
// offset must be at least LogEndOffset and the offsets strictly increasing
// (a compacted leader's batches leave gaps between them). Each batch's CRC
// is checked; nothing is written unless all are good. It returns the new
// last offset (LogEndOffset-1).
func (l *Log) AppendReplicated(batches []byte) (int64, error) {
	parts, err := batch.Split(batches)
	if err != nil {
		return 0, fmt.Errorf("append replicated: %w", err)
	}
	hs := make([]batch.Header, len(parts))
	for i, p := range parts {
		if hs[i], err = batch.Check(p); err != nil {
			return 0, fmt.Errorf("append replicated: batch %d: %w", i, err)
		}
		if i > 0 && hs[i].BaseOffset <= hs[i-1].LastOffset() {
			return 0, fmt.Errorf("append replicated: batch %d starts at %d after %d: %w", i, hs[i].BaseOffset, hs[i-1].LastOffset(), batch.ErrCorrupt)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, fmt.Errorf("append replicated: %w", err)
	}
	if len(hs) == 0 {
		return l.leo - 1, nil
	}
	if hs[0].BaseOffset < l.leo {
		return 0, fmt.Errorf("append replicated: first batch at offset %d, below the log end %d: %w", hs[0].BaseOffset, l.leo, ErrOffsetOutOfRange)
	}
	changed := false
	for _, h := range hs {
		c, stale := l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		changed = changed || c
		if stale {
			l.logger.Warn("replicated batch has an older leader epoch than the log; epoch cache unchanged",
				"epoch", h.PartitionLeaderEpoch, "offset", h.BaseOffset)
		}
	}
	if changed {
		if err := l.epochs.persist(); err != nil {
			l.failLocked(err)
			return 0, fmt.Errorf("append replicated: %w", err)
		}
	}
	if err := l.writeBatchesLocked(batches, hs); err != nil {
		return 0, fmt.Errorf("append replicated at offset %d: %w", hs[0].BaseOffset, err)
	}
	return l.leo - 1, nil
}

// assignEpochLocked records epoch as starting at start if it is new.
func (l *Log) assignEpochLocked(epoch int32, start int64) error {
	changed, stale := l.epochs.assign(epoch, start)
	if stale {
		last, _ := l.epochs.latest()
		l.logger.Warn("append with an older leader epoch than the log's latest; epoch cache unchanged",
			"epoch", epoch, "latest", last.Epoch, "offset", start)
	}
	if !changed {
		return nil
	}
	return l.epochs.persist()
}

// AssignEpoch records that leader epoch epoch starts at the current log end,
// as a new leader does before its first append (Kafka does the same), so
// that OffsetForLeaderEpoch answers correctly for it at once. An epoch not
// newer than the latest is ignored.
func (l *Log) AssignEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return fmt.Errorf("assign epoch %d: %w", epoch, err)
	}
	if err := l.assignEpochLocked(epoch, l.leo); err != nil {
		l.failLocked(err)
		return fmt.Errorf("assign epoch %d: %w", epoch, err)
	}
	return nil
}

// shouldRollLocked decides whether a batch must go to a new segment.
func (l *Log) shouldRollLocked(s *segment, sizeSoFar int64, h batch.Header) bool {
	if sizeSoFar == 0 {
		return false
	}
	if sizeSoFar+int64(h.Size()) > l.cfg.SegmentBytes {
		return true
	}
	if !s.fitsOffsets(h.LastOffset()) {
		return true
	}
	return l.cfg.SegmentMs > 0 && !s.rollBase.IsZero() &&
		l.now().Sub(s.rollBase) >= time.Duration(l.cfg.SegmentMs)*time.Millisecond
}

// writeBatchesLocked writes batches (contiguous bytes, headers already
// parsed, offsets already in place) to the active segment, rolling as
// needed. Runs of batches that fit one segment are written with one call.
func (l *Log) writeBatchesLocked(buf []byte, hs []batch.Header) error {
	interval := int64(l.cfg.IndexIntervalBytes)
	off := 0 // position in buf of hs[i]
	for i := 0; i < len(hs); {
		s := l.active()
		if s.size == 0 && !s.fitsOffsets(hs[i].LastOffset()) {
			// A gap (a compacted leader) too wide for the empty active
			// segment's index: start it over at the batch.
			if err := l.rebaseEmptyActiveLocked(hs[i].BaseOffset); err != nil {
				return err
			}
			s = l.active()
		}
		if l.shouldRollLocked(s, s.size, hs[i]) {
			// At the batch, not the log end: after a gap the new segment
			// must be able to index it.
			if err := l.rollAtLocked(hs[i].BaseOffset); err != nil {
				return err
			}
			s = l.active()
		}
		// Take batches while they fit this segment.
		j, size := i, s.size
		for j < len(hs) && (j == i || !l.shouldRollLocked(s, size, hs[j])) {
			size += int64(hs[j].Size())
			j++
		}
		n := int(size - s.size)
		err := l.injectedWriteFault()
		if err == nil {
			_, err = s.log.WriteAt(buf[off:off+n], s.size)
		}
		if err != nil {
			err = fmt.Errorf("write %s: %w", filepath.Base(s.logPath), err)
			// Cut the partial write so the file ends at a batch boundary.
			if terr := s.log.Truncate(s.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut partial write: %w", terr))
			}
			l.failLocked(err)
			return err
		}
		if s.rollBase.IsZero() {
			s.rollBase = l.now()
		}
		pos := s.size
		for k := i; k < j; k++ {
			if err := s.account(hs[k], pos, interval); err != nil {
				l.failLocked(fmt.Errorf("index write: %w", err))
				return err
			}
			pos += int64(hs[k].Size())
		}
		l.size += int64(n)
		l.leo = s.next
		off += n
		i = j
	}
	return nil
}

// rollLocked seals the active segment and starts a new one at the log end.
// The old segment is queued for fsync, which the syncer does soon whatever
// the flush policy, as Kafka flushes rolled segments.
func (l *Log) rollLocked() error { return l.rollAtLocked(l.leo) }

// rollAtLocked is rollLocked with the new segment based at base (>= the log
// end): a replicated batch after a gap.
func (l *Log) rollAtLocked(base int64) error {
	old := l.active()
	if err := old.seal(); err != nil {
		err = fmt.Errorf("roll segment %d: %w", old.base, err)
		l.failLocked(err)
		return err
	}
	s := newSegment(l.dir, base, l.files)
	if _, _, err := s.openFiles(true); err != nil {
		err = fmt.Errorf("roll to segment %d: %w", base, err)
		l.failLocked(err)
		return err
	}
	s.idx.inMem, s.tidx.inMem = true, true
	if err := syncDir(l.dir); err != nil {
		_ = s.remove()
		err = fmt.Errorf("roll to segment %d: %w", base, err)
		l.failLocked(err)
		return err
	}
	l.segs = append(l.segs, s)
	l.unsynced = append(l.unsynced, old)
	l.logger.Debug("rolled segment", "old_base", old.base, "old_bytes", old.size, "new_base", s.base)
	l.requestSync()
	return nil
}

// rebaseEmptyActiveLocked replaces the empty active segment by one based
// at base (> its base): a replicated batch after a gap wider than one
// segment can index.
func (l *Log) rebaseEmptyActiveLocked(base int64) error {
	old := l.active()
	s := newSegment(l.dir, base, l.files)
	if _, _, err := s.openFiles(true); err != nil {
		err = fmt.Errorf("rebase empty segment %d at %d: %w", old.base, base, err)
		l.failLocked(err)
		return err
	}
	s.idx.inMem, s.tidx.inMem = true, true
	l.segs[len(l.segs)-1] = s
	err := old.remove()
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		err = fmt.Errorf("rebase empty segment %d at %d: %w", old.base, base, err)
		l.failLocked(err)
		return err
	}
	return nil
}

// segmentIndexLocked returns the index of the segment holding offset: the
// last one whose base is <= offset (0 if offset precedes them all).
func (l *Log) segmentIndexLocked(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// writeRecoveryPointLocked persists rp if it differs from the stored value.
// A failure fails the log (failLocked).
func (l *Log) writeRecoveryPointLocked(rp int64) error {
	if rp == l.recoveryPoint {
		return nil
	}
	data := fmt.Appendf(nil, "0\n%d\n", rp)
	if err := writeFileAtomic(filepath.Join(l.dir, recoveryPointFile), data); err != nil {
		err = fmt.Errorf("write recovery point: %w", err)
		l.failLocked(err)
		return err
	}
	l.recoveryPoint = rp
	return nil
}

// LatestEpoch is the newest leader epoch in the epoch cache.
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.epochs.latest()
	if !ok {
		return -1, false
	}
	return e.Epoch, true
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest known epoch
// <= epoch and the offset where it ended, which is the start offset of the
// next larger epoch, or LogEndOffset if it is the latest. An epoch older than
// every known one gets itself and the first known epoch's start, as in Kafka.
// (-1, -1) when no epoch is known or epoch is negative.
func (l *Log) EndOffsetForEpoch(epoch int32) (epochOut int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leo)
}

// Close stops the syncer, fsyncs everything, and closes the files. Later
// calls return nil; other methods return ErrClosed.
func (l *Log) Close() error {
	l.hwMu.Lock() // a checkpoint write in progress finishes first
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.hwMu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.hwMu.Unlock()

	close(l.stop)
	l.wg.Wait()

	err := l.closeFlush()
	close(l.closedCh)
	l.mu.Lock()
	segs := l.segs
	l.mu.Unlock()
	for _, s := range segs {
		err = errors.Join(err, s.closeFiles())
	}
	if err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// closeFlush makes everything durable and records a recovery point at the
// log end, so the next Open need not scan anything.
func (l *Log) closeFlush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failErr != nil {
		return l.failErr
	}
	act := l.active()
	if err := act.finishTimeIndex(); err != nil {
		l.failLocked(err)
		return err
	}
	for _, s := range append(append([]*segment(nil), l.unsynced...), act) {
		if _, err := s.syncFiles(true); err != nil {
			l.failLocked(err)
			return err
		}
		l.fsyncs.Add(1)
	}
	l.unsynced = nil
	l.durable.Store(l.leo)
	return l.writeRecoveryPointLocked(l.leo)
}

// Abandon stops the log without writing anything more: no fsync, no
// recovery point; it only stops the syncer and closes the files. A node
// that stops on a storage failure abandons its logs, since on a failing
// disk more writes could hang or fail, and the next Open recovers whatever
// the kernel wrote back meanwhile. Later calls, and Close after it, do
// nothing; other methods return ErrClosed.
func (l *Log) Abandon() {
	l.hwMu.Lock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.hwMu.Unlock()
		return
	}
	l.closed = true
	segs := l.segs
	l.mu.Unlock()
	l.hwMu.Unlock()

	close(l.stop)
	l.wg.Wait()
	close(l.closedCh)
	for _, s := range segs {
		_ = s.closeFiles() // close(2) writes nothing back
	}
}

// injectedWriteFault is the error a test made segment writes fail with.
func (l *Log) injectedWriteFault() error {
	if l.writeFault == nil {
		return nil
	}
	return l.writeFault()
}

// Delete closes the log and removes its directory.
//
// It abandons the log rather than close it: flushing data about to be
// removed is wasted I/O, and on a full disk the recovery point Close writes
// would fail and count as a storage failure, when deleting a topic is one
// way to free space. A crash before the removal leaves the directory behind
// either way.
func (l *Log) Delete() error {
	l.Abandon()
	if err := removeAll(l.dir); err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	return nil
}
