// Package topicconfig holds what the broker knows about topic configuration:
// the supported topic config keys, their validation, and how overrides
// combine with broker defaults. The replicated metadata itself (which topic
// has which overrides) lives in the raft state machine, metadata/state.
package topicconfig

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// Config is a topic's effective configuration: broker defaults with the
// topic's overrides applied.
type Config struct {
	RetentionMs       int64
	RetentionBytes    int64
	SegmentBytes      int64
	SegmentMs         int64
	MinInsyncReplicas int32
	MaxMessageBytes   int32
	// CleanupPolicy is cleanup.policy: delete, compact or both.
	CleanupPolicy partlog.CleanupPolicy
	// The compaction knobs (used when CleanupPolicy compacts), as Kafka's
	// min.cleanable.dirty.ratio, min.compaction.lag.ms,
	// max.compaction.lag.ms and delete.retention.ms.
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	DeleteRetentionMs      int64
	// ReplicaLagTimeMaxMs: a follower not caught up for this long leaves the ISR.
	ReplicaLagTimeMaxMs int64
	// UncleanLeaderElection lets an out-of-sync replica lead when no ISR
	// member is alive (losing what only the ISR had).
	UncleanLeaderElection bool
}

// EffectiveMinISR is the min.insync.replicas that acks=all produces are
// held to on a partition with replicas replicas: the configured value capped
// at the replication factor, so a topic with fewer replicas than the broker
// default stays writable. Every rule and view of min ISR uses this.
func (c Config) EffectiveMinISR(replicas int) int {
	return int(min(int64(c.MinInsyncReplicas), int64(replicas)))
}

// MinSegmentBytes is the smallest segment.bytes a topic (or the broker
// default) may have: 1 MiB, the minimum Kafka 4.0 adopted (KIP-1030) in place
// of the old 14 bytes. Smaller segments buy nothing (one default-size batch,
// max.message.bytes 1 MiB, fills one) and multiply files, directory entries,
// recovery work and the per-segment bookkeeping a node keeps in memory: with
// segment.bytes=1024 every produced batch became three files.
const MinSegmentBytes = 1 << 20

// MaxSegmentBytes is the largest segment.bytes: index entries store 32-bit
// file positions, as Kafka's do (segment.bytes is an int there).
const MaxSegmentBytes = 1<<31 - 1

// configDef describes one supported topic config key.
type configDef struct {
	get func(Config) string
	set func(*Config, string) error
	doc string
	// list: the value is a comma-separated list (Kafka's LIST type), which
	// IncrementalAlterConfigs may APPEND to and SUBTRACT from.
	list bool
}

func parseLong(min int64) func(string) (int64, error) {
	return func(v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", v)
		}
		if n < min {
			return 0, fmt.Errorf("value %d is below the minimum %d", n, min)
		}
		return n, nil
	}
}

var topicConfigDefs = map[string]configDef{
	"retention.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.RetentionMs, 10) },
		set: func(c *Config, v string) (err error) { c.RetentionMs, err = parseLong(-1)(v); return },
		doc: "delete segments whose newest record is older than this; -1 keeps forever",
	},
	"retention.bytes": {
		get: func(c Config) string { return strconv.FormatInt(c.RetentionBytes, 10) },
		set: func(c *Config, v string) (err error) { c.RetentionBytes, err = parseLong(-1)(v); return },
		doc: "delete the oldest segments while a partition is larger than this; -1 is unlimited",
	},
	"segment.bytes": {
		get: func(c Config) string { return strconv.FormatInt(c.SegmentBytes, 10) },
		set: func(c *Config, v string) error {
			n, err := parseLong(MinSegmentBytes)(v)
			if err == nil && n > MaxSegmentBytes {
				err = fmt.Errorf("value %d is above the maximum %d (index positions are 32-bit)", n, MaxSegmentBytes)
			}
			c.SegmentBytes = n
			return err
		},
		doc: "roll a new segment when the active one reaches this size (at least 1 MiB)",
	},
	"segment.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.SegmentMs, 10) },
		set: func(c *Config, v string) (err error) { c.SegmentMs, err = parseLong(1)(v); return },
		doc: "roll a new segment when the active one is this old",
	},
	"min.insync.replicas": {
		get: func(c Config) string { return strconv.Itoa(int(c.MinInsyncReplicas)) },
		set: func(c *Config, v string) error {
			n, err := parseLong(1)(v)
			if err == nil && n > 1<<15 {
				err = fmt.Errorf("value %d is too large", n)
			}
			c.MinInsyncReplicas = int32(n)
			return err
		},
		doc: "acks=all produces are refused while the ISR is smaller than this",
	},
	"max.message.bytes": {
		get: func(c Config) string { return strconv.Itoa(int(c.MaxMessageBytes)) },
		set: func(c *Config, v string) error {
			n, err := parseLong(0)(v)
			if err == nil && n > 1<<31-1 {
				err = fmt.Errorf("value %d is too large", n)
			}
			c.MaxMessageBytes = int32(n)
			return err
		},
		doc: "largest record batch a producer may send",
	},
	"replica.lag.time.max.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.ReplicaLagTimeMaxMs, 10) },
		set: func(c *Config, v string) (err error) { c.ReplicaLagTimeMaxMs, err = parseLong(100)(v); return },
		doc: "a follower not caught up to the leader for this long is removed from the ISR",
	},
	"unclean.leader.election.enable": {
		get: func(c Config) string { return strconv.FormatBool(c.UncleanLeaderElection) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil || (v != "true" && v != "false") {
				return fmt.Errorf("want true or false, got %q", v)
			}
			c.UncleanLeaderElection = b
			return nil
		},
		doc: "let a replica outside the ISR lead when no ISR member is alive (may lose acknowledged data)",
	},
	"cleanup.policy": {
		get:  func(c Config) string { return FormatCleanupPolicy(c.CleanupPolicy) },
		set:  func(c *Config, v string) (err error) { c.CleanupPolicy, err = ParseCleanupPolicy(v); return },
		doc:  "delete: remove old segments by retention; compact: keep the latest record per key; compact,delete: both",
		list: true,
	},
	"min.cleanable.dirty.ratio": {
		get: func(c Config) string { return strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64) },
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			switch {
			case err != nil || math.IsNaN(f):
				return fmt.Errorf("not a number: %q", v)
			case f < 0 || f > 1:
				return fmt.Errorf("value %v is outside [0, 1]", f)
			}
			c.MinCleanableDirtyRatio = f
			return nil
		},
		doc: "compact a partition once its uncleaned bytes are at least this share of its log",
	},
	"min.compaction.lag.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.MinCompactionLagMs, 10) },
		set: func(c *Config, v string) (err error) { c.MinCompactionLagMs, err = parseLong(0)(v); return },
		doc: "records stay uncompacted for at least this long after they were written",
	},
	"max.compaction.lag.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.MaxCompactionLagMs, 10) },
		set: func(c *Config, v string) (err error) { c.MaxCompactionLagMs, err = parseLong(1)(v); return },
		doc: "records older than this are compacted whatever the dirty ratio",
	},
	"delete.retention.ms": {
		get: func(c Config) string { return strconv.FormatInt(c.DeleteRetentionMs, 10) },
		set: func(c *Config, v string) (err error) { c.DeleteRetentionMs, err = parseLong(0)(v); return },
		doc: "how long a compacted topic keeps tombstones (records without value) for consumers to see them",
	},
}

