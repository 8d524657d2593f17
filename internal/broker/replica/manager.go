package replica

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// ManagerOptions configure every partition log of the node.
type ManagerOptions struct {
	Dir           string // parent of the partition directories
	Flush         partlog.FlushPolicy
	FlushInterval time.Duration
	Logger        *slog.Logger
	// Files bounds the open files of inactive segments over every
	// partition log of the node; nil gives each log its own default cap.
	Files *partlog.FileCache
	// OnFailure is told of a partition log's storage failure
	// (partlog.Options.OnFailure); it must not block.
	OnFailure func(error)
	// BeforeFsync runs before every partition log's fsync passes
	// (partlog.Options.BeforeFsync); nil in production.
	BeforeFsync func() error
	// OnFsync is told how long each partition log's fsync pass took
	// (partlog.Options.OnFsync); it must not block.
	OnFsync func(time.Duration)
	// Observer is told the replication timings of every partition.
	Observer Observer
}

// Manager owns the partition replicas this node runs.
type Manager struct {
	opts ManagerOptions

	mu    sync.RWMutex
	parts map[string]map[int32]*Partition // topic -> partition index -> replica

	cleaner *cleanerLoop
}

// NewManager creates the partition directory if needed.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	return &Manager{opts: opts, parts: map[string]map[int32]*Partition{}, cleaner: newCleanerLoop()}, nil
}

func partitionDir(root, topic string, index int32) string {
	return filepath.Join(root, topic+"-"+strconv.Itoa(int(index)))
}

// ApplyTopic makes the replicas of a topic run here match what the metadata
// says this node hosts: it opens (and recovers) or creates missing partition
// logs, applies the config and each replica's role, and deletes hosted
// partitions no longer listed. It is level-triggered: calling it again with
// the same input changes nothing.
func (m *Manager) ApplyTopic(topic string, id [16]byte, cfg topicconfig.Config, roles map[int32]Role) error {
	m.mu.Lock()
	parts := m.parts[topic]
	if parts == nil {
		parts = map[int32]*Partition{}
		m.parts[topic] = parts
	}
	var errs []error
	for i := range roles {
		if parts[i] != nil {
			continue
		}
		dir := partitionDir(m.opts.Dir, topic, i)
		if err := m.claimDir(dir, id); err != nil {
			m.reportIOFailure(err)
			errs = append(errs, err)
			continue
		}
		p, err := openPartition(dir, topic, i, cfg, m.opts.Flush,
			partlog.Options{Flush: m.opts.Flush, FlushInterval: m.opts.FlushInterval, Files: m.opts.Files,
				OnFailure: m.opts.OnFailure, BeforeFsync: m.opts.BeforeFsync, OnFsync: m.opts.OnFsync}, m.opts.Logger)
		if err != nil {
			m.reportIOFailure(err)
			errs = append(errs, err)
			continue
		}
		p.obs = &m.opts.Observer
		parts[i] = p
	}
	var gone []*Partition
	for i, p := range parts {
		if _, ok := roles[i]; !ok {
			gone = append(gone, p)
			delete(parts, i)
		}
	}
	current := make([]*Partition, 0, len(parts))
	for _, p := range parts {
		current = append(current, p)
	}
	m.mu.Unlock()
	for _, p := range current {
		if p.Config() != cfg {
			p.SetConfig(cfg)
			if cfg.CleanupPolicy.Compacts() {
				m.Wake() // the cleaner sees the new policy or knobs now
			}
		}
		p.SetRole(roles[p.Index])
	}
	for _, p := range gone {
		if err := p.delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete partition %s-%d: %w", topic, p.Index, err))
		}
	}
	return errors.Join(errs...)
}

// reportIOFailure tells the owner (OnFailure) when creating or opening a
// partition's log failed in the file system, as a failed write of an open
// log does: a replica this node cannot open would leave a partition it was
// assigned to lead without a leader that can serve it. Errors of the data
// itself (a log recovery refuses) are not the disk's and are not reported.
func (m *Manager) reportIOFailure(err error) {
	if m.opts.OnFailure == nil {
		return
	}
	var pe *fs.PathError
	var le *os.LinkError
	var errno syscall.Errno
	if errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &errno) {
		m.opts.OnFailure(err)
	}
}

// topicIDFile records which topic a partition directory belongs to, so a
// topic deleted and re-created under the same name while this node was down
// never serves the old topic's data.
const topicIDFile = "partition.metadata"

// claimDir makes dir belong to the topic with the given id: a directory of
// another topic with the same name is deleted first.
func (m *Manager) claimDir(dir string, id [16]byte) error {
	want := "topic_id: " + hex.EncodeToString(id[:]) + "\n"
	b, err := os.ReadFile(filepath.Join(dir, topicIDFile))
	switch {
	case err == nil && string(b) == want:
		return nil
	case err == nil:
		m.opts.Logger.Warn("partition directory belongs to an older topic of the same name; deleting it",
			"dir", dir, "found", string(b), "want", want)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove old partition dir %s: %w", dir, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read %s: %w", filepath.Join(dir, topicIDFile), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create partition dir %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, topicIDFile+".tmp")
	if err := os.WriteFile(tmp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, topicIDFile)); err != nil {
		return fmt.Errorf("install %s: %w", topicIDFile, err)
	}
	return nil
}

// Get returns the partition, or nil when this node does not run it.
func (m *Manager) Get(topic string, index int32) *Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.parts[topic][index]
}

// Partitions returns the partitions of a topic run here, by index.
func (m *Manager) Partitions(topic string) []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.parts[topic]))
	for _, p := range m.parts[topic] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Topics lists the topics with at least one partition run here.
func (m *Manager) Topics() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.parts))
	for t := range m.parts {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
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

// All is every partition replica run here, ordered by topic.
func (m *Manager) All() []*Partition { return m.all() }

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
		for _, p := range m.parts[t] {
			out = append(out, p)
		}
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

// DefaultHighWatermarkCheckpointInterval is how often the high watermarks
// are saved (Kafka's replica.high.watermark.checkpoint.interval.ms).
const DefaultHighWatermarkCheckpointInterval = 5 * time.Second

// CheckpointHighWatermarks saves every partition's high watermark where it
// moved since the last save.
func (m *Manager) CheckpointHighWatermarks() {
	for _, p := range m.all() {
		if err := p.checkpointHW(); err != nil && !errors.Is(err, partlog.ErrClosed) {
			m.opts.Logger.Warn("high watermark checkpoint failed", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
}

// RunHighWatermarkCheckpoints saves the high watermarks every interval
// (<= 0: DefaultHighWatermarkCheckpointInterval) until ctx ends; Close saves
// them a last time.
func (m *Manager) RunHighWatermarkCheckpoints(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultHighWatermarkCheckpointInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.CheckpointHighWatermarks()
		}
	}
}

// Abandon stops every partition log without writing anything more
// (partlog.Log.Abandon): what a node does when its disk failed.
func (m *Manager) Abandon() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, parts := range m.parts {
		for _, p := range parts {
			p.log.Abandon()
		}
	}
	m.parts = map[string]map[int32]*Partition{}
}

// Close saves the high watermarks, then flushes and closes every partition
// log.
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
	m.parts = map[string]map[int32]*Partition{}
	return errors.Join(errs...)
}
