package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	alice    = sessionOwner{principal: Principal{Type: PrincipalUserType, Name: "alice"}, replica: -1}
	mallory  = sessionOwner{principal: Principal{Type: PrincipalUserType, Name: "mallory"}, replica: -1}
	follower = sessionOwner{principal: Principal{Type: PrincipalUserType, Name: "ANONYMOUS"}, replica: 2}
)

// sessionReq is a fetch request in session (id, epoch) naming topic t's
// partitions parts at fetch offset off, forgetting forget.
func sessionReq(id, epoch int32, off int64, parts []int32, forget ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.SessionID, req.SessionEpoch = id, epoch
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset = p, off
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic = "t"
		ft.Partitions = forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// fullParts lists the partitions (and fetch offsets) fc serves, in order.
func fullParts(fc *fetchContext) string {
	s := ""
	for _, rt := range fc.full.Topics {
		for _, rp := range rt.Partitions {
			s += fmt.Sprintf("%s%d@%d ", rt.Topic, rp.Partition, rp.FetchOffset)
		}
	}
	return s
}

func mustBegin(t *testing.T, fs *fetchSessions, o sessionOwner, req *kmsg.FetchRequest) *fetchContext {
	t.Helper()
	fc, err := fs.begin(o, req)
	if err != nil {
		t.Fatalf("begin(%d, %d): %v", req.SessionID, req.SessionEpoch, err)
	}
	return fc
}

// open creates a session for o over partitions parts and returns its id.
func open(t *testing.T, fs *fetchSessions, o sessionOwner, parts ...int32) int32 {
	t.Helper()
	fc := mustBegin(t, fs, o, sessionReq(0, 0, 0, parts))
	resp := fs.finish(fc, emptyResponse(fc.full))
	if resp.SessionID == 0 {
		t.Fatalf("no session created for %v", o)
	}
	return resp.SessionID
}

// emptyResponse answers every partition of req with no records and a high
// watermark of 10.
func emptyResponse(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 10, 10, 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func wantErr(t *testing.T, fs *fetchSessions, o sessionOwner, req *kmsg.FetchRequest, want error) {
	t.Helper()
	if _, err := fs.begin(o, req); !errors.Is(err, want) {
		t.Fatalf("begin(%d, %d) = %v, want %v", req.SessionID, req.SessionEpoch, err, want)
	}
}

func TestFetchSessionEpochs(t *testing.T) {
	fs := newFetchSessions(10, 100)
	id := open(t, fs, alice, 0, 1)
	mustBegin(t, fs, alice, sessionReq(id, 1, 0, nil))
	// Replaying epoch 1 or skipping to 3 is refused; the session stays.
	wantErr(t, fs, alice, sessionReq(id, 1, 0, nil), kerr.InvalidFetchSessionEpoch)
	wantErr(t, fs, alice, sessionReq(id, 3, 0, nil), kerr.InvalidFetchSessionEpoch)
	fc := mustBegin(t, fs, alice, sessionReq(id, 2, 0, nil))
	if got := fullParts(fc); got != "t0@0 t1@0 " {
		t.Fatalf("incremental fetch serves %q, want the session's partitions", got)
	}
	wantErr(t, fs, alice, sessionReq(id+1, 1, 0, nil), kerr.FetchSessionIDNotFound)
	// (X, 0) closes X and opens another.
	fc = mustBegin(t, fs, alice, sessionReq(id, 0, 0, []int32{5}))
	id2 := fs.finish(fc, emptyResponse(fc.full)).SessionID
	if id2 == 0 || id2 == id {
		t.Fatalf("(X, 0) answered session %d, want a new one (old %d)", id2, id)
	}
	wantErr(t, fs, alice, sessionReq(id, 3, 0, nil), kerr.FetchSessionIDNotFound)
	// (X, -1) closes X and is served sessionless.
	fc = mustBegin(t, fs, alice, sessionReq(id2, -1, 0, []int32{7}))
	if fc.session != nil || fullParts(fc) != "t7@0 " || fs.finish(fc, emptyResponse(fc.full)).SessionID != 0 {
		t.Fatalf("(X, -1) served %q in session %v, want t7 sessionless", fullParts(fc), fc.session)
	}
	wantErr(t, fs, alice, sessionReq(id2, 1, 0, nil), kerr.FetchSessionIDNotFound)
	if st := fs.Stats(); st.Open != 0 {
		t.Fatalf("%d sessions open, want 0", st.Open)
	}
}

// Fetch v4-6 carry no session fields and never get a session.
func TestFetchSessionNotBeforeV7(t *testing.T) {
	fs := newFetchSessions(10, 100)
	req := sessionReq(0, 0, 0, []int32{0})
	req.Version = 6
	if fc := mustBegin(t, fs, alice, req); fc.session != nil || fs.Stats().Open != 0 {
		t.Fatal("a v6 fetch opened a session")
	}
}

func TestFetchSessionEpochWraps(t *testing.T) {
	if got := nextSessionEpoch(1<<31 - 1); got != 1 {
		t.Fatalf("epoch after MaxInt32 = %d, want 1", got)
	}
}

// Only the identity that created a session may use or close it.
func TestFetchSessionBelongsToItsOwner(t *testing.T) {
	fs := newFetchSessions(10, 100)
	id := open(t, fs, alice, 0)
	fid := open(t, fs, follower, 0)
	wantErr(t, fs, mallory, sessionReq(id, 1, 0, nil), kerr.FetchSessionIDNotFound)
	// A consumer with the follower's principal is not the follower.
	wantErr(t, fs, sessionOwner{principal: follower.principal, replica: -1}, sessionReq(fid, 1, 0, nil), kerr.FetchSessionIDNotFound)
	mustBegin(t, fs, mallory, sessionReq(id, -1, 0, nil)) // must not close alice's
	mustBegin(t, fs, mallory, sessionReq(id, 0, 0, nil))  // nor this
	mustBegin(t, fs, alice, sessionReq(id, 1, 0, nil))
	mustBegin(t, fs, follower, sessionReq(fid, 1, 0, nil))
}

// Incremental requests update named partitions, add new ones at the end and
// remove forgotten ones (after the updates, as Kafka).
func TestFetchSessionUpdatesAndForgets(t *testing.T) {
	fs := newFetchSessions(10, 100)
	id := open(t, fs, alice, 0, 1, 2)
	fc := mustBegin(t, fs, alice, sessionReq(id, 1, 50, []int32{1, 3}, 0, 3))
	if got := fullParts(fc); got != "t1@50 t2@0 " {
		t.Fatalf("after update and forget the session serves %q, want t1@50 t2@0", got)
	}
	fc = mustBegin(t, fs, alice, sessionReq(id, 2, 0, nil, 9)) // forgetting an unknown partition is harmless
	if got := fullParts(fc); got != "t1@50 t2@0 " {
		t.Fatalf("session serves %q, want t1@50 t2@0", got)
	}
}

func TestFetchSessionPartitionLimit(t *testing.T) {
	fs := newFetchSessions(10, 3)
	fc := mustBegin(t, fs, alice, sessionReq(0, 0, 0, []int32{0, 1, 2, 3}))
	if fc.session != nil || fs.Stats().Failures != 1 {
		t.Fatalf("a full fetch of 4 partitions over a limit of 3 got a session (failures %d)", fs.Stats().Failures)
	}
	id := open(t, fs, alice, 0, 1)
	// Adding two while forgetting one fits; adding two more does not, and
	// the session is gone then.
	mustBegin(t, fs, alice, sessionReq(id, 1, 0, []int32{2, 3}, 0))
	wantErr(t, fs, alice, sessionReq(id, 2, 0, []int32{4}), errSessionTooLarge)
	wantErr(t, fs, alice, sessionReq(id, 3, 0, nil), kerr.FetchSessionIDNotFound)

	// A million partitions: refused before anything is cached.
	huge := sessionReq(0, 0, 0, nil)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rt.Partitions = make([]kmsg.FetchRequestTopicPartition, 1_000_000)
	for i := range rt.Partitions {
		rt.Partitions[i].Partition = int32(i)
	}
	huge.Topics = append(huge.Topics, rt)
	fs = newFetchSessions(10, 4000)
	if fc := mustBegin(t, fs, alice, huge); fc.session != nil || fs.Stats().Open != 0 {
		t.Fatal("a million-partition full fetch got a session")
	}
	id = open(t, fs, alice, 0)
	huge.SessionID, huge.SessionEpoch = id, 1
	wantErr(t, fs, alice, huge, errSessionTooLarge)
	if fs.Stats().Open != 0 {
		t.Fatal("the session that asked for a million partitions is still cached")
	}
}

// Sessions idle past the grace are evicted least recently used first; a
// follower may evict a consumer's session however recent, a consumer may
// evict nothing recent.
func TestFetchSessionEviction(t *testing.T) {
	now := time.Unix(1000, 0)
	fs := newFetchSessions(2, 100)
	fs.now = func() time.Time { return now }
	a := open(t, fs, alice, 0)
	now = now.Add(time.Second)
	b := open(t, fs, mallory, 0)
	now = now.Add(time.Second)
	if fc := mustBegin(t, fs, alice, sessionReq(0, 0, 0, []int32{1})); fc.session != nil {
		t.Fatal("a consumer evicted a recently used session")
	}
	mustBegin(t, fs, alice, sessionReq(a, 1, 0, nil)) // a is now the most recently used
	now = now.Add(fetchSessionEvictionGrace)          // b idle past the grace; a not quite
	c := open(t, fs, alice, 2)
	now = now.Add(time.Second)
	wantErr(t, fs, mallory, sessionReq(b, 1, 0, nil), kerr.FetchSessionIDNotFound)
	mustBegin(t, fs, alice, sessionReq(a, 2, 0, nil))
	// The follower takes the least recently used consumer session: c.
	f1 := open(t, fs, follower, 0)
	wantErr(t, fs, alice, sessionReq(c, 1, 0, nil), kerr.FetchSessionIDNotFound)
	f2 := open(t, fs, sessionOwner{replica: 3}, 0) // and then a
	wantErr(t, fs, alice, sessionReq(a, 3, 0, nil), kerr.FetchSessionIDNotFound)
	// Only followers left, all recent: neither kind gets a slot.
	if fc := mustBegin(t, fs, sessionOwner{replica: 4}, sessionReq(0, 0, 0, []int32{0})); fc.session != nil {
		t.Fatal("a follower evicted a recent follower session")
	}
	if fc := mustBegin(t, fs, alice, sessionReq(0, 0, 0, []int32{0})); fc.session != nil {
		t.Fatal("a consumer evicted a recent follower session")
	}
	mustBegin(t, fs, follower, sessionReq(f1, 1, 0, nil))
	mustBegin(t, fs, sessionOwner{replica: 3}, sessionReq(f2, 1, 0, nil))
	if st := fs.Stats(); st.Open != 2 || st.Evictions != 3 || st.Failures != 3 {
		t.Fatalf("stats %+v, want 2 open, 3 evictions, 3 failures", st)
	}
}

// A flood of session creations holds at most the slots, and ids of live
// sessions are distinct.
func TestFetchSessionFlood(t *testing.T) {
	fs := newFetchSessions(50, 100)
	ids := map[int32]bool{}
	for range 5000 {
		fc := mustBegin(t, fs, mallory, sessionReq(0, 0, 0, []int32{0, 1, 2}))
		if id := fs.finish(fc, emptyResponse(fc.full)).SessionID; id != 0 {
			if ids[id] {
				t.Fatalf("session id %d given twice", id)
			}
			ids[id] = true
		}
	}
	if st := fs.Stats(); st.Open != 50 || len(ids) != 50 || st.Failures != 4950 {
		t.Fatalf("after 5000 creations: %+v and %d ids, want 50 open and 4950 failures", st, len(ids))
	}
	// The follower still gets its session.
	open(t, fs, follower, 0)
}

// A full fetch answers every partition; an incremental one only those with
// records, an error, a diverging epoch or changed offsets, and partitions
// that returned records go to the end of the order.
func TestFetchSessionResponseFilter(t *testing.T) {
	fs := newFetchSessions(10, 100)
	fc := mustBegin(t, fs, alice, sessionReq(0, 0, 0, []int32{0, 1, 2, 3, 4}))
	resp := fs.finish(fc, emptyResponse(fc.full))
	if n := len(resp.Topics[0].Partitions); n != 5 {
		t.Fatalf("full response lists %d partitions, want 5", n)
	}
	id := resp.SessionID

	fc = mustBegin(t, fs, alice, sessionReq(id, 1, 0, nil))
	resp = emptyResponse(fc.full)
	if got := fs.finish(fc, resp); len(got.Topics) != 0 || got.SessionID != id {
		t.Fatalf("nothing changed, yet the response lists %v (session %d)", got.Topics, got.SessionID)
	}

	fc = mustBegin(t, fs, alice, sessionReq(id, 2, 0, nil))
	resp = emptyResponse(fc.full)
	ps := resp.Topics[0].Partitions
	ps[0].RecordBatches = []byte{1}
	ps[1].ErrorCode = kerr.NotLeaderForPartition.Code
	ps[2].HighWatermark = 11
	ps[4].LogStartOffset = 3
	got := ""
	for _, sp := range fs.finish(fc, resp).Topics[0].Partitions {
		got += fmt.Sprint(sp.Partition, " ")
	}
	if got != "0 1 2 4 " {
		t.Fatalf("incremental response lists %q, want 0 1 2 4", got)
	}
	fc = mustBegin(t, fs, alice, sessionReq(id, 3, 0, nil))
	if got := fullParts(fc); got != "t1@0 t2@0 t3@0 t4@0 t0@0 " {
		t.Fatalf("session order %q, want t0 (which returned records) last", got)
	}
	// A diverging epoch is always reported.
	resp = emptyResponse(fc.full)
	resp.Topics[0].Partitions[1].DivergingEpoch.EndOffset = 5
	resp.Topics[0].Partitions[3].LogStartOffset = 3 // as last told
	if got := fs.finish(fc, resp); len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 ||
		got.Topics[0].Partitions[0].Partition != 2 {
		t.Fatalf("response %v, want only t2 with its diverging epoch", got.Topics)
	}
}

// A session evicted while its fetch waited answers in full with session id
// 0, which ends the session for the client.
func TestFetchSessionEvictedDuringFetch(t *testing.T) {
	fs := newFetchSessions(1, 100)
	id := open(t, fs, alice, 0, 1)
	fc := mustBegin(t, fs, alice, sessionReq(id, 1, 0, nil))
	open(t, fs, follower, 0)
	resp := fs.finish(fc, emptyResponse(fc.full))
	if resp.SessionID != 0 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("session %d with %v, want session 0 and both partitions", resp.SessionID, resp.Topics)
	}
}

// The handler binds a session to the connection's proven replica id: a
// consumer connection with the same principal cannot use a follower's
// session, nor another broker's cluster connection.
func TestFetchSessionBoundToTheProvenReplica(t *testing.T) {
	st := state.New()
	st.Brokers[2] = &state.Broker{ID: 2, Incarnation: 7}
	st.Brokers[3] = &state.Broker{ID: 3, Incarnation: 1}
	b := NewBackend(BackendConfig{NodeID: 1, Meta: staticMeta{st}, FetchSessionSlots: 10, FetchSessionMaxPartitions: 10,
		Logger: slog.New(slog.DiscardHandler)})
	fetch := func(c *Conn, replica, id, epoch int32) *kmsg.FetchResponse {
		t.Helper()
		req := sessionReq(id, epoch, 0, nil) // no partitions: nothing is read
		req.ReplicaID = replica
		resp, pending, err := b.handleFetch(context.Background(), c, req)
		if err != nil || pending != nil {
			t.Fatalf("handleFetch: pending %v, err %v; want an immediate answer", pending != nil, err)
		}
		return resp.(*kmsg.FetchResponse)
	}
	follower := &Conn{Replica: &ReplicaPeer{ID: 2, Incarnation: 7}}
	id := fetch(follower, 2, 0, 0).SessionID
	if id == 0 {
		t.Fatal("the follower got no session")
	}
	if got := fetch(&Conn{}, -1, id, 1).ErrorCode; got != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("a consumer naming the follower's session: error %d, want FETCH_SESSION_ID_NOT_FOUND", got)
	}
	if got := fetch(&Conn{Replica: &ReplicaPeer{ID: 3, Incarnation: 1}}, 3, id, 1).ErrorCode; got != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("broker 3 naming broker 2's session: error %d, want FETCH_SESSION_ID_NOT_FOUND", got)
	}
	if resp := fetch(follower, 2, id, 1); resp.ErrorCode != 0 || resp.SessionID != id {
		t.Fatalf("the follower's own incremental fetch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	if st := b.FetchSessions(); st.Open != 1 {
		t.Fatalf("%d sessions open, want 1", st.Open)
	}
}

