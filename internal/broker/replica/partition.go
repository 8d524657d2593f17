// Package replica is one partition replica on this node: its log, the
// idempotent-producer state, the high watermark and the waiters on it.
//
// On a single node the ISR is the leader alone, so the high watermark is the
// leader's durable log end: under --log-flush=always a batch becomes visible
// to consumers (and acknowledged) only after its fsync.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/notify"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition is one partition replica hosted by this node.
//
// Three locks, each for one concern, taken in this order when nested:
// appendMu (appends, producer state, the change of leader epoch),
// followersMu (the leader's view of its followers), and the high
// watermark's own (hw). Role, config and epochs are atomics read without
// a lock.
type Partition struct {
	Topic string
	Index int32

	log         *partlog.Log
	flush       partlog.FlushPolicy
	logger      *slog.Logger
	leaderEpoch atomic.Int32
	cfg         atomic.Pointer[topicconfig.Config]
	role        atomic.Pointer[Role]

	// appendMu orders appends with the producer-state checks they depend on.
	appendMu  sync.Mutex
	producers map[int64]*producerState
	// txn is the transaction state (txn.go), under appendMu; what fetches
	// read of it also under txnMu, which they take alone.
	txn   txnState
	txnMu sync.RWMutex
	// firstUnstable is the first offset of the oldest transaction open
	// here (noTxn when none): the last stable offset stops there.
	firstUnstable atomic.Int64

	// epochStart is, on the leader, where its leader epoch began (the log
	// end when it took over); written under appendMu.
	epochStart atomic.Int64

	// hw is the high watermark, its change notification and the acks=all
	// produces waiting on it.
	hw *highWatermark
	// endChanged fires whenever the log end moves (an append): follower
	// long polls wait on it.
	endChanged notify.Notifier

	// followersMu guards the leader's view of its followers.
	followersMu sync.Mutex
	// followers is, on the leader, what each follower's fetches told.
	followers map[int32]*followerState
	// shortISRHold bounds CheckProduce's wait for enough in-sync replicas.
	shortISRHold time.Duration

	// lagging are the ISR members the leader has found out of sync and asked
	// the controller to remove; until that commits they still hold the high
	// watermark but no longer count for min.insync.replicas.
	lagging map[int32]bool
	// joining are the replicas the leader has asked the controller to add
	// to the ISR (Kafka's maximal ISR): they hold the high watermark from
	// the moment the expansion is proposed, because once it commits the
	// controller may elect them (a reassignment's completion does), and the
	// high watermark must never have passed what they hold.
	joining []int32

	// obs gets the replication timings (observe.go); appends feeds its
	// FollowerAck.
	obs     *Observer
	appends appendTimes

	// uncleanable is set when the log cleaner gave up on this replica
	// (cleaner.go); nil otherwise.
	uncleanable atomic.Pointer[uncleanableMark]
	// dueSince is when the cleaner first found the replica due in an
	// unbroken run of rounds (unix ns; 0 when it was not due last round):
	// how long a due partition waits, which its state alone cannot tell.
	dueSince atomic.Int64
}

// Role is what the metadata says about this replica: whether it leads the
// partition, at which epoch, and the ISR.
type Role struct {
	Leader         bool
	LeaderID       int32 // the partition's leader, -1 if none
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	Self           int32
}

// AppendResult says where a produced batch went.
type AppendResult struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32 // the leadership that appended it
	Duplicate   bool  // already appended earlier; offsets are the original ones
}

