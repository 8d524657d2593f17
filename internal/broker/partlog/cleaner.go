package partlog

import (
	"errors"
	"time"
)

// CleanupPolicy is a topic's cleanup.policy as the log applies it. The zero
// value is Kafka's default, delete.
type CleanupPolicy uint8

const (
	// CleanupDelete: retention deletes old segments; nothing is compacted.
	CleanupDelete CleanupPolicy = iota
	// CleanupCompact: the cleaner keeps the latest record per key;
	// retention deletes nothing.
	CleanupCompact
	// CleanupCompactDelete: both.
	CleanupCompactDelete
)

// Compacts reports whether the cleaner works on logs with this policy.
func (p CleanupPolicy) Compacts() bool { return p == CleanupCompact || p == CleanupCompactDelete }

// Deletes reports whether retention deletes segments of logs with this policy.
func (p CleanupPolicy) Deletes() bool { return p == CleanupDelete || p == CleanupCompactDelete }

// CleanerState is what the cleaner knows of a log: for picking the dirtiest
// log and for the tools.
type CleanerState struct {
	// FirstDirtyOffset is the persisted cleaner checkpoint: offsets below it
	// have been cleaned (log start when never cleaned).
	FirstDirtyOffset int64
	// CleanableEnd is where a pass started now would stop: the least of the
	// upTo given (the high watermark), the active segment's base and the
	// first segment younger than min.compaction.lag.ms.
	CleanableEnd int64
	CleanBytes   int64   // bytes of the segments below FirstDirtyOffset
	DirtyBytes   int64   // bytes of the segments in [FirstDirtyOffset, CleanableEnd)
	DirtyRatio   float64 // DirtyBytes / (CleanBytes + DirtyBytes); 0 when nothing is cleanable
	// OldestDirty is when the oldest dirty segment was first written to
	// (zero when none): max.compaction.lag.ms is measured from it.
	OldestDirty time.Time
	// Due: DirtyRatio reached min.cleanable.dirty.ratio, or the oldest dirty
	// data is older than max.compaction.lag.ms.
	Due bool
	// Since the log was opened:
	LastClean         time.Time // end of the last successful pass; zero if none
	LastCleanDuration time.Duration
	BytesReclaimed    int64 // bytes the passes removed
	Passes            uint64
}

// CompactOptions steer one cleaning pass.
type CompactOptions struct {
	// UpTo: nothing at or past this offset is cleaned or used to decide
	// what is superseded (the replica's high watermark: what every in-sync
	// replica has, so replicas clean the same data).
	UpTo int64
	// Map holds the keys of the dirty section; a cleaner reuses one across
	// passes. Its size bounds how much of the dirty section one pass covers.
	Map *OffsetMap
	// Throttle bounds the bytes read and written per second; nil is unlimited.
	Throttle *Throttle
}

// CompactResult describes one cleaning pass.
type CompactResult struct {
	// The pass mapped the keys of [FirstDirty, End) and cleaned every
	// inactive segment below End; End is the new FirstDirtyOffset.
	FirstDirty, End   int64
	BytesRead         int64
	BytesWritten      int64
	BytesReclaimed    int64
	SegmentsBefore    int
	SegmentsAfter     int
	RecordsRemoved    int64
	TombstonesRemoved int64
	Duration          time.Duration
}

// ErrNothingToClean means a pass found no dirty inactive segment below UpTo.
var ErrNothingToClean = errors.New("nothing to clean")

// ErrCleanAborted means retention or truncation changed the segments a
// pass was rewriting; the pass stopped and left them as they were. A later
// pass starts afresh: it says nothing about the log's data.
var ErrCleanAborted = errors.New("log changed during the cleaning pass; pass aborted")
