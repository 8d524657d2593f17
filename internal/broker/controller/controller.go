// Package controller turns client requests into metadata changes: it
// validates topic creation, deletion, partition additions and config
// changes against the current cluster state, decides replica assignment,
// and proposes ONE raft command per change. It also runs what only the raft
// leader decides: broker liveness and fencing.
//
// Every node runs a Controller. Proposals from any node go through raft (a
// follower forwards them to the leader), are applied on every node, and a
// call returns only once the change is applied on the node that received the
// request, so a Metadata request right after it sees the change.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is the internal topic holding consumer group offsets.
const OffsetsTopic = "__consumer_offsets"

// TransactionStateTopic is the internal topic holding the transaction
// coordinator's state (Kafka's __transaction_state).
const TransactionStateTopic = "__transaction_state"

// isInternal reports whether name is an internal topic the broker creates on
// first use.
func isInternal(name string) bool { return name == OffsetsTopic || name == TransactionStateTopic }

// Error is a refusal with the Kafka error code and a message for the client.
type Error struct {
	Code    *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Code.Message + ": " + e.Message }

func errorf(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code extracts the Kafka error code of err: an *Error's code, a kerr error
// itself, or UNKNOWN_SERVER_ERROR.
func Code(err error) *kerr.Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kerr.UnknownServerError
}

// Message is the client-facing message of err.
func Message(err error) *string {
	var ce *Error
	if errors.As(err, &ce) {
		return &ce.Message
	}
	return nil
}

// Metadata is the replicated metadata the controller reads and changes: the
// raft node.
type Metadata interface {
	// State is the latest applied state; callers must not modify it.
	State() *state.State
	// Propose commits a command and returns once it is applied here.
	Propose(ctx context.Context, typ string, payload any) (state.Result, error)
}

// Options configure the controller.
type Options struct {
	NodeID                 int32
	Defaults               topicconfig.Config // broker-wide topic config defaults
	DefaultPartitions      int32
	DefaultReplication     int16 // replication factor for -1; 0 means 1
	OffsetsTopicPartitions int32
	// TransactionStatePartitions is the partition count of
	// __transaction_state (transaction.state.log.num.partitions); 0: 50.
	TransactionStatePartitions int32
	Limits                     Limits
	Logger                     *slog.Logger
	// Applied, if set, runs after each committed change, before the call
	// returns: the node reconciles its replicas there, so the receiving
	// node serves a new topic (or has dropped a deleted one) at once.
	Applied func()
}

// Controller validates metadata changes and proposes them.
type Controller struct {
	opts Options
	meta Metadata
	// adding is held while a change that adds partitions is validated and
	// committed, so that two requests to this node cannot both pass the
	// per-broker limit with the room only one of them fits in.
	adding chan struct{}

	pidMu    sync.Mutex
	pidNext  int64 // next producer id to hand out from the reserved block
	pidLimit int64 // end of the reserved block

	offsetsUpgrade offsetsTopicUpgrade
}

// New returns a controller over the replicated metadata.
func New(opts Options, md Metadata) *Controller {
	return &Controller{opts: opts, meta: md, adding: make(chan struct{}, 1)}
}

// lockAdding serializes changes that add partitions (see adding).
func (c *Controller) lockAdding(ctx context.Context) (unlock func(), err error) {
	select {
	case c.adding <- struct{}{}:
		return func() { <-c.adding }, nil
	case <-ctx.Done():
		return nil, errorf(kerr.RequestTimedOut, "waiting for another partition change on this node: %v", ctx.Err())
	}
}

// EffectiveConfig is the topic's config: broker defaults plus its overrides.
func (c *Controller) EffectiveConfig(t *state.Topic) (topicconfig.Config, error) {
	return topicconfig.Resolve(c.opts.Defaults, t.Configs)
}

// Defaults are the broker-wide topic config defaults.
func (c *Controller) Defaults() topicconfig.Config { return c.opts.Defaults }

// ValidateTopicName applies Kafka's topic name rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return errorf(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "topic name cannot be %q", name)
	case len(name) > 249:
		return errorf(kerr.InvalidTopicException, "topic name is %d characters long, the maximum is 249", len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errorf(kerr.InvalidTopicException, "topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, r)
		}
	}
	return nil
}