func openPartition(dir, topic string, index int32, cfg topicconfig.Config, flush partlog.FlushPolicy, opts partlog.Options, logger *slog.Logger) (*Partition, error) {
	opts.Dir = dir
	opts.Config = logConfig(cfg)
	opts.Logger = logger
	l, err := partlog.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", topic, index, err)
	}
	p := &Partition{
		Topic: topic, Index: index,
		log: l, flush: flush, logger: logger,
		producers: map[int64]*producerState{},
		followers: map[int32]*followerState{},

		shortISRHold: DefaultShortISRHold,
	}
	p.cfg.Store(&cfg)
	p.role.Store(&Role{Self: -1})
	p.resetTxn()
	if e, ok := l.LatestEpoch(); ok {
		p.leaderEpoch.Store(e)
	}
	// The high watermark starts where it was last checkpointed (capped at
	// the recovered log end; the log start without a checkpoint): offsets
	// below it were committed, every ISR member had them, so a restarted
	// leader serves them at once. Beyond it nothing is known to be
	// committed until a leadership says so: a leader alone in its ISR moves
	// the high watermark to its durable end at once (SetRole); with
	// followers, as they fetch. Starting at the log end instead could show
	// consumers a tail a new leader later drops.
	p.hw = newHighWatermark(l.CheckpointedHighWatermark())
	if err := p.rebuildProducers(); err != nil {
		l.Close()
		return nil, fmt.Errorf("rebuild producer state of %s-%d: %w", topic, index, err)
	}
	return p, nil
}

func logConfig(c topicconfig.Config) partlog.Config {
	return partlog.Config{
		SegmentBytes:           c.SegmentBytes,
		SegmentMs:              c.SegmentMs,
		RetentionMs:            c.RetentionMs,
		RetentionBytes:         c.RetentionBytes,
		Cleanup:                c.CleanupPolicy,
		MinCleanableDirtyRatio: cleanableRatio(c.MinCleanableDirtyRatio),
		MinCompactionLagMs:     c.MinCompactionLagMs,
		MaxCompactionLagMs:     lagDuration(c.MaxCompactionLagMs).Milliseconds(), // 0: none
		DeleteRetentionMs:      c.DeleteRetentionMs,
		MaxMessageBytes:        c.MaxMessageBytes,
	}
}

// rebuildProducers replays the batch headers of the log (and the records
// of transaction markers) so that duplicate detection and the transaction
// state work across restarts and truncations. It starts from empty state.
func (p *Partition) rebuildProducers() error {
	p.producers = map[int64]*producerState{}
	p.resetTxn()
	return p.log.ScanBatches(p.log.LogStartOffset(), func(h batch.Header, b []byte) error {
		if err := p.applyTxn(h, b, time.UnixMilli(h.MaxTimestamp)); err != nil {
			// A marker we cannot decode ends nothing; refusing to open the
			// partition over it would cost more than it saves.
			p.logger.Warn("unreadable transaction marker", "topic", p.Topic, "partition", p.Index, "offset", h.BaseOffset, "err", err)
		}
		return nil
	})
}

// Config is the partition's effective topic config.
func (p *Partition) Config() topicconfig.Config { return *p.cfg.Load() }

// SetConfig applies a changed topic config. It gives the log cleaner
// another chance at a partition it gave up on.
func (p *Partition) SetConfig(c topicconfig.Config) {
	p.cfg.Store(&c)
	p.log.SetConfig(logConfig(c))
	p.uncleanable.Store(nil)
}

// LeaderEpoch is the current leader epoch of the partition.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// SetRole applies what the metadata says about this replica. A new
// leadership records where its epoch starts and learns its followers afresh;
// a leader recomputes its high watermark over the (possibly changed) ISR at
// once; waiters re-check (a deposed leader's acks=all waiters fail).
func (p *Partition) SetRole(r Role) {
	r.ISR = append([]int32(nil), r.ISR...)
	r.Replicas = append([]int32(nil), r.Replicas...)
	// Under appendMu: no append straddles the change of epoch.
	p.appendMu.Lock()
	old := p.role.Load()
	newLeadership := r.Leader && (!old.Leader || old.LeaderEpoch != r.LeaderEpoch)
	if newLeadership {
		if err := p.log.AssignEpoch(r.LeaderEpoch); err != nil {
			p.logger.Error("record leader epoch start", "topic", p.Topic, "partition", p.Index, "epoch", r.LeaderEpoch, "err", err)
		}
		p.epochStart.Store(p.log.LogEndOffset())
	}
	p.leaderEpoch.Store(r.LeaderEpoch)
	p.role.Store(&r)
	p.appendMu.Unlock()

	now := time.Now()
	if newLeadership {
		p.appends.reset() // the times of another leadership's appends
	}
	p.followersMu.Lock()
	if newLeadership || !r.Leader {
		p.joining = nil
	}
	p.joining = slices.DeleteFunc(p.joining, func(id int32) bool { return !slices.Contains(r.Replicas, id) })
	if newLeadership {
		// Every ISR member gets a full lag time to show it is caught up.
		p.followers = map[int32]*followerState{}
		for _, id := range r.ISR {
			if id != r.Self {
				p.followers[id] = &followerState{lastCaughtUp: now}
			}
		}
	}
	for id := range p.lagging {
		if !r.Leader || !slices.Contains(r.ISR, id) {
			delete(p.lagging, id)
		}
	}
	p.hw.wake()
	p.followersMu.Unlock()
	p.recomputeHW()
}