// BenchmarkFetchSessionIncremental is the cache's cost per fetch of an idle
// 1000-partition session: resolving the request and filtering the answer.
func BenchmarkFetchSessionIncremental(b *testing.B) {
	parts := make([]int32, 1000)
	for i := range parts {
		parts[i] = int32(i)
	}
	fs := newFetchSessions(10, 4000)
	fc, err := fs.begin(follower, sessionReq(0, 0, 0, parts))
	if err != nil {
		b.Fatal(err)
	}
	full := emptyResponse(fc.full)
	id := fs.finish(fc, full).SessionID
	idle := emptyResponse(fc.full)
	epoch := int32(1)
	b.ReportAllocs()
	for b.Loop() {
		fc, err := fs.begin(follower, sessionReq(id, epoch, 0, nil))
		if err != nil {
			b.Fatal(err)
		}
		epoch++
		// The handler's reads build the answer; copy a ready one, untimed.
		b.StopTimer()
		resp := *idle
		resp.Topics = slices.Clone(idle.Topics)
		for i := range resp.Topics {
			resp.Topics[i].Partitions = slices.Clone(idle.Topics[i].Partitions)
		}
		b.StartTimer()
		if got := fs.finish(fc, &resp); len(got.Topics) != 0 {
			b.Fatal("an idle session's answer lists partitions")
		}
	}
}
