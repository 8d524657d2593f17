package group

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// acquire waits for the right to write g's records to the offsets log.
func (c *Coordinator) acquire(ctx context.Context, g *group) int16 {
	select {
	case g.sem <- struct{}{}:
		return 0
	case <-ctx.Done():
		return kerr.RequestTimedOut.Code
	case <-c.done:
		return kerr.CoordinatorNotAvailable.Code
	}
}

func release(g *group) { <-g.sem }

// persist writes kvs to g's partition of the offsets log and reports whether
// that worked, logging msg when not. c.mu is held on entry and on return but
// released for the write; g.sem, held by the caller, keeps g's writes in order.
// Callers must check g.unloaded afterwards: when g's partition was unloaded
// during the write, the record is in the log but whether the state now
// served (by the next load, here or elsewhere) has it depends on when that
// load read the log, so the answer is NOT_COORDINATOR and the client retries
// where the group now lives.
func (c *Coordinator) persist(ctx context.Context, g *group, nowMs int64, kvs []keyValue, msg string) bool {
	_, ok := c.persistAt(ctx, g, nowMs, kvs, msg)
	return ok
}

// persistAt is persist that also returns the offset the batch got (-1 when
// nothing was written): commits remember it to order regular and
// transactional commits of one partition as the log does.
func (c *Coordinator) persistAt(ctx context.Context, g *group, nowMs int64, kvs []keyValue, msg string) (int64, bool) {
	if len(kvs) == 0 {
		return -1, true
	}
	return c.appendBatch(ctx, g, buildBatch(nowMs, kvs), msg)
}

// appendBatch writes b to g's partition with c.mu released (see persist).
func (c *Coordinator) appendBatch(ctx context.Context, g *group, b []byte, msg string) (int64, bool) {
	g.writing = true
	c.mu.Unlock()
	base, err := c.log.Append(ctx, c.Partition(g.id), b)
	c.mu.Lock()
	g.writing = false
	if err != nil {
		c.logger.Warn(msg, "group", g.id, "err", err)
		return -1, false
	}
	return base, true
}

// OffsetCommit stores offsets. Members of a group commit with their
// generation (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID and,
// while the leader is assigning, REBALANCE_IN_PROGRESS); generation -1 (and
// every v0 commit) is a "simple" commit by a client outside group management,
// allowed only while the group has no members. Committing in
// PreparingRebalance is allowed, like Kafka, so eager consumers can commit
// before they rejoin.
//
// The answer comes after OffsetsLog.Append returned; when it fails the
// offsets are not updated and the partitions get COORDINATOR_NOT_AVAILABLE.
// Topic ids (v10+) are not supported: such a request gets UNKNOWN_TOPIC_ID.
// Which versions reach here is the wire server's declaration
// (internal/broker/kafka/08_offset_commit.go).
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	fillAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	if req.Version >= 10 {
		return fillAll(kerr.UnknownTopicID.Code)
	}
	gen, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		gen, memberID = -1, ""
	}

	c.mu.Lock()
	code := c.availabilityFor(req.Group)
	var g *group
	if code == 0 {
		g = c.groups[req.Group]
		switch {
		case g != nil:
		case gen >= 0:
			// A member of a generation this coordinator does not know
			// (e.g. from before a restart): make it rejoin.
			code = kerr.IllegalGeneration.Code
		default:
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

	type pendingOffset struct {
		ti, pi    int
		topic     string
		partition int32
		e         offsetEntry
	}
	var (
		kvs     []keyValue
		pending []pendingOffset
	)
	c.mu.Lock()
	defer c.mu.Unlock()
	code = c.availabilityFor(req.Group)
	if code == 0 && g.unloaded {
		code = kerr.NotCoordinator.Code // partition reloaded meanwhile
	}
	if code == 0 && c.groups[req.Group] != g {
		code = kerr.CoordinatorNotAvailable.Code // deleted meanwhile; the retry starts afresh
	}
	if code == 0 {
		code = c.checkCommit(g, gen, memberID, req.InstanceID)
	}
	if code != 0 {
		c.dropIfUnused(g)
		return fillAll(code)
	}
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
			if req.Version < 6 {
				epoch = -1
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: epoch, metadata: md, commitMs: nowMs}
			kvs = append(kvs, keyValue{offsetKey(g.id, t.Topic, p.Partition), offsetValue(e)})
			pending = append(pending, pendingOffset{ti, pi, t.Topic, p.Partition, e})
		}
	}
	base, ok := c.persistAt(ctx, g, nowMs, kvs, "offset commit not persisted")
	if !ok {
		for _, p := range pending {
			resp.Topics[p.ti].Partitions[p.pi].ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		c.dropIfUnused(g)
		return resp
	}
	if g.unloaded {
		for _, p := range pending {
			resp.Topics[p.ti].Partitions[p.pi].ErrorCode = kerr.NotCoordinator.Code
		}
		return resp
	}
	for _, p := range pending {
		p.e.recordOffset = base
		setOffset(g.offsets, p.topic, p.partition, p.e)
	}
	return resp
}

