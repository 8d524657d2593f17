package group

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// formGroup brings fresh members into one generation: the first joins alone
// (and gets a generation it never syncs), the others join while it is
// assigning, then it rejoins and the join phase completes for everyone.
// It returns the join responses by member.
func formGroup(t *testing.T, c *Coordinator, ms ...*tm) map[*tm]*kmsg.JoinGroupResponse {
	t.Helper()
	join(t, c, ms[0])
	chans := make(map[*tm]<-chan *kmsg.JoinGroupResponse)
	for i, m := range ms[1:] {
		chans[m] = joinAsync(t, c, m)
		testharness.Eventually(t, testTimeout, "member to register", func() bool { return len(describe(t, c, m.group).Members) == i+2 })
	}
	chans[ms[0]] = joinRaw(t, c, ms[0].joinReq())
	out := make(map[*tm]*kmsg.JoinGroupResponse)
	for _, m := range ms {
		out[m] = joined(t, m, recv(t, chans[m]))
	}
	for _, m := range ms[1:] {
		if m.gen != ms[0].gen {
			t.Fatalf("generations differ: %d vs %d", m.gen, ms[0].gen)
		}
	}
	return out
}

// syncAll sends every member's SyncGroup (the leader's carries assign) and
// checks each got its assignment.
func syncAll(t *testing.T, c *Coordinator, leader *tm, ms []*tm, assign map[string][]byte) {
	t.Helper()
	chans := make(map[*tm]<-chan *kmsg.SyncGroupResponse)
	for _, m := range ms {
		if m != leader {
			chans[m] = syncAsync(t, c, m, nil)
		}
	}
	chans[leader] = syncAsync(t, c, leader, assign)
	for _, m := range ms {
		r := recv(t, chans[m])
		wantCode(t, "sync of "+m.id, r.ErrorCode, 0)
		if !bytes.Equal(r.MemberAssignment, assign[m.id]) {
			t.Fatalf("member %s got assignment %x, want %x", m.id, r.MemberAssignment, assign[m.id])
		}
		if r.Protocol == nil || *r.Protocol != "range" || r.ProtocolType == nil || *r.ProtocolType != "consumer" {
			t.Fatalf("sync protocol %v/%v", r.ProtocolType, r.Protocol)
		}
	}
}

func TestJoinSyncThreeMembers(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b, d := newTM("g", "t"), newTM("g", "t"), newTM("g", "t")
	resps := formGroup(t, c, a, b, d)

	if a.gen != 2 {
		t.Fatalf("generation %d, want 2 (1 was the first member alone)", a.gen)
	}
	for m, r := range resps {
		if r.LeaderID != a.id {
			t.Fatalf("leader %s, want the first member %s", r.LeaderID, a.id)
		}
		if r.Protocol == nil || *r.Protocol != "range" {
			t.Fatalf("protocol %v", r.Protocol)
		}
		if m != a && len(r.Members) != 0 {
			t.Fatalf("follower %s got the member list", m.id)
		}
	}
	lr := resps[a]
	if len(lr.Members) != 3 {
		t.Fatalf("leader got %d members, want 3", len(lr.Members))
	}
	for i, m := range []*tm{a, b, d} {
		if lr.Members[i].MemberID != m.id || !bytes.Equal(lr.Members[i].ProtocolMetadata, consumerMeta("t")) {
			t.Fatalf("member %d: %+v, want %s in join order", i, lr.Members[i], m.id)
		}
	}

	assign := map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1), d.id: assignmentFor("t", 2)}
	syncAll(t, c, a, []*tm{a, b, d}, assign)
	for _, m := range []*tm{a, b, d} {
		wantCode(t, "heartbeat", heartbeat(t, c, m), 0)
	}

	dg := describe(t, c, "g")
	if dg.State != "Stable" || dg.Protocol != "range" || dg.ProtocolType != "consumer" || len(dg.Members) != 3 {
		t.Fatalf("describe: %+v", dg)
	}
	for i, m := range []*tm{a, b, d} {
		dm := dg.Members[i]
		if dm.MemberID != m.id || dm.ClientID != "client-g" || dm.ClientHost != "127.0.0.1" ||
			!bytes.Equal(dm.MemberAssignment, assign[m.id]) || !bytes.Equal(dm.ProtocolMetadata, consumerMeta("t")) {
			t.Fatalf("describe member %d: %+v", i, dm)
		}
	}
}

