// Package group is the classic consumer-group coordinator: JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, offset commits and fetches, and the group
// admin APIs. It follows Kafka's GroupCoordinator semantics (KIP-62 rebalance
// timeouts, KIP-345 static membership, KIP-394 member id required) and keeps
// committed offsets in the internal topic __consumer_offsets in Kafka's own
// record format, so they survive restarts. Group membership is not persisted:
// after a restart every group is Empty with its offsets and consumers rejoin.
//
// The Kafka wire server decodes requests and calls the methods of Coordinator.
// A node coordinates the groups of the __consumer_offsets partitions it leads:
// the broker calls LoadPartition when it gains leadership of one and
// UnloadPartition when it loses it, like Kafka's onElection/onResignation.
// Requests for groups of other partitions get NOT_COORDINATOR.
package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsLog is how the coordinator persists to the internal topic
// __consumer_offsets. The broker implements it over its partition logs.
type OffsetsLog interface {
	// Append writes one batch (built with batch.Build; transactional
	// offset commits carry a producer id, epoch and sequence and the
	// transactional attribute) to the given partition and returns once it
	// is committed (durable), with the offset the log gave the batch. An
	// error means the write may not have happened.
	Append(ctx context.Context, partition int32, batch []byte) (baseOffset int64, err error)
	// AppendTxn is Append for a TxnOffsetCommit's transactional batch of
	// transactional id txnID. Like any transactional produce, the
	// partition first asks the transaction coordinator whether the
	// producer added it to its ongoing transaction (KIP-890 part 1), so
	// offsets of a transaction that ended or never included the group are
	// never written. Errors carry the Kafka error (kerr) when there is one.
	AppendTxn(ctx context.Context, partition int32, txnID string, batch []byte) (baseOffset int64, err error)
	// Scan calls fn with every batch of the partition, oldest first.
	Scan(ctx context.Context, partition int32, fn func(batch []byte) error) error
}

// ErrNotCommitted is wrapped by an OffsetsLog error when the batch was
// appended but not seen committed (the wait for it ended): the log holds
// it, so a transactional producer's sequence has moved past it.
var ErrNotCommitted = errors.New("appended, not known to be committed")

// Config configures a Coordinator. Zero values get Kafka's defaults, except
// InitialRebalanceDelay, where zero means no delay.
type Config struct {
	// OffsetsPartitions is the number of partitions of __consumer_offsets
	// (Kafka's offsets.topic.num.partitions); <= 0 means 50.
	OffsetsPartitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long the
	// first rebalance of an empty group waits for more members (the broker's
	// default is 3s; tests use 0).
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// members may ask for (defaults 6s and 30min); a JoinGroup outside the
	// range gets INVALID_SESSION_TIMEOUT.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// Logger receives state transitions; nil means slog.Default().
	Logger *slog.Logger
	// Owns reports whether this node coordinates a group (leads its
	// partition of __consumer_offsets); requests for other groups get
	// NOT_COORDINATOR. nil means every group.
	Owns func(groupID string) bool
	// Now is the clock for commit timestamps; nil means time.Now. Timeouts
	// always run on real timers.
	Now func() time.Time
}

// Defaults applied by New.
const (
	DefaultOffsetsPartitions = 50
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	// MaxMetadataBytes is Kafka's offset.metadata.max.bytes default: longer
	// commit metadata is refused with OFFSET_METADATA_TOO_LARGE.
	MaxMetadataBytes = 4096
)

// Coordinator is the group coordinator of one broker. Its methods are safe
// for concurrent use; JoinGroup and SyncGroup block until the rebalance step
// they wait for completes, their ctx ends, or the coordinator closes.
type Coordinator struct {
	cfg    Config
	log    OffsetsLog
	logger *slog.Logger
	now    func() time.Time

	// mu guards everything below and every group's state. One lock for the
	// whole coordinator keeps the state machine simple; nothing slow happens
	// under it (OffsetsLog calls are made without it).
	mu     sync.Mutex
	closed bool
	parts  []offsetsPartition // indexed by partition of __consumer_offsets
	groups map[string]*group  // only groups of loaded partitions
	timers map[*timer]struct{}

	timerWG sync.WaitGroup // one count per armed timer
	done    chan struct{}  // closed by Close; wakes blocked joins and syncs
}

