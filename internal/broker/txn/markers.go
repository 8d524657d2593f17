package txn

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Marker retry backoff bounds: a partition whose leader moves is retried
// soon, one that stays unavailable at most every maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// startMarkers starts writing the markers of m, which was just persisted in
// PrepareCommit or PrepareAbort, and then completes it. c.mu must be held.
func (c *Coordinator) startMarkers(m *meta) {
	tp := c.part(m.partition)
	if c.closed || tp.ctx == nil {
		return
	}
	var markers []Marker
	for _, t := range m.sortedTopics() {
		for _, p := range m.partitionsOf(t) {
			markers = append(markers, Marker{Topic: t, Partition: p, ProducerID: m.pid, ProducerEpoch: m.epoch,
				Commit: m.state == StatePrepareCommit, CoordinatorEpoch: tp.epoch})
		}
	}
	c.wg.Add(1)
	go c.complete(tp.ctx, m.partition, tp.gen, m.id, markers)
}

// complete writes the markers until each is written or its partition is
// gone, then persists CompleteCommit/CompleteAbort. It stops when the
// partition is unloaded: the next coordinator resumes from the log.
func (c *Coordinator) complete(ctx context.Context, p int32, gen uint64, id string, markers []Marker) {
	defer c.wg.Done()
	backoff := minBackoff
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for len(markers) > 0 {
		if ctx.Err() != nil {
			return
		}
		var errs []error
		if c.cfg.Markers != nil {
			errs = c.cfg.Markers.WriteMarkers(ctx, markers)
		}
		var retry []Marker
		for i, mk := range markers {
			var err error = kerr.CoordinatorNotAvailable
			if i < len(errs) {
				err = errs[i]
			}
			switch {
			case err == nil:
			case c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(mk.Topic, mk.Partition):
				c.logger.Warn("partition of a transaction is gone; no marker written there",
					"transactional_id", id, "topic", mk.Topic, "partition", mk.Partition)
			case errors.Is(err, kerr.TransactionCoordinatorFenced):
				// A newer coordinator owns the transaction now.
				c.logger.Warn("fenced by a newer transaction coordinator; stopped writing markers",
					"transactional_id", id, "topic", mk.Topic, "partition", mk.Partition, "coordinator_epoch", mk.CoordinatorEpoch)
				return
			case errors.Is(err, kerr.InvalidProducerEpoch):
				// The partition has seen a newer epoch of the producer:
				// this transaction is over there.
				c.logger.Warn("partition knows a newer producer epoch; marker skipped",
					"transactional_id", id, "topic", mk.Topic, "partition", mk.Partition, "err", err)
			default:
				retry = append(retry, mk)
				if ctx.Err() == nil {
					c.logger.Debug("write transaction marker; retrying", "transactional_id", id,
						"topic", mk.Topic, "partition", mk.Partition, "err", err)
				}
			}
		}
		markers = retry
		if len(markers) > 0 && !wait() {
			return
		}
	}
	backoff = minBackoff
	for {
		c.mu.Lock()
		tp := c.part(p)
		m := tp.ids[id]
		if tp.gen != gen || tp.status != partitionLoaded || m == nil || m.pending ||
			(m.state != StatePrepareCommit && m.state != StatePrepareAbort) {
			c.mu.Unlock()
			return
		}
		next := m.clone()
		next.state = StateCompleteAbort
		if m.state == StatePrepareCommit {
			next.state = StateCompleteCommit
		}
		next.parts = map[string]map[int32]struct{}{}
		next.updateMs = c.now().UnixMilli()
		err := c.persist(ctx, m, next)
		c.mu.Unlock()
		if err == nil || errors.Is(err, kerr.NotCoordinator) {
			if err == nil {
				c.logger.Debug("transaction completed", "transactional_id", id, "state", next.state)
			}
			return
		}
		if !wait() {
			return
		}
	}
}