func TestLeaveTriggersRebalance(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b, d := newTM("g", "t"), newTM("g", "t"), newTM("g", "t")
	formGroup(t, c, a, b, d)
	syncAll(t, c, a, []*tm{a, b, d}, map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1), d.id: assignmentFor("t", 2)})

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 4
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: d.id}, {MemberID: "nobody"}}
	lr := c.LeaveGroup(testharness.Context(t, testTimeout), leave)
	wantCode(t, "leave top level", lr.ErrorCode, 0)
	if len(lr.Members) != 2 {
		t.Fatalf("leave members: %+v", lr.Members)
	}
	wantCode(t, "leave of a member", lr.Members[0].ErrorCode, 0)
	wantCode(t, "leave of an unknown member", lr.Members[1].ErrorCode, kerr.UnknownMemberID.Code)

	wantCode(t, "heartbeat of a", heartbeat(t, c, a), kerr.RebalanceInProgress.Code)
	wantCode(t, "heartbeat of b", heartbeat(t, c, b), kerr.RebalanceInProgress.Code)
	wantCode(t, "heartbeat of the leaver", heartbeat(t, c, d), kerr.UnknownMemberID.Code)

	oldGen := a.gen
	ca, cb := joinRaw(t, c, a.joinReq()), joinRaw(t, c, b.joinReq())
	ra, rb := joined(t, a, recv(t, ca)), joined(t, b, recv(t, cb))
	if a.gen != oldGen+1 || b.gen != a.gen {
		t.Fatalf("generations %d/%d after %d", a.gen, b.gen, oldGen)
	}
	if ra.LeaderID != a.id || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("leader %s with %d members, follower %d", ra.LeaderID, len(ra.Members), len(rb.Members))
	}
	syncAll(t, c, a, []*tm{a, b}, map[string][]byte{a.id: assignmentFor("t", 0, 1), b.id: assignmentFor("t", 2)})

	// v0-v2 leave: one member, error at top level.
	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version = 1
	old.Group = "g"
	old.MemberID = "nobody"
	wantCode(t, "v1 leave of an unknown member", c.LeaveGroup(testharness.Context(t, testTimeout), old).ErrorCode, kerr.UnknownMemberID.Code)
	old.MemberID = b.id
	wantCode(t, "v1 leave", c.LeaveGroup(testharness.Context(t, testTimeout), old).ErrorCode, 0)
	wantCode(t, "heartbeat after b left", heartbeat(t, c, a), kerr.RebalanceInProgress.Code)
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	b.session = 150 * time.Millisecond
	formGroup(t, c, a, b)
	syncAll(t, c, a, []*tm{a, b}, map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1)})

	// b never heartbeats again.
	testharness.Eventually(t, testTimeout, "b to expire", func() bool {
		dg := describe(t, c, "g")
		return dg.State == "PreparingRebalance" && len(dg.Members) == 1
	})
	wantCode(t, "heartbeat of a", heartbeat(t, c, a), kerr.RebalanceInProgress.Code)
	wantCode(t, "heartbeat of b", heartbeat(t, c, b), kerr.UnknownMemberID.Code)
	oldGen := a.gen
	r := joined(t, a, recv(t, joinRaw(t, c, a.joinReq())))
	if a.gen != oldGen+1 || len(r.Members) != 1 || r.Members[0].MemberID != a.id {
		t.Fatalf("rejoin: gen %d members %+v", a.gen, r.Members)
	}
}

func TestRebalanceTimeoutRemovesMember(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	a.rebalance, b.rebalance = time.Second, time.Second
	formGroup(t, c, a, b)
	syncAll(t, c, a, []*tm{a, b}, map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1)})

	// The leader rejoining starts a rebalance; b never rejoins.
	oldGen := a.gen
	start := time.Now()
	r := joined(t, a, recv(t, joinRaw(t, c, a.joinReq())))
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Fatalf("join completed after %v, before the rebalance timeout", elapsed)
	}
	if a.gen != oldGen+1 || len(r.Members) != 1 {
		t.Fatalf("gen %d members %+v", a.gen, r.Members)
	}
	wantCode(t, "heartbeat of b", heartbeat(t, c, b), kerr.UnknownMemberID.Code)
	rb := c.JoinGroup(testharness.Context(t, testTimeout), b.joinReq())
	wantCode(t, "rejoin of the removed member", rb.ErrorCode, kerr.UnknownMemberID.Code)
}

