package txn

import (
	"math"
	"time"
)

// runTimeouts is the coordinator's background loop: every AbortInterval it
// aborts transactions open for longer than their timeout, every
// ExpireInterval it forgets ids idle for longer than IDExpiration.
func (c *Coordinator) runTimeouts() {
	defer c.wg.Done()
	abort := time.NewTicker(c.cfg.AbortInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpireInterval)
	defer expire.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-abort.C:
			c.AbortTimedOut()
		case <-expire.C:
			c.ExpireIDs()
		}
	}
}

// candidates lists the ids of loaded partitions that pick selects.
func (c *Coordinator) candidates(pick func(m *meta, nowMs int64) bool) []*meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	nowMs := c.now().UnixMilli()
	var out []*meta
	for _, tp := range c.parts {
		if tp.status != partitionLoaded {
			continue
		}
		for _, m := range tp.ids {
			if !m.pending && pick(m, nowMs) {
				out = append(out, m)
			}
		}
	}
	return out
}

func timedOut(m *meta, nowMs int64) bool {
	return m.state == StateOngoing && m.startMs >= 0 && m.startMs+int64(m.timeoutMs) < nowMs
}

// AbortTimedOut aborts every transaction open for longer than its timeout,
// as Kafka's abortTimedOutTransactions: the epoch is bumped (fencing the
// producer, KIP-890 part 1), the abort persisted and its markers written.
// The background loop calls it; it is exported for tests and tools.
func (c *Coordinator) AbortTimedOut() {
	for _, m := range c.candidates(timedOut) {
		c.mu.Lock()
		tp := c.part(m.partition)
		// Still the same state and still timed out?
		if tp.status == partitionLoaded && tp.ids[m.id] == m && !m.pending && timedOut(m, c.now().UnixMilli()) {
			next := m.clone()
			if next.epoch < math.MaxInt16 {
				next.epoch++
			}
			next.lastEpoch = -1
			next.state = StatePrepareAbort
			next.updateMs = c.now().UnixMilli()
			oldEpoch := m.epoch
			if err := c.persist(c.ctx, m, next); err == nil {
				c.logger.Info("aborting a transaction past its timeout", "transactional_id", m.id,
					"producer_id", m.pid, "producer_epoch", oldEpoch, "timeout_ms", m.timeoutMs)
				c.startMarkers(m)
			}
		}
		c.mu.Unlock()
	}
}

func expired(idle time.Duration) func(m *meta, nowMs int64) bool {
	return func(m *meta, nowMs int64) bool {
		switch m.state {
		case StateEmpty, StateCompleteCommit, StateCompleteAbort:
			return m.updateMs+idle.Milliseconds() <= nowMs
		}
		return false
	}
}

// ExpireIDs forgets (writes a tombstone for) every id without an open
// transaction whose last update is older than IDExpiration, as Kafka's
// transactional.id.expiration.ms. The background loop calls it.
func (c *Coordinator) ExpireIDs() {
	pick := expired(c.cfg.IDExpiration)
	for _, m := range c.candidates(pick) {
		c.mu.Lock()
		tp := c.part(m.partition)
		if tp.status == partitionLoaded && tp.ids[m.id] == m && !m.pending && pick(m, c.now().UnixMilli()) {
			next := m.clone()
			next.state = StateDead
			next.updateMs = c.now().UnixMilli()
			if err := c.persist(c.ctx, m, next); err == nil {
				c.logger.Info("transactional id expired", "transactional_id", m.id, "producer_id", m.pid)
			}
		}
		c.mu.Unlock()
	}
}