// checkCommit validates who commits, following Kafka's order of checks.
// c.mu must be held.
func (c *Coordinator) checkCommit(g *group, gen int32, memberID string, instanceID *string) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if instanceID != nil {
		if id, ok := g.static[*instanceID]; ok && id != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if gen < 0 && g.state == stateEmpty {
		return 0 // simple commit: the group only stores offsets
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if gen != g.generation {
		return kerr.IllegalGeneration.Code
	}
	c.touch(g, m)
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// fetchTopic is one requested topic; partitions nil means all of them.
type fetchTopic struct {
	topic      string
	partitions []int32
}

type fetchedPartition struct {
	partition int32
	e         offsetEntry
	ok        bool
	// unstable: asked with RequireStable while an open transaction holds
	// an offset of the partition (UNSTABLE_OFFSET_COMMIT, KIP-447).
	unstable bool
}

type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

// fetchOffsets reads committed offsets of group; all means every topic the
// group has committed offsets for. With requireStable a partition with a
// pending transactional offset is answered unstable. c.mu must be held.
func (c *Coordinator) fetchOffsets(groupID string, topics []fetchTopic, all, requireStable bool) []fetchedTopic {
	var offs map[string]map[int32]offsetEntry
	g := c.groups[groupID]
	if g != nil && g.state != stateDead {
		offs = g.offsets
	} else {
		g = nil
	}
	if all {
		topics = topics[:0]
		for _, t := range slices.Sorted(maps.Keys(offs)) {
			topics = append(topics, fetchTopic{topic: t})
		}
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		parts := t.partitions
		if all {
			parts = slices.Sorted(maps.Keys(offs[t.topic]))
		}
		for _, p := range parts {
			e, ok := offs[t.topic][p]
			unstable := requireStable && g != nil && g.hasPendingTxnOffset(t.topic, p)
			ft.parts = append(ft.parts, fetchedPartition{partition: p, e: e, ok: ok && !unstable, unstable: unstable})
		}
		out = append(out, ft)
	}
	return out
}

// code is the partition's error code in the response.
func (p fetchedPartition) code() int16 {
	if p.unstable {
		return kerr.UnstableOffsetCommit.Code
	}
	return 0
}

// fetchedValues maps a fetched partition to the response fields: offset -1,
// leader epoch -1 and empty metadata when nothing is committed.
func (p fetchedPartition) values() (offset int64, epoch int32, metadata *string) {
	if !p.ok {
		return -1, -1, kmsg.StringPtr("")
	}
	return p.e.offset, p.e.leaderEpoch, kmsg.StringPtr(p.e.metadata)
}

// OffsetFetch returns committed offsets: v0-v7 for one group (v2+: null
// topics means all), v8+ for each group of Groups. Unknown groups and
// partitions without a commit answer offset -1. Topic ids (v10+) are not
// supported: groups asking by topic id get UNKNOWN_TOPIC_ID. Which versions
// reach here is the wire server's declaration
// (internal/broker/kafka/09_offset_fetch.go).
func (c *Coordinator) OffsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			gr := kmsg.NewOffsetFetchResponseGroup()
			gr.Group = rg.Group
			if avail := c.availabilityFor(rg.Group); avail != 0 {
				gr.ErrorCode = avail
				resp.Groups = append(resp.Groups, gr)
				continue
			}
			if req.Version >= 10 && rg.Topics != nil {
				for _, t := range rg.Topics {
					rt := kmsg.NewOffsetFetchResponseGroupTopic()
					rt.TopicID = t.TopicID
					for _, p := range t.Partitions {
						rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
						rp.Partition = p
						rp.Offset = -1
						rp.ErrorCode = kerr.UnknownTopicID.Code
						rt.Partitions = append(rt.Partitions, rp)
					}
					gr.Topics = append(gr.Topics, rt)
				}
				resp.Groups = append(resp.Groups, gr)
				continue
			}
			topics := make([]fetchTopic, 0, len(rg.Topics))
			for _, t := range rg.Topics {
				topics = append(topics, fetchTopic{topic: t.Topic, partitions: t.Partitions})
			}
			for _, ft := range c.fetchOffsets(rg.Group, topics, rg.Topics == nil, req.RequireStable) {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = ft.topic
				for _, fp := range ft.parts {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition = fp.partition
					rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.values()
					rp.ErrorCode = fp.code()
					rt.Partitions = append(rt.Partitions, rp)
				}
				gr.Topics = append(gr.Topics, rt)
			}
			resp.Groups = append(resp.Groups, gr)
		}
		return resp
	}

	if avail := c.availabilityFor(req.Group); avail != 0 {
		// v2+ reads the top-level code; older versions only per partition.
		resp.ErrorCode = avail
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition = p
				rp.Offset = -1
				rp.ErrorCode = avail
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	topics := make([]fetchTopic, 0, len(req.Topics))
	for _, t := range req.Topics {
		topics = append(topics, fetchTopic{topic: t.Topic, partitions: t.Partitions})
	}
	for _, ft := range c.fetchOffsets(req.Group, topics, req.Topics == nil && req.Version >= 2, req.Version >= 7 && req.RequireStable) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = ft.topic
		for _, fp := range ft.parts {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition = fp.partition
			rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.values()
			rp.ErrorCode = fp.code()
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// OffsetDelete deletes committed offsets of some partitions by writing
// tombstones. An Empty group may lose any offset; a consumer group with
// members only those of topics none of them subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise); a non-consumer group with members
// none (NON_EMPTY_GROUP).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version

	c.mu.Lock()
	code := c.availabilityFor(req.Group)
	var g *group
	if code == 0 {
		g = c.groups[req.Group]
		switch {
		case req.Group == "":
			code = kerr.InvalidGroupID.Code
		case g == nil || g.state == stateDead:
			code = kerr.GroupIDNotFound.Code
		}
	}
	c.mu.Unlock()
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if code := c.acquire(ctx, g); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	defer release(g)

	type target struct {
		ti, pi    int
		topic     string
		partition int32
	}
	var (
		kvs     []keyValue
		targets []target
	)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.availabilityFor(req.Group) != 0:
		resp.ErrorCode = c.availabilityFor(req.Group)
	case g.unloaded:
		resp.ErrorCode = kerr.NotCoordinator.Code
	case c.groups[req.Group] != g || g.state == stateDead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.state != stateEmpty && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	subscribed, known := map[string]struct{}(nil), true
	if g.state != stateEmpty {
		subscribed, known = g.subscribedTopics()
	}
	for ti, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		_, isSubscribed := subscribed[t.Topic]
		blocked := g.state != stateEmpty && (!known || isSubscribed)
		for pi, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			_, committed := g.offsets[t.Topic][p.Partition]
			if blocked {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if committed || g.hasPendingTxnOffset(t.Topic, p.Partition) {
				// The tombstone also ends pending transactional offsets
				// of the partition (Kafka's OffsetMetadataManager).
				kvs = append(kvs, keyValue{key: offsetKey(g.id, t.Topic, p.Partition)})
				targets = append(targets, target{ti, pi, t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if !c.persist(ctx, g, c.now().UnixMilli(), kvs, "offset deletion not persisted") {
		for _, t := range targets {
			resp.Topics[t.ti].Partitions[t.pi].ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	if g.unloaded {
		resp.ErrorCode = kerr.NotCoordinator.Code
		resp.Topics = nil
		return resp
	}
	for _, t := range targets {
		deleteOffset(g.offsets, t.topic, t.partition)
		g.dropPendingTxnOffset(t.topic, t.partition)
	}
	return resp
}

// DeleteGroups deletes Empty groups (NON_EMPTY_GROUP for groups with members,
// GROUP_ID_NOT_FOUND for unknown ones) by writing tombstones for every
// offset plus the group metadata key.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		r := kmsg.NewDeleteGroupsResponseGroup()
		r.Group = id
		r.ErrorCode = c.deleteGroup(ctx, id)
		resp.Groups = append(resp.Groups, r)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	check := func(g *group) int16 {
		if code := c.availabilityFor(id); code != 0 {
			return code
		}
		switch {
		case g != nil && g.unloaded:
			return kerr.NotCoordinator.Code
		case g == nil || c.groups[id] != g || g.state == stateDead:
			return kerr.GroupIDNotFound.Code
		case g.state != stateEmpty:
			return kerr.NonEmptyGroup.Code
		}
		return 0
	}
	c.mu.Lock()
	g := c.groups[id]
	code := check(g)
	c.mu.Unlock()
	if code != 0 {
		return code
	}
	if code := c.acquire(ctx, g); code != 0 {
		return code
	}
	defer release(g)

	c.mu.Lock()
	defer c.mu.Unlock()
	if code := check(g); code != 0 {
		return code
	}
	// Dead while the tombstones are written: joins answer
	// COORDINATOR_NOT_AVAILABLE and retry, commits wait for g.sem.
	g.state = stateDead
	var kvs []keyValue
	for _, t := range slices.Sorted(maps.Keys(g.offsets)) {
		for _, p := range slices.Sorted(maps.Keys(g.offsets[t])) {
			kvs = append(kvs, keyValue{key: offsetKey(id, t, p)})
		}
	}
	// Partitions with only pending transactional offsets get a tombstone
	// too, ending those offsets, as Kafka's deleteAllOffsets does.
	pendingOnly := g.pendingTxnPartitions()
	for _, t := range slices.Sorted(maps.Keys(pendingOnly)) {
		for _, p := range pendingOnly[t] {
			kvs = append(kvs, keyValue{key: offsetKey(id, t, p)})
		}
	}
	kvs = append(kvs, keyValue{key: groupKey(id)})
	if !c.persist(ctx, g, c.now().UnixMilli(), kvs, "group deletion not persisted") {
		g.state = stateEmpty
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.unloaded {
		return kerr.NotCoordinator.Code
	}
	for _, p := range g.pending {
		c.removePending(g, p)
	}
	c.forgetTxnOffsets(g)
	if c.groups[id] == g {
		delete(c.groups, id)
	}
	c.logger.Info("group deleted", "group", id)
	return 0
}
