package group

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// Transactional offset commits (KIP-98, KIP-447). A TxnOffsetCommit writes
// the offsets to the group's partition of __consumer_offsets as a
// transactional batch of the producer and keeps them pending: they become
// the group's committed offsets when the transaction coordinator's COMMIT
// marker for that producer lands on the same partition (CompleteTxn), and
// are dropped by an ABORT marker. Loading a partition replays the same
// rules from the log (records.go).

// txnOffsets are one producer's pending offsets in one group:
// topic -> partition -> entry.
type txnOffsets map[string]map[int32]offsetEntry

// txnProducer is what a partition of __consumer_offsets knows of one
// transactional producer. Guarded by Coordinator.mu.
type txnProducer struct {
	// epoch and nextSeq continue the producer's sequence on this
	// partition: its batches here are written by coordinators only, so the
	// sequence is the coordinators' own, learnt from the log on load.
	epoch   int16
	nextSeq int32
	// groups holds the groups with offsets pending from this producer.
	groups map[string]struct{}
	// writes counts its TxnOffsetCommit writes in flight; while any is,
	// markers are remembered so a write that lands before a marker but
	// returns after it still gets that marker's outcome.
	writes  int
	markers []seenMarker
}

type seenMarker struct {
	offset int64
	commit bool
}

// producer returns p's state for pid, creating it. c.mu must be held.
func (c *Coordinator) producer(p int32, pid int64) *txnProducer {
	ps := &c.parts[p]
	if ps.producers == nil {
		ps.producers = make(map[int64]*txnProducer)
	}
	tp := ps.producers[pid]
	if tp == nil {
		tp = &txnProducer{epoch: -1, groups: make(map[string]struct{})}
		ps.producers[pid] = tp
	}
	return tp
}

