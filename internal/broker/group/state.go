package group

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is where a classic group is in its life cycle.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is Kafka's name for the state, as DescribeGroups and ListGroups
// report it.
func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	// recordOffset is the log offset of the batch holding the commit's
	// record. When a transaction commits, its offsets replace a
	// partition's committed one only if written after it, as Kafka does:
	// a regular commit made while the transaction was open wins.
	recordOffset int64
}

// group is one consumer group. All fields are guarded by Coordinator.mu,
// except sem.
type group struct {
	id           string
	state        groupState
	protocolType string // set by the first member of an empty group
	protocol     string // selected at the end of each join phase
	generation   int32
	leader       string

	members map[string]*member
	// pending holds dynamic members that got MEMBER_ID_REQUIRED (KIP-394)
	// and have not rejoined yet; they expire after their session timeout.
	pending map[string]*member
	// static maps group.instance.id to the member id currently holding it.
	static map[string]string
	// pendingSync holds members of the current generation that have not sent
	// SyncGroup; when the rebalance timeout passes first they are removed.
	pendingSync map[string]struct{}

	joinTimer *timer // rebalance timeout (or initial delay) of PreparingRebalance
	syncTimer *timer // pending-sync timeout after a join phase

	// initialDelay is set while the first rebalance of an empty group waits
	// group.initial.rebalance.delay for more members; newMemberAdded extends it.
	initialDelay   bool
	newMemberAdded bool

	nextSeq uint64 // join order, to pick the leader

	offsets map[string]map[int32]offsetEntry
	// txnOffsets are offsets of open transactions by producer id, pending
	// until its marker (txn.go).
	txnOffsets map[int64]txnOffsets

	// unloaded is set when the group's partition was unloaded (or reloaded)
	// and g was dropped: a request still holding g answers NOT_COORDINATOR.
	unloaded bool
	// writing is set while persist writes g's records with c.mu released,
	// so that g is not dropped as unused meanwhile.
	writing bool

	// sem serialises this group's writes to the offsets log so that the log
	// and the in-memory offsets see commits and deletions in the same order.
	// It is a channel, not a mutex, so waiting for it honours ctx.
	sem chan struct{}
}

func newGroup(id string) *group {
	return &group{
		id:      id,
		members: make(map[string]*member),
		pending: make(map[string]*member),
		static:  make(map[string]string),
		offsets: make(map[string]map[int32]offsetEntry),
		sem:     make(chan struct{}, 1),
	}
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID, host   string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64
	session          *timer
	joinVersion      int16
	syncVersion      int16
	joinCh           chan *kmsg.JoinGroupResponse // non-nil while awaiting a join response
	syncCh           chan *kmsg.SyncGroupResponse // non-nil while awaiting a sync response
}

// sortedMembers returns the members in join order.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return ms
}

// candidateProtocols are the protocols every member supports.
func (g *group) candidateProtocols() map[string]struct{} {
	count := make(map[string]int)
	for _, m := range g.members {
		seen := make(map[string]bool, len(m.protocols))
		for _, p := range m.protocols {
			if !seen[p.Name] {
				seen[p.Name] = true
				count[p.Name]++
			}
		}
	}
	out := make(map[string]struct{})
	for name, n := range count {
		if n == len(g.members) {
			out[name] = struct{}{}
		}
	}
	return out
}

// supports reports whether a join with this protocol type and these
// protocols may enter the group: an empty group takes any non-empty set, a
// non-empty group needs the same type and one protocol all members support.
func (g *group) supports(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	cands := g.candidateProtocols()
	for _, p := range protocols {
		if _, ok := cands[p.Name]; ok {
			return true
		}
	}
	return false
}

// selectProtocol picks the group's protocol like Kafka: among the protocols
// every member supports, each member votes for the first one in its own
// preference order, and the most votes win (ties go to the lexically
// smallest name, to be deterministic).
func (g *group) selectProtocol() string {
	cands := g.candidateProtocols()
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if _, ok := cands[p.Name]; ok {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for name, v := range votes {
		if v > bestVotes || (v == bestVotes && name < best) {
			best, bestVotes = name, v
		}
	}
	return best
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// allJoined reports whether every known member is waiting in JoinGroup and
// no KIP-394 pending member is still expected.
func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return false
		}
	}
	return true
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// sameProtocols reports whether a rejoin carries exactly the protocols (names,
// order and metadata) the member joined with last time.
func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// copyProtocols detaches the protocols from the request's buffers.
func copyProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