func TestPendingSyncTimeoutRemovesMember(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	a.rebalance, b.rebalance = 300*time.Millisecond, 300*time.Millisecond
	formGroup(t, c, a, b)
	// Only the leader syncs; b never does, so it is dropped after the
	// rebalance timeout and a must rejoin.
	r := recv(t, syncAsync(t, c, a, map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1)}))
	wantCode(t, "leader sync", r.ErrorCode, 0)
	testharness.Eventually(t, testTimeout, "b to be dropped", func() bool {
		dg := describe(t, c, "g")
		return dg.State == "PreparingRebalance" && len(dg.Members) == 1
	})
	wantCode(t, "heartbeat of a", heartbeat(t, c, a), kerr.RebalanceInProgress.Code)
}

func TestStaticMembership(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b, d := newTM("g", "t"), newTM("g", "t"), newTM("g", "t")
	a.instance, d.instance = kmsg.StringPtr("inst-a"), kmsg.StringPtr("inst-d")
	formGroup(t, c, a, b, d)
	assign := map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1), d.id: assignmentFor("t", 2)}
	syncAll(t, c, a, []*tm{a, b, d}, assign)
	gen := a.gen

	// The static leader restarts: same instance id, empty member id, same
	// metadata. It gets a new member id in the same generation, told to
	// skip assigning (v9), and nobody rebalances.
	a2 := *a
	a2.id = ""
	r := c.JoinGroup(testharness.Context(t, testTimeout), a2.joinReq())
	wantCode(t, "static rejoin", r.ErrorCode, 0)
	if r.MemberID == a.id || r.Generation != gen || r.LeaderID != r.MemberID || !r.SkipAssignment || len(r.Members) != 3 {
		t.Fatalf("static leader rejoin: %+v", r)
	}
	a2.id, a2.gen = r.MemberID, r.Generation
	if st := describe(t, c, "g").State; st != "Stable" {
		t.Fatalf("state %s after static rejoin, want Stable", st)
	}
	wantCode(t, "heartbeat with the old member id", heartbeat(t, c, a), kerr.FencedInstanceID.Code)
	wantCode(t, "commit with the old member id", commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(a, map[string]map[int32]int64{"t": {0: 1}}))), kerr.FencedInstanceID.Code)
	oldJoin := c.JoinGroup(testharness.Context(t, testTimeout), a.joinReq())
	wantCode(t, "join with the old member id", oldJoin.ErrorCode, kerr.FencedInstanceID.Code)
	sr := recv(t, syncAsync(t, c, &a2, nil))
	wantCode(t, "sync of the new id", sr.ErrorCode, 0)
	if !bytes.Equal(sr.MemberAssignment, assign[a.id]) {
		t.Fatal("static member lost its assignment")
	}
	wantCode(t, "heartbeat of b", heartbeat(t, c, b), 0)

	// A static follower restarts: no member list, no skip flag.
	d2 := *d
	d2.id = ""
	r = c.JoinGroup(testharness.Context(t, testTimeout), d2.joinReq())
	wantCode(t, "static follower rejoin", r.ErrorCode, 0)
	if r.Generation != gen || r.SkipAssignment || len(r.Members) != 0 || r.LeaderID != a2.id {
		t.Fatalf("static follower rejoin: %+v", r)
	}
	d2.id = r.MemberID
	wantCode(t, "heartbeat of new d", heartbeat(t, c, &d2), 0)

	// Rejoining with different metadata rebalances.
	d3 := d2
	d3.id = ""
	d3.protos = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t", "u")}}
	cd := joinRaw(t, c, d3.joinReq())
	testharness.Eventually(t, testTimeout, "rebalance", func() bool { return describe(t, c, "g").State == "PreparingRebalance" })
	wantCode(t, "heartbeat of d2 after replacement", heartbeat(t, c, &d2), kerr.FencedInstanceID.Code)
	ca, cb := joinRaw(t, c, a2.joinReq()), joinRaw(t, c, b.joinReq())
	joined(t, &a2, recv(t, ca))
	joined(t, b, recv(t, cb))
	joined(t, &d3, recv(t, cd))
	if a2.gen != gen+1 || d3.gen != gen+1 {
		t.Fatalf("generation %d/%d, want %d", a2.gen, d3.gen, gen+1)
	}

	// A static member leaves by instance id alone (v3+).
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 3
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: kmsg.StringPtr("inst-d")}, {InstanceID: kmsg.StringPtr("inst-a"), MemberID: "stale"}}
	lr := c.LeaveGroup(testharness.Context(t, testTimeout), leave)
	wantCode(t, "leave by instance id", lr.Members[0].ErrorCode, 0)
	wantCode(t, "leave with a stale member id", lr.Members[1].ErrorCode, kerr.FencedInstanceID.Code)
	if n := len(describe(t, c, "g").Members); n != 2 {
		t.Fatalf("%d members after the static leave, want 2", n)
	}
}

