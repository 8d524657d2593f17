package replication

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	incremental, named := 0, 0
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
		}
	}
	if incremental < 1000 || named >= incremental*len(parts)/2 {
		t.Fatalf("%d incremental fetches naming %d partitions in all: sessions do not save much", incremental, named)
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