// propose commits a change and lets the node catch its replicas up.
func (c *Controller) propose(ctx context.Context, typ string, payload any) (state.Result, error) {
	res, err := c.meta.Propose(ctx, typ, payload)
	if err == nil && c.opts.Applied != nil {
		c.opts.Applied()
	}
	return res, err
}

// proposeErr maps a failed proposal to what the client is told.
func proposeErr(ctx context.Context, what string, err error) error {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, state.ErrTopicExists):
		return errorf(kerr.TopicAlreadyExists, "%v", err)
	case errors.Is(err, state.ErrUnknownTopic):
		return errorf(kerr.UnknownTopicOrPartition, "%v", err)
	case errors.Is(err, state.ErrRejected):
		return errorf(kerr.InvalidRequest, "%s: %v", what, err)
	case ctx.Err() != nil:
		return errorf(kerr.RequestTimedOut, "%s: not committed in time (is a majority of the cluster up?): %v", what, err)
	default:
		return errorf(kerr.NotController, "%s: %v", what, err)
	}
}

// CreateTopic is a request to create one topic.
type CreateTopic struct {
	Name              string
	Partitions        int32 // -1: the broker default
	ReplicationFactor int16 // -1: the broker default (1)
	Assignment        map[int32][]int32
	Configs           map[string]string
	ValidateOnly      bool
}

// CreateTopic validates a topic and creates it, with every partition's
// replicas, leader and ISR, as one raft command.
func (c *Controller) CreateTopic(ctx context.Context, req CreateTopic) (*state.Topic, error) {
	if isInternal(req.Name) {
		return nil, errorf(kerr.InvalidRequest, "%s is an internal topic; the broker creates it on first use", req.Name)
	}
	return c.create(ctx, req, false)
}

