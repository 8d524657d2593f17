package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker/group"
)

// ErrSuperseded is wrapped by the error of a LoadPartition that an
// UnloadPartition or a newer LoadPartition of the same partition overtook.
var ErrSuperseded = errors.New("superseded by a later load or unload")

var errClosed = errors.New("transaction coordinator closed")

// meta is the state of one transactional id (Kafka's TransactionMetadata).
// Guarded by Coordinator.mu.
type meta struct {
	id        string
	partition int32 // of __transaction_state
	pid       int64
	lastPid   int64 // the producer id before the last rotation (KIP-360); -1 none
	epoch     int16 // -1: just created, never handed out
	lastEpoch int16 // the epoch before the last bump (KIP-360 retries); -1 none
	timeoutMs int32
	state     State
	parts     map[string]map[int32]struct{}
	startMs   int64 // when the open transaction started; -1 none
	updateMs  int64
	// pending is set while a transition of this id is being written; other
	// requests get CONCURRENT_TRANSACTIONS meanwhile.
	pending bool
}

func (m *meta) add(topic string, p int32) {
	if m.parts[topic] == nil {
		m.parts[topic] = map[int32]struct{}{}
	}
	m.parts[topic][p] = struct{}{}
}

func (m *meta) has(topic string, p int32) bool {
	_, ok := m.parts[topic][p]
	return ok
}

func (m *meta) count() int {
	n := 0
	for _, ps := range m.parts {
		n += len(ps)
	}
	return n
}

// clone copies m for a transition, without pending.
func (m *meta) clone() meta {
	n := *m
	n.pending = false
	n.parts = make(map[string]map[int32]struct{}, len(m.parts))
	for t, ps := range m.parts {
		for p := range ps {
			n.add(t, p)
		}
	}
	return n
}

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: one epoch
// is kept in reserve for fencing.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

type partitionStatus uint8

const (
	partitionUnloaded partitionStatus = iota
	partitionLoading
	partitionFailed
	partitionLoaded
)

// txnPartition is the coordinator's state for one partition of
// __transaction_state. Guarded by Coordinator.mu.
type txnPartition struct {
	status partitionStatus
	epoch  int32  // coordinator epoch: the partition's leader epoch here
	gen    uint64 // bumped by every load and unload
	ids    map[string]*meta
	// ctx lives as long as this load: marker sending of its transactions
	// stops when the partition is unloaded.
	ctx    context.Context
	cancel context.CancelFunc
}

func (tp *txnPartition) stop() {
	if tp.cancel != nil {
		tp.cancel()
		tp.cancel = nil
	}
}

// Coordinator is the transaction coordinator of one broker. Its methods are
// safe for concurrent use.
type Coordinator struct {
	cfg    Config
	log    Log
	logger *slog.Logger
	now    func() time.Time

	// mu guards everything below and every id's state; log appends and
	// marker writes happen without it.
	mu     sync.Mutex
	closed bool
	parts  map[int32]*txnPartition // by partition of __transaction_state; created on first use

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the background loop and every marker sender
}

// New returns a coordinator that coordinates no id yet: every id gets
// NOT_COORDINATOR until its partition is loaded with LoadPartition. It runs
// the loop that aborts timed-out transactions and expires idle ids until
// Close.
func New(cfg Config, log Log) *Coordinator {
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = DefaultIDExpiration
	}
	if cfg.AbortInterval <= 0 {
		cfg.AbortInterval = DefaultAbortInterval
	}
	if cfg.ExpireInterval <= 0 {
		cfg.ExpireInterval = DefaultExpireInterval
	}
	c := &Coordinator{cfg: cfg, log: log, logger: cfg.Logger, now: cfg.Now, parts: map[int32]*txnPartition{}}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.logger = c.logger.With("component", "txn-coordinator")
	if c.now == nil {
		c.now = time.Now
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.runTimeouts()
	return c
}

// PartitionFor is the partition of __transaction_state holding txnID:
// Kafka's abs(hashCode) % partitions, the same hash as the groups'.
func PartitionFor(txnID string, partitions int32) int32 {
	return group.PartitionFor(txnID, partitions)
}

