package raftnode

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// run is the Ready loop (see the package doc for the order and why).
func (n *Node) run() {
	defer close(n.loopDone)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.afterApply() // a restart with nothing to replay is already caught up with its own commit
	for {
		select {
		case <-n.stop:
			return
		case <-ticker.C:
			n.raft.Tick()
		case rd := <-n.raft.Ready():
			if err := n.handleReady(rd); err != nil {
				n.fail(err)
				return // without Advance: raft must not believe this Ready was handled
			}
			n.raft.Advance()
		}
	}
}

func (n *Node) handleReady(rd raft.Ready) error {
	// 1. Persist before anything leaves this node.
	if err := n.disk.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("persist raft state: %w: %w", ErrStorage, err)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		n.commit = rd.HardState.GetCommit()
	}
	if rd.SoftState != nil {
		n.observeSoftState(rd.SoftState)
	}
	// 2. A snapshot from the leader replaces the state machine.
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	// 3. Send; the transport never blocks.
	n.transport.Send(rd.Messages)
	// 4. Apply.
	applyErr := n.apply(rd.CommittedEntries)
	n.afterApply()
	if applyErr != nil {
		return applyErr
	}
	// 5. Snapshot and compact now and then.
	return n.maybeSnapshot()
}

// observeSoftState tracks the leader for LeaderID, Ready and Propose's no-leader check.
func (n *Node) observeSoftState(ss *raft.SoftState) {
	prev := n.lead.Swap(ss.Lead)
	if ss.Lead == 0 {
		n.leaderlessSince.CompareAndSwap(0, n.now())
	} else {
		n.leaderlessSince.Store(0)
		if !n.targetSet {
			// The first leader tells us how far the cluster has committed; Ready waits for it.
			n.readyTarget, n.targetSet = max(n.startCommit, n.commit), true
		}
	}
	if prev != ss.Lead {
		n.log.Info("raft leader changed", "leader", ss.Lead, "previous", prev, "role", roleName(ss.RaftState))
	}
	n.events.Notify()
}

func (n *Node) installSnapshot(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	index := md.GetIndex()
	if applied := n.applied.Load(); index <= applied {
		return fmt.Errorf("snapshot at index %d is not past the applied index %d", index, applied)
	}
	st, err := state.Restore(snap.GetData())
	if err != nil {
		return fmt.Errorf("restore snapshot at index %d: %w", index, err)
	}
	st.Extend(n.cfg.Commands)
	st.SetSupportedMetadataVersion(n.cfg.MaxMetadataVersion)
	n.st.Store(st)
	n.confState = proto.CloneOf(md.GetConfState())
	n.setVotersFrom(n.confState)
	n.snapIndex.Store(index)
	n.snapAttempt = index
	n.applied.Store(index)
	n.changed.Notify()
	n.events.Notify()
	n.log.Info("installed metadata snapshot from the leader", "index", index, "term", md.GetTerm(),
		"bytes", len(snap.GetData()))
	if n.hooks.onInstallSnapshot != nil {
		n.hooks.onInstallSnapshot(index)
	}
	return nil
}

// outcome is what a local proposer learns about its entry.
type outcome struct {
	res state.Result
	err error
}

type delivery struct {
	seq uint64
	out outcome
}

// batch collects what applying one Ready's committed entries produced.
type batch struct {
	base    *state.State // the published state the batch starts from
	next    *state.State // copy-on-write: cloned from base at the batch's first command
	changed bool         // some command changed next
	replies []delivery   // answers for this process's proposers
}

// apply applies committed entries in order and publishes the result. On a fatal error it
// still publishes the entries before the bad one, then returns the error.
func (n *Node) apply(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	b := &batch{base: n.st.Load()}
	applied := n.applied.Load()
	var err error
	for _, e := range ents {
		// Raft hands out each committed entry once, in order, right after the last applied
		// one; anything else would apply an entry twice or skip one.
		if e.GetIndex() != applied+1 {
			err = fmt.Errorf("committed entry %d does not follow the applied index %d", e.GetIndex(), applied)
			break
		}
		if err = n.applyEntry(b, e); err != nil {
			err = fmt.Errorf("apply entry %d: %w", e.GetIndex(), err)
			break
		}
		applied = e.GetIndex()
		if n.hooks.onApply != nil {
			n.hooks.onApply(applied)
		}
	}
	// Publish before answering: a proposer that returns must see its change in State().
	if b.changed {
		n.st.Store(b.next)
	}
	n.applied.Store(applied)
	if b.changed {
		n.changed.Notify()
	}
	n.events.Notify()
	n.reply(b.replies)
	return err
}

func (n *Node) applyEntry(b *batch, e *raftpb.Entry) error {
	switch e.GetType() {
	case raftpb.EntryNormal:
		return n.applyCommand(b, e)
	case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		return n.applyConfChange(e)
	default:
		return fmt.Errorf("unknown entry type %v", e.GetType())
	}
}

func (n *Node) applyCommand(b *batch, e *raftpb.Entry) error {
	if len(e.GetData()) == 0 {
		return nil // a new leader's empty entry
	}
	id, cmd, err := decodeEnvelope(e.GetData())
	if err != nil {
		return err
	}
	if b.next == nil {
		b.next = b.base.Clone()
	}
	res, err := b.next.Apply(cmd)
	if err != nil && !errors.Is(err, state.ErrRejected) {
		// Not a command this binary understands: stop rather than diverge.
		return err
	}
	b.changed = b.changed || err == nil
	if id.node == n.cfg.NodeID && id.incarnation == n.incarnation {
		b.replies = append(b.replies, delivery{id.seq, outcome{res, err}})
	}
	return nil
}

