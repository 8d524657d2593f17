package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Command types. A type is never reused for a different meaning; a changed
// payload gets a new Version of the same type, and Apply keeps decoding the
// old ones.
const (
	TypeInitCluster        = "init_cluster"
	TypeRegisterBroker     = "register_broker"
	TypeFenceBroker        = "fence_broker"
	TypeUnfenceBroker      = "unfence_broker"
	TypeCreateTopic        = "create_topic"
	TypeDeleteTopic        = "delete_topic"
	TypeCreatePartitions   = "create_partitions"
	TypeAlterTopicConfigs  = "alter_topic_configs"
	TypeAllocateProducerID = "allocate_producer_ids"
	TypeAlterPartition     = "alter_partition"
	TypeElectLeaders       = "elect_leaders"
	TypeShutdownBroker     = "shutdown_broker"
	// TypeTestSetPartition overwrites a partition's leader and ISR with no
	// checks, to build states the product never creates (an empty ISR, a
	// leader outside it) for the diagnosis tests. Rejected unless the state
	// machine was built with EnableTestCommands.
	TypeTestSetPartition = "test_set_partition"
)

// Command is the envelope stored in each raft entry: a type tag, a payload
// version and the payload.
type Command struct {
	Type    string          `json:"type"`
	Version int             `json:"v"`
	Data    json.RawMessage `json:"data"`
}

// InitCluster sets the cluster id once; later ones are ignored, so every
// founding node can propose its own and the first committed wins.
type InitCluster struct {
	ClusterID string `json:"cluster_id"`
}

// RegisterBroker adds a broker or updates its addresses and incarnation.
type RegisterBroker struct {
	Broker Broker `json:"broker"`
}

// FenceBroker and UnfenceBroker change a broker's liveness.
type FenceBroker struct {
	ID int32 `json:"id"`
}

// CreateTopic creates a topic with every partition's replicas, leader and
// ISR in ONE command: a partition never exists without an ISR.
type CreateTopic struct {
	Topic Topic `json:"topic"`
}

// DeleteTopic removes a topic.
type DeleteTopic struct {
	Name string `json:"name"`
}

// CreatePartitions appends partitions to a topic.
type CreatePartitions struct {
	Name       string      `json:"name"`
	Partitions []Partition `json:"partitions"`
}

// AlterTopicConfigs replaces a topic's config overrides.
type AlterTopicConfigs struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs"`
}

// AllocateProducerIDs reserves Count producer ids; the result is the first.
type AllocateProducerIDs struct {
	Count int64 `json:"count"`
}

// Encode builds the envelope for a payload.
func Encode(typ string, payload any) ([]byte, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", typ, err)
	}
	b, err := json.Marshal(Command{Type: typ, Version: 1, Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", typ, err)
	}
	return b, nil
}

// ErrRejected marks a command that was valid to decode but refused by the
// state (topic exists, unknown topic, stale epoch...). Every node refuses it
// the same way, so the state stays identical. ErrTopicExists and
// ErrUnknownTopic are rejections too, for callers that map them to codes.
var (
	ErrRejected     = errors.New("rejected")
	ErrTopicExists  = fmt.Errorf("%w: topic already exists", ErrRejected)
	ErrUnknownTopic = fmt.Errorf("%w: unknown topic", ErrRejected)
)

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Result is what applying a command produced, for the proposer.
type Result struct {
	ProducerID int64 // AllocateProducerIDs
}