// Partition is the partition of __transaction_state holding txnID.
// The count is the topic's as it exists (a changed flag does not move ids);
// before it is created, Config.Partitions.
func (c *Coordinator) Partition(txnID string) int32 { return PartitionFor(txnID, c.partitions()) }

func (c *Coordinator) partitions() int32 {
	if c.cfg.PartitionCount != nil {
		if n := c.cfg.PartitionCount(); n > 0 {
			return n
		}
	}
	return c.cfg.Partitions
}

// part is the state of partition p. c.mu must be held.
func (c *Coordinator) part(p int32) *txnPartition {
	tp := c.parts[p]
	if tp == nil {
		tp = &txnPartition{}
		c.parts[p] = tp
	}
	return tp
}

// Close stops the background loop and every marker sender and waits for
// them; later requests get COORDINATOR_NOT_AVAILABLE. Idempotent.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, tp := range c.parts {
			tp.stop()
		}
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// lookup finds the partition of txnID and its state. c.mu must be held.
// The error is NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or
// COORDINATOR_NOT_AVAILABLE; m is nil for an unknown id.
func (c *Coordinator) lookup(txnID string) (int32, *meta, error) {
	p := c.Partition(txnID)
	if c.closed {
		return p, nil, kerr.CoordinatorNotAvailable
	}
	if c.cfg.Owns != nil && !c.cfg.Owns(p) {
		return p, nil, kerr.NotCoordinator
	}
	switch c.part(p).status {
	case partitionLoaded:
		return p, c.part(p).ids[txnID], nil
	case partitionLoading, partitionFailed:
		return p, nil, kerr.CoordinatorLoadInProgress
	}
	return p, nil, kerr.NotCoordinator
}