// subscribedTopics is the union of the topics the members' consumer protocol
// metadata subscribes to; ok is false when some metadata does not parse, in
// which case callers must assume every topic is subscribed (like Kafka).
func (g *group) subscribedTopics() (topics map[string]struct{}, ok bool) {
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics = make(map[string]struct{})
	for _, m := range g.members {
		// Before the first protocol is selected every offered protocol
		// counts; they normally all carry the same subscription.
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if err := md.ReadFrom(p.Metadata); err != nil {
				return nil, false
			}
			for _, t := range md.Topics {
				topics[t] = struct{}{}
			}
		}
	}
	return topics, true
}

// emptyConsumerAssignment is what a "consumer" member gets when the leader
// assigned it nothing: a decodable empty assignment rather than zero bytes,
// which some clients fail to parse.
func emptyConsumerAssignment() []byte {
	a := kmsg.NewConsumerMemberAssignment()
	return a.AppendTo(nil)
}

// ---- state machine; every function below needs c.mu held ----

// touch restarts m's session timer. A member awaiting a join or sync response
// is kept alive, like Kafka: its session restarts when the response is sent.
func (c *Coordinator) touch(g *group, m *member) {
	c.cancel(m.session)
	m.session = c.schedule(m.sessionTimeout, func() {
		m.session = nil
		if g.members[m.id] != m {
			return
		}
		if m.joinCh != nil || m.syncCh != nil {
			c.touch(g, m)
			return
		}
		c.logger.Info("member session expired", "group", g.id, "member", m.id, "generation", g.generation)
		c.removeAndRebalance(g, m, "session timeout of "+m.id)
	})
}

// addPending registers a KIP-394 pending member until it rejoins or its
// session timeout passes.
func (c *Coordinator) addPending(g *group, m *member) {
	g.pending[m.id] = m
	m.session = c.schedule(m.sessionTimeout, func() {
		m.session = nil
		if g.pending[m.id] != m {
			return
		}
		delete(g.pending, m.id)
		c.logger.Debug("pending member expired", "group", g.id, "member", m.id)
		c.tryCompleteJoin(g)
		c.dropIfUnused(g) // a group created by this member alone
	})
}

func (c *Coordinator) removePending(g *group, m *member) {
	c.cancel(m.session)
	m.session = nil
	delete(g.pending, m.id)
}

// addMember puts a new member into the group, waiting in JoinGroup on ch,
// and starts or advances a rebalance.
func (c *Coordinator) addMember(g *group, m *member, protocolType string, ch chan *kmsg.JoinGroupResponse) {
	if len(g.members) == 0 {
		g.protocolType = protocolType
	}
	m.seq = g.nextSeq
	g.nextSeq++
	m.joinCh = ch
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	c.touch(g, m)
	if g.state == statePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	c.maybeRebalance(g, "member "+m.id+" joined")
}

