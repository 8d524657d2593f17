package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// The log cleaner: one goroutine per node (RunCleaner) compacts every
// replica whose topic's cleanup.policy compacts, leaders and followers
// alike, each up to its own high watermark. Every replica holds the same
// batches below the high watermark and the cleaner's choices depend only on
// them and the topic config, so replicas that cleaned to the same point hold
// the same records.

// CleanerStatus is what the tools show of one compacted partition replica.
type CleanerStatus struct {
	Policy            partlog.CleanupPolicy
	MinCleanableRatio float64       // effective min.cleanable.dirty.ratio
	MaxCompactionLag  time.Duration // 0 = none
	State             partlog.CleanerState
	Uncleanable       string // why the cleaner skips this partition; "" when it does not
	UncleanableSince  time.Time
	// DueSince is when the cleaner first found the partition due, in rounds
	// that all found it due since; zero when it was not due last round.
	DueSince time.Time
}

// CleanerStatus reports the partition's cleaning; false when its policy
// does not compact.
func (p *Partition) CleanerStatus() (CleanerStatus, bool) {
	cfg := p.Config()
	if !cfg.CleanupPolicy.Compacts() {
		return CleanerStatus{}, false
	}
	st := CleanerStatus{
		Policy:            cfg.CleanupPolicy,
		MinCleanableRatio: cfg.MinCleanableDirtyRatio,
		MaxCompactionLag:  lagDuration(cfg.MaxCompactionLagMs),
		State:             p.log.CleanerState(p.HighWatermark()),
	}
	if m := p.uncleanable.Load(); m != nil {
		st.Uncleanable, st.UncleanableSince = m.reason, m.since
	}
	if ns := p.dueSince.Load(); ns != 0 {
		st.DueSince = time.Unix(0, ns)
	}
	return st, true
}