// CommittedEnd is the end of what this replica counts as appended: fsynced
// under --log-flush=always, written otherwise.
func (p *Partition) CommittedEnd() int64 {
	if p.flush == partlog.FlushAlways {
		return p.log.DurableEnd()
	}
	return p.log.LogEndOffset()
}

// recomputeHW moves a leader's high watermark to the smallest log end over
// the ISR: its own committed end and each other member's fetch position.
// It runs on every append's fsync and every follower fetch, so it walks the
// ISR and the joining replicas without building a slice.
func (p *Partition) recomputeHW() {
	r := p.role.Load()
	if !r.Leader {
		return
	}
	hw := p.CommittedEnd()
	p.followersMu.Lock()
	for _, id := range r.ISR {
		hw = min(hw, p.followerEndLocked(r, id))
	}
	for _, id := range p.joining {
		hw = min(hw, p.followerEndLocked(r, id))
	}
	p.followersMu.Unlock()
	p.hw.advance(hw)
}

// followerEndLocked is what the leader knows replica id has (its last
// fetch offset; 0 for a follower that has not fetched yet), or no limit
// for the leader itself. followersMu is held.
func (p *Partition) followerEndLocked(r *Role, id int32) int64 {
	if id == r.Self {
		return math.MaxInt64
	}
	if f := p.followers[id]; f != nil {
		return f.leo
	}
	return 0
}

// signalEnd wakes follower long polls after the log end moved.
func (p *Partition) signalEnd() { p.endChanged.Notify() }

// FollowerEndChanged returns how far a follower may read (FollowerReadEnd)
// and a channel closed when that next moves: a follower's long poll waits
// on it.
func (p *Partition) FollowerEndChanged() (int64, <-chan struct{}) {
	ch := p.endChanged.Wait() // before the read: a move in between closes it
	return p.FollowerReadEnd(), ch
}

// FollowerReadEnd is where a follower's fetch on the leader stops: the log
// end, written but not necessarily fsynced here yet. Followers copy a batch
// while the leader's own fsync of it runs, so the two fsyncs overlap instead
// of following each other. That is safe because nothing counts as committed
// before the leader's own committed end passes it too (recomputeHW): a
// follower holding bytes the leader then loses in a power failure holds
// unacknowledged data, which leader-epoch truncation reconciles like any
// other uncommitted tail.
func (p *Partition) FollowerReadEnd() int64 { return p.log.LogEndOffset() }

// ReadForFollower serves a follower's fetch on the leader: whole batches from
// offset up to FollowerReadEnd.
func (p *Partition) ReadForFollower(offset int64, maxBytes int, minOne bool) ([]byte, error) {
	return p.readUpTo(offset, maxBytes, p.FollowerReadEnd(), minOne)
}

// Truncate cuts this follower's log at offset (a divergent tail found by
// leader epoch): the producer state is rebuilt from what remains, so a
// retried batch that was cut is appended again rather than taken for a
// duplicate.
func (p *Partition) Truncate(offset int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.role.Load().Leader {
		return fmt.Errorf("truncate %s-%d: this replica leads it", p.Topic, p.Index)
	}
	before := p.log.LogEndOffset()
	if offset < p.log.LogStartOffset() {
		if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
			return fmt.Errorf("truncate %s-%d: %w", p.Topic, p.Index, err)
		}
	} else if err := p.log.TruncateTo(offset); err != nil {
		return fmt.Errorf("truncate %s-%d: %w", p.Topic, p.Index, err)
	}
	if err := p.rebuildProducers(); err != nil {
		return fmt.Errorf("rebuild producer state of %s-%d: %w", p.Topic, p.Index, err)
	}
	p.hw.truncate(p.log.LogEndOffset())
	p.logger.Info("truncated divergent log tail", "topic", p.Topic, "partition", p.Index,
		"from", before, "to", p.log.LogEndOffset())
	return nil
}