// persist writes next as the new state of m and installs it once committed.
// c.mu is held on entry and on return, released while the log appends; m is
// marked pending meanwhile. If the partition was unloaded or reloaded
// meanwhile nothing is installed and the answer is NOT_COORDINATOR; any
// other failure leaves m as it was and answers COORDINATOR_NOT_AVAILABLE
// (the client retries).
func (c *Coordinator) persist(ctx context.Context, m *meta, next meta) error {
	tp := c.part(m.partition)
	gen, epoch := tp.gen, tp.epoch
	m.pending = true
	nowMs := c.now().UnixMilli()
	b := recordBatch(&next, nowMs)
	c.mu.Unlock()
	err := c.log.Append(ctx, m.partition, epoch, b)
	c.mu.Lock()
	if tp.gen != gen || tp.status != partitionLoaded {
		return kerr.NotCoordinator
	}
	m.pending = false
	if err != nil {
		c.logger.Warn("write transaction state", "transactional_id", m.id, "partition", m.partition, "state", next.state, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	*m = next
	if next.state == StateDead {
		delete(tp.ids, m.id)
	}
	return nil
}

// InitProducerID answers InitProducerId for a transactional id: the producer
// id and epoch the producer uses from now on. pid and epoch are -1, or the
// producer's current ones when it recovers from an error (KIP-360).
//
// A transaction still open is aborted first (its producer fenced by an epoch
// bump) and the answer is CONCURRENT_TRANSACTIONS, as Kafka's: the client
// retries and then gets a fresh epoch.
func (c *Coordinator) InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, error) {
	switch {
	case txnID == "":
		return -1, -1, kerr.InvalidRequest
	case (pid == -1) != (epoch == -1):
		return -1, -1, kerr.InvalidRequest
	case timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout:
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, m, err := c.lookup(txnID)
	if err != nil {
		return -1, -1, err
	}
	if m == nil {
		c.mu.Unlock()
		newPid, err := c.allocate(ctx)
		c.mu.Lock()
		if err != nil {
			return -1, -1, err
		}
		var p int32
		if p, m, err = c.lookup(txnID); err != nil {
			return -1, -1, err
		}
		if m == nil { // nobody created it meanwhile
			m = &meta{id: txnID, partition: p, pid: newPid, lastPid: -1, epoch: -1, lastEpoch: -1,
				timeoutMs: timeoutMs, state: StateEmpty, parts: map[string]map[int32]struct{}{}, startMs: -1,
				updateMs: c.now().UnixMilli()}
			c.part(p).ids[txnID] = m
		}
	}
	if m.pending {
		return -1, -1, kerr.ConcurrentTransactions
	}
	if pid != -1 {
		// KIP-360: only the current producer (or a retry of the call that
		// rotated its id) may recover; anyone else is fenced.
		valid := m.epoch == -1 || pid == m.pid || (pid == m.lastPid && epochExhausted(epoch))
		if !valid {
			return -1, -1, kerr.ProducerFenced
		}
	}
	now := c.now().UnixMilli()
	switch m.state {
	case StatePrepareCommit, StatePrepareAbort:
		return -1, -1, kerr.ConcurrentTransactions
	case StateOngoing:
		// Fence the producer of the open transaction and abort it; the
		// epoch is never handed out: the retry bumps it again.
		next := m.clone()
		if next.epoch < math.MaxInt16 {
			next.epoch++
		}
		next.lastEpoch = -1
		next.state = StatePrepareAbort
		next.updateMs = now
		if err := c.persist(ctx, m, next); err != nil {
			return -1, -1, err
		}
		c.logger.Info("fenced the producer of an open transaction; aborting it",
			"transactional_id", txnID, "producer_id", m.pid, "producer_epoch", m.epoch)
		c.startMarkers(m)
		return -1, -1, kerr.ConcurrentTransactions
	case StateEmpty, StateCompleteCommit, StateCompleteAbort:
	default:
		return -1, -1, fmt.Errorf("transactional id %q in state %s: %w", txnID, m.state, kerr.UnknownServerError)
	}
	next := m.clone()
	next.timeoutMs = timeoutMs
	next.state = StateEmpty
	next.parts = map[string]map[int32]struct{}{}
	next.startMs = -1
	next.updateMs = now
	if epochExhausted(m.epoch) && (pid == -1 || epoch == m.epoch) {
		// Rotate to a new producer id with epoch 0.
		c.mu.Unlock()
		newPid, err := c.allocate(ctx)
		c.mu.Lock()
		if err != nil {
			return -1, -1, err
		}
		if _, cur, err := c.lookup(txnID); err != nil || cur != m || m.pending {
			return -1, -1, kerr.ConcurrentTransactions
		}
		next.lastPid, next.pid, next.epoch = m.pid, newPid, 0
		next.lastEpoch = -1
		if pid != -1 {
			next.lastEpoch = m.epoch
		}
	} else {
		switch {
		case pid == -1:
			next.epoch, next.lastEpoch = m.epoch+1, -1
		case m.epoch == -1 || epoch == m.epoch:
			next.epoch, next.lastEpoch = m.epoch+1, m.epoch
		case epoch == m.lastEpoch:
			// A retry of a call that already bumped: same answer.
			next.epoch, next.lastEpoch = m.epoch, m.lastEpoch
		default:
			return -1, -1, kerr.ProducerFenced
		}
	}
	if err := c.persist(ctx, m, next); err != nil {
		return -1, -1, err
	}
	return m.pid, m.epoch, nil
}

func (c *Coordinator) allocate(ctx context.Context) (int64, error) {
	if c.cfg.NextProducerID == nil {
		return -1, kerr.CoordinatorNotAvailable
	}
	id, err := c.cfg.NextProducerID(ctx)
	if err != nil {
		c.logger.Warn("allocate producer id", "err", err)
		return -1, kerr.CoordinatorNotAvailable
	}
	return id, nil
}

// checkProducer is Kafka's check of a request's producer id and epoch
// against the id's state. c.mu must be held.
func checkProducer(m *meta, pid int64, epoch int16) error {
	switch {
	case m == nil || m.pid != pid:
		return kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return kerr.ProducerFenced
	case m.pending:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// AddPartitions adds partitions to the transaction, persisted before it
// returns (verifyOnly: only checks they were added, KIP-890, changing
// nothing). The error is for the whole request; otherwise the map has one
// error (nil: added) per partition asked about. A partition that does not
// exist fails with UNKNOWN_TOPIC_OR_PARTITION and the others with
// OPERATION_NOT_ATTEMPTED.
func (c *Coordinator) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) (map[string]map[int32]error, error) {
	if txnID == "" {
		return nil, kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, m, err := c.lookup(txnID)
	if err != nil {
		return nil, err
	}
	if err := checkProducer(m, pid, epoch); err != nil && !(verifyOnly && errors.Is(err, kerr.ConcurrentTransactions)) {
		// A verification reads the installed state, which a write in
		// flight (more partitions, or the end) has not changed yet.
		return nil, err
	}
	res := make(map[string]map[int32]error, len(parts))
	set := func(t string, p int32, err error) {
		if res[t] == nil {
			res[t] = map[int32]error{}
		}
		res[t][p] = err
	}
	if verifyOnly {
		for t, ps := range parts {
			for _, p := range ps {
				if m.state == StateOngoing && m.has(t, p) {
					set(t, p, nil)
				} else {
					set(t, p, kerr.InvalidTxnState)
				}
			}
		}
		return res, nil
	}
	if m.state == StatePrepareCommit || m.state == StatePrepareAbort {
		return nil, kerr.ConcurrentTransactions
	}
	if m.state != StateOngoing && m.state != StateEmpty && m.state != StateCompleteCommit && m.state != StateCompleteAbort {
		return nil, kerr.InvalidTxnState
	}
	unknown := false
	for t, ps := range parts {
		for _, p := range ps {
			if c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(t, p) {
				unknown = true
				set(t, p, kerr.UnknownTopicOrPartition)
			}
		}
	}
	if unknown {
		for t, ps := range parts {
			for _, p := range ps {
				if res[t][p] == nil {
					set(t, p, kerr.OperationNotAttempted)
				}
			}
		}
		return res, nil
	}
	added := false
	next := m.clone()
	for t, ps := range parts {
		for _, p := range ps {
			set(t, p, nil)
			if !next.has(t, p) {
				next.add(t, p)
				added = true
			}
		}
	}
	if m.state == StateOngoing && !added {
		return res, nil
	}
	now := c.now().UnixMilli()
	if m.state != StateOngoing {
		next.startMs = now
	}
	next.state = StateOngoing
	next.updateMs = now
	if err := c.persist(ctx, m, next); err != nil {
		return nil, err
	}
	return res, nil
}

// AddOffsets adds the group's partition of __consumer_offsets to the
// transaction (its offsets are committed with it).
func (c *Coordinator) AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) error {
	if c.cfg.OffsetsPartition == nil || c.cfg.OffsetsTopic == "" {
		return kerr.CoordinatorNotAvailable
	}
	res, err := c.AddPartitions(ctx, txnID, pid, epoch, map[string][]int32{c.cfg.OffsetsTopic: {c.cfg.OffsetsPartition(group)}}, false)
	if err != nil {
		return err
	}
	for _, ps := range res {
		for _, err := range ps {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// EndTxn commits or aborts the transaction. It returns once the decision
// (PrepareCommit or PrepareAbort) is persisted; the markers are written to
// every partition of the transaction afterwards, and until they are the id
// answers CONCURRENT_TRANSACTIONS. A retry after the end answers as Kafka:
// nil for the same decision, INVALID_TXN_STATE for the other.
func (c *Coordinator) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) error {
	if txnID == "" {
		return kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, m, err := c.lookup(txnID)
	if err != nil {
		return err
	}
	if err := checkProducer(m, pid, epoch); err != nil {
		return err
	}
	// A retry of the same decision answers as the first call did (or
	// CONCURRENT_TRANSACTIONS while its markers are written); the other
	// decision is an invalid transition.
	switch {
	case m.state == StateOngoing:
	case m.state == StateCompleteCommit && commit, m.state == StateCompleteAbort && !commit:
		return nil
	case m.state == StatePrepareCommit && commit, m.state == StatePrepareAbort && !commit:
		return kerr.ConcurrentTransactions
	default:
		return kerr.InvalidTxnState
	}
	next := m.clone()
	next.state = StatePrepareAbort
	if commit {
		next.state = StatePrepareCommit
	}
	next.updateMs = c.now().UnixMilli()
	if err := c.persist(ctx, m, next); err != nil {
		return err
	}
	c.startMarkers(m)
	return nil
}
