// Package controller makes the cluster's metadata decisions: topic creation
// and deletion, partition additions and topic config changes. Every change is
// validated here, written to the metadata store, and then the local replicas
// are reconciled with it.
//
// On a single node the controller is this node; the raft metadata quorum will
// route the same decisions through the raft leader.
package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/meta"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is the internal topic holding consumer group offsets.
const OffsetsTopic = "__consumer_offsets"

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

// Options configure the controller.
type Options struct {
	NodeID                 int32
	Defaults               meta.TopicConfig // broker-wide topic config defaults
	DefaultPartitions      int32
	OffsetsTopicPartitions int32
	Logger                 *slog.Logger
}

// Controller validates and applies metadata changes.
type Controller struct {
	opts     Options
	store    *meta.Store
	replicas *replica.Manager

	mu sync.Mutex // one metadata change at a time
}

// New returns a controller over the store and the local replicas.
func New(opts Options, store *meta.Store, replicas *replica.Manager) *Controller {
	return &Controller{opts: opts, store: store, replicas: replicas}
}

// Reconcile opens every partition the metadata says this node hosts and
// removes directories of topics that no longer exist. Run at start-up.
func (c *Controller) Reconcile() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	topics := c.store.Topics()
	known := map[string]bool{}
	for _, t := range topics {
		known[t.Name] = true
		cfg, err := c.EffectiveConfig(t)
		if err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
		if err := c.applyLocal(t, cfg); err != nil {
			return err
		}
	}
	return c.replicas.RemoveStrays(func(name string) bool { return known[name] })
}

// applyLocal runs every partition of the topic here, led by this node alone.
func (c *Controller) applyLocal(t meta.Topic, cfg meta.TopicConfig) error {
	roles := make(map[int32]replica.Role, t.Partitions)
	for i := int32(0); i < t.Partitions; i++ {
		self := []int32{c.opts.NodeID}
		roles[i] = replica.Role{Leader: true, Replicas: self, ISR: self, Self: c.opts.NodeID}
	}
	return c.replicas.ApplyTopic(t.Name, cfg, roles)
}

// EffectiveConfig is the topic's config: broker defaults plus its overrides.
func (c *Controller) EffectiveConfig(t meta.Topic) (meta.TopicConfig, error) {
	return meta.Resolve(c.opts.Defaults, t.Configs)
}

// Defaults are the broker-wide topic config defaults.
func (c *Controller) Defaults() meta.TopicConfig { return c.opts.Defaults }

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

// CreateTopic is a request to create one topic.
type CreateTopic struct {
	Name              string
	Partitions        int32 // -1: the broker default
	ReplicationFactor int16 // -1: the broker default (1)
	Assignment        map[int32][]int32
	Configs           map[string]string
	ValidateOnly      bool
}

// CreateTopic validates and creates a topic with all its partitions.
func (c *Controller) CreateTopic(req CreateTopic) (meta.Topic, error) {
	if req.Name == OffsetsTopic {
		return meta.Topic{}, errorf(kerr.InvalidRequest, "%s is an internal topic; the broker creates it on first use", OffsetsTopic)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.createLocked(req, false)
}

func (c *Controller) createLocked(req CreateTopic, internal bool) (meta.Topic, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return meta.Topic{}, err
	}
	if _, ok := c.store.Topic(req.Name); ok {
		return meta.Topic{}, errorf(kerr.TopicAlreadyExists, "topic %q already exists", req.Name)
	}
	if len(req.Assignment) > 0 {
		if req.Partitions != -1 || req.ReplicationFactor != -1 {
			return meta.Topic{}, errorf(kerr.InvalidRequest, "replica assignment and partition count / replication factor are mutually exclusive")
		}
		req.Partitions = int32(len(req.Assignment))
		req.ReplicationFactor = -1
		for p := int32(0); p < req.Partitions; p++ {
			replicas, ok := req.Assignment[p]
			if !ok {
				return meta.Topic{}, errorf(kerr.InvalidReplicaAssignment, "assignment skips partition %d", p)
			}
			if req.ReplicationFactor == -1 {
				req.ReplicationFactor = int16(len(replicas))
			}
			for _, r := range replicas {
				if r != c.opts.NodeID {
					return meta.Topic{}, errorf(kerr.InvalidReplicaAssignment, "partition %d assigned to broker %d, which does not exist (brokers: [%d])", p, r, c.opts.NodeID)
				}
			}
			if len(replicas) != 1 {
				return meta.Topic{}, errorf(kerr.InvalidReplicaAssignment, "partition %d has %d replicas; this cluster has 1 broker", p, len(replicas))
			}
		}
	}
	if req.Partitions == -1 {
		req.Partitions = c.opts.DefaultPartitions
	}
	if req.ReplicationFactor == -1 {
		req.ReplicationFactor = 1
	}
	switch {
	case req.Partitions < 1:
		return meta.Topic{}, errorf(kerr.InvalidPartitions, "partition count must be at least 1, got %d", req.Partitions)
	case req.Partitions > 100000:
		return meta.Topic{}, errorf(kerr.InvalidPartitions, "partition count %d is above the limit of 100000", req.Partitions)
	case req.ReplicationFactor < 1:
		return meta.Topic{}, errorf(kerr.InvalidReplicationFactor, "replication factor must be at least 1, got %d", req.ReplicationFactor)
	case req.ReplicationFactor > 1:
		return meta.Topic{}, errorf(kerr.InvalidReplicationFactor, "replication factor %d is larger than the number of live brokers (1)", req.ReplicationFactor)
	}
	t := meta.Topic{
		Name: req.Name, ID: meta.NewTopicID(),
		Partitions: req.Partitions, ReplicationFactor: req.ReplicationFactor,
		Configs: req.Configs, Internal: internal,
	}
	cfg, err := c.EffectiveConfig(t)
	if err != nil {
		return meta.Topic{}, errorf(kerr.InvalidConfig, "%v", err)
	}
	if req.ValidateOnly {
		return t, nil
	}
	if err := c.store.CreateTopic(t); err != nil {
		return meta.Topic{}, errorf(kerr.KafkaStorageError, "persist topic: %v", err)
	}
	if err := c.applyLocal(t, cfg); err != nil {
		c.opts.Logger.Error("create partitions", "topic", t.Name, "err", err)
		return t, errorf(kerr.KafkaStorageError, "create partitions: %v", err)
	}
	c.opts.Logger.Info("topic created", "topic", t.Name, "partitions", t.Partitions, "id", t.ID.String())
	return t, nil
}