// Names lists the supported topic config keys, sorted.
func Names() []string {
	names := make([]string, 0, len(topicConfigDefs))
	for k := range topicConfigDefs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// IsKey reports whether name is a supported topic config key.
func IsKey(name string) bool {
	_, ok := topicConfigDefs[name]
	return ok
}

// IsList reports whether a topic config key holds a list (Kafka's LIST
// type): IncrementalAlterConfigs' APPEND and SUBTRACT apply to it.
func IsList(name string) bool { return topicConfigDefs[name].list }

// EditList is what IncrementalAlterConfigs' APPEND (subtract false) or
// SUBTRACT does to a list value: items of edit are added once where
// missing, or removed. Items are trimmed; the result is comma-separated.
func EditList(current, edit string, subtract bool) string {
	var out []string
	for _, item := range strings.Split(current, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	for _, item := range strings.Split(edit, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case subtract:
			out = slices.DeleteFunc(out, func(s string) bool { return s == item })
		case !slices.Contains(out, item):
			out = append(out, item)
		}
	}
	return strings.Join(out, ",")
}

// Doc is the one-line description of a topic config key.
func Doc(name string) string { return topicConfigDefs[name].doc }

// Value renders one key of an effective config.
func (c Config) Value(name string) string {
	d, ok := topicConfigDefs[name]
	if !ok {
		return ""
	}
	return d.get(c)
}

// Resolve applies overrides to defaults. An unknown key or a bad value is an
// error naming the key.
func Resolve(defaults Config, overrides map[string]string) (Config, error) {
	c := defaults
	// Sorted so that the first error reported is deterministic.
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := topicConfigDefs[k]
		if !ok {
			return c, fmt.Errorf("unknown topic config %q", k)
		}
		if err := d.set(&c, overrides[k]); err != nil {
			return c, fmt.Errorf("topic config %s: %w", k, err)
		}
	}
	if err := c.check(); err != nil {
		return c, err
	}
	return c, nil
}

// check validates what no single key can: the combinations.
func (c Config) check() error {
	if c.MaxCompactionLagMs < c.MinCompactionLagMs {
		return fmt.Errorf("topic config max.compaction.lag.ms %d is below min.compaction.lag.ms %d", c.MaxCompactionLagMs, c.MinCompactionLagMs)
	}
	return nil
}

// Kafka's defaults of the compaction knobs (LogConfig).
const (
	DefaultMinCleanableDirtyRatio = 0.5
	DefaultMinCompactionLagMs     = 0
	DefaultMaxCompactionLagMs     = math.MaxInt64
	DefaultDeleteRetentionMs      = 86400000
)

// The cleanup.policy values, as Kafka spells them.
const (
	PolicyDelete  = "delete"
	PolicyCompact = "compact"
)

// ParseCleanupPolicy reads cleanup.policy, a list in Kafka's syntax:
// comma-separated "delete" and "compact" in any order, spaces around the
// commas allowed.
func ParseCleanupPolicy(v string) (partlog.CleanupPolicy, error) {
	if strings.TrimSpace(v) == "" {
		return 0, fmt.Errorf("empty: want %q, %q or both", PolicyDelete, PolicyCompact)
	}
	var compact, del bool
	for _, item := range strings.Split(v, ",") {
		switch strings.TrimSpace(item) {
		case PolicyCompact:
			compact = true
		case PolicyDelete:
			del = true
		default:
			return 0, fmt.Errorf("%q is not a list of %q and %q", v, PolicyDelete, PolicyCompact)
		}
	}
	switch {
	case compact && del:
		return partlog.CleanupCompactDelete, nil
	case compact:
		return partlog.CleanupCompact, nil
	default:
		return partlog.CleanupDelete, nil
	}
}

// FormatCleanupPolicy renders a cleanup policy as Kafka's list.
func FormatCleanupPolicy(p partlog.CleanupPolicy) string {
	switch p {
	case partlog.CleanupCompact:
		return PolicyCompact
	case partlog.CleanupCompactDelete:
		return PolicyCompact + "," + PolicyDelete
	default:
		return PolicyDelete
	}
}
