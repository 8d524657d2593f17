package group

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrSuperseded is wrapped by the error of a LoadPartition that an
// UnloadPartition or a newer LoadPartition of the same partition overtook:
// it installed nothing, and whoever overtook it decides what the partition
// holds. Callers driven by leadership changes can ignore it.
var ErrSuperseded = errors.New("superseded by a later load or unload")

// errClosed is returned by loads once Close was called.
var errClosed = errors.New("coordinator closed")

// partitionStatus is what this node does for one partition of
// __consumer_offsets.
type partitionStatus uint8

const (
	// partitionUnloaded: not coordinated here; its groups get NOT_COORDINATOR.
	partitionUnloaded partitionStatus = iota
	// partitionLoading: a load is replaying it; its groups get
	// COORDINATOR_LOAD_IN_PROGRESS.
	partitionLoading
	// partitionFailed: the last load failed. Still ours, so its groups keep
	// getting COORDINATOR_LOAD_IN_PROGRESS until a retry or an unload.
	partitionFailed
	// partitionLoaded: its groups are served.
	partitionLoaded
)

// offsetsPartition is the coordinator's state for one partition of
// __consumer_offsets. Guarded by Coordinator.mu.
type offsetsPartition struct {
	status partitionStatus
	// gen is bumped by every load and unload. A load remembers the value it
	// set and installs its replay only if gen still has it, so a load
	// overtaken by an unload (or a newer load) never installs stale state.
	gen uint64
	// cancel stops the scan of the load in flight; nil when none.
	cancel context.CancelFunc
	// producers are the transactional producers that wrote here (txn.go);
	// reset by every load and unload.
	producers map[int64]*txnProducer
	// loadMarkers are the markers reported while a load runs: the replay
	// may have read the log before them, so the load applies those past
	// its end once installed.
	loadMarkers []loadMarker
}

// stopLoad cancels the scan of the load in flight, if any.
func (ps *offsetsPartition) stopLoad() {
	if ps.cancel != nil {
		ps.cancel()
		ps.cancel = nil
	}
}

func (c *Coordinator) checkPartition(p int32) error {
	if p < 0 || p >= c.cfg.OffsetsPartitions {
		return fmt.Errorf("offsets partition %d out of range [0, %d)", p, c.cfg.OffsetsPartitions)
	}
	return nil
}

// LoadPartition makes this node the coordinator of the groups of partition p
// of __consumer_offsets: it replays the partition (later records win,
// tombstones delete) and then serves its groups, each Empty with its
// committed offsets; members rejoin. While it runs those groups get
// COORDINATOR_LOAD_IN_PROGRESS. Whatever was held for p before is dropped
// first, so loading a loaded partition reloads it from the log (leadership
// was lost and regained; the log may have changed).
//
// If an UnloadPartition or another LoadPartition of p overtakes it, the load
// installs nothing and returns an error wrapping ErrSuperseded. If the replay
// fails, p keeps answering COORDINATOR_LOAD_IN_PROGRESS until LoadPartition
// is retried or UnloadPartition is called.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32) error {
	if err := c.checkPartition(p); err != nil {
		return fmt.Errorf("load offsets: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("load offsets partition %d: %w", p, errClosed)
	}
	gen, lctx := c.startLoad(ctx, p)
	c.mu.Unlock()
	return c.runLoad(lctx, p, gen)
}