func (n *Node) applyConfChange(e *raftpb.Entry) error {
	var cc raftpb.ConfChangeI
	if e.GetType() == raftpb.EntryConfChange {
		var v1 raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &v1); err != nil {
			return fmt.Errorf("decode conf change: %w", err)
		}
		cc = &v1
	} else {
		var v2 raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &v2); err != nil {
			return fmt.Errorf("decode conf change: %w", err)
		}
		cc = &v2
	}
	cs := n.raft.ApplyConfChange(cc)
	if cs == nil {
		return errors.New("raft stopped while applying a conf change")
	}
	n.confState = cs
	n.setVotersFrom(cs)
	n.log.Info("raft configuration changed", "voters", cs.GetVoters(), "learners", cs.GetLearners())
	for _, c := range cc.AsV2().GetChanges() {
		if c.GetType() == raftpb.ConfChangeAddLearnerNode {
			// A new member far behind is sent the stored snapshot, and refuses one whose
			// configuration does not name it: store one that does, now.
			n.snapNow = true
		}
	}
	removed, err := n.learnAddresses(cc)
	if err != nil {
		return err
	}
	if removed {
		return ErrRemoved
	}
	return nil
}

// afterApply updates readiness and, after a restart, checks --peers once the stored
// membership has been replayed.
func (n *Node) afterApply() {
	applied := n.applied.Load()
	if n.awaitSelf {
		// A joiner knows nothing of the log before the leader's first append: it is caught
		// up only once it applied the conf change that added it, and what was committed then.
		if !slices.Contains(membersOf(n.confState), n.cfg.NodeID) {
			return
		}
		n.awaitSelf = false
		n.readyTarget = max(n.readyTarget, n.commit)
	}
	if n.targetSet && !n.caughtUp.Load() && applied >= n.readyTarget {
		n.caughtUp.Store(true)
		n.log.Info("raft node caught up", "applied", applied, "leader", n.lead.Load())
		n.events.Notify()
	}
	if !n.peersChecked && applied >= n.startCommit {
		n.peersChecked = true
		n.checkPeers()
	}
}

// checkPeers warns when --peers disagrees with the voters in the raft state, which win.
func (n *Node) checkPeers() {
	voters := slices.Concat(n.confState.GetVoters(), n.confState.GetVotersOutgoing())
	slices.Sort(voters)
	voters = slices.Compact(voters)
	if peers := sortedIDs(n.cfg.Peers); !slices.Equal(voters, peers) {
		n.log.Warn(fmt.Sprintf("ignoring --peers: this node already has raft state; voters are %v", voters),
			"peers", peers)
	}
	for _, v := range voters {
		if v != n.cfg.NodeID && n.cfg.Peers[v] == "" {
			n.log.Warn("no cluster address for a voter in --peers; it cannot be reached", "voter", v)
		}
	}
}

// maybeSnapshot snapshots the state every SnapshotEntries applied entries and compacts the
// log behind it. A state that cannot be encoded is logged and retried SnapshotEntries
// later: without a snapshot the log only grows, nothing is lost. A failed write to the
// store is fatal like a failed Save: the disk is not to be trusted with more raft state.
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	if !n.snapNow && applied-n.snapAttempt < n.cfg.SnapshotEntries {
		return nil
	}
	n.snapNow = false
	n.snapAttempt = applied
	data, err := n.st.Load().Snapshot()
	if err != nil {
		n.log.Error("snapshot metadata", "index", applied, "error", err)
		return nil
	}
	if _, err := n.disk.CreateSnapshot(applied, n.confState, data); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("store metadata snapshot at index %d: %w: %w", applied, ErrStorage, err)
	}
	n.snapIndex.Store(applied)
	keep := n.cfg.SnapshotCatchUpEntries
	if applied <= keep {
		n.log.Debug("metadata snapshot created", "index", applied, "bytes", len(data))
		return nil
	}
	err = n.disk.Compact(applied - keep)
	if err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("compact raft log to index %d: %w: %w", applied-keep, ErrStorage, err)
	}
	n.log.Debug("metadata snapshot created", "index", applied, "bytes", len(data), "log_starts_after", applied-keep)
	return nil
}

// hookedDisk runs a hook before every Save (Config.BeforeSave).
type hookedDisk struct {
	disk
	before func() error
}

func (d hookedDisk) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if err := d.before(); err != nil {
		return err
	}
	return d.disk.Save(hs, ents, snap)
}

// timedDisk tells how long every Save with something to write took
// (Config.OnSave). An empty Ready writes nothing, and timing it would
// dilute the latency of the writes that do reach the disk.
type timedDisk struct {
	disk
	observe func(time.Duration)
}

func (d timedDisk) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if len(ents) == 0 && raft.IsEmptyHardState(hs) && raft.IsEmptySnap(snap) {
		return d.disk.Save(hs, ents, snap)
	}
	start := time.Now()
	err := d.disk.Save(hs, ents, snap)
	d.observe(time.Since(start))
	return err
}

// fail stops the node as a voter after a fatal error; the loop returns right after.
func (n *Node) fail(cause error) {
	if errors.Is(cause, ErrRemoved) {
		n.log.Error("this node was removed from the cluster's raft membership; it stops following the metadata log "+
			"and must not be restarted with this data directory", "applied", n.applied.Load())
	} else {
		n.log.Error("raft node stopped: it no longer votes, replicates or applies; "+
			"fix the cause and restart the process", "error", cause, "applied", n.applied.Load())
	}
	n.halt(fmt.Errorf("raft node %d stopped: %w", n.cfg.NodeID, cause))
	n.raft.Stop()
	_ = n.transport.Close() // always nil; peers now see this node as unreachable
}

func sortedIDs(m map[uint64]string) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
