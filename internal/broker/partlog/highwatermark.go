package partlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The high-watermark checkpoint is Kafka's replication-offset-checkpoint,
// one per partition directory: the last high watermark the replica layer
// saved, so a restarted replica starts from it instead of the log start.
// Text like the recovery point: a version line and the offset.
//
// The rule the Log keeps: the stored value never exceeds the log end. Every
// write is capped at the log end, a truncation lowers the value before it
// cuts, and Open lowers a value a torn tail left above the recovered end.
// A value below the log start (retention moved it) is raised to it on read.
//
// Writes take hwMu, then mu: hwMu serializes them with truncation and
// Close without holding mu (and so appends and reads) during the file's
// fsyncs.

const highWatermarkFile = "high-watermark-checkpoint"

// readHighWatermark returns the stored high watermark, or -1 when there is
// none or it cannot be read (then the replica starts from the log start, as
// it did before checkpoints existed: never too high).
func (l *Log) readHighWatermark() int64 {
	data, err := os.ReadFile(filepath.Join(l.dir, highWatermarkFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("unreadable high watermark checkpoint; starting from the log start", "err", err)
		}
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) == 2 && fields[0] == "0" {
		if hw, err := strconv.ParseInt(fields[1], 10, 64); err == nil && hw >= 0 {
			return hw
		}
	}
	l.logger.Warn("malformed high watermark checkpoint; starting from the log start", "content", string(data))
	return -1
}

// writeHighWatermarkLocked persists hw (the caller capped it at the log
// end) if it differs from the stored value. The caller holds hwMu.
func (l *Log) writeHighWatermarkLocked(hw int64) error {
	if hw == l.hwCheckpoint {
		return nil
	}
	data := fmt.Appendf(nil, "0\n%d\n", hw)
	if err := writeFileAtomic(filepath.Join(l.dir, highWatermarkFile), data); err != nil {
		return fmt.Errorf("write high watermark checkpoint: %w", err)
	}
	l.hwCheckpoint = hw
	return nil
}

// lowerHighWatermarkLocked lowers the stored high watermark to end if it is
// above: the log is about to end there. The caller holds hwMu and mu.
func (l *Log) lowerHighWatermarkLocked(end int64) error {
	if l.hwCheckpoint <= end {
		return nil
	}
	return l.writeHighWatermarkLocked(end)
}

// CheckpointedHighWatermark is the high watermark stored when the log was
// opened (or since), within [LogStartOffset, LogEndOffset]; LogStartOffset
// when none was stored.
func (l *Log) CheckpointedHighWatermark() int64 {
	l.hwMu.Lock()
	defer l.hwMu.Unlock()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return max(l.segs[0].base, min(l.hwCheckpoint, l.leo))
}

// TruncationGeneration counts the truncations of this log. A caller that
// read its high watermark together with the generation (under whatever
// orders its own truncations) passes both to CheckpointHighWatermark, which
// then refuses a value from before a later truncation.
func (l *Log) TruncationGeneration() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.truncGen
}

// CheckpointHighWatermark stores hw, capped at the log end, as the high
// watermark a reopened log starts from; nothing is written when the stored
// value is the same. gen is TruncationGeneration as of when hw was current:
// after a later truncation the call does nothing (the value may name data
// that was cut, and offsets appended since may hold other data). ErrClosed
// once the log is closed.
func (l *Log) CheckpointHighWatermark(hw int64, gen uint64) error {
	l.hwMu.Lock()
	defer l.hwMu.Unlock()
	l.mu.RLock()
	closed, failErr, curGen, leo := l.closed, l.failErr, l.truncGen, l.leo
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case failErr != nil:
		return failErr
	case gen != curGen:
		return nil
	}
	// No truncation can start until hwMu is released, so leo can only grow
	// meanwhile: the capped value stays at or below the log end.
	if err := l.writeHighWatermarkLocked(min(hw, leo)); err != nil {
		l.mu.Lock()
		l.failLocked(err)
		l.mu.Unlock()
		return err
	}
	return nil
}