// TxnOffsetCommit stores offsets as part of the producer's transaction.
// The caller (the wire server) has checked that the producer added this
// group's partition of __consumer_offsets to its transaction (KIP-890:
// AddOffsetsToTxn, verified with the transaction coordinator). Checks
// follow Kafka's GroupCoordinator: the coordinator must be here; v3+
// (KIP-447) with a member id, generation or group instance id must name a
// current member (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID) of the current
// generation (ILLEGAL_GENERATION); a producer epoch older than the one this
// partition knows is INVALID_PRODUCER_EPOCH. The offsets are pending until
// the transaction ends.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	fillAll := func(code int16) *kmsg.TxnOffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	if req.ProducerID < 0 || req.ProducerEpoch < 0 {
		return fillAll(kerr.InvalidProducerIDMapping.Code)
	}
	gen, memberID, instanceID := int32(-1), "", (*string)(nil)
	if req.Version >= 3 {
		gen, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}

	c.mu.Lock()
	code := c.availabilityFor(req.Group)
	var g *group
	if code == 0 {
		switch g = c.groups[req.Group]; {
		case g != nil:
		case gen >= 0:
			code = kerr.IllegalGeneration.Code // a generation of a group unknown here
		default:
			// Kafka creates a "simple" group: a transactional producer
			// may store offsets for a group nobody joined.
			g = newGroup(req.Group)
			c.groups[req.Group] = g
		}
	}
	c.mu.Unlock()
	if code != 0 {
		return fillAll(code)
	}
	if code := c.acquire(ctx, g); code != 0 {
		c.mu.Lock()
		c.dropIfUnused(g)
		c.mu.Unlock()
		return fillAll(code)
	}
	defer release(g)

	c.mu.Lock()
	defer c.mu.Unlock()
	code = c.availabilityFor(req.Group)
	if code == 0 && g.unloaded {
		code = kerr.NotCoordinator.Code
	}
	if code == 0 && c.groups[req.Group] != g {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code == 0 {
		code = checkTxnCommit(g, gen, memberID, instanceID)
	}
	part := c.Partition(g.id)
	var tp *txnProducer
	if code == 0 {
		tp = c.producer(part, req.ProducerID)
		if req.ProducerEpoch < tp.epoch {
			code = kerr.InvalidProducerEpoch.Code
		}
	}
	if code != 0 {
		c.dropIfUnused(g)
		return fillAll(code)
	}

	type target struct {
		ti, pi    int
		topic     string
		partition int32
		e         offsetEntry
	}
	var (
		kvs     []keyValue
		targets []target
	)
	nowMs := c.now().UnixMilli()
	for ti, t := range req.Topics {
		for pi, p := range t.Partitions {
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > MaxMetadataBytes {
				resp.Topics[ti].Partitions[pi].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := p.LeaderEpoch
			if req.Version < 2 {
				epoch = -1
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: epoch, metadata: md, commitMs: nowMs}
			kvs = append(kvs, keyValue{offsetKey(g.id, t.Topic, p.Partition), offsetValue(e)})
			targets = append(targets, target{ti, pi, t.Topic, p.Partition, e})
		}
	}
	if len(kvs) == 0 {
		c.dropIfUnused(g)
		return resp
	}
	seq := tp.nextSeq
	if req.ProducerEpoch > tp.epoch {
		seq = 0 // a new epoch restarts the sequence
	}
	b := buildBatch(nowMs, kvs)
	batch.SetProducer(b, req.ProducerID, req.ProducerEpoch, seq, true, false)
	tp.writes++
	g.writing = true
	c.mu.Unlock()
	base, err := c.log.AppendTxn(ctx, part, req.TransactionalID, b)
	c.mu.Lock()
	g.writing = false
	tp.writes--
	ok := err == nil
	if !ok {
		c.logger.Info("transactional offset commit not persisted", "group", g.id,
			"transactional_id", req.TransactionalID, "producer_id", req.ProducerID, "epoch", req.ProducerEpoch, "err", err)
	}
	markers := tp.markers
	if tp.writes == 0 {
		tp.markers = nil
	}
	if ok || errors.Is(err, ErrNotCommitted) {
		// The log took the batch: the producer's sequence moves on
		// whatever happens to the partition's groups meanwhile (else the
		// next batch would reuse it and be taken for a duplicate).
		tp.epoch = req.ProducerEpoch
		tp.nextSeq = seq + int32(len(kvs))
	}
	fail := func(code int16) *kmsg.TxnOffsetCommitResponse {
		for _, t := range targets {
			resp.Topics[t.ti].Partitions[t.pi].ErrorCode = code
		}
		c.dropIfUnused(g)
		return resp
	}
	switch {
	case !ok:
		return fail(txnAppendError(err))
	case g.unloaded:
		return fail(kerr.NotCoordinator.Code)
	}
	for _, t := range targets {
		t.e.recordOffset = base
		pend := g.txnOffsets[req.ProducerID]
		if pend == nil {
			pend = make(txnOffsets)
			if g.txnOffsets == nil {
				g.txnOffsets = make(map[int64]txnOffsets)
			}
			g.txnOffsets[req.ProducerID] = pend
		}
		setOffset(pend, t.topic, t.partition, t.e)
	}
	tp.groups[g.id] = struct{}{}
	// A marker of this producer committed after the batch while it was
	// being written: the first one after it decides, as on replay.
	for _, m := range markers {
		if m.offset > base {
			c.completeGroup(g, tp, req.ProducerID, m.commit)
			break
		}
	}
	return resp
}

// txnAppendError is the answer to a TxnOffsetCommit whose batch was not
// written, mapped as Kafka's GroupMetadataManager maps append errors: the
// producer's own errors (fenced, epochs, sequences, a transaction the
// coordinator does not know) as they are, a lost leadership as
// NOT_COORDINATOR, anything else as the retriable COORDINATOR_NOT_AVAILABLE.
func txnAppendError(err error) int16 {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.InvalidTxnState, kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping,
		kerr.OutOfOrderSequenceNumber, kerr.TransactionalIDAuthorizationFailed, kerr.TransactionCoordinatorFenced:
		return ke.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		return kerr.InvalidCommitOffsetSize.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// checkTxnCommit is Kafka's ClassicGroup.validateOffsetCommit for a
// transactional commit: generation -1 commits to an Empty group; without
// member id, generation and instance id (v0-v2, or a producer outside group
// management) anyone may commit; otherwise the member (or the static
// instance's member) must be current and of the current generation. Unlike
// a regular commit there is no REBALANCE_IN_PROGRESS. c.mu must be held.
func checkTxnCommit(g *group, gen int32, memberID string, instanceID *string) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if gen < 0 && (g.state == stateEmpty || memberID == "" && instanceID == nil) {
		return 0
	}
	if instanceID != nil {
		id, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case id != memberID:
			return kerr.FencedInstanceID.Code
		}
	} else if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	if gen != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// CompleteTxn applies the outcome of producerID's transaction to the groups
// of partition of __consumer_offsets: the broker calls it once the
// producer's COMMIT (commit true) or ABORT marker, at markerOffset, is
// committed on that partition. COMMIT makes the producer's pending offsets
// the groups' committed offsets, except where a regular commit was written
// after them; ABORT drops them. Partitions not loaded here are ignored (the
// next load replays the marker); a load in progress applies the markers
// past the end of its replay when it installs.
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, commit bool, markerOffset int64) {
	if c.checkPartition(partition) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := &c.parts[partition]
	switch ps.status {
	case partitionLoading:
		ps.loadMarkers = append(ps.loadMarkers, loadMarker{producerID: producerID, commit: commit, offset: markerOffset})
		return
	case partitionLoaded:
		c.completeTxnLocked(partition, producerID, commit, markerOffset)
	}
}

