package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/chronik-dev/chronik/internal/broker/acl"
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

	// Client security (metadata version 2): scram.go, acl.go, quota.go.
	TypeAlterScramCredentials = "alter_scram_credentials"
	TypeCreateAcls            = "create_acls"
	TypeDeleteAcls            = "delete_acls"
	TypeAlterClientQuotas     = "alter_client_quotas"
)

// Command is the envelope stored in each raft entry: a type tag, a payload
// version, the metadata version the command needs (version.go; absent
// means 1) and the payload.
type Command struct {
	Type            string          `json:"type"`
	Version         int             `json:"v"`
	MetadataVersion int             `json:"mv,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// metadataVersion is the metadata version c needs.
func (c Command) metadataVersion() int { return max(c.MetadataVersion, MinMetadataVersion) }

// InitCluster sets the cluster id once; later ones are ignored, so every
// founding node can propose its own and the first committed wins. The
// first also sets the cluster's metadata version to its proposer's newest
// (older states have none: version 1).
type InitCluster struct {
	ClusterID       string `json:"cluster_id"`
	MetadataVersion int    `json:"metadata_version,omitempty"`
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

// Encode builds the envelope for a payload, recording the metadata version
// the command needs (version.go).
func Encode(typ string, payload any) ([]byte, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", typ, err)
	}
	mv := commandVersion(typ, payload)
	if mv == MinMetadataVersion {
		mv = 0 // omitted: the envelope of version 1 is what logs from before versions hold
	}
	b, err := json.Marshal(Command{Type: typ, Version: 1, MetadataVersion: mv, Data: data})
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
	ProducerID  int64           // AllocateProducerIDs
	DeletedAcls [][]acl.Binding // DeleteAcls: the bindings each filter selected
}

// Apply decodes and applies one command. A decode error means the entry is
// not a command this binary understands: the caller must stop rather than
// diverge (a *VersionError when a newer binary wrote it). A rejection
// (errors.Is(err, ErrRejected)) leaves the state unchanged; a command that
// needs a metadata version above the cluster's active one is rejected.
func (s *State) Apply(b []byte) (Result, error) {
	c, h, err := s.check(b)
	if err != nil {
		return Result{}, err
	}
	return h(s, c)
}

// Check says whether Apply could apply b on a state like s: b decodes as a
// command of a known type and a payload version this binary reads, of a
// metadata version the cluster has active and this binary supports. It
// changes nothing and does not decide rejections that depend on the payload
// (a dry run on a clone does).
func (s *State) Check(b []byte) error {
	c, _, err := s.check(b)
	if err != nil {
		return err
	}
	if mv, active := c.metadataVersion(), s.ActiveMetadataVersion(); mv > active {
		return rejectf("command %q needs metadata version %d, the cluster runs %d", c.Type, mv, active)
	}
	return nil
}

// check decodes b and finds its handler. A command above the active metadata
// version gets a handler that rejects it, which every node can do without
// understanding it.
func (s *State) check(b []byte) (Command, Handler, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, nil, fmt.Errorf("decode command: %w", err)
	}
	mv, active := c.metadataVersion(), s.ActiveMetadataVersion()
	if mv > active {
		return c, func(*State, Command) (Result, error) {
			return Result{}, rejectf("command %q needs metadata version %d, the cluster runs %d", c.Type, mv, active)
		}, nil
	}
	if supported := s.SupportedMetadataVersion(); mv > supported {
		return c, nil, &VersionError{Type: c.Type, Need: mv, Supported: supported}
	}
	if c.Version != 1 {
		return c, nil, fmt.Errorf("command %s: unsupported version %d", c.Type, c.Version)
	}
	h, ok := builtin[c.Type]
	if !ok {
		h, ok = s.extra[c.Type]
	}
	if !ok {
		return c, nil, fmt.Errorf("unknown command type %q", c.Type)
	}
	return c, h, nil
}

// builtin is every command type this binary applies, one line each. It is
// never written after initialisation; extra types live on a State (Extend).
var builtin = Commands{
	TypeInitCluster:           Handle((*State).applyInitCluster),
	TypeRegisterBroker:        Handle((*State).applyRegisterBroker),
	TypeFenceBroker:           Handle((*State).applyFenceBroker),
	TypeUnfenceBroker:         Handle((*State).applyUnfenceBroker),
	TypeShutdownBroker:        Handle((*State).applyShutdownBroker),
	TypeCreateTopic:           Handle((*State).applyCreateTopic),
	TypeDeleteTopic:           Handle((*State).applyDeleteTopic),
	TypeCreatePartitions:      Handle((*State).applyCreatePartitions),
	TypeAlterTopicConfigs:     Handle((*State).applyAlterTopicConfigs),
	TypeAllocateProducerID:    handleResult((*State).applyAllocateProducerIDs),
	TypeAlterPartition:        Handle((*State).applyAlterPartition),
	TypeElectLeaders:          Handle((*State).applyElectLeaders),
	TypeSetMetadataVersion:    Handle((*State).applySetMetadataVersion),
	TypeAlterScramCredentials: Handle((*State).applyAlterScramCredentials),
	TypeAlterClientQuotas:     Handle((*State).applyAlterClientQuotas),
	TypeCreateAcls:            Handle((*State).applyCreateAcls),
	TypeDeleteAcls:            handleResult((*State).applyDeleteAcls),
	TypeStartReassignment:     Handle((*State).applyStartReassignment),
	TypeCancelReassignment:    Handle((*State).applyCancelReassignment),
	TypeCompleteReassignment:  Handle((*State).applyCompleteReassignment),
	TypeUnregisterBroker:      Handle((*State).applyUnregisterBroker),
}

// Handler applies one command envelope to a state. Handle builds one from a
// typed apply function.
type Handler func(s *State, c Command) (Result, error)

// Commands maps command types to their handlers.
type Commands map[string]Handler

// Extend makes s, and the states cloned from it, apply cmds besides the
// built-in commands. The product adds none; tests add commands that build
// states the product never creates. A type that is built in or already
// added, or a nil handler, panics: replacing a handler on some nodes only
// would make them diverge.
func (s *State) Extend(cmds Commands) {
	if len(cmds) == 0 {
		return
	}
	// A new map, since clones share the old one.
	extra := maps.Clone(s.extra)
	if extra == nil {
		extra = make(Commands, len(cmds))
	}
	for typ, h := range cmds {
		if _, ok := builtin[typ]; ok || extra[typ] != nil || h == nil {
			panic(fmt.Sprintf("state: cannot add command type %q", typ))
		}
		extra[typ] = h
	}
	s.extra = extra
}

// decode reads a command's payload as T.
func decode[T any](c Command) (T, error) {
	var p T
	if err := json.Unmarshal(c.Data, &p); err != nil {
		var zero T
		return zero, fmt.Errorf("decode %s command: %w", c.Type, err)
	}
	return p, nil
}

// Handle adapts a typed apply function that has no result to a Handler.
func Handle[T any](apply func(*State, T) error) Handler {
	return handleResult(func(s *State, p T) (Result, error) { return Result{}, apply(s, p) })
}

// handleResult adapts a typed apply function to a Handler.
func handleResult[T any](apply func(*State, T) (Result, error)) Handler {
	return func(s *State, c Command) (Result, error) {
		p, err := decode[T](c)
		if err != nil {
			return Result{}, err
		}
		return apply(s, p)
	}
}

// applyInitCluster keeps the first cluster id committed.
func (s *State) applyInitCluster(c InitCluster) error {
	if s.ClusterID == "" {
		s.ClusterID = c.ClusterID
		if c.MetadataVersion > s.MetadataVersion {
			s.MetadataVersion = c.MetadataVersion
		}
	}
	return nil
}

func (s *State) applyCreateTopic(c CreateTopic) error {
	t := c.Topic
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
	s.Topics[t.Name] = t.Clone()
	s.topicIDs[t.ID] = t.Name
	return nil
}

func (s *State) applyDeleteTopic(c DeleteTopic) error {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	delete(s.topicIDs, t.ID)
	delete(s.Topics, c.Name)
	return nil
}

func (s *State) applyCreatePartitions(c CreatePartitions) error {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	if err := validPartitions(c.Partitions); err != nil {
		return err
	}
	for _, part := range c.Partitions {
		t.Partitions = append(t.Partitions, part.clone())
	}
	return nil
}

func (s *State) applyAlterTopicConfigs(c AlterTopicConfigs) error {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	t.Configs = c.Configs
	return nil
}

// applyAllocateProducerIDs returns the first id of the block it reserves.
func (s *State) applyAllocateProducerIDs(c AllocateProducerIDs) (Result, error) {
	if c.Count < 1 {
		return Result{}, rejectf("producer id count %d", c.Count)
	}
	first := s.NextProducerID
	s.NextProducerID += c.Count
	return Result{ProducerID: first}, nil
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
