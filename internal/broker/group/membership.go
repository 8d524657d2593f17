package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup adds or refreshes a member and blocks until the rebalance it
// takes part in completes, ctx ends (REBALANCE_IN_PROGRESS: the member
// stays, as in Kafka, and will be dropped if it never syncs), the group's
// partition is unloaded (NOT_COORDINATOR) or the coordinator closes
// (COORDINATOR_NOT_AVAILABLE).
//
// A v4+ dynamic member joining with an empty member id gets
// MEMBER_ID_REQUIRED with a generated id and must join again with it
// (KIP-394). A static member (v5+ group instance id) that rejoins with an
// empty member id replaces its old member id; when the group is Stable and
// its protocols are unchanged it gets the current generation back without a
// rebalance (KIP-345), and a caller still using the old id is fenced with
// FENCED_INSTANCE_ID.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	c.mu.Lock()
	resp, wait := c.join(req, clientFrom(ctx), ch)
	c.mu.Unlock()
	if !wait {
		return resp
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return joinError(req.Version, req.MemberID, kerr.RebalanceInProgress.Code)
	case <-c.done:
		select {
		case r := <-ch: // answered just before the close
			return r
		default:
		}
		return joinError(req.Version, req.MemberID, kerr.CoordinatorNotAvailable.Code)
	}
}