// Apply decodes and applies one command. A decode error means the entry is
// not a command this binary understands: the caller must stop rather than
// diverge. A rejection (errors.Is(err, ErrRejected)) leaves the state
// unchanged.
func (s *State) Apply(b []byte) (Result, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Result{}, fmt.Errorf("decode command: %w", err)
	}
	if c.Version != 1 {
		return Result{}, fmt.Errorf("command %s: unsupported version %d", c.Type, c.Version)
	}
	decode := func(v any) error {
		if err := json.Unmarshal(c.Data, v); err != nil {
			return fmt.Errorf("decode %s command: %w", c.Type, err)
		}
		return nil
	}
	switch c.Type {
	case TypeInitCluster:
		var p InitCluster
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		if s.ClusterID == "" {
			s.ClusterID = p.ClusterID
		}
	case TypeRegisterBroker:
		var p RegisterBroker
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		s.registerBroker(p.Broker)
	case TypeFenceBroker, TypeUnfenceBroker, TypeShutdownBroker:
		var p FenceBroker
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		b, ok := s.Brokers[p.ID]
		switch {
		case !ok:
			return Result{}, rejectf("broker %d is not registered", p.ID)
		case c.Type == TypeUnfenceBroker && b.ShutDown:
			return Result{}, rejectf("broker %d shut down; it returns by registering again", p.ID)
		case c.Type == TypeUnfenceBroker:
			b.Fenced = false
			s.electOffline()
		default:
			s.fenceBroker(p.ID, c.Type == TypeShutdownBroker)
		}
	case TypeAlterPartition:
		var p AlterPartition
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		return Result{}, s.alterPartition(p)
	case TypeTestSetPartition:
		var p TestSetPartition
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		if !s.testCommands {
			return Result{}, rejectf("test commands are disabled")
		}
		part, ok := s.Partition(p.Topic, p.Partition)
		if !ok {
			return Result{}, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, p.Topic, p.Partition)
		}
		part.Leader, part.ISR = p.Leader, slices.Clone(p.ISR)
		part.PartitionEpoch++
	case TypeElectLeaders:
		var p ElectLeaders
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		s.electLeaders(p)
	case TypeCreateTopic:
		var p CreateTopic
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		return Result{}, s.createTopic(p.Topic)
	case TypeDeleteTopic:
		var p DeleteTopic
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		t, ok := s.Topics[p.Name]
		if !ok {
			return Result{}, fmt.Errorf("%w: %q", ErrUnknownTopic, p.Name)
		}
		delete(s.topicIDs, t.ID)
		delete(s.Topics, p.Name)
	case TypeCreatePartitions:
		var p CreatePartitions
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		t, ok := s.Topics[p.Name]
		if !ok {
			return Result{}, fmt.Errorf("%w: %q", ErrUnknownTopic, p.Name)
		}
		if err := validPartitions(p.Partitions); err != nil {
			return Result{}, err
		}
		for _, part := range p.Partitions {
			t.Partitions = append(t.Partitions, part.clone())
		}
	case TypeAlterTopicConfigs:
		var p AlterTopicConfigs
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		t, ok := s.Topics[p.Name]
		if !ok {
			return Result{}, fmt.Errorf("%w: %q", ErrUnknownTopic, p.Name)
		}
		t.Configs = p.Configs
	case TypeAllocateProducerID:
		var p AllocateProducerIDs
		if err := decode(&p); err != nil {
			return Result{}, err
		}
		if p.Count < 1 {
			return Result{}, rejectf("producer id count %d", p.Count)
		}
		first := s.NextProducerID
		s.NextProducerID += p.Count
		return Result{ProducerID: first}, nil
	default:
		return Result{}, fmt.Errorf("unknown command type %q", c.Type)
	}
	return Result{}, nil
}

func (s *State) createTopic(t Topic) error {
	if t.Name == "" {
		return rejectf("topic name is empty")
	}
	if _, ok := s.Topics[t.Name]; ok {
		return fmt.Errorf("%w: %q", ErrTopicExists, t.Name)
	}
	if _, ok := s.topicIDs[t.ID]; ok {
		return rejectf("topic id of %q is already used", t.Name)
	}
	if len(t.Partitions) == 0 {
		return rejectf("topic %q has no partitions", t.Name)
	}
	if err := validPartitions(t.Partitions); err != nil {
		return err
	}
	c := t.Clone()
	s.Topics[t.Name] = c
	s.topicIDs[t.ID] = t.Name
	return nil
}

// validPartitions enforces what every partition must have from birth: at
// least one replica, an ISR that is a non-empty subset of the replicas, and
// a leader from the ISR.
func validPartitions(ps []Partition) error {
	for i, p := range ps {
		switch {
		case len(p.Replicas) == 0:
			return rejectf("partition %d has no replicas", i)
		case len(p.ISR) == 0:
			return rejectf("partition %d has an empty ISR", i)
		case !slices.Contains(p.ISR, p.Leader):
			return rejectf("partition %d: leader %d is not in the ISR %v", i, p.Leader, p.ISR)
		}
		for _, r := range p.ISR {
			if !slices.Contains(p.Replicas, r) {
				return rejectf("partition %d: ISR member %d is not a replica %v", i, r, p.Replicas)
			}
		}
	}
	return nil
}

// TestSetPartition is the payload of TypeTestSetPartition.
type TestSetPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	ISR       []int32 `json:"isr"`
}

// EnableTestCommands lets Apply take TypeTestSetPartition. Tests only.
func (s *State) EnableTestCommands() { s.testCommands = true }