// EnsureTopic returns the topic, creating it with default settings when it
// does not exist (auto-creation and the internal offsets topic).
func (c *Controller) EnsureTopic(name string) (meta.Topic, error) {
	if t, ok := c.store.Topic(name); ok {
		return t, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.store.Topic(name); ok {
		return t, nil
	}
	req := CreateTopic{Name: name, Partitions: -1, ReplicationFactor: -1}
	internal := name == OffsetsTopic
	if internal {
		req.Partitions = c.opts.OffsetsTopicPartitions
		// Without log compaction, time retention would delete the offsets of
		// idle groups: keep them (commits are small).
		req.Configs = map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": "104857600"}
	}
	return c.createLocked(req, internal)
}

// DeleteTopic removes a topic and its partitions' data.
func (c *Controller) DeleteTopic(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.store.Topic(name)
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	if t.Internal {
		return errorf(kerr.InvalidTopicException, "topic %q is internal and cannot be deleted", name)
	}
	if err := c.store.DeleteTopic(name); err != nil {
		return errorf(kerr.KafkaStorageError, "persist deletion: %v", err)
	}
	if err := c.replicas.RemoveTopic(name); err != nil {
		// The metadata no longer has the topic; leftovers are removed at start-up.
		c.opts.Logger.Error("delete partition data", "topic", name, "err", err)
	}
	c.opts.Logger.Info("topic deleted", "topic", name)
	return nil
}

// CreatePartitions grows a topic to count partitions.
func (c *Controller) CreatePartitions(name string, count int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.store.Topic(name)
	switch {
	case !ok:
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case count < t.Partitions:
		return errorf(kerr.InvalidPartitions, "topic %q has %d partitions; the count can only grow, got %d", name, t.Partitions, count)
	case count == t.Partitions:
		return errorf(kerr.InvalidPartitions, "topic %q already has %d partitions", name, t.Partitions)
	case count > 100000:
		return errorf(kerr.InvalidPartitions, "partition count %d is above the limit of 100000", count)
	case validateOnly:
		return nil
	}
	if err := c.store.UpdateTopic(name, func(t *meta.Topic) error { t.Partitions = count; return nil }); err != nil {
		return errorf(kerr.KafkaStorageError, "persist partitions: %v", err)
	}
	t.Partitions = count
	cfg, err := c.EffectiveConfig(t)
	if err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	if err := c.applyLocal(t, cfg); err != nil {
		return errorf(kerr.KafkaStorageError, "create partitions: %v", err)
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
func (c *Controller) AlterTopicConfigs(name string, ops []ConfigOp, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.store.Topic(name)
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	next := map[string]string{}
	for k, v := range t.Configs {
		next[k] = v
	}
	for _, op := range ops {
		if !meta.IsTopicConfig(op.Name) {
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
			return errorf(kerr.InvalidConfig, "config %s is not a list; APPEND and SUBTRACT do not apply", op.Name)
		default:
			return errorf(kerr.InvalidRequest, "config %s: unknown operation %d", op.Name, op.Op)
		}
	}
	cfg, err := meta.Resolve(c.opts.Defaults, next)
	if err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	if validateOnly {
		return nil
	}
	if err := c.store.UpdateTopic(name, func(t *meta.Topic) error { t.Configs = next; return nil }); err != nil {
		return errorf(kerr.KafkaStorageError, "persist configs: %v", err)
	}
	c.replicas.SetTopicConfig(name, cfg)
	return nil
}