func (c *Controller) create(ctx context.Context, req CreateTopic, internal bool) (*state.Topic, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	if err := c.CheckRequestPartitions("create topic "+req.Name, c.TopicPartitions(req, internal)); err != nil {
		return nil, err
	}
	unlock, err := c.lockAdding(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.meta.State()
	if _, ok := s.Topics[req.Name]; ok {
		return nil, errorf(kerr.TopicAlreadyExists, "topic %q already exists", req.Name)
	}
	live := s.LiveBrokers()
	t := &state.Topic{Name: req.Name, ID: newTopicID(), Configs: req.Configs, Internal: internal}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	if _, err := c.EffectiveConfig(t); err != nil {
		return nil, errorf(kerr.InvalidConfig, "%v", err)
	}
	var assignment [][]int32
	if len(req.Assignment) > 0 {
		if req.Partitions != -1 || req.ReplicationFactor != -1 {
			return nil, errorf(kerr.InvalidRequest, "replica assignment and partition count / replication factor are mutually exclusive")
		}
		for p := int32(0); p < int32(len(req.Assignment)); p++ {
			replicas, ok := req.Assignment[p]
			if !ok {
				return nil, errorf(kerr.InvalidReplicaAssignment, "assignment skips partition %d", p)
			}
			if len(replicas) == 0 {
				return nil, errorf(kerr.InvalidReplicaAssignment, "partition %d has no replicas", p)
			}
			for i, r := range replicas {
				if _, ok := s.Brokers[r]; !ok {
					return nil, errorf(kerr.InvalidReplicaAssignment, "partition %d assigned to broker %d, which is not registered (brokers: %v)", p, r, registered(s))
				}
				if slices.Contains(replicas[:i], r) {
					return nil, errorf(kerr.InvalidReplicaAssignment, "partition %d lists broker %d twice", p, r)
				}
			}
			assignment = append(assignment, replicas)
		}
	} else {
		n, rf := int(req.Partitions), int(req.ReplicationFactor)
		if n == -1 {
			n = int(c.opts.DefaultPartitions)
			if internal {
				n = int(c.internalPartitions(req.Name))
			}
		}
		if rf == -1 {
			rf = max(1, int(c.opts.DefaultReplication))
			if internal {
				// Group offsets and transaction state must survive the loss
				// of the coordinator's broker, like Kafka's
				// offsets.topic.replication.factor and
				// transaction.state.log.replication.factor.
				rf = min(3, len(live))
			}
		}
		switch {
		case n < 1 || n > 100000:
			return nil, errorf(kerr.InvalidPartitions, "partition count must be between 1 and 100000, got %d", n)
		case rf < 1:
			return nil, errorf(kerr.InvalidReplicationFactor, "replication factor must be at least 1, got %d", rf)
		case rf > len(live):
			return nil, errorf(kerr.InvalidReplicationFactor, "replication factor %d is larger than the number of live brokers (%d: %v)", rf, len(live), live)
		}
		if assignment, err = c.assign(s, "topic "+req.Name, live, n, rf); err != nil {
			return nil, errorf(kerr.InvalidReplicationFactor, "%v", err)
		}
	}
	if err := c.checkBrokerLoad(s, "topic "+req.Name, assignment); err != nil {
		return nil, err
	}
	for i, replicas := range assignment {
		// The ISR is born with the assigned replicas that are alive; the
		// leader is the first of them. No live replica, no partition.
		var isr []int32
		for _, r := range replicas {
			if b, ok := s.Brokers[r]; ok && !b.Fenced {
				isr = append(isr, r)
			}
		}
		if len(isr) == 0 {
			return nil, errorf(kerr.InvalidReplicationFactor, "partition %d: none of its replicas %v is alive", i, replicas)
		}
		t.Partitions = append(t.Partitions, state.Partition{Replicas: replicas, Leader: isr[0], ISR: isr})
	}
	if req.ValidateOnly {
		return t, nil
	}
	if _, err := c.propose(ctx, state.TypeCreateTopic, state.CreateTopic{Topic: *t}); err != nil {
		return nil, proposeErr(ctx, "create topic "+req.Name, err)
	}
	c.opts.Logger.Info("topic created", "topic", t.Name, "partitions", len(t.Partitions), "replication_factor", len(assignment[0]))
	return c.meta.State().Topics[t.Name], nil
}

func registered(s *state.State) []int32 {
	ids := make([]int32, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func newTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		_, _ = rand.Read(id[:])
	}
	return id
}

func randomStart() int {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return int(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
}

// EnsureTopic returns the topic, creating it with default settings when it
// does not exist (auto-creation and the internal offsets topic). An offsets
// topic from before compaction is made compacted (upgradeOffsetsTopic).
func (c *Controller) EnsureTopic(ctx context.Context, name string) (*state.Topic, error) {
	internal := isInternal(name)
	if t, ok := c.meta.State().Topics[name]; ok {
		if name == OffsetsTopic {
			t = c.upgradeOffsetsTopic(ctx, t)
		}
		return t, nil
	}
	req := CreateTopic{Name: name, Partitions: -1, ReplicationFactor: -1}
	if internal {
		req.Configs = offsetsTopicConfigs() // the same for __transaction_state
	}
	t, err := c.create(ctx, req, internal)
	if err != nil && Code(err) == kerr.TopicAlreadyExists {
		// Created concurrently by another request or node.
		if t, ok := c.meta.State().Topics[name]; ok {
			return t, nil
		}
	}
	return t, err
}

// DeleteTopic removes a topic; every node's reconciler deletes its data.
func (c *Controller) DeleteTopic(ctx context.Context, name string) error {
	t, ok := c.meta.State().Topics[name]
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	if t.Internal {
		return errorf(kerr.InvalidTopicException, "topic %q is internal and cannot be deleted", name)
	}
	if _, err := c.propose(ctx, state.TypeDeleteTopic, state.DeleteTopic{Name: name}); err != nil {
		return proposeErr(ctx, "delete topic "+name, err)
	}
	c.opts.Logger.Info("topic deleted", "topic", name)
	return nil
}

// CreatePartitions grows a topic to count partitions, assigning the new ones
// over the live brokers with the topic's replication factor (or as given).
func (c *Controller) CreatePartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	if err := c.CheckRequestPartitions("create partitions of "+name, c.AddedPartitions(name, count)); err != nil {
		return err
	}
	unlock, err := c.lockAdding(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s := c.meta.State()
	t, ok := s.Topics[name]
	switch {
	case !ok:
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case count < int32(len(t.Partitions)):
		return errorf(kerr.InvalidPartitions, "topic %q has %d partitions; the count can only grow, got %d", name, len(t.Partitions), count)
	case count == int32(len(t.Partitions)):
		return errorf(kerr.InvalidPartitions, "topic %q already has %d partitions", name, len(t.Partitions))
	case count > 100000:
		return errorf(kerr.InvalidPartitions, "partition count %d is above the limit of 100000", count)
	}
	add := int(count) - len(t.Partitions)
	rf := len(t.Partitions[0].Replicas)
	live := s.LiveBrokers()
	if assignment == nil {
		if rf > len(live) {
			return errorf(kerr.InvalidReplicationFactor, "topic %q has replication factor %d but only %d brokers are live", name, rf, len(live))
		}
		if assignment, err = c.assign(s, "topic "+name, live, add, rf); err != nil {
			return errorf(kerr.InvalidReplicationFactor, "%v", err)
		}
	} else if len(assignment) != add {
		return errorf(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(assignment), add)
	}
	if err := c.checkBrokerLoad(s, "topic "+name, assignment); err != nil {
		return err
	}
	var parts []state.Partition
	for i, replicas := range assignment {
		var isr []int32
		for _, r := range replicas {
			b, ok := s.Brokers[r]
			if !ok {
				return errorf(kerr.InvalidReplicaAssignment, "broker %d is not registered (brokers: %v)", r, registered(s))
			}
			if !b.Fenced {
				isr = append(isr, r)
			}
		}
		if len(isr) == 0 {
			return errorf(kerr.InvalidReplicaAssignment, "new partition %d: none of its replicas %v is alive", len(t.Partitions)+i, replicas)
		}
		parts = append(parts, state.Partition{Replicas: replicas, Leader: isr[0], ISR: isr})
	}
	if validateOnly {
		return nil
	}
	if _, err := c.propose(ctx, state.TypeCreatePartitions, state.CreatePartitions{Name: name, Partitions: parts}); err != nil {
		return proposeErr(ctx, "create partitions of "+name, err)
	}
	return nil
}

// ConfigOp is one IncrementalAlterConfigs operation.
type ConfigOp struct {
	Name  string
	Op    int8 // 0 set, 1 delete, 2 append, 3 subtract
	Value *string
}

// AlterTopicConfigs applies config operations to a topic, all or nothing.
func (c *Controller) AlterTopicConfigs(ctx context.Context, name string, ops []ConfigOp, validateOnly bool) error {
	t, ok := c.meta.State().Topics[name]
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	next := map[string]string{}
	for k, v := range t.Configs {
		next[k] = v
	}
	for _, op := range ops {
		if !topicconfig.IsKey(op.Name) {
			return errorf(kerr.InvalidConfig, "unknown topic config %q", op.Name)
		}
		switch op.Op {
		case 0:
			if op.Value == nil {
				return errorf(kerr.InvalidConfig, "config %s: SET needs a value", op.Name)
			}
			next[op.Name] = *op.Value
		case 1:
			delete(next, op.Name)
		case 2, 3:
			// Like Kafka: only list configs take APPEND and SUBTRACT, on the
			// topic's current value (its override, else the default).
			if !topicconfig.IsList(op.Name) {
				return errorf(kerr.InvalidRequest, "config %s is not a list; APPEND and SUBTRACT do not apply", op.Name)
			}
			if op.Value == nil {
				return errorf(kerr.InvalidConfig, "config %s: APPEND and SUBTRACT need a value", op.Name)
			}
			cur, ok := next[op.Name]
			if !ok {
				cur = c.opts.Defaults.Value(op.Name)
			}
			next[op.Name] = topicconfig.EditList(cur, *op.Value, op.Op == 3)
		default:
			return errorf(kerr.InvalidRequest, "config %s: unknown operation %d", op.Name, op.Op)
		}
	}
	if _, err := topicconfig.Resolve(c.opts.Defaults, next); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	if validateOnly {
		return nil
	}
	if _, err := c.propose(ctx, state.TypeAlterTopicConfigs, state.AlterTopicConfigs{Name: name, Configs: next}); err != nil {
		return proposeErr(ctx, "alter configs of "+name, err)
	}
	return nil
}

// producerIDBlock is how many producer ids one raft command reserves.
const producerIDBlock = 1000

// NextProducerID hands out an idempotent producer id, reserving blocks
// through raft so no two nodes, and no restart, hand out the same id.
func (c *Controller) NextProducerID(ctx context.Context) (int64, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	if c.pidNext >= c.pidLimit {
		res, err := c.meta.Propose(ctx, state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: producerIDBlock})
		if err != nil {
			return 0, proposeErr(ctx, "allocate producer ids", err)
		}
		c.pidNext, c.pidLimit = res.ProducerID, res.ProducerID+producerIDBlock
	}
	id := c.pidNext
	c.pidNext++
	return id, nil
}