// UnloadPartition stops coordinating the groups of partition p of
// __consumer_offsets (this node no longer leads it): their JoinGroup and
// SyncGroup calls still waiting answer NOT_COORDINATOR, their timers stop,
// a load of p in flight is abandoned, and later requests for them get
// NOT_COORDINATOR until p is loaded again. Unloading a partition that is not
// loaded is a no-op; p out of range is ignored.
func (c *Coordinator) UnloadPartition(p int32) {
	if c.checkPartition(p) != nil {
		c.logger.Warn("unload of an unknown offsets partition ignored", "partition", p)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := &c.parts[p]
	ps.stopLoad()
	ps.gen++
	was := ps.status
	ps.status = partitionUnloaded
	ps.producers, ps.loadMarkers = nil, nil
	n := c.dropPartition(p)
	if was != partitionUnloaded {
		c.logger.Info("offsets partition unloaded", "partition", p, "groups", n)
	}
}

// Load loads every partition of __consumer_offsets that is neither loaded
// nor loading, for a node that coordinates every group (a single node).
// Every such partition answers COORDINATOR_LOAD_IN_PROGRESS from the start
// of the call until its own replay is done. Partitions that fail stay
// loading and are retried by the next Load; the error reports the first
// failure. A second Load after a successful one does nothing.
func (c *Coordinator) Load(ctx context.Context) error {
	type job struct {
		p   int32
		gen uint64
		ctx context.Context
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("load offsets: %w", errClosed)
	}
	var jobs []job
	for i := range c.parts {
		if s := c.parts[i].status; s == partitionUnloaded || s == partitionFailed {
			p := int32(i)
			gen, lctx := c.startLoad(ctx, p)
			jobs = append(jobs, job{p, gen, lctx})
		}
	}
	c.mu.Unlock()

	// Every started load must run to its end, even after a failure, or its
	// partition would stay "loading" with nobody loading it.
	var first error
	failed := 0
	for _, j := range jobs {
		err := c.runLoad(j.ctx, j.p, j.gen)
		if err != nil && !errors.Is(err, ErrSuperseded) {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("load offsets: %d of %d partitions failed: %w", failed, len(jobs), first)
	}
	return nil
}

// startLoad marks p loading, drops what was held for it and returns the
// generation the load must still find to install, with the context its scan
// runs under (cancelled when the load is overtaken or the coordinator
// closes). c.mu must be held.
func (c *Coordinator) startLoad(ctx context.Context, p int32) (uint64, context.Context) {
	ps := &c.parts[p]
	ps.stopLoad()
	ps.gen++
	ps.status = partitionLoading
	ps.producers, ps.loadMarkers = nil, nil
	if n := c.dropPartition(p); n > 0 {
		c.logger.Info("offsets partition reloading", "partition", p, "dropped", n)
	}
	lctx, cancel := context.WithCancel(ctx)
	ps.cancel = cancel
	return ps.gen, lctx
}

// runLoad replays p into a private state, so requests never see half a
// partition, and installs it if the load started as gen is still current.
func (c *Coordinator) runLoad(ctx context.Context, p int32, gen uint64) error {
	start := time.Now()
	st := newLoadState()
	err := c.log.Scan(ctx, p, func(b []byte) error { return st.applyBatch(p, b) })

	c.mu.Lock()
	defer c.mu.Unlock()
	ps := &c.parts[p]
	switch {
	case ps.gen != gen:
		// Checked first: an overtaken load's scan error (often just its
		// cancelled context) is of no interest.
		return fmt.Errorf("load offsets partition %d: %w", p, ErrSuperseded)
	case c.closed:
		return fmt.Errorf("load offsets partition %d: %w", p, errClosed)
	}
	ps.stopLoad() // releases the context; the scan is over
	if err != nil {
		ps.status = partitionFailed
		return fmt.Errorf("load offsets partition %d: %w", p, err)
	}
	installed, foreign := 0, 0
	for id, offs := range st.offsets {
		if c.Partition(id) != p {
			// Written under another partition count; the group's
			// coordinator is whoever leads its own partition.
			foreign++
			continue
		}
		g := newGroup(id)
		g.offsets = offs
		c.groups[id] = g
		installed++
	}
	// Transactions still open at the end of the log keep their offsets
	// pending until their markers arrive (CompleteTxn).
	for pid, seq := range st.producers {
		tp := c.producer(p, pid)
		tp.epoch, tp.nextSeq = seq.epoch, seq.nextSeq
	}
	for pid, groups := range st.pending {
		for id, pend := range groups {
			if c.Partition(id) != p {
				continue
			}
			g := c.groups[id]
			if g == nil {
				g = newGroup(id)
				c.groups[id] = g
				installed++
			}
			if g.txnOffsets == nil {
				g.txnOffsets = make(map[int64]txnOffsets)
			}
			g.txnOffsets[pid] = pend
			c.producer(p, pid).groups[id] = struct{}{}
		}
	}
	ps.status = partitionLoaded
	for _, m := range ps.loadMarkers {
		if m.offset >= st.end {
			c.completeTxnLocked(p, m.producerID, m.commit, m.offset)
		}
	}
	ps.loadMarkers = nil
	c.logger.Info("offsets partition loaded", "partition", p, "groups", installed,
		"records", st.records, "skipped", st.skipped, "took", time.Since(start))
	if foreign > 0 {
		c.logger.Warn("offsets of groups that belong to other partitions ignored", "partition", p, "groups", foreign)
	}
	return nil
}

// dropPartition forgets every group of p and returns how many there were.
// c.mu must be held.
func (c *Coordinator) dropPartition(p int32) int {
	n := 0
	for id, g := range c.groups {
		if c.Partition(id) != p {
			continue
		}
		c.dropGroup(g)
		delete(c.groups, id)
		n++
	}
	return n
}

// dropGroup stops everything g has running because this node stops
// coordinating it: waiting joins and syncs answer NOT_COORDINATOR (the
// client finds the new coordinator and rejoins there) and every timer is
// cancelled. Requests still holding g (offset writes in flight) see
// g.unloaded and answer NOT_COORDINATOR too. c.mu must be held.
func (c *Coordinator) dropGroup(g *group) {
	code := kerr.NotCoordinator.Code
	for _, m := range g.members {
		c.releaseMember(m, code)
	}
	for _, m := range g.pending {
		c.cancel(m.session)
		m.session = nil
	}
	c.cancel(g.joinTimer)
	g.joinTimer = nil
	c.cancel(g.syncTimer)
	g.syncTimer = nil
	g.unloaded = true
}