// StartAt empties this follower's log and restarts it at offset: the
// leader's log starts beyond everything this replica has.
func (p *Partition) StartAt(offset int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.role.Load().Leader {
		return fmt.Errorf("restart %s-%d at %d: this replica leads it", p.Topic, p.Index, offset)
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return fmt.Errorf("restart %s-%d at %d: %w", p.Topic, p.Index, offset, err)
	}
	p.producers = map[int64]*producerState{}
	p.resetTxn()
	p.hw.reset(offset)
	return nil
}

// LastFetchedEpoch is the leader epoch of this replica's last batch (-1 for
// an empty log): a follower sends it so the leader can spot divergence.
func (p *Partition) LastFetchedEpoch() int32 {
	e, _ := p.log.LatestEpoch()
	return e
}

// AppendFromLeader appends batches fetched from the leader verbatim (offsets
// and epochs as the leader assigned them), makes them durable, and adopts
// the leader's high watermark as far as this replica has the data. A
// replica that became the leader meanwhile (the fetch was in flight when
// its leadership started) appends nothing: its new epoch starts at the log
// end it had, and bytes of the old leader after it would diverge under it.
func (p *Partition) AppendFromLeader(ctx context.Context, batches []byte, leaderHW int64) error {
	end, err := p.CopyFromLeader(batches)
	if err != nil {
		return err
	}
	return p.SettleFromLeader(ctx, end, leaderHW)
}

// CopyFromLeader is AppendFromLeader's first half: it appends batches and
// starts their fsync without waiting for it, returning the log end to pass
// to SettleFromLeader (0, nothing to wait for, when batches is empty). A
// follower copies every partition of a fetch response first and then
// settles them, so their fsyncs run in parallel rather than one after
// another.
func (p *Partition) CopyFromLeader(batches []byte) (end int64, err error) {
	if len(batches) == 0 {
		return 0, nil
	}
	p.appendMu.Lock()
	if p.role.Load().Leader { // SetRole changes it under appendMu
		p.appendMu.Unlock()
		return 0, errors.New("append from leader: this replica became the leader while the fetch was in flight")
	}
	last, err := p.log.AppendReplicated(batches)
	if err == nil {
		err = p.recordProducers(batches)
	}
	p.appendMu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("append from leader: %w", err)
	}
	p.log.StartSync()
	return last + 1, nil
}

// SettleFromLeader is AppendFromLeader's second half: it waits until the
// log is durable to end (under --log-flush=always) and adopts the leader's
// high watermark as far as this replica has the data.
func (p *Partition) SettleFromLeader(ctx context.Context, end, leaderHW int64) error {
	if p.flush == partlog.FlushAlways {
		if err := p.log.Sync(ctx, end); err != nil {
			return fmt.Errorf("fsync replicated batches: %w", err)
		}
	}
	p.hw.advance(min(leaderHW, p.CommittedEnd()))
	return nil
}

// recordProducers keeps idempotent-producer and transaction state on
// followers too, so a follower that becomes leader detects duplicates and
// knows the open transactions. p.appendMu is held.
func (p *Partition) recordProducers(batches []byte) error {
	bs, err := batch.Split(batches)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, b := range bs {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return err
		}
		if err := p.applyTxn(h, b, now); err != nil {
			p.logger.Warn("unreadable transaction marker from the leader", "topic", p.Topic, "partition", p.Index, "offset", h.BaseOffset, "err", err)
		}
	}
	return nil
}

// Role is what the metadata last said about this replica.
func (p *Partition) Role() Role { return *p.role.Load() }

// IsLeader reports whether this replica leads the partition.
func (p *Partition) IsLeader() bool { return p.role.Load().Leader }

