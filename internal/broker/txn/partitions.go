package txn

import (
	"context"
	"fmt"
)

func (c *Coordinator) checkPartition(p int32) error {
	if p < 0 {
		return fmt.Errorf("transaction state partition %d out of range", p)
	}
	return nil
}

// LoadPartition makes this node the coordinator of the ids of partition p
// of __transaction_state, at coordinator epoch epoch (the partition's leader
// epoch here): it replays the partition (later records win, tombstones
// delete), then serves its ids and resumes writing the markers of every
// transaction that was deciding (PrepareCommit/PrepareAbort) when the
// previous coordinator stopped. While it runs those ids get
// COORDINATOR_LOAD_IN_PROGRESS. Whatever was held for p before is dropped
// first. A load overtaken by an unload or another load installs nothing and
// returns an error wrapping ErrSuperseded; a failed replay leaves p
// answering COORDINATOR_LOAD_IN_PROGRESS until a retry or an unload.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32, epoch int32) error {
	if err := c.checkPartition(p); err != nil {
		return fmt.Errorf("load transactions: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("load transaction state partition %d: %w", p, errClosed)
	}
	tp := c.part(p)
	tp.stop()
	tp.gen++
	gen := tp.gen
	tp.status, tp.epoch, tp.ids = partitionLoading, epoch, nil
	tp.ctx, tp.cancel = context.WithCancel(c.ctx)
	lctx := tp.ctx
	c.mu.Unlock()

	ids := map[string]*meta{}
	scanCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // the scan also ends when the load is superseded
		select {
		case <-lctx.Done():
			stop()
		case <-scanCtx.Done():
		}
	}()
	err := c.log.Scan(scanCtx, p, func(b []byte) error { return replay(ids, p, b) })

	c.mu.Lock()
	defer c.mu.Unlock()
	if tp.gen != gen {
		return fmt.Errorf("load transaction state partition %d: %w", p, ErrSuperseded)
	}
	if err != nil {
		tp.status = partitionFailed
		return fmt.Errorf("load transaction state partition %d: %w", p, err)
	}
	tp.ids, tp.status = ids, partitionLoaded
	deciding := 0
	for _, m := range ids {
		if m.state == StatePrepareCommit || m.state == StatePrepareAbort {
			deciding++
			c.startMarkers(m)
		}
	}
	c.logger.Info("transaction state partition loaded", "partition", p, "coordinator_epoch", epoch,
		"transactional_ids", len(ids), "resumed", deciding)
	return nil
}

// UnloadPartition stops coordinating the ids of partition p (this node no
// longer leads it): marker sending for them stops, a load in flight is
// abandoned, and their requests get NOT_COORDINATOR until p is loaded again.
func (c *Coordinator) UnloadPartition(p int32) {
	if c.checkPartition(p) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := c.part(p)
	tp.stop()
	tp.gen++
	was := tp.status
	tp.status, tp.ids = partitionUnloaded, nil
	if was != partitionUnloaded {
		c.logger.Info("transaction state partition unloaded", "partition", p)
	}
}