func commitCodesOne(r *kmsg.OffsetCommitResponse) int16 {
	return r.Topics[0].Partitions[0].ErrorCode
}

func TestMemberIDRequired(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	m := newTM("g", "t")
	m.version = 4
	r := c.JoinGroup(testharness.Context(t, testTimeout), m.joinReq())
	wantCode(t, "first v4 join", r.ErrorCode, kerr.MemberIDRequired.Code)
	if r.MemberID == "" || r.Generation != -1 {
		t.Fatalf("MEMBER_ID_REQUIRED response: %+v", r)
	}
	if st := describe(t, c, "g"); st.State != "Empty" || len(st.Members) != 0 {
		t.Fatalf("a pending member must not join yet: %+v", st)
	}
	m.id = r.MemberID
	r = c.JoinGroup(testharness.Context(t, testTimeout), m.joinReq())
	wantCode(t, "second join", r.ErrorCode, 0)
	if r.MemberID != m.id || r.Generation != 1 || r.LeaderID != m.id {
		t.Fatalf("join with the given id: %+v", r)
	}

	// Before v4 the member joins at once.
	old := newTM("g3", "t")
	old.version = 3
	r = c.JoinGroup(testharness.Context(t, testTimeout), old.joinReq())
	wantCode(t, "v3 join", r.ErrorCode, 0)
	if r.MemberID == "" || r.Generation != 1 {
		t.Fatalf("v3 join: %+v", r)
	}

	// A made-up member id is unknown, in a known group or not.
	ghost := newTM("g", "t")
	ghost.id = "ghost"
	wantCode(t, "unknown member", c.JoinGroup(testharness.Context(t, testTimeout), ghost.joinReq()).ErrorCode, kerr.UnknownMemberID.Code)
	ghost.group = "nope"
	wantCode(t, "unknown group", c.JoinGroup(testharness.Context(t, testTimeout), ghost.joinReq()).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestPendingMemberExpires(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a := newTM("g", "t")
	join(t, c, a)
	recv(t, syncAsync(t, c, a, map[string][]byte{a.id: assignmentFor("t", 0)}))

	// b gets a member id but never comes back; a's rebalance must not wait
	// for it beyond b's session timeout.
	b := newTM("g", "t")
	b.session = 100 * time.Millisecond
	r := c.JoinGroup(testharness.Context(t, testTimeout), b.joinReq())
	wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired.Code)
	start := time.Now()
	joined(t, a, recv(t, joinRaw(t, c, a.joinReq())))
	if time.Since(start) > 4*time.Second {
		t.Fatal("rebalance waited for the rebalance timeout instead of the pending member's session")
	}
	b.id = r.MemberID
	wantCode(t, "late join of the expired pending member", c.JoinGroup(testharness.Context(t, testTimeout), b.joinReq()).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestJoinValidation(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a := newTM("g", "t")
	join(t, c, a)

	for _, tc := range []struct {
		name   string
		modify func(m *tm)
		want   int16
	}{
		{"session timeout too short", func(m *tm) { m.session = time.Millisecond }, kerr.InvalidSessionTimeout.Code},
		{"session timeout too long", func(m *tm) { m.session = time.Hour }, kerr.InvalidSessionTimeout.Code},
		{"empty group id", func(m *tm) { m.group = "" }, kerr.InvalidGroupID.Code},
		{"other protocol type", func(m *tm) { m.ptype = "connect" }, kerr.InconsistentGroupProtocol.Code},
		{"no common protocol", func(m *tm) {
			m.protos = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: consumerMeta("t")}}
		}, kerr.InconsistentGroupProtocol.Code},
		{"new group without protocols", func(m *tm) { m.group = "fresh"; m.protos = nil }, kerr.InconsistentGroupProtocol.Code},
		{"new group without protocol type", func(m *tm) { m.group = "fresh"; m.ptype = "" }, kerr.InconsistentGroupProtocol.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTM("g", "t")
			m.version = 3
			tc.modify(m)
			wantCode(t, "join", c.JoinGroup(testharness.Context(t, testTimeout), m.joinReq()).ErrorCode, tc.want)
		})
	}
	if dg := describe(t, c, "fresh"); dg.State != "Dead" {
		t.Fatalf("a refused join left group %q behind: %+v", "fresh", dg)
	}
}