// Append validates a produce payload for this partition and appends it. It
// does not wait for durability: call WaitDurable (acks=1) or WaitCommitted
// (acks=all) with LastOffset+1.
//
// This is the one place a producer's batch is validated: batch.ValidateFor
// checks the frame and CRC and walks every record, decompressing as a
// bounded stream (batch.InflateLimit of the topic's max.message.bytes). A
// refused batch appends nothing; the error is a *RejectedError saying why.
// A compacted topic refuses records without a key (checkKeys).
// A claimed max timestamp that disagrees with the records is corrected (as
// Kafka does) so time lookups can answer from batch headers.
// Errors are Kafka errors (kerr) to answer the producer with.
// Transactional batches are refused (INVALID_TXN_STATE): they go through
// AppendTxn.
func (p *Partition) Append(records []byte) (AppendResult, error) {
	return p.AppendTxn(context.Background(), records, TxnProduce{})
}

// AppendTxn is Append for a produce that may carry a transactional batch
// (txn_append.go says how it is checked).
func (p *Partition) AppendTxn(ctx context.Context, records []byte, tp TxnProduce) (AppendResult, error) {
	if !p.role.Load().Leader {
		return AppendResult{}, kerr.NotLeaderForPartition
	}
	batches, err := batch.Split(records)
	switch {
	case err != nil:
		return AppendResult{}, p.reject(err)
	case len(batches) != 1:
		// Kafka requires exactly one batch per partition from v2 producers.
		return AppendResult{}, p.reject(&RejectedError{Code: kerr.InvalidRecord, Record: -1,
			Message: fmt.Sprintf("%d record batches for one partition, want exactly one", len(batches))})
	}
	b := batches[0]
	cfg := p.cfg.Load()
	if len(b) > int(cfg.MaxMessageBytes) {
		return AppendResult{}, p.reject(&RejectedError{Code: kerr.MessageTooLarge, Record: -1,
			Message: fmt.Sprintf("record batch of %d bytes exceeds max.message.bytes %d", len(b), cfg.MaxMessageBytes)})
	}
	v, err := batch.ValidateFor(b, cfg.MaxMessageBytes)
	if err != nil {
		return AppendResult{}, p.reject(err)
	}
	if err := checkTxnBatch(v.Header, tp); err != nil {
		if _, ok := err.(*RejectedError); ok {
			return AppendResult{}, p.reject(err)
		}
		return AppendResult{}, err
	}
	if err := checkKeys(v, cfg); err != nil {
		return AppendResult{}, p.reject(err)
	}
	h := v.Header
	if !h.LogAppendTime() && h.MaxTimestamp != v.RecordsMaxTimestamp {
		batch.SetMaxTimestamp(b, v.RecordsMaxTimestamp)
		h.MaxTimestamp = v.RecordsMaxTimestamp
	}

	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if h.IsTransactional() {
		if err := p.verifyTxnLocked(ctx, h, tp); err != nil {
			return AppendResult{}, err
		}
	}
	role := p.role.Load()
	if !role.Leader {
		return AppendResult{}, kerr.NotLeaderForPartition
	}
	if h.ProducerID >= 0 {
		ps := p.producers[h.ProducerID]
		dup, err := ps.check(h)
		if err != nil {
			return AppendResult{}, err
		}
		if dup != nil {
			return AppendResult{BaseOffset: dup.firstOffset, LastOffset: dup.lastOffset, LeaderEpoch: role.LeaderEpoch, Duplicate: true}, nil
		}
		if err := ps.checkTxn(h); err != nil {
			return AppendResult{}, err
		}
	}
	res, err := p.log.Append(b, role.LeaderEpoch)
	if err != nil {
		p.logger.Error("append failed", "topic", p.Topic, "partition", p.Index, "err", err)
		if errors.Is(err, partlog.ErrClosed) {
			return AppendResult{}, kerr.NotLeaderForPartition
		}
		return AppendResult{}, kerr.KafkaStorageError
	}
	h.BaseOffset = res.BaseOffset
	if err := p.applyTxn(h, b, time.Now()); err != nil {
		// Only control batches are decoded, and producers may not send them.
		p.logger.Error("record producer state", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	// Followers may copy the batch now, while this leader fsyncs it. The
	// fsync starts when the produce waits (WaitDurable), once every
	// partition of the request is appended: started here, at each append,
	// it would cover less and a request touching many partitions would
	// cost more fsyncs (measured: 1 node, 60 partitions, -10 to -25%).
	if p.obs != nil && p.obs.FollowerAck != nil {
		p.appends.note(res.LastOffset+1, time.Now())
	}
	p.signalEnd()
	if p.flush != partlog.FlushAlways {
		// Without per-write fsync the batch counts as appended once written.
		p.recomputeHW()
	}
	return AppendResult{BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, LeaderEpoch: role.LeaderEpoch}, nil
}

// RejectedError is a produce batch refused for what it holds. Code is the
// Kafka error (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE or
// UNSUPPORTED_FOR_MESSAGE_FORMAT), Message says what was wrong, and Record is
// the index of the record at fault (-1 when the batch as a whole is), for
// ProduceResponse's error message and record errors (v8+).
type RejectedError struct {
	Code    *kerr.Error
	Message string
	Record  int32
}

func (e *RejectedError) Error() string { return e.Code.Message + ": " + e.Message }
func (e *RejectedError) Unwrap() error { return e.Code }

// reject turns a batch error into a *RejectedError and logs it: a refused
// request gets a Kafka error and a log line.
func (p *Partition) reject(err error) error {
	re, ok := err.(*RejectedError)
	if !ok {
		re = &RejectedError{Code: kerr.CorruptMessage, Message: err.Error(), Record: -1}
		switch {
		case errors.Is(err, batch.ErrUnsupportedMagic):
			re.Code = kerr.UnsupportedForMessageFormat
		case errors.Is(err, batch.ErrTooLarge):
			re.Code = kerr.MessageTooLarge
		case errors.Is(err, batch.ErrInvalidRecord):
			re.Code = kerr.InvalidRecord
		}
		var rerr *batch.RecordError
		if errors.As(err, &rerr) {
			re.Record = rerr.Index
		}
	}
	p.logger.Info("refused produce batch", "topic", p.Topic, "partition", p.Index,
		"error", re.Code.Message, "reason", re.Message)
	return re
}

// WaitDurable returns once every offset below end is in this replica's log
// under the flush policy: fsynced under --log-flush=always, written
// otherwise. That is what acks=1 waits for.
func (p *Partition) WaitDurable(ctx context.Context, end int64) error {
	if p.flush != partlog.FlushAlways {
		return nil
	}
	if err := p.log.Sync(ctx, end); err != nil {
		if ctx.Err() != nil {
			return kerr.RequestTimedOut
		}
		p.logger.Error("fsync failed", "topic", p.Topic, "partition", p.Index, "err", err)
		return kerr.KafkaStorageError
	}
	p.recomputeHW()
	return nil
}

// WaitCommitted returns once the high watermark has passed end: every ISR
// member has the offsets below it. That is what acks=all waits for, on the
// leadership (epoch) that appended the batch. Errors: REQUEST_TIMED_OUT at
// the deadline; NOT_LEADER_OR_FOLLOWER when the leadership ended first;
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the in-sync replicas fell below
// min.insync.replicas (the batch may still commit: a retry is safe for an
// idempotent producer).
func (p *Partition) WaitCommitted(ctx context.Context, end int64, epoch int32) error {
	defer p.hw.trackWaiter()()
	start := time.Now()
	if err := p.WaitDurable(ctx, end); err != nil {
		return err
	}
	if p.obs != nil && p.obs.ProduceWait != nil {
		durable := time.Now()
		defer func() { p.obs.ProduceWait(durable.Sub(start), time.Since(durable)) }()
	}
	for {
		hw, changed := p.HighWatermarkChanged()
		r := p.role.Load()
		belowMin := p.inSyncCount(r) < p.Config().EffectiveMinISR(len(r.Replicas))
		switch {
		case hw >= end && belowMin:
			return kerr.NotEnoughReplicasAfterAppend
		case hw >= end:
			return nil
		case !r.Leader || r.LeaderEpoch != epoch:
			return kerr.NotLeaderForPartition
		case belowMin:
			return kerr.NotEnoughReplicasAfterAppend
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// AcksAllWaiting is how many acks=all produces wait for the high watermark
// and how long the oldest has waited.
func (p *Partition) AcksAllWaiting() (int, time.Duration) { return p.hw.waiters() }

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.hw.get() }

// HighWatermarkChanged returns the high watermark and a channel closed when
// it next moves: a fetch long poll waits on it.
func (p *Partition) HighWatermarkChanged() (int64, <-chan struct{}) { return p.hw.getAndWait() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the next offset the log will assign.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// AppendRecentFsyncs appends the durations of the log's recent fsync
// passes to dst (partlog.Log.AppendRecentFsyncs).
func (p *Partition) AppendRecentFsyncs(dst []time.Duration) []time.Duration {
	return p.log.AppendRecentFsyncs(dst)
}

// Read returns committed batches (below the high watermark) from offset.
// kerr.OffsetOutOfRange when offset is outside [log start, log end].
func (p *Partition) Read(offset int64, maxBytes int, minOne bool) (records []byte, hw int64, err error) {
	hw = p.HighWatermark()
	records, err = p.readUpTo(offset, maxBytes, hw, minOne)
	return records, hw, err
}

// readUpTo reads whole batches from offset that end below limit, mapping log
// errors to what a fetcher is told.
func (p *Partition) readUpTo(offset int64, maxBytes int, limit int64, minOne bool) ([]byte, error) {
	if offset < p.log.LogStartOffset() || offset > p.log.LogEndOffset() {
		return nil, kerr.OffsetOutOfRange
	}
	if offset >= limit {
		return nil, nil
	}
	b, err := p.log.Read(offset, maxBytes, limit, minOne)
	switch {
	case errors.Is(err, partlog.ErrOffsetOutOfRange):
		return nil, kerr.OffsetOutOfRange
	case errors.Is(err, partlog.ErrClosed):
		return nil, kerr.NotLeaderForPartition
	case err != nil:
		p.logger.Error("read failed", "topic", p.Topic, "partition", p.Index, "offset", offset, "err", err)
		return nil, kerr.KafkaStorageError
	}
	return b, nil
}

// OffsetForTimestamp is the first committed offset whose record timestamp is
// at least ts, with that timestamp; ok=false when there is none.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	off, t, found, err := p.log.OffsetForTimestamp(ts)
	if err != nil || !found || off >= p.HighWatermark() {
		return -1, -1, false, err
	}
	return off, t, true, nil
}

// MaxTimestamp is the offset and timestamp of the record with the largest
// timestamp (ListOffsets -3).
func (p *Partition) MaxTimestamp() (offset, timestamp int64, ok bool, err error) {
	off, t, found, err := p.log.MaxTimestamp()
	if err != nil || !found || off >= p.HighWatermark() {
		return -1, -1, false, err
	}
	return off, t, true, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this replica.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	if epoch == p.leaderEpoch.Load() {
		// The current epoch runs to the log end even before its first append.
		return epoch, p.log.LogEndOffset()
	}
	return p.log.EndOffsetForEpoch(epoch)
}

// ScanBatches calls fn for every batch from offset from (start-up replays).
func (p *Partition) ScanBatches(from int64, fn func(h batch.Header, b []byte) error) error {
	return p.log.ScanBatches(from, fn)
}

func (p *Partition) enforceRetention() (int, error) {
	n, err := p.log.EnforceRetention()
	if n > 0 {
		p.trimAborted()
	}
	return n, err
}

// checkpointHW saves the high watermark for the next start (Kafka's
// replication-offset-checkpoint). The value and the log's truncation
// generation are read together under appendMu, which every truncation
// holds while it lowers both, so a value from before a truncation is never
// saved after it.
func (p *Partition) checkpointHW() error {
	p.appendMu.Lock()
	gen := p.log.TruncationGeneration()
	hw := p.hw.get()
	p.appendMu.Unlock()
	return p.log.CheckpointHighWatermark(hw, gen)
}

// close saves the high watermark and closes the log.
func (p *Partition) close() error {
	err := p.checkpointHW()
	if errors.Is(err, partlog.ErrClosed) {
		err = nil
	}
	return errors.Join(err, p.log.Close())
}

func (p *Partition) delete() error { return p.log.Delete() }
