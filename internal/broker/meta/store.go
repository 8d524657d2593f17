// Package meta holds the cluster metadata of a node: the cluster id, topics
// (id, partition count, config overrides) and the producer id allocator.
//
// A single-node broker keeps it in one JSON file written atomically (write,
// fsync, rename, fsync dir). The raft metadata quorum replaces this storage;
// the Store API is what the rest of the broker relies on.
package meta

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// ErrTopicExists and ErrUnknownTopic are returned by topic mutations.
var (
	ErrTopicExists  = errors.New("topic already exists")
	ErrUnknownTopic = errors.New("unknown topic")
)

// TopicID is Kafka's 16-byte topic UUID.
type TopicID [16]byte

// String renders the id like Kafka's Uuid.toString would (hex here; stable and unambiguous).
func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the id for the metadata file.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes the id from the metadata file.
func (id *TopicID) UnmarshalText(b []byte) error {
	// Checked first: hex.Decode panics when the input decodes to more than 16 bytes.
	if len(b) != 2*len(id) {
		return fmt.Errorf("topic id %q: not 32 hex digits", b)
	}
	n, err := hex.Decode(id[:], b)
	if err != nil || n != 16 {
		return fmt.Errorf("topic id %q: not 32 hex digits", b)
	}
	return nil
}

// Topic is one topic's metadata.
type Topic struct {
	Name              string            `json:"name"`
	ID                TopicID           `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"` // overrides only
	Internal          bool              `json:"internal,omitempty"`
}

func (t Topic) clone() Topic {
	c := t
	c.Configs = make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		c.Configs[k] = v
	}
	return c
}

type state struct {
	Version        int              `json:"version"`
	ClusterID      string           `json:"cluster_id"`
	NextProducerID int64            `json:"next_producer_id"` // first id of the next unallocated block
	Topics         map[string]Topic `json:"topics"`
}

const (
	stateVersion      = 1
	producerIDBlock   = 1000
	stateFileName     = "metadata.json"
	stateTempFileName = "metadata.json.tmp"
)

// Store is the node's metadata, safe for concurrent use.
type Store struct {
	dir string

	mu       sync.Mutex
	st       state
	pidNext  int64 // next producer id to hand out
	pidLimit int64 // ids below this are reserved on disk
}

// Open loads the metadata in dir, creating an empty store (with a new cluster
// id) when there is none.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir: %w", err)
	}
	s := &Store{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.st = state{Version: stateVersion, ClusterID: newClusterID(), Topics: map[string]Topic{}}
		if err := s.persistLocked(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("read metadata: %w", err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("parse metadata file %s: %w", filepath.Join(dir, stateFileName), err)
		}
		if s.st.Version != stateVersion {
			return nil, fmt.Errorf("metadata file %s: unsupported version %d", filepath.Join(dir, stateFileName), s.st.Version)
		}
		if s.st.Topics == nil {
			s.st.Topics = map[string]Topic{}
		}
	}
	s.pidNext, s.pidLimit = s.st.NextProducerID, s.st.NextProducerID
	return s, nil
}

func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewTopicID returns a random topic id (never all zeroes, which Kafka reserves).
func NewTopicID() TopicID {
	var id TopicID
	for id == (TopicID{}) {
		_, _ = rand.Read(id[:])
	}
	return id
}

// ClusterID is this cluster's id.
func (s *Store) ClusterID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.ClusterID
}

// Topic returns a copy of the named topic.
func (s *Store) Topic(name string) (Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

// TopicByID returns a copy of the topic with the given id.
func (s *Store) TopicByID(id TopicID) (Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.st.Topics {
		if t.ID == id {
			return t.clone(), true
		}
	}
	return Topic{}, false
}

// Topics returns copies of all topics sorted by name.
func (s *Store) Topics() []Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Topic, 0, len(s.st.Topics))
	for _, t := range s.st.Topics {
		out = append(out, t.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateTopic adds a topic and persists it before returning.
func (s *Store) CreateTopic(t Topic) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Topics[t.Name]; ok {
		return ErrTopicExists
	}
	s.st.Topics[t.Name] = t.clone()
	if err := s.persistLocked(); err != nil {
		delete(s.st.Topics, t.Name)
		return err
	}
	return nil
}

// DeleteTopic removes a topic and persists the change.
func (s *Store) DeleteTopic(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	delete(s.st.Topics, name)
	if err := s.persistLocked(); err != nil {
		s.st.Topics[name] = t
		return err
	}
	return nil
}

// UpdateTopic applies fn to a copy of the topic and persists the result.
func (s *Store) UpdateTopic(name string, fn func(*Topic) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.st.Topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	t := old.clone()
	if err := fn(&t); err != nil {
		return err
	}
	s.st.Topics[name] = t
	if err := s.persistLocked(); err != nil {
		s.st.Topics[name] = old
		return err
	}
	return nil
}

// NextProducerID hands out a new idempotent producer id. Ids are reserved on
// disk in blocks so that a restart never hands out an id twice.
func (s *Store) NextProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pidNext >= s.pidLimit {
		s.st.NextProducerID = s.pidLimit + producerIDBlock
		if err := s.persistLocked(); err != nil {
			s.st.NextProducerID = s.pidLimit
			return 0, err
		}
		s.pidLimit = s.st.NextProducerID
	}
	id := s.pidNext
	s.pidNext++
	return id, nil
}

func (s *Store) persistLocked() error {
	b, err := json.MarshalIndent(&s.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	tmp := filepath.Join(s.dir, stateTempFileName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write metadata: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync metadata: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close metadata: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, stateFileName)); err != nil {
		return fmt.Errorf("install metadata: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