// New returns a coordinator that coordinates no group yet: every group gets
// NOT_COORDINATOR until its partition is loaded with LoadPartition (or Load).
func New(cfg Config, log OffsetsLog) *Coordinator {
	if cfg.OffsetsPartitions <= 0 {
		cfg.OffsetsPartitions = DefaultOffsetsPartitions
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	c := &Coordinator{
		cfg:    cfg,
		log:    log,
		logger: cfg.Logger,
		now:    cfg.Now,
		parts:  make([]offsetsPartition, cfg.OffsetsPartitions),
		groups: make(map[string]*group),
		timers: make(map[*timer]struct{}),
		done:   make(chan struct{}),
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.logger = c.logger.With("component", "group-coordinator")
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// PartitionFor is the partition of __consumer_offsets that holds groupID,
// computed exactly like Kafka: Utils.abs(groupID.hashCode()) % partitions,
// with Java's String.hashCode over UTF-16 code units and Utils.abs being
// x & 0x7fffffff.
func PartitionFor(groupID string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return int32(javaStringHash(groupID)&0x7fffffff) % partitions
}

func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// Partition is the partition of __consumer_offsets that holds groupID; the
// broker that leads it is the group's coordinator.
func (c *Coordinator) Partition(groupID string) int32 {
	return PartitionFor(groupID, c.cfg.OffsetsPartitions)
}

// Close stops every timer and cancels loads in flight; JoinGroup and
// SyncGroup calls still waiting answer COORDINATOR_NOT_AVAILABLE and later
// requests get the same. Close waits for timer callbacks already running and
// is idempotent.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	for i := range c.parts {
		c.parts[i].stopLoad()
	}
	for t := range c.timers {
		c.cancel(t)
	}
	c.mu.Unlock()
	c.timerWG.Wait()
}

// availabilityFor is the error a request for group gets before anything
// else: COORDINATOR_NOT_AVAILABLE once closed, NOT_COORDINATOR unless this
// node coordinates the group's partition (NOT_COORDINATOR sends the client
// back to FindCoordinator), COORDINATOR_LOAD_IN_PROGRESS while the partition
// is loading (the client retries here). c.mu must be held.
func (c *Coordinator) availabilityFor(group string) int16 {
	if c.closed {
		return kerr.CoordinatorNotAvailable.Code
	}
	// Owns is the broker's live view of leadership; it may turn false before
	// the broker gets round to UnloadPartition.
	if c.cfg.Owns != nil && !c.cfg.Owns(group) {
		return kerr.NotCoordinator.Code
	}
	switch c.parts[c.Partition(group)].status {
	case partitionLoaded:
		return 0
	case partitionLoading, partitionFailed:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return kerr.NotCoordinator.Code
}

// timer is an armed time.AfterFunc owned by the coordinator. Every timer is
// in c.timers until it fires or is cancelled, so Close can stop them all and
// wait for callbacks that already started.
type timer struct{ t *time.Timer }

// schedule runs fn under c.mu after d, unless the timer is cancelled first.
// c.mu must be held.
func (c *Coordinator) schedule(d time.Duration, fn func()) *timer {
	tm := &timer{}
	c.timers[tm] = struct{}{}
	c.timerWG.Add(1)
	tm.t = time.AfterFunc(d, func() {
		defer c.timerWG.Done()
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.timers[tm]; !ok {
			return // cancelled after it fired; the canceller lost the race to Stop
		}
		delete(c.timers, tm)
		fn()
	})
	return tm
}

// cancel stops tm if it is still armed; nil is fine. c.mu must be held.
func (c *Coordinator) cancel(tm *timer) {
	if tm == nil {
		return
	}
	if _, ok := c.timers[tm]; !ok {
		return
	}
	delete(c.timers, tm)
	if tm.t.Stop() {
		c.timerWG.Done() // the callback will never run to do it
	}
}

// clientKey carries ClientInfo in a context.
type clientKey struct{}

// ClientInfo identifies the connection a request came on; DescribeGroups
// reports it for each member and generated member ids start with the
// client id, like Kafka's.
type ClientInfo struct {
	ClientID string
	Host     string
}

// WithClient returns ctx carrying the client id and host of the request's
// connection. The wire server should wrap the ctx it passes to JoinGroup.
func WithClient(ctx context.Context, clientID, host string) context.Context {
	return context.WithValue(ctx, clientKey{}, ClientInfo{ClientID: clientID, Host: host})
}

func clientFrom(ctx context.Context) ClientInfo {
	ci, _ := ctx.Value(clientKey{}).(ClientInfo)
	return ci
}

// newMemberID returns prefix-<uuid>, Kafka's format for member ids.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return prefix + "-" + string(s[:])
}
