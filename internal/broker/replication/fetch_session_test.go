package replication

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// fakeSessionLeader keeps fetch sessions by Kafka's rules (the broker's
// own cache is tested in package kafka): enough to check that what the
// follower sends always rebuilds its full request on the leader.
type fakeSessionLeader struct {
	nextID   int32
	sessions map[int32]*fakeSession
	noSlots  bool // new sessions fail: answered sessionless
}

type fakeSession struct {
	epoch int32
	parts map[TopicPartition]kmsg.FetchRequestTopicPartition
}

// fetch answers req; served is the leader's view of the partitions fetched.
func (l *fakeSessionLeader) fetch(req *kmsg.FetchRequest) (resp *kmsg.FetchResponse, served map[TopicPartition]kmsg.FetchRequestTopicPartition) {
	resp = kmsg.NewPtrFetchResponse()
	named := map[TopicPartition]kmsg.FetchRequestTopicPartition{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			named[TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp
		}
	}
	if req.SessionEpoch <= 0 {
		delete(l.sessions, req.SessionID)
		if req.SessionEpoch == 0 && !l.noSlots {
			l.nextID++
			l.sessions[l.nextID] = &fakeSession{epoch: 1, parts: named}
			resp.SessionID = l.nextID
		}
		return resp, named
	}
	s := l.sessions[req.SessionID]
	switch {
	case s == nil:
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	case s.epoch != req.SessionEpoch:
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		return resp, nil
	}
	s.epoch++
	maps.Copy(s.parts, named)
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			delete(s.parts, TopicPartition{Topic: ft.Topic, Partition: p})
		}
	}
	resp.SessionID = req.SessionID
	return resp, maps.Clone(s.parts)
}