// updateMember applies a rejoin of a known member that now waits on ch.
func (c *Coordinator) updateMember(g *group, m *member, req *kmsg.JoinGroupRequest, ci ClientInfo, ch chan *kmsg.JoinGroupResponse) {
	if m.joinCh != nil && m.joinCh != ch {
		// A second join from the same member replaces the first; if the
		// first caller is somehow still listening it should just rejoin.
		m.joinCh <- joinError(m.joinVersion, m.id, kerr.RebalanceInProgress.Code)
	}
	m.protocols = copyProtocols(req.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = joinTimeouts(req)
	m.joinVersion = req.Version
	if ci.ClientID != "" || ci.Host != "" {
		m.clientID, m.host = ci.ClientID, ci.Host
	}
	m.joinCh = ch
	c.touch(g, m)
}

// maybeRebalance starts a rebalance when the group is settled, or checks
// whether the running join phase can finish.
func (c *Coordinator) maybeRebalance(g *group, reason string) {
	switch g.state {
	case stateEmpty, stateStable, stateCompletingRebalance:
		c.prepareRebalance(g, reason)
	case statePreparingRebalance:
		c.tryCompleteJoin(g)
	}
}

// prepareRebalance moves the group to PreparingRebalance: members must rejoin
// within the rebalance timeout.
func (c *Coordinator) prepareRebalance(g *group, reason string) {
	if g.state == stateCompletingRebalance {
		// Assignments of the aborted generation are void; members waiting
		// in SyncGroup learn it and rejoin.
		for _, m := range g.members {
			m.assignment = nil
			if m.syncCh != nil {
				m.syncCh <- syncError(m.syncVersion, kerr.RebalanceInProgress.Code)
				m.syncCh = nil
			}
		}
	}
	c.cancel(g.syncTimer)
	g.syncTimer = nil
	g.pendingSync = nil

	wasEmpty := g.state == stateEmpty
	g.state = statePreparingRebalance
	c.cancel(g.joinTimer)
	g.joinTimer = nil
	rt := g.maxRebalanceTimeout()
	c.logger.Debug("preparing rebalance", "group", g.id, "generation", g.generation, "reason", reason)

	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		// Kafka's delayed initial join: wait for more members, extending
		// by the delay while new ones keep arriving, up to the rebalance
		// timeout.
		g.initialDelay = true
		g.newMemberAdded = false
		c.armInitialDelay(g, c.cfg.InitialRebalanceDelay, max(rt-c.cfg.InitialRebalanceDelay, 0))
		return
	}
	g.initialDelay = false
	g.joinTimer = c.schedule(rt, func() {
		g.joinTimer = nil
		c.completeJoin(g)
	})
	c.tryCompleteJoin(g)
}

func (c *Coordinator) armInitialDelay(g *group, delay, remaining time.Duration) {
	g.joinTimer = c.schedule(delay, func() {
		g.joinTimer = nil
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			d := min(c.cfg.InitialRebalanceDelay, remaining)
			c.armInitialDelay(g, d, remaining-d)
			return
		}
		g.initialDelay = false
		c.completeJoin(g)
	})
}

// tryCompleteJoin finishes the join phase early once everyone has rejoined.
func (c *Coordinator) tryCompleteJoin(g *group) {
	if g.state == statePreparingRebalance && !g.initialDelay && g.allJoined() {
		c.completeJoin(g)
	}
}

// completeJoin ends the join phase: members that did not rejoin are removed,
// the generation advances, a protocol and leader are chosen, and every
// waiting member gets its JoinGroup response (only the leader's lists the
// members).
func (c *Coordinator) completeJoin(g *group) {
	if g.state != statePreparingRebalance {
		return
	}
	c.cancel(g.joinTimer)
	g.joinTimer = nil
	g.initialDelay = false

	for _, m := range g.sortedMembers() {
		if m.joinCh == nil {
			c.logger.Info("member did not rejoin within the rebalance timeout", "group", g.id, "member", m.id)
			c.removeMember(g, m, kerr.UnknownMemberID.Code)
		}
	}

	g.generation++
	if g.generation <= 0 {
		g.generation = 1 // wrapped; generations stay positive
	}
	if len(g.members) == 0 {
		g.state = stateEmpty
		g.protocol = ""
		g.leader = ""
		c.logger.Info("group is empty", "group", g.id, "generation", g.generation)
		return
	}

	ms := g.sortedMembers()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ms[0].id
	}
	g.protocol = g.selectProtocol()
	if g.protocol == "" {
		// Cannot happen while joins are checked with supports; if it does,
		// the group starts over rather than hand out a broken generation.
		c.logger.Error("no protocol common to all members", "group", g.id)
		for _, m := range ms {
			c.removeMember(g, m, kerr.InconsistentGroupProtocol.Code)
		}
		g.state = stateEmpty
		g.leader = ""
		return
	}
	g.state = stateCompletingRebalance
	g.pendingSync = make(map[string]struct{}, len(ms))
	for _, m := range ms {
		g.pendingSync[m.id] = struct{}{}
		m.joinCh <- c.joinResponse(g, m, m.joinVersion)
		m.joinCh = nil
		c.touch(g, m)
	}
	c.logger.Info("group rebalanced", "group", g.id, "generation", g.generation,
		"protocol", g.protocol, "leader", g.leader, "members", len(ms))

	g.syncTimer = c.schedule(g.maxRebalanceTimeout(), func() {
		g.syncTimer = nil
		c.expirePendingSync(g)
	})
}