func TestProtocolSelectionByVote(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	p := func(names ...string) []kmsg.JoinGroupRequestProtocol {
		var out []kmsg.JoinGroupRequestProtocol
		for _, n := range names {
			out = append(out, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: consumerMeta("t")})
		}
		return out
	}
	a, b, d := newTM("g", "t"), newTM("g", "t"), newTM("g", "t")
	a.protos = p("range", "roundrobin", "sticky")
	b.protos = p("roundrobin", "range")
	d.protos = p("cooperative-sticky", "roundrobin", "range")
	resps := formGroup(t, c, a, b, d)
	// Candidates: range and roundrobin; votes: a range, b and d roundrobin.
	if got := *resps[a].Protocol; got != "roundrobin" {
		t.Fatalf("protocol %s, want roundrobin", got)
	}
	for _, m := range resps[a].Members {
		if len(m.ProtocolMetadata) == 0 {
			t.Fatalf("member %s without metadata for the chosen protocol", m.MemberID)
		}
	}
}

func TestSyncErrors(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	formGroup(t, c, a, b)

	// b waits for the leader; a newcomer aborts the generation instead.
	waiting := syncAsync(t, c, b, nil)
	testharness.Eventually(t, testTimeout, "b to wait in sync", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.groups["g"].members[b.id].syncCh != nil
	})
	newcomer := newTM("g", "t")
	cn := joinAsync(t, c, newcomer)
	wantCode(t, "waiting follower", recv(t, waiting).ErrorCode, kerr.RebalanceInProgress.Code)

	for _, tc := range []struct {
		name string
		req  func() *kmsg.SyncGroupRequest
		want int16
	}{
		{"during PreparingRebalance", func() *kmsg.SyncGroupRequest { return a.syncReq(nil) }, kerr.RebalanceInProgress.Code},
		{"wrong generation", func() *kmsg.SyncGroupRequest { r := a.syncReq(nil); r.Generation = 99; return r }, kerr.IllegalGeneration.Code},
		{"unknown member", func() *kmsg.SyncGroupRequest { r := a.syncReq(nil); r.MemberID = "x"; return r }, kerr.UnknownMemberID.Code},
		{"unknown group", func() *kmsg.SyncGroupRequest { r := a.syncReq(nil); r.Group = "none"; return r }, kerr.UnknownMemberID.Code},
		{"other protocol", func() *kmsg.SyncGroupRequest { r := a.syncReq(nil); r.Protocol = kmsg.StringPtr("sticky"); return r }, kerr.InconsistentGroupProtocol.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, "sync", c.SyncGroup(testharness.Context(t, testTimeout), tc.req()).ErrorCode, tc.want)
		})
	}

	ca, cb := joinRaw(t, c, a.joinReq()), joinRaw(t, c, b.joinReq())
	joined(t, a, recv(t, ca))
	joined(t, b, recv(t, cb))
	joined(t, newcomer, recv(t, cn))
	if st := describe(t, c, "g").State; st != "CompletingRebalance" {
		t.Fatalf("state %s", st)
	}
	// The leader may leave members out of the assignment: they get an
	// empty, decodable consumer assignment.
	cb2, cn2 := syncAsync(t, c, b, nil), syncAsync(t, c, newcomer, nil)
	ra := recv(t, syncAsync(t, c, a, map[string][]byte{a.id: assignmentFor("t", 0, 1, 2)}))
	wantCode(t, "leader sync", ra.ErrorCode, 0)
	for _, ch := range []<-chan *kmsg.SyncGroupResponse{cb2, cn2} {
		r := recv(t, ch)
		wantCode(t, "follower sync", r.ErrorCode, 0)
		var got kmsg.ConsumerMemberAssignment
		if err := got.ReadFrom(r.MemberAssignment); err != nil || len(got.Topics) != 0 {
			t.Fatalf("unassigned member got %x (%v), want an empty consumer assignment", r.MemberAssignment, err)
		}
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	cfg := testConfig(t)
	cfg.InitialRebalanceDelay = 500 * time.Millisecond
	c := newLoaded(t, newMemLog(), cfg)
	a, b := newTM("g", "t"), newTM("g", "t")
	start := time.Now()
	ca := joinAsync(t, c, a)
	testharness.Eventually(t, testTimeout, "a to join", func() bool { return len(describe(t, c, "g").Members) == 1 })
	cb := joinAsync(t, c, b)
	joined(t, a, recv(t, ca))
	joined(t, b, recv(t, cb))
	if a.gen != 1 || b.gen != 1 {
		t.Fatalf("generations %d/%d, want both in the first", a.gen, b.gen)
	}
	// b arriving during the delay extends it once more.
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Fatalf("first rebalance completed after %v, before the initial delay", elapsed)
	}
}

