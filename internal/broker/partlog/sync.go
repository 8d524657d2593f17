package partlog

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// requestSync asks the syncer for a pass; requests made while one is pending
// merge into it.
func (l *Log) requestSync() {
	select {
	case l.syncReq <- struct{}{}:
	default:
	}
}

// runSyncer is the Log's one goroutine. It runs fsync passes on request
// (group commit and rolled segments) and, under FlushInterval, on a ticker.
// Close stops it before the final flush.
func (l *Log) runSyncer() {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.flush == FlushInterval {
		t := time.NewTicker(l.flushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.stop:
			return
		case <-l.syncReq:
		case <-tick:
		}
		// The pass snapshots the log end after this read, so it covers at
		// least end.
		l.mu.RLock()
		end := l.leo
		l.mu.RUnlock()
		l.syncMu.Lock()
		done := l.nextDone
		l.nextDone = make(chan struct{})
		l.passDone, l.passEnd = done, end
		l.syncMu.Unlock()
		// Errors are sticky in failErr, where Sync and Append find them.
		_ = l.syncPass()
		l.syncMu.Lock()
		l.passDone = nil
		l.syncMu.Unlock()
		close(done)
	}
}

// StartSync starts an fsync pass now under FlushAlways without waiting for
// it: a follower that copied a fetch response into many partition logs
// starts them all and then Syncs each, so the logs fsync in parallel. A
// no-op under the other policies.
func (l *Log) StartSync() {
	if l.flush == FlushAlways {
		l.requestSync()
	}
}

// syncPass fsyncs what was appended before it started: rolled segments
// (data and indexes) and, unless the policy is FlushNever, the active
// segment's data. The active segment's indexes are not fsynced: after a
// crash Open rebuilds them from the data. mu is held only to take the
// snapshot and to publish the result, never during fsync.
func (l *Log) syncPass() error {
	l.mu.RLock()
	if l.failErr != nil {
		l.mu.RUnlock()
		return l.failErr
	}
	target := l.leo
	gen := l.truncGen
	rolled := slices.Clone(l.unsynced)
	act := l.active()
	includeActive := l.flush != FlushNever
	l.mu.RUnlock()

	dirtyActive := includeActive && l.durable.Load() < target
	if len(rolled) == 0 && !dirtyActive {
		return nil
	}
	start := time.Now()
	var err error
	if l.beforeFsync != nil {
		if err = l.beforeFsync(); err != nil {
			err = fmt.Errorf("fsync: %w", err)
		}
	}
	for _, s := range rolled {
		if err != nil {
			break
		}
		synced, e := s.syncFiles(true)
		if e != nil {
			err = e
			break
		}
		if synced {
			l.fsyncs.Add(1)
		}
	}
	if err == nil && dirtyActive {
		var synced bool
		if synced, err = act.syncFiles(false); synced {
			l.fsyncs.Add(1)
		}
	}
	// Timed with the monotonic clock; stamped with Options.Now so that
	// tests can age passes out of the window.
	took := time.Since(start)
	l.fsyncRec.Add(took, l.now())
	if l.onFsync != nil {
		l.onFsync(took)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages;
		// a later fsync could succeed without them. Refuse further writes,
		// and never count what this pass covered as durable.
		l.failLocked(err)
		return err
	}
	if gen == l.truncGen {
		l.unsynced = slices.DeleteFunc(l.unsynced, func(s *segment) bool { return slices.Contains(rolled, s) })
		// Rolled segments now on disk may have their files closed while idle.
		for _, s := range rolled {
			if slices.Contains(l.segs, s) {
				s.unpin()
			}
		}
	} else if len(l.unsynced) > 0 {
		// A truncation ran meanwhile and may have made a rolled segment
		// active and rolled it again with new data: fsync what is still
		// listed once more before trusting it.
		l.requestSync()
	}
	if gen == l.truncGen {
		newDurable := act.base
		if includeActive {
			newDurable = target
		}
		if len(l.unsynced) > 0 {
			newDurable = min(newDurable, l.unsynced[0].base)
		}
		if newDurable > l.durable.Load() {
			l.durable.Store(newDurable)
		}
	}
	// Everything below the oldest segment still unsynced (or the active
	// one) is on disk with its indexes: Open need not scan it again.
	rp := l.active().base
	if len(l.unsynced) > 0 {
		rp = min(rp, l.unsynced[0].base)
	}
	if rp > l.recoveryPoint && !l.closed {
		// A failure fails the log for later writes (failLocked), but what
		// this pass fsynced is durable: it only costs a longer scan at the
		// next Open.
		_ = l.writeRecoveryPointLocked(rp)
	}
	return nil
}

// Sync returns once every offset below end (capped at LogEndOffset) is
// durable. Under FlushAlways concurrent callers share fsyncs: whoever
// arrives while an fsync runs waits for it to finish, and one more fsync
// then covers all of them. Appends continue during the fsync. Under
// FlushInterval and FlushNever Sync returns at once; DurableEnd says what
// was really fsynced. ctx cancels the wait, not the fsync.
//
// Sync does not tell whether the offsets still hold the caller's data after
// a truncation; that is the replication layer's business.
func (l *Log) Sync(ctx context.Context, end int64) error {
	for {
		l.mu.RLock()
		failErr, leo := l.failErr, l.leo
		l.mu.RUnlock()
		if failErr != nil {
			return fmt.Errorf("sync to offset %d: %w", end, failErr)
		}
		if l.durable.Load() >= min(end, leo) || l.flush != FlushAlways {
			return nil
		}
		select {
		case <-l.closedCh:
			return fmt.Errorf("sync to offset %d: %w", end, ErrClosed)
		default:
		}
		// Wait for the pass running now if it covers end; otherwise take
		// the channel of the pass that has not started yet: that pass
		// snapshots the log end after our append.
		l.syncMu.Lock()
		done := l.nextDone
		running := l.passDone != nil && l.passEnd >= min(end, leo)
		if running {
			done = l.passDone
		}
		l.syncMu.Unlock()
		if !running {
			l.requestSync()
		}
		select {
		case <-done:
		case <-l.closedCh:
		case <-ctx.Done():
			return fmt.Errorf("sync to offset %d: %w", end, ctx.Err())
		}
	}
}

// DurableEnd is the offset below which everything was fsynced. Under
// FlushInterval and FlushNever it trails LogEndOffset.
func (l *Log) DurableEnd() int64 { return l.durable.Load() }

// FsyncCount is how many data-file fsyncs the log has done, for tests,
// metrics and benchmarks that check group commit.
func (l *Log) FsyncCount() uint64 { return l.fsyncs.Load() }