// expirePendingSync removes members that never sent SyncGroup for the
// current generation, then rebalances without them.
func (c *Coordinator) expirePendingSync(g *group) {
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	if len(g.pendingSync) == 0 {
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			c.logger.Info("member did not sync within the rebalance timeout", "group", g.id, "member", id)
			c.removeMember(g, m, kerr.UnknownMemberID.Code)
		}
	}
	g.pendingSync = nil
	c.prepareRebalance(g, "members failed to sync")
}

// completeSync stores the leader's assignment, makes the group Stable and
// answers every member waiting in SyncGroup.
func (c *Coordinator) completeSync(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment) {
	byID := make(map[string][]byte, len(assignments))
	for _, a := range assignments {
		byID[a.MemberID] = a.MemberAssignment
	}
	for _, m := range g.members {
		m.assignment = bytes.Clone(byID[m.id])
		if len(m.assignment) == 0 && g.protocolType == "consumer" {
			m.assignment = emptyConsumerAssignment()
		}
	}
	g.state = stateStable
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- c.syncResponse(g, m, m.syncVersion)
			m.syncCh = nil
			c.touch(g, m)
		}
	}
	if len(g.pendingSync) == 0 {
		c.cancel(g.syncTimer)
		g.syncTimer = nil
	}
	c.logger.Debug("group stable", "group", g.id, "generation", g.generation)
}

// releaseMember answers m's waiting join or sync with code and stops its
// session timer. c.mu must be held.
func (c *Coordinator) releaseMember(m *member, code int16) {
	if m.joinCh != nil {
		m.joinCh <- joinError(m.joinVersion, m.id, code)
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncError(m.syncVersion, code)
		m.syncCh = nil
	}
	c.cancel(m.session)
	m.session = nil
}

// removeMember takes m out of the group without rebalancing; a caller
// waiting for m's join or sync response gets code.
func (c *Coordinator) removeMember(g *group, m *member, code int16) {
	c.releaseMember(m, code)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
}

// removeAndRebalance removes m and lets the others rebalance without it.
func (c *Coordinator) removeAndRebalance(g *group, m *member, reason string) {
	c.removeMember(g, m, kerr.UnknownMemberID.Code)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.prepareRebalance(g, reason)
	case statePreparingRebalance:
		c.tryCompleteJoin(g)
	}
}

// joinResponse is the successful JoinGroup answer for m in the current
// generation.
func (c *Coordinator) joinResponse(g *group, m *member, version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.ProtocolType = kmsg.StringPtr(g.protocolType)
	r.Protocol = kmsg.StringPtr(g.protocol)
	r.LeaderID = g.leader
	r.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			r.Members = append(r.Members, kmsg.JoinGroupResponseMember{
				MemberID:         o.id,
				InstanceID:       o.instanceID,
				ProtocolMetadata: o.metadataFor(g.protocol),
			})
		}
	}
	return r
}

func (c *Coordinator) syncResponse(g *group, m *member, version int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ProtocolType = kmsg.StringPtr(g.protocolType)
	r.Protocol = kmsg.StringPtr(g.protocol)
	r.MemberAssignment = m.assignment
	return r
}

func joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberID = memberID
	r.Generation = -1
	return r
}

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	return r
}

// joinTimeouts reads the member's timeouts; before v1 there is no rebalance
// timeout and Kafka uses the session timeout.
func joinTimeouts(req *kmsg.JoinGroupRequest) (session, rebalance time.Duration) {
	session = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		rebalance = session
	}
	return session, rebalance
}

// stateMatches reports whether state passes a ListGroups states filter;
// Kafka compares case-insensitively.
func stateMatches(filter []string, state string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, state) {
			return true
		}
	}
	return false
}
