package api

import (
	"strconv"
	"time"
)

// The log cleaner (log compaction) as the admin API shows it: per node
// ([NodeInfo.LogCleaner]) and per compacted partition replica
// ([PartitionInfo.Cleaner], [PartitionRow.Cleaner]). Like everywhere in
// this API, "how long ago" is an age in seconds measured by the answering
// node (nil: never), so nodes' clocks need not agree.

// Cleanup policies in [PartitionCleaner.CleanupPolicy]: only the ones the
// cleaner works on (a delete-only partition has no cleaner object).
const (
	CleanupCompact       = "compact"
	CleanupCompactDelete = "compact,delete"
)

// LogCleaner is one node's log cleaner: the goroutine that compacts every
// compacted partition replica the node hosts, leaders and followers alike.
type LogCleaner struct {
	Enabled bool `json:"enabled"` // --log-cleaner-enable
	// Running: the cleaner goroutine is alive. Enabled but not running
	// means it stopped or crashed, and no compacted partition here shrinks.
	Running        bool   `json:"running"`
	Passes         uint64 `json:"passes"`          // cleaning passes since the node started
	BytesReclaimed int64  `json:"bytes_reclaimed"` // bytes those passes removed
	// LastPassSeconds is how long ago the last pass ended; nil: none yet.
	LastPassSeconds *float64 `json:"last_pass_seconds"`
	LastError       string   `json:"last_error,omitempty"`
	// UncleanablePartitions counts the replicas the cleaner skips after a
	// pass failed on them (PartitionCleaner.Uncleanable says why).
	UncleanablePartitions int `json:"uncleanable_partitions"`
	// The node's settings: the offset map's memory, the I/O throttle (0:
	// unlimited) and the pause between rounds when nothing is due.
	DedupeBufferBytes   int64   `json:"dedupe_buffer_bytes"`
	IOMaxBytesPerSecond float64 `json:"io_max_bytes_per_second"`
	BackoffSeconds      float64 `json:"backoff_seconds"`
}

// PartitionCleaner is the cleaner's view of one compacted partition
// replica, as the node hosting it reports it. Offsets below
// FirstDirtyOffset are clean (at most one record per key); a pass started
// now would clean up to CleanableEnd (the replica's high watermark, the
// active segment and min.compaction.lag.ms bound it).
type PartitionCleaner struct {
	CleanupPolicy    string `json:"cleanup_policy"` // one of the Cleanup* constants
	FirstDirtyOffset int64  `json:"first_dirty_offset"`
	CleanableEnd     int64  `json:"cleanable_end"`
	// DirtyRatio is DirtyBytes / (CleanBytes + DirtyBytes); the cleaner
	// picks the partition once it reaches MinCleanableRatio
	// (min.cleanable.dirty.ratio).
	DirtyRatio        float64 `json:"dirty_ratio"`
	MinCleanableRatio float64 `json:"min_cleanable_ratio"`
	DirtyBytes        int64   `json:"dirty_bytes"`
	CleanBytes        int64   `json:"clean_bytes"`
	// OldestDirtySeconds is the age of the oldest dirty data (nil: none);
	// once it exceeds MaxCompactionLagSeconds (max.compaction.lag.ms; 0:
	// none) the partition is due whatever its dirty ratio.
	OldestDirtySeconds      *float64 `json:"oldest_dirty_seconds"`
	MaxCompactionLagSeconds float64  `json:"max_compaction_lag_seconds"`
	// Due: the cleaner should clean it now (ratio reached or lag exceeded).
	Due bool `json:"due"`
	// DueSeconds is how long the node's cleaner has found it due in every
	// round (nil: not due at its last round, or no round yet).
	DueSeconds *float64 `json:"due_seconds,omitempty"`
	// Since the replica's log was opened: how long ago the last pass ended
	// (nil: none), how long it took, bytes removed, passes.
	LastCleanSeconds         *float64 `json:"last_clean_seconds"`
	LastCleanDurationSeconds float64  `json:"last_clean_duration_seconds"`
	BytesReclaimed           int64    `json:"bytes_reclaimed"`
	Passes                   uint64   `json:"passes"`
	// Uncleanable is why the cleaner skips this replica (a pass failed on
	// it); empty when it does not. UncleanableSeconds is for how long.
	Uncleanable        string   `json:"uncleanable,omitempty"`
	UncleanableSeconds *float64 `json:"uncleanable_seconds,omitempty"`
}

// Summary is one line for tables: "dirty 42% (min 50%), cleaned 3m0s ago,
// 12.5 MB reclaimed", or the reason it is uncleanable.
func (c PartitionCleaner) Summary() string {
	if c.Uncleanable != "" {
		return "UNCLEANABLE: " + c.Uncleanable
	}
	s := "dirty " + Percent(c.DirtyRatio) + " (min " + Percent(c.MinCleanableRatio) + ")"
	if c.Due {
		s += " due"
	}
	return s + ", cleaned " + AgeText(c.LastCleanSeconds) + ", " + HumanBytes(float64(c.BytesReclaimed)) + " reclaimed"
}

// Percent prints a ratio as a whole percentage: 0.423 is "42%".
func Percent(ratio float64) string {
	return strconv.FormatFloat(ratio*100, 'f', 0, 64) + "%"
}

// AgeText prints an age in seconds as "3m0s ago", rounded to the second
// past a minute; nil is "never".
func AgeText(seconds *float64) string {
	if seconds == nil {
		return "never"
	}
	d := time.Duration(*seconds * float64(time.Second))
	if d >= time.Minute {
		d = d.Round(time.Second)
	} else {
		d = d.Round(100 * time.Millisecond)
	}
	return d.String() + " ago"
}
