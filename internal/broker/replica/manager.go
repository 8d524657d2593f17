package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	plog "github.com/chronik-dev/chronik/internal/broker/log"
	"github.com/chronik-dev/chronik/internal/broker/meta"
)

// ManagerOptions configure every partition log of the node.
type ManagerOptions struct {
	Dir           string // parent of the partition directories
	Flush         plog.FlushPolicy
	FlushInterval time.Duration
	Logger        *slog.Logger
}

// Manager owns the partition replicas this node runs.
type Manager struct {
	opts ManagerOptions

	mu    sync.RWMutex
	parts map[string][]*Partition // topic -> partitions by index
}

// NewManager creates the partition directory if needed.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	return &Manager{opts: opts, parts: map[string][]*Partition{}}, nil
}

func partitionDir(root, topic string, index int32) string {
	return filepath.Join(root, topic+"-"+strconv.Itoa(int(index)))
}

// Ensure makes sure partitions 0..t.Partitions-1 of the topic run here,
// opening (and recovering) or creating their logs.
func (m *Manager) Ensure(t meta.Topic, cfg meta.TopicConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := m.parts[t.Name]
	for i := int32(len(parts)); i < t.Partitions; i++ {
		p, err := openPartition(partitionDir(m.opts.Dir, t.Name, i), t.Name, i, cfg, m.opts.Flush,
			plog.Options{Flush: m.opts.Flush, FlushInterval: m.opts.FlushInterval}, m.opts.Logger)
		if err != nil {
			m.parts[t.Name] = parts
			return err
		}
		parts = append(parts, p)
	}
	m.parts[t.Name] = parts
	return nil
}

// Get returns the partition, or nil when this node does not run it.
func (m *Manager) Get(topic string, index int32) *Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	parts := m.parts[topic]
	if index < 0 || int(index) >= len(parts) {
		return nil
	}
	return parts[index]
}

// Partitions returns the partitions of a topic run here.
func (m *Manager) Partitions(topic string) []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]*Partition(nil), m.parts[topic]...)
}

// SetTopicConfig applies a changed topic config to the topic's partitions.
func (m *Manager) SetTopicConfig(topic string, cfg meta.TopicConfig) {
	for _, p := range m.Partitions(topic) {
		p.SetConfig(cfg)
	}
}

// RemoveTopic closes the topic's partitions and deletes their directories.
func (m *Manager) RemoveTopic(topic string) error {
	m.mu.Lock()
	parts := m.parts[topic]
	delete(m.parts, topic)
	m.mu.Unlock()
	var errs []error
	for _, p := range parts {
		if err := p.delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete partition %s-%d: %w", topic, p.Index, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveStrays deletes partition directories that belong to no known topic:
// what a crash in the middle of a topic deletion leaves behind.
func (m *Manager) RemoveStrays(known func(topic string) bool) error {
	entries, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		return fmt.Errorf("list log dir: %w", err)
	}
	for _, e := range entries {
		i := strings.LastIndexByte(e.Name(), '-')
		if !e.IsDir() || i <= 0 {
			continue
		}
		if _, err := strconv.Atoi(e.Name()[i+1:]); err != nil || known(e.Name()[:i]) {
			continue
		}
		m.opts.Logger.Warn("removing partition directory of a deleted topic", "dir", e.Name())
		if err := os.RemoveAll(filepath.Join(m.opts.Dir, e.Name())); err != nil {
			return fmt.Errorf("remove stray partition dir %s: %w", e.Name(), err)
		}
	}
	return nil
}

func (m *Manager) all() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Partition
	topics := make([]string, 0, len(m.parts))
	for t := range m.parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		out = append(out, m.parts[t]...)
	}
	return out
}

// EnforceRetention applies every partition's retention once.
func (m *Manager) EnforceRetention() {
	for _, p := range m.all() {
		n, err := p.enforceRetention()
		if err != nil {
			m.opts.Logger.Warn("retention failed", "topic", p.Topic, "partition", p.Index, "err", err)
			continue
		}
		if n > 0 {
			m.opts.Logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index,
				"segments", n, "log_start_offset", p.LogStartOffset())
		}
	}
}

// RunRetention applies retention every interval until ctx ends.
func (m *Manager) RunRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.EnforceRetention()
		}
	}
}

// Close flushes and closes every partition log.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for t, parts := range m.parts {
		for _, p := range parts {
			if err := p.close(); err != nil {
				errs = append(errs, fmt.Errorf("close partition %s-%d: %w", t, p.Index, err))
			}
		}
	}
	m.parts = map[string][]*Partition{}
	return errors.Join(errs...)
}