func TestJoinContextEnds(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	join(t, c, a)
	ctx, cancel := context.WithCancel(context.Background())
	first := c.JoinGroup(ctx, b.joinReq())
	wantCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired.Code)
	b.id = first.MemberID
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- c.JoinGroup(ctx, b.joinReq()) }()
	testharness.Eventually(t, testTimeout, "b to join", func() bool { return len(describe(t, c, "g").Members) == 2 })
	cancel()
	wantCode(t, "cancelled join", recv(t, done).ErrorCode, kerr.RebalanceInProgress.Code)
	// b still counts as joined, like a Kafka member whose connection
	// dropped: a's rejoin completes the generation.
	joined(t, a, recv(t, joinRaw(t, c, a.joinReq())))
}

func TestCloseAnswersWaiters(t *testing.T) {
	c := New(testConfig(t), newMemLog())
	if err := c.Load(testharness.Context(t, testTimeout)); err != nil {
		t.Fatal(err)
	}
	a, b := newTM("g", "t"), newTM("g", "t")
	join(t, c, a)
	cb := joinAsync(t, c, b)
	testharness.Eventually(t, testTimeout, "b to join", func() bool { return len(describe(t, c, "g").Members) == 2 })
	c.Close()
	wantCode(t, "pending join", recv(t, cb).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "heartbeat after close", heartbeat(t, c, a), kerr.CoordinatorNotAvailable.Code)
	c.Close() // idempotent
}

// Before its partition is loaded a group belongs to nobody here
// (NOT_COORDINATOR); while the partition loads, its groups get
// COORDINATOR_LOAD_IN_PROGRESS and ListGroups says a load is running.
func TestLoadInProgress(t *testing.T) {
	log := newMemLog()
	c := New(testConfig(t), log)
	defer c.Close()
	m := newTM("g", "t")
	commit := func() int16 {
		s := &tm{group: "g", gen: -1}
		return commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(s, map[string]map[int32]int64{"t": {0: 1}})))
	}
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version = 7
	fr.Group = "g"
	check := func(state string, want int16) {
		t.Helper()
		wantCode(t, state+": join", c.JoinGroup(testharness.Context(t, testTimeout), m.joinReq()).ErrorCode, want)
		wantCode(t, state+": heartbeat", heartbeat(t, c, m), want)
		wantCode(t, state+": commit", commit(), want)
		wantCode(t, state+": fetch", c.OffsetFetch(testharness.Context(t, testTimeout), fr).ErrorCode, want)
		wantCode(t, state+": describe", describe(t, c, "g").ErrorCode, want)
	}
	check("nothing loaded", kerr.NotCoordinator.Code)
	lr := c.ListGroups(testharness.Context(t, testTimeout), kmsg.NewPtrListGroupsRequest())
	if lr.ErrorCode != 0 || len(lr.Groups) != 0 {
		t.Fatalf("list with nothing loaded: %s, %d groups", errName(lr.ErrorCode), len(lr.Groups))
	}

	p := PartitionFor("g", testPartitions)
	gt := newGate(false)
	log.setScanHook(gt.hook(p))
	loaded := make(chan error, 1)
	go func() { loaded <- c.LoadPartition(testharness.Context(t, testTimeout), p) }()
	recv(t, gt.entered)
	check("loading", kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "list while loading", c.ListGroups(testharness.Context(t, testTimeout), kmsg.NewPtrListGroupsRequest()).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	gt.open()
	if err := recv(t, loaded); err != nil {
		t.Fatalf("load: %v", err)
	}
	wantCode(t, "commit once loaded", commit(), 0)
	wantCode(t, "list once loaded", c.ListGroups(testharness.Context(t, testTimeout), kmsg.NewPtrListGroupsRequest()).ErrorCode, 0)
}
