// Package state is the cluster metadata every node agrees on through the
// raft log: brokers, topics and, per partition, replicas, leader, leader
// epoch, partition epoch and ISR.
//
// Apply is deterministic: everything random or time-dependent (topic ids,
// incarnations, replica assignment) is decided by the proposer and carried in
// the command, so every node that applies the same log reaches the same
// state. Commands are versioned and self-describing (see command.go) so a
// newer binary can read an older log.
package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/chronik-dev/chronik/internal/broker/acl"
)

// Broker is one registered node.
type Broker struct {
	ID          int32  `json:"id"`
	KafkaAddr   string `json:"kafka_addr"`
	ClusterAddr string `json:"cluster_addr"`
	AdminAddr   string `json:"admin_addr,omitempty"` // admin API address other nodes and tools can use
	// Rack is Kafka's broker.rack: replicas of a partition are spread over
	// racks when every live broker has one. Empty: no rack.
	Rack string `json:"rack,omitempty"`
	// Listeners are the broker's advertised Kafka listeners (endpoints.go);
	// KafkaAddr repeats the first for readers that predate them. Empty for
	// brokers registered before listeners existed.
	Listeners []Endpoint `json:"listeners,omitempty"`
	// Incarnation changes every time the broker process starts, so a
	// restarted broker is told apart from its previous life.
	Incarnation uint64 `json:"incarnation"`
	Fenced      bool   `json:"fenced"`
	// ShutDown: fenced by its own controlled shutdown; liveness does not
	// unfence it, registering again does.
	ShutDown bool `json:"shut_down,omitempty"`
	// MinMetadataVersion and MaxMetadataVersion are the metadata versions
	// the broker's binary supports (version.go); 0 for brokers registered
	// before versions existed, which support only version 1.
	MinMetadataVersion int `json:"min_metadata_version,omitempty"`
	MaxMetadataVersion int `json:"max_metadata_version,omitempty"`
}

// Partition is one partition's replication metadata.
type Partition struct {
	Replicas       []int32 `json:"replicas"`
	Leader         int32   `json:"leader"` // -1: offline
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// runs (reassign.go): Replicas is then the target followed by the
	// replicas being removed.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

func (p Partition) clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return p
}

// Topic is one topic.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions []Partition       `json:"partitions"`
}

// Clone returns a deep copy.
func (t *Topic) Clone() *Topic {
	c := *t
	c.Configs = make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		c.Configs[k] = v
	}
	c.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		c.Partitions[i] = p.clone()
	}
	return &c
}

// State is the whole metadata. It is not safe for concurrent use: the
// owner (the raft node) serialises Apply and hands out clones.
type State struct {
	ClusterID      string            `json:"cluster_id"`
	Brokers        map[int32]*Broker `json:"brokers"`
	Topics         map[string]*Topic `json:"topics"`
	NextProducerID int64             `json:"next_producer_id"`
	// MetadataVersion is the cluster's active metadata version (version.go);
	// 0 in states from before versions, which ActiveMetadataVersion reads as 1.
	MetadataVersion int                 `json:"metadata_version,omitempty"`
	topicIDs        map[[16]byte]string // derived index, rebuilt on restore
	extra           Commands            // added by Extend; shared by clones, never written in place
	supported       int                 // SetSupportedMetadataVersion; 0 is MaxMetadataVersion

	// Scram holds the SCRAM credentials by user and mechanism (scram.go).
	Scram map[string]map[string]ScramCredential `json:"scram,omitempty"`
	// ClientQuotas holds the client quotas by entity (quota.go).
	ClientQuotas ClientQuotas `json:"client_quotas,omitempty"`
	// Acls holds the ACL bindings (acl.go); immutable, so clones share it.
	Acls *acl.Set `json:"acls,omitempty"`
}

// New returns an empty state.
func New() *State {
	return &State{Brokers: map[int32]*Broker{}, Topics: map[string]*Topic{}, topicIDs: map[[16]byte]string{}}
}

// snapshotVersion is the format of Snapshot's bytes.
const snapshotVersion = 1

type snapshot struct {
	Version int    `json:"version"`
	State   *State `json:"state"`
}

// Snapshot encodes the whole state.
func (s *State) Snapshot() ([]byte, error) {
	b, err := json.Marshal(snapshot{Version: snapshotVersion, State: s})
	if err != nil {
		return nil, fmt.Errorf("encode metadata snapshot: %w", err)
	}
	return b, nil
}

// Restore decodes a snapshot made by Snapshot.
func Restore(b []byte) (*State, error) {
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("decode metadata snapshot: %w", err)
	}
	if snap.Version != snapshotVersion || snap.State == nil {
		return nil, fmt.Errorf("decode metadata snapshot: unsupported version %d", snap.Version)
	}
	s := snap.State
	if s.Brokers == nil {
		s.Brokers = map[int32]*Broker{}
	}
	if s.Topics == nil {
		s.Topics = map[string]*Topic{}
	}
	s.topicIDs = make(map[[16]byte]string, len(s.Topics))
	for name, t := range s.Topics {
		s.topicIDs[t.ID] = name
	}
	return s, nil
}

// Clone returns a deep copy, for readers outside the apply loop.
func (s *State) Clone() *State {
	c := &State{
		extra:           s.extra,
		supported:       s.supported,
		ClusterID:       s.ClusterID,
		NextProducerID:  s.NextProducerID,
		MetadataVersion: s.MetadataVersion,
		Scram:           cloneScram(s.Scram),
		ClientQuotas:    s.ClientQuotas.Clone(),
		Acls:            s.Acls,
		Brokers:         make(map[int32]*Broker, len(s.Brokers)),
		Topics:          make(map[string]*Topic, len(s.Topics)),
		topicIDs:        make(map[[16]byte]string, len(s.topicIDs)),
	}
	for id, b := range s.Brokers {
		bc := *b
		bc.Listeners = slices.Clone(b.Listeners)
		c.Brokers[id] = &bc
	}
	for name, t := range s.Topics {
		c.Topics[name] = t.Clone()
	}
	for id, name := range s.topicIDs {
		c.topicIDs[id] = name
	}
	return c
}

// TopicByID returns the topic with the given id.
func (s *State) TopicByID(id [16]byte) (*Topic, bool) {
	name, ok := s.topicIDs[id]
	if !ok {
		return nil, false
	}
	return s.Topics[name], true
}

// LiveBrokers returns the ids of registered, unfenced brokers, sorted.
func (s *State) LiveBrokers() []int32 {
	var out []int32
	for id, b := range s.Brokers {
		if !b.Fenced {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// HostedBy lists the partitions whose replicas include broker id: what the
// reconciler must run on that node.
func (s *State) HostedBy(id int32) map[string][]int32 {
	out := map[string][]int32{}
	for name, t := range s.Topics {
		for i, p := range t.Partitions {
			if slices.Contains(p.Replicas, id) {
				out[name] = append(out[name], int32(i))
			}
		}
	}
	return out
}