// join handles a JoinGroup under c.mu: either an immediate answer, or
// wait=true when the answer will arrive on ch.
func (c *Coordinator) join(req *kmsg.JoinGroupRequest, ci ClientInfo, ch chan *kmsg.JoinGroupResponse) (resp *kmsg.JoinGroupResponse, wait bool) {
	fail := func(code int16) (*kmsg.JoinGroupResponse, bool) {
		return joinError(req.Version, req.MemberID, code), false
	}
	if code := c.availabilityFor(req.Group); code != 0 {
		return fail(code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	session, _ := joinTimeouts(req)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return fail(kerr.UnknownMemberID.Code)
		}
		g = newGroup(req.Group)
		c.groups[req.Group] = g
	}
	if g.state == stateDead {
		// Being deleted right now; the client retries and finds a new group.
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if !g.supports(req.ProtocolType, req.Protocols) {
		c.dropIfUnused(g)
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if req.MemberID == "" {
		return c.joinNew(g, req, ci, ch)
	}
	return c.joinKnown(g, req, ci, ch)
}

func newMember(id string, req *kmsg.JoinGroupRequest, ci ClientInfo) *member {
	m := &member{
		id:          id,
		clientID:    ci.ClientID,
		host:        ci.Host,
		protocols:   copyProtocols(req.Protocols),
		joinVersion: req.Version,
	}
	if req.InstanceID != nil {
		id := *req.InstanceID
		m.instanceID = &id
	}
	m.sessionTimeout, m.rebalanceTimeout = joinTimeouts(req)
	return m
}

// joinNew handles a join with an empty member id.
func (c *Coordinator) joinNew(g *group, req *kmsg.JoinGroupRequest, ci ClientInfo, ch chan *kmsg.JoinGroupResponse) (*kmsg.JoinGroupResponse, bool) {
	if req.InstanceID != nil {
		if oldID, ok := g.static[*req.InstanceID]; ok {
			if old := g.members[oldID]; old != nil {
				return c.replaceStatic(g, old, req, ci, ch)
			}
			delete(g.static, *req.InstanceID)
		}
		// Static members are trusted to keep their id, so KIP-394's
		// extra round trip does not apply to them.
		m := newMember(newMemberID(*req.InstanceID), req, ci)
		c.addMember(g, m, req.ProtocolType, ch)
		return nil, true
	}
	prefix := ci.ClientID
	if prefix == "" {
		prefix = "member"
	}
	m := newMember(newMemberID(prefix), req, ci)
	if req.Version >= 4 {
		c.addPending(g, m)
		return joinError(req.Version, m.id, kerr.MemberIDRequired.Code), false
	}
	c.addMember(g, m, req.ProtocolType, ch)
	return nil, true
}

// joinKnown handles a join that names a member id.
func (c *Coordinator) joinKnown(g *group, req *kmsg.JoinGroupRequest, ci ClientInfo, ch chan *kmsg.JoinGroupResponse) (*kmsg.JoinGroupResponse, bool) {
	if p := g.pending[req.MemberID]; p != nil {
		c.removePending(g, p)
		c.addMember(g, newMember(p.id, req, ci), req.ProtocolType, ch)
		return nil, true
	}
	if req.InstanceID != nil {
		if id, ok := g.static[*req.InstanceID]; ok && id != req.MemberID {
			return joinError(req.Version, req.MemberID, kerr.FencedInstanceID.Code), false
		}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return joinError(req.Version, req.MemberID, kerr.UnknownMemberID.Code), false
	}
	switch g.state {
	case statePreparingRebalance:
		c.updateMember(g, m, req, ci, ch)
		c.tryCompleteJoin(g)
		return nil, true
	case stateCompletingRebalance, stateStable:
		// An unchanged follower (or anyone while the leader is still
		// assigning) just missed its response: hand the current
		// generation back. A rejoining leader or changed metadata means a
		// new assignment is wanted.
		if sameProtocols(m.protocols, req.Protocols) && (g.state == stateCompletingRebalance || m.id != g.leader) {
			c.touch(g, m)
			return c.joinResponse(g, m, req.Version), false
		}
		c.updateMember(g, m, req, ci, ch)
		c.prepareRebalance(g, "member "+m.id+" rejoined")
		return nil, true
	}
	return joinError(req.Version, req.MemberID, kerr.UnknownMemberID.Code), false
}

// replaceStatic gives the static member old, rejoining with an empty member
// id, a new member id and fences the old one (KIP-345).
func (c *Coordinator) replaceStatic(g *group, old *member, req *kmsg.JoinGroupRequest, ci ClientInfo, ch chan *kmsg.JoinGroupResponse) (*kmsg.JoinGroupResponse, bool) {
	oldID := old.id
	newID := newMemberID(*req.InstanceID)
	if old.joinCh != nil {
		old.joinCh <- joinError(old.joinVersion, oldID, kerr.FencedInstanceID.Code)
		old.joinCh = nil
	}
	if old.syncCh != nil {
		old.syncCh <- syncError(old.syncVersion, kerr.FencedInstanceID.Code)
		old.syncCh = nil
	}
	oldProtocols := old.protocols

	// The member keeps its place (join order, leadership, assignment) under
	// the new id.
	m := old
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	m.protocols = copyProtocols(req.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = joinTimeouts(req)
	m.joinVersion = req.Version
	if ci.ClientID != "" || ci.Host != "" {
		m.clientID, m.host = ci.ClientID, ci.Host
	}
	c.touch(g, m)
	c.logger.Info("static member rejoined", "group", g.id, "instance", *req.InstanceID, "old", oldID, "new", newID)

	switch g.state {
	case stateStable:
		// Before v9 a leader cannot be told to skip assigning (KIP-814),
		// so a returning static leader gets a real rebalance.
		if sameProtocols(oldProtocols, req.Protocols) && (m.id != g.leader || req.Version >= 9) {
			r := c.joinResponse(g, m, req.Version)
			r.SkipAssignment = m.id == g.leader
			return r, false
		}
		m.joinCh = ch
		c.prepareRebalance(g, "static member "+newID+" rejoined with new metadata")
	case stateCompletingRebalance:
		// The leader may be assigning to the old id; start over so the
		// new id gets an assignment.
		m.joinCh = ch
		c.prepareRebalance(g, "static member "+newID+" replaced during sync")
	case statePreparingRebalance:
		m.joinCh = ch
		c.tryCompleteJoin(g)
	default:
		return joinError(req.Version, "", kerr.UnknownMemberID.Code), false
	}
	return nil, true
}

// SyncGroup delivers the leader's assignment. A follower in
// CompletingRebalance blocks until the leader's SyncGroup arrives (or the
// rebalance is aborted: REBALANCE_IN_PROGRESS; or the group's partition is
// unloaded: NOT_COORDINATOR); in Stable the member's assignment is returned
// at once.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.mu.Lock()
	resp, wait := c.sync(req, ch)
	c.mu.Unlock()
	if !wait {
		return resp
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return syncError(req.Version, kerr.RebalanceInProgress.Code)
	case <-c.done:
		select {
		case r := <-ch:
			return r
		default:
		}
		return syncError(req.Version, kerr.CoordinatorNotAvailable.Code)
	}
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest, ch chan *kmsg.SyncGroupResponse) (*kmsg.SyncGroupResponse, bool) {
	fail := func(code int16) (*kmsg.SyncGroupResponse, bool) { return syncError(req.Version, code), false }
	if code := c.availabilityFor(req.Group); code != 0 {
		return fail(code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g := c.groups[req.Group]
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if code := g.checkMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		if m.syncCh != nil {
			m.syncCh <- syncError(m.syncVersion, kerr.RebalanceInProgress.Code)
		}
		m.syncCh = ch
		m.syncVersion = req.Version
		delete(g.pendingSync, m.id)
		c.touch(g, m)
		if m.id == g.leader {
			c.completeSync(g, req.GroupAssignment)
		}
		return nil, true
	case stateStable:
		c.synced(g, m)
		return c.syncResponse(g, m, req.Version), false
	}
	return fail(kerr.UnknownMemberID.Code)
}

// synced records that m has its assignment of the current generation.
func (c *Coordinator) synced(g *group, m *member) {
	delete(g.pendingSync, m.id)
	if len(g.pendingSync) == 0 {
		c.cancel(g.syncTimer)
		g.syncTimer = nil
	}
	c.touch(g, m)
}

// checkMember validates a member id (and static instance id) of a request
// against the group.
func (g *group) checkMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		if id, ok := g.static[*instanceID]; ok && id != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// Heartbeat keeps a member's session alive. During PreparingRebalance the
// answer is REBALANCE_IN_PROGRESS, telling the member to rejoin.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if code := c.availabilityFor(req.Group); code != 0 {
		return code
	}
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.checkMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		c.touch(g, m)
		return kerr.RebalanceInProgress.Code
	case stateCompletingRebalance, stateStable:
		c.touch(g, m)
		return 0
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup removes members (v0-v2: one member id; v3+: a list of member
// and/or group instance ids with an error each) and rebalances the rest.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.availabilityFor(req.Group); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.groups[req.Group]
	for _, l := range leaving {
		r := kmsg.NewLeaveGroupResponseMember()
		r.MemberID = l.MemberID
		r.InstanceID = l.InstanceID
		r.ErrorCode = c.leave(g, l.MemberID, l.InstanceID)
		resp.Members = append(resp.Members, r)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leave(g *group, memberID string, instanceID *string) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	id := memberID
	if instanceID != nil {
		// v3+ lets a static member leave by instance id alone.
		known, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if memberID != "" && memberID != known {
			return kerr.FencedInstanceID.Code
		}
		id = known
	}
	if p := g.pending[id]; p != nil {
		c.removePending(g, p)
		c.tryCompleteJoin(g)
		return 0
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	c.logger.Info("member left", "group", g.id, "member", id, "generation", g.generation)
	c.removeAndRebalance(g, m, "member "+id+" left")
	return 0
}

// dropIfUnused forgets a group that holds nothing at all, so failed requests
// that had to create it leave no trace. c.mu must be held.
func (c *Coordinator) dropIfUnused(g *group) {
	if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.txnOffsets) == 0 && !g.writing && c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
}