// fullRequest fetches parts (partition -> fetch offset).
func fullRequest(parts map[TopicPartition]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = 1
	byTopic := map[string]int{}
	for tp, off := range parts {
		i, ok := byTopic[tp.Topic]
		if !ok {
			req.Topics = append(req.Topics, kmsg.NewFetchRequestTopic())
			i = len(req.Topics) - 1
			req.Topics[i].Topic = tp.Topic
			byTopic[tp.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = tp.Partition, off, 1<<20
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

func countParts(req *kmsg.FetchRequest) int {
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	return n
}

// Whatever happens (offsets moving, partitions followed and dropped,
// sessions evicted, slots refused, responses lost), the leader serves
// exactly the follower's full request, and once a session is open idle
// fetches name nothing.
func TestFollowerFetchSessionRebuildsTheFullRequest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	leader := &fakeSessionLeader{sessions: map[int32]*fakeSession{}}
	var s fetchSession
	parts := map[TopicPartition]int64{}
	for p := range int32(20) {
		parts[TopicPartition{Topic: fmt.Sprint("t", p%3), Partition: p}] = 0
	}
	// named: partitions the incremental fetches named; followed: those
	// their full requests would have named.
	incremental, named, followed := 0, 0, 0
	for step := range 5000 {
		switch r := rng.IntN(100); {
		case r < 30: // data arrived for a few partitions
			for tp := range parts {
				if rng.IntN(5) == 0 {
					parts[tp] += int64(rng.IntN(10))
				}
			}
		case r < 33:
			parts[TopicPartition{Topic: "t9", Partition: rng.Int32N(40)}] = int64(rng.IntN(100))
		case r < 36:
			for tp := range parts {
				delete(parts, tp)
				break
			}
		case r < 38:
			clear(leader.sessions) // evicted
		case r < 40:
			leader.noSlots = !leader.noSlots
		}
		full := fullRequest(parts)
		req := s.request(full)
		resp, served := leader.fetch(req)
		if rng.IntN(50) == 0 {
			s.reset() // the response was lost (connection error)
			continue
		}
		if s.answered(resp) {
			continue // session error: the next fetch is full
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("step %d: error %d outside the session errors", step, resp.ErrorCode)
		}
		want := map[TopicPartition]kmsg.FetchRequestTopicPartition{}
		for _, rt := range full.Topics {
			for _, rp := range rt.Partitions {
				want[TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp
			}
		}
		if !maps.EqualFunc(served, want, sameFetchState) || len(served) != len(want) {
			t.Fatalf("step %d (session %d epoch %d): the leader serves %v, want %v", step, req.SessionID, req.SessionEpoch, served, want)
		}
		if req.SessionEpoch > 0 {
			incremental++
			named += countParts(req)
			followed += len(want)
		}
	}
	// Compared with what full fetches would have named at the same steps:
	// the followed set's size changes as the steps run (map order makes the
	// run differ each time), so the final size is no measure.
	if incremental < 1000 || named >= followed/2 {
		t.Fatalf("%d incremental fetches naming %d partitions in all, of %d followed: sessions do not save much", incremental, named, followed)
	}
}

func TestFollowerFetchSessionSequence(t *testing.T) {
	tp0, tp1 := TopicPartition{Topic: "a", Partition: 0}, TopicPartition{Topic: "a", Partition: 1}
	var s fetchSession
	req := s.request(fullRequest(map[TopicPartition]int64{tp0: 5, tp1: 7}))
	if req.SessionID != 0 || req.SessionEpoch != 0 || countParts(req) != 2 {
		t.Fatalf("first fetch (%d, %d) with %d partitions, want a full (0, 0)", req.SessionID, req.SessionEpoch, countParts(req))
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = 42
	s.answered(resp)
	req = s.request(fullRequest(map[TopicPartition]int64{tp0: 5, tp1: 9}))
	if req.SessionID != 42 || req.SessionEpoch != 1 || countParts(req) != 1 || req.Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("second fetch (%d, %d) names %v, want (42, 1) naming a1 only", req.SessionID, req.SessionEpoch, req.Topics)
	}
	// A partition error keeps the session.
	resp = kmsg.NewPtrFetchResponse()
	resp.SessionID = 42
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "a"
	rt.Partitions = []kmsg.FetchResponseTopicPartition{{Partition: 1, ErrorCode: kerr.NotLeaderForPartition.Code}}
	resp.Topics = append(resp.Topics, rt)
	if s.answered(resp) {
		t.Fatal("a partition error was taken for a session error")
	}
	req = s.request(fullRequest(map[TopicPartition]int64{tp0: 5}))
	if req.SessionEpoch != 2 || countParts(req) != 0 || len(req.ForgottenTopics) != 1 || req.ForgottenTopics[0].Partitions[0] != 1 {
		t.Fatalf("third fetch epoch %d names %v, forgets %v; want epoch 2 forgetting a1", req.SessionEpoch, req.Topics, req.ForgottenTopics)
	}
	resp = kmsg.NewPtrFetchResponse()
	resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
	if !s.answered(resp) {
		t.Fatal("INVALID_FETCH_SESSION_EPOCH not retried at once")
	}
	req = s.request(fullRequest(map[TopicPartition]int64{tp0: 5}))
	if req.SessionID != 42 || req.SessionEpoch != 0 || countParts(req) != 1 {
		t.Fatalf("after an epoch error: (%d, %d), want a full fetch closing 42", req.SessionID, req.SessionEpoch)
	}
	resp = kmsg.NewPtrFetchResponse()
	resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
	s.answered(resp)
	if req = s.request(fullRequest(map[TopicPartition]int64{tp0: 5})); req.SessionID != 0 || req.SessionEpoch != 0 {
		t.Fatalf("after FETCH_SESSION_ID_NOT_FOUND: (%d, %d), want (0, 0)", req.SessionID, req.SessionEpoch)
	}
	if nextEpoch(1<<31-1) != 1 {
		t.Fatal("epoch does not wrap to 1")
	}
}

// sessionLeader answers fetches like answerWith (data from offset 0, that
// length as the high watermark) within fake's sessions: an incremental
// answer lists only the partitions that get data.
func sessionLeader(log *fetchLog, fake *fakeSessionLeader, mu *sync.Mutex, data string) func(*kmsg.FetchRequest) *kmsg.FetchResponse {
	return func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
		log.add(req)
		mu.Lock()
		resp, served := fake.fetch(req)
		mu.Unlock()
		behind := false
		for tp, rp := range served {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.HighWatermark, p.LogStartOffset = tp.Partition, int64(len(data)), 0
			if rp.FetchOffset < int64(len(data)) {
				p.RecordBatches = []byte(data[rp.FetchOffset:])
				behind = true
			} else if req.SessionEpoch > 0 {
				continue // nothing new: left out of an incremental answer
			}
			t := kmsg.NewFetchResponseTopic()
			t.Topic, t.Partitions = tp.Topic, []kmsg.FetchResponseTopicPartition{p}
			resp.Topics = append(resp.Topics, t)
		}
		if !behind {
			time.Sleep(20 * time.Millisecond)
		}
		return resp
	}
}

// The fetch loop opens a session with its first (full) fetch, then sends
// incremental fetches naming only what changed; when the leader loses the
// session it starts over with a full fetch at once.
func TestFetchLoopUsesAFetchSession(t *testing.T) {
	var seen fetchLog
	var mu sync.Mutex
	fake := &fakeSessionLeader{sessions: map[int32]*fakeSession{}}
	leader := startFakeLeader(t, sessionLeader(&seen, fake, &mu, "abcde"))
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	r0, r1 := follower(0, 0, 4, -1), follower(0, 0, 4, -1)
	reps := &fakeReplicas{}
	reps.add(tp0.Topic, tp0.Partition, r0)
	reps.add(tp1.Topic, tp1.Partition, r1)
	f := NewFetchers(FetchersConfig{NodeID: 9, Replicas: reps, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)
	f.Set(ctx, map[int32]map[TopicPartition]bool{1: {tp0: true, tp1: true}}, map[int32]string{1: leader.addr()})

	// idleIncremental reports whether a fetch after the first n was
	// incremental and named nothing: both partitions caught up, unchanged.
	idleIncremental := func(n int) func() bool {
		return func() bool {
			seen.mu.Lock()
			defer seen.mu.Unlock()
			for _, r := range seen.reqs[min(n, len(seen.reqs)):] {
				if r.SessionID != 0 && r.SessionEpoch > 0 && len(r.Topics) == 0 && len(r.ForgottenTopics) == 0 {
					return true
				}
			}
			return false
		}
	}
	testharness.Eventually(t, 10*time.Second, "an idle incremental fetch once both partitions caught up", idleIncremental(0))
	seen.mu.Lock()
	first := seen.reqs[0]
	seen.mu.Unlock()
	if first.SessionID != 0 || first.SessionEpoch != 0 || countParts(first) != 2 {
		t.Fatalf("first fetch (%d, %d) named %d partitions, want a full (0, 0) of both", first.SessionID, first.SessionEpoch, countParts(first))
	}
	for _, r := range []*fakeReplica{r0, r1} {
		r.mu.Lock()
		appended := string(slices.Concat(r.appended...))
		r.mu.Unlock()
		if appended != "abcde" {
			t.Fatalf("follower appended %q, want abcde", appended)
		}
	}

	mu.Lock()
	clear(fake.sessions) // evicted on the leader
	seen.mu.Lock()
	n := len(seen.reqs)
	seen.mu.Unlock()
	mu.Unlock()
	testharness.Eventually(t, 10*time.Second, "a full fetch, then a new session, after the leader lost the session", func() bool {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		for _, r := range seen.reqs[n:] {
			if r.SessionID == 0 && r.SessionEpoch == 0 && countParts(r) == 2 {
				return true
			}
		}
		return false
	})
	testharness.Eventually(t, 10*time.Second, "incremental fetches again", idleIncremental(n))
}