// loadMarker is a marker reported while its partition was loading.
type loadMarker struct {
	producerID int64
	commit     bool
	offset     int64
}

// completeTxnLocked is CompleteTxn for a loaded partition. c.mu must be
// held.
func (c *Coordinator) completeTxnLocked(partition int32, producerID int64, commit bool, markerOffset int64) {
	ps := &c.parts[partition]
	tp := ps.producers[producerID]
	if tp == nil {
		return
	}
	if tp.writes > 0 {
		tp.markers = append(tp.markers, seenMarker{offset: markerOffset, commit: commit})
	}
	for _, id := range slices.Sorted(maps.Keys(tp.groups)) {
		if g := c.groups[id]; g != nil {
			c.completeGroup(g, tp, producerID, commit)
		}
	}
	clear(tp.groups)
}

// completeGroup ends producerID's pending offsets in g. c.mu must be held.
func (c *Coordinator) completeGroup(g *group, tp *txnProducer, producerID int64, commit bool) {
	pend := g.txnOffsets[producerID]
	delete(g.txnOffsets, producerID)
	delete(tp.groups, g.id)
	if commit {
		applyTxnOffsets(g.offsets, pend)
	}
	c.dropIfUnused(g)
}

// applyTxnOffsets puts committed transactional offsets into offs where no
// later regular commit exists (Kafka compares the commit records' offsets).
func applyTxnOffsets(offs map[string]map[int32]offsetEntry, pend txnOffsets) {
	for t, parts := range pend {
		for p, e := range parts {
			if cur, ok := offs[t][p]; ok && cur.recordOffset > e.recordOffset {
				continue
			}
			setOffset(offs, t, p, e)
		}
	}
}

// hasPendingTxnOffset reports whether some open transaction holds an offset
// of topic/partition for g (OffsetFetch RequireStable, KIP-447). c.mu must
// be held.
func (g *group) hasPendingTxnOffset(topic string, partition int32) bool {
	for _, pend := range g.txnOffsets {
		if _, ok := pend[topic][partition]; ok {
			return true
		}
	}
	return false
}

// dropPendingTxnOffset removes topic/partition from every open transaction
// of g: a regular tombstone for it (OffsetDelete, DeleteGroups) wins over
// them, as in Kafka's replay of such a tombstone. c.mu must be held.
func (g *group) dropPendingTxnOffset(topic string, partition int32) {
	for pid, pend := range g.txnOffsets {
		deleteOffset(pend, topic, partition)
		if len(pend) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
}

// pendingTxnPartitions lists the partitions g holds only pending offsets
// for (none committed), sorted. c.mu must be held.
func (g *group) pendingTxnPartitions() map[string][]int32 {
	out := make(map[string][]int32)
	for _, pend := range g.txnOffsets {
		for t, parts := range pend {
			for p := range parts {
				if _, ok := g.offsets[t][p]; ok || slices.Contains(out[t], p) {
					continue
				}
				out[t] = append(out[t], p)
			}
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// forgetTxnOffsets drops every pending offset of a deleted group. c.mu must
// be held.
func (c *Coordinator) forgetTxnOffsets(g *group) {
	p := &c.parts[c.Partition(g.id)]
	for pid := range g.txnOffsets {
		if tp := p.producers[pid]; tp != nil {
			delete(tp.groups, g.id)
		}
	}
	g.txnOffsets = nil
}