// lagDuration is max.compaction.lag.ms as a duration; 0 (none) for values
// a duration cannot hold, Kafka's default Long.MAX_VALUE among them.
func lagDuration(ms int64) time.Duration {
	if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// cleanableRatio is min.cleanable.dirty.ratio for partlog.Config, where
// 0 stands for its default (0.5): Kafka's 0, clean whenever anything is
// dirty, becomes the smallest positive ratio, which means the same.
func cleanableRatio(r float64) float64 {
	if r <= 0 {
		return math.SmallestNonzeroFloat64
	}
	return r
}

// uncleanableMark is why the cleaner gave up on a partition. It lives on
// the Partition, so it ends when the log is reopened (a new Partition) or
// its config changes (SetConfig clears it).
type uncleanableMark struct {
	reason string
	since  time.Time
}

// CleanerInfo is the node's log cleaner as a whole.
type CleanerInfo struct {
	Enabled             bool
	Running             bool // the cleaner goroutine is alive (false after it stopped or crashed)
	Passes              uint64
	BytesReclaimed      int64
	LastPass            time.Time
	LastError           string
	Uncleanable         int
	DedupeBufferBytes   int64
	IOMaxBytesPerSecond float64 // 0 = unlimited
	Backoff             time.Duration
}

// CleanerOptions configure the log cleaner (Kafka's log.cleaner.* broker
// configs).
type CleanerOptions struct {
	// Enabled: without it RunCleaner returns at once and compacted topics
	// are never cleaned (log.cleaner.enable).
	Enabled bool
	// Backoff is the sleep when no partition needs cleaning
	// (log.cleaner.backoff.ms); Wake cuts it short.
	Backoff time.Duration
	// DedupeBufferBytes is the offset map's memory (log.cleaner.dedupe.buffer.size).
	DedupeBufferBytes int64
	// IOMaxBytesPerSecond bounds the cleaner's reads and writes; <= 0 is
	// unlimited (log.cleaner.io.max.bytes.per.second).
	IOMaxBytesPerSecond float64
}

// cleanerLoop is the bookkeeping of the manager's cleaner.
type cleanerLoop struct {
	wake chan struct{} // buffered 1: a wake while a round runs is not lost
	// compact runs one pass; nil is the log's own Compact. Tests replace
	// it to make a pass fail or panic.
	compact func(context.Context, *Partition, partlog.CompactOptions) (partlog.CompactResult, error)

	mu   sync.Mutex
	info CleanerInfo
}

func newCleanerLoop() *cleanerLoop { return &cleanerLoop{wake: make(chan struct{}, 1)} }

// CleanerInfo reports the node's log cleaner.
func (m *Manager) CleanerInfo() CleanerInfo {
	m.cleaner.mu.Lock()
	info := m.cleaner.info
	m.cleaner.mu.Unlock()
	for _, p := range m.all() {
		if p.uncleanable.Load() != nil {
			info.Uncleanable++
		}
	}
	return info
}

// Wake makes the cleaner look for work now rather than at the end of its
// backoff: after a config change, or in tests.
func (m *Manager) Wake() {
	select {
	case m.cleaner.wake <- struct{}{}:
	default:
	}
}

// RunCleaner cleans compacted partitions until ctx ends. Each round cleans
// every due partition once, the most overdue for max.compaction.lag.ms
// first, then the dirtiest; when none is due it sleeps opts.Backoff or
// until Wake. A partition whose pass fails (or panics) is marked
// uncleanable and skipped; the others go on being cleaned.
func (m *Manager) RunCleaner(ctx context.Context, opts CleanerOptions) {
	c := m.cleaner
	c.mu.Lock()
	c.info.Enabled = opts.Enabled
	c.info.DedupeBufferBytes = opts.DedupeBufferBytes
	c.info.IOMaxBytesPerSecond = max(opts.IOMaxBytesPerSecond, 0)
	c.info.Backoff = opts.Backoff
	c.info.Running = opts.Enabled
	c.mu.Unlock()
	if !opts.Enabled {
		return
	}
	defer func() {
		c.mu.Lock()
		c.info.Running = false
		c.mu.Unlock()
	}()
	omap := partlog.NewOffsetMap(opts.DedupeBufferBytes)
	throttle := partlog.NewThrottle(opts.IOMaxBytesPerSecond)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		progressed := m.cleanRound(ctx, omap, throttle)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			// Passes may leave more due (an offset map too small for the
			// dirty section): look again at once.
			continue
		}
		timer.Reset(opts.Backoff)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

type cleanCandidate struct {
	p       *Partition
	upTo    int64
	state   partlog.CleanerState
	overdue time.Duration // past max.compaction.lag.ms; 0 when not
}

// cleanRound cleans every due partition once and reports whether any pass
// moved a partition's cleaned point.
func (m *Manager) cleanRound(ctx context.Context, omap *partlog.OffsetMap, throttle *partlog.Throttle) bool {
	now := time.Now()
	var due []cleanCandidate
	for _, p := range m.all() {
		if !p.Config().CleanupPolicy.Compacts() || p.uncleanable.Load() != nil {
			continue
		}
		upTo := p.HighWatermark()
		st := p.log.CleanerState(upTo)
		if !st.Due {
			p.dueSince.Store(0)
			continue
		}
		p.dueSince.CompareAndSwap(0, now.UnixNano())
		cand := cleanCandidate{p: p, upTo: upTo, state: st}
		if lag := lagDuration(p.Config().MaxCompactionLagMs); lag > 0 && !st.OldestDirty.IsZero() {
			cand.overdue = max(now.Sub(st.OldestDirty)-lag, 0)
		}
		due = append(due, cand)
	}
	sortCandidates(due)
	progressed := false
	for _, cand := range due {
		if ctx.Err() != nil {
			return progressed
		}
		if m.cleanOne(ctx, cand, omap, throttle) {
			progressed = true
		}
	}
	return progressed
}

// sortCandidates orders the due partitions: the most overdue for
// max.compaction.lag.ms first (a promise to the user), then the dirtiest
// (the most bytes reclaimed per byte rewritten), as Kafka's cleaner picks.
func sortCandidates(due []cleanCandidate) {
	slices.SortStableFunc(due, func(a, b cleanCandidate) int {
		if c := cmp.Compare(b.overdue, a.overdue); c != 0 {
			return c
		}
		return cmp.Compare(b.state.DirtyRatio, a.state.DirtyRatio)
	})
}

// cleanOne runs one pass over a partition; it reports whether the pass
// moved the partition's cleaned point.
func (m *Manager) cleanOne(ctx context.Context, cand cleanCandidate, omap *partlog.OffsetMap, throttle *partlog.Throttle) bool {
	p := cand.p
	before := p.LogBytes()
	res, err := m.compactRecovering(ctx, p, partlog.CompactOptions{UpTo: cand.upTo, Map: omap, Throttle: throttle})
	switch {
	case err == nil:
	case errors.Is(err, partlog.ErrNothingToClean), errors.Is(err, partlog.ErrClosed), errors.Is(err, partlog.ErrCleanAborted):
		// Nothing to do, the partition was closed (deleted, moved away), or
		// retention or truncation changed the log under the pass (the next
		// round tries again): none says anything about its data.
		return false
	case ctx.Err() != nil:
		return false
	default:
		p.markUncleanable(err.Error())
		m.cleaner.mu.Lock()
		m.cleaner.info.LastError = fmt.Sprintf("%s-%d: %v", p.Topic, p.Index, err)
		m.cleaner.mu.Unlock()
		m.opts.Logger.Warn("log cleaner: partition marked uncleanable; it is skipped until its log is reopened or its config changes",
			"topic", p.Topic, "partition", p.Index, "err", err)
		return false
	}
	after := p.LogBytes()
	m.cleaner.mu.Lock()
	m.cleaner.info.Passes++
	m.cleaner.info.BytesReclaimed += res.BytesReclaimed
	m.cleaner.info.LastPass = time.Now()
	m.cleaner.mu.Unlock()
	m.opts.Logger.Info("log cleaner pass", "topic", p.Topic, "partition", p.Index,
		"first_dirty", res.FirstDirty, "end", res.End, "bytes_before", before, "bytes_after", after,
		"reclaimed", res.BytesReclaimed, "records_removed", res.RecordsRemoved,
		"tombstones_removed", res.TombstonesRemoved, "duration", res.Duration)
	return res.End > cand.state.FirstDirtyOffset
}

// compactRecovering runs one pass and turns a panic in it into an error: a
// bug met on one partition's data must not stop the cleaning of the others.
func (m *Manager) compactRecovering(ctx context.Context, p *Partition, opts partlog.CompactOptions) (res partlog.CompactResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cleaner panicked: %v", r)
		}
	}()
	if m.cleaner.compact != nil {
		return m.cleaner.compact(ctx, p, opts)
	}
	return p.log.Compact(ctx, opts)
}

// markUncleanable records why the cleaner gives up on this partition.
func (p *Partition) markUncleanable(reason string) {
	p.uncleanable.Store(&uncleanableMark{reason: reason, since: time.Now()})
}
