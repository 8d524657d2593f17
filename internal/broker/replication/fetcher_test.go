package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func follower(leo, committed int64, epoch, lastEpoch int32) *fakeReplica {
	r := newFakeReplica()
	r.leo, r.committed, r.epoch, r.lastEpoch = leo, committed, epoch, lastEpoch
	return r
}

// One fetch for everything followed from a leader, from each replica's log
// end, skipping replicas that lead, are gone, or hold unsynced data.
func TestRequestFetchesFromEachLogEnd(t *testing.T) {
	reps := &fakeReplicas{}
	reps.add("t", 0, follower(10, 10, 3, 2))
	reps.add("t", 1, follower(5, 5, 3, 3))
	reps.add("u", 0, follower(0, 0, 1, -1))
	leader := follower(7, 7, 3, 3)
	leader.leader = true
	reps.add("t", 2, leader)
	reps.add("t", 3, follower(6, 4, 3, 3)) // an fsync failed
	f := NewFetchers(FetchersConfig{NodeID: 7, Replicas: reps})

	parts := map[TopicPartition]bool{}
	for _, tp := range reps.order {
		parts[tp] = true
	}
	parts[TopicPartition{"gone", 0}] = true
	req, _ := f.request(parts)
	if req == nil {
		t.Fatal("no request")
	}
	if req.ReplicaID != 7 || req.MaxWaitMillis != 500 || req.MinBytes != 1 || req.SessionEpoch != -1 {
		t.Fatalf("request header: replica %d, max wait %d, min bytes %d, session epoch %d",
			req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.SessionEpoch)
	}
	type fetched struct {
		tp                TopicPartition
		offset            int64
		epoch, lastFetchd int32
	}
	var got []fetched
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			got = append(got, fetched{TopicPartition{rt.Topic, rp.Partition}, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch})
		}
	}
	slices.SortFunc(got, func(a, b fetched) int {
		if a.tp.Topic != b.tp.Topic {
			if a.tp.Topic < b.tp.Topic {
				return -1
			}
			return 1
		}
		return int(a.tp.Partition - b.tp.Partition)
	})
	want := []fetched{
		{TopicPartition{"t", 0}, 10, 3, 2},
		{TopicPartition{"t", 1}, 5, 3, 3},
		{TopicPartition{"u", 0}, 0, 1, -1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fetched %+v, want %+v", got, want)
	}
	if len(req.Topics) != 2 {
		t.Fatalf("%d topics in the request, want one entry per topic", len(req.Topics))
	}

	if req, _ := f.request(map[TopicPartition]bool{{"t", 2}: true, {"t", 3}: true, {"gone", 0}: true}); req != nil {
		t.Fatalf("a request with nothing to follow: %+v", req.Topics)
	}
}

func TestApplyFetched(t *testing.T) {
	tp := TopicPartition{"t", 0}
	part := func(mut func(*kmsg.FetchResponseTopicPartition)) kmsg.FetchResponseTopicPartition {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.HighWatermark, rp.LogStartOffset = 8, 0
		mut(&rp)
		return rp
	}
	t.Run("data is appended with the leader's high watermark", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches, rp.HighWatermark = []byte("abc"), 12 })
		if err := applyAndSettle(tp, r, rp); err != nil {
			t.Fatal(err)
		}
		if len(r.appended) != 1 || string(r.appended[0]) != "abc" || r.leo != 13 || r.hw != 12 {
			t.Fatalf("appended %q, log end %d, hw %d", r.appended, r.leo, r.hw)
		}
	})
	t.Run("an append failure is reported", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		r.appendErr = errors.New("disk full")
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches = []byte("abc") })
		if err := applyAndSettle(tp, r, rp); err == nil {
			t.Fatal("append failure not reported")
		}
	})
	t.Run("behind the leader's log start restarts the log there", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) {
			rp.ErrorCode, rp.LogStartOffset = kerr.OffsetOutOfRange.Code, 50
		})
		if err := applyAndSettle(tp, r, rp); err != nil {
			t.Fatal(err)
		}
		if r.startedAt != 50 || r.truncatedTo != -1 {
			t.Fatalf("started at %d, truncated to %d; want a restart at 50", r.startedAt, r.truncatedTo)
		}
	})
	t.Run("ahead of the leader truncates to its high watermark", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.OffsetOutOfRange.Code })
		if err := applyAndSettle(tp, r, rp); err != nil {
			t.Fatal(err)
		}
		if r.truncatedTo != 8 || r.startedAt != -1 {
			t.Fatalf("truncated to %d, started at %d; want a truncation to 8", r.truncatedTo, r.startedAt)
		}
	})
	t.Run("another error is returned as its Kafka error", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.FencedLeaderEpoch.Code })
		err := applyAndSettle(tp, r, rp)
		if !errors.Is(err, kerr.FencedLeaderEpoch) {
			t.Fatalf("err %v, want FENCED_LEADER_EPOCH", err)
		}
		if r.leo != 10 || len(r.appended) != 0 {
			t.Fatal("the replica changed on an error")
		}
	})
	t.Run("a diverging epoch truncates", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 2, 6
		})
		if err := applyAndSettle(tp, r, rp); err != nil {
			t.Fatal(err)
		}
		if r.diverged != [2]int64{2, 6} || r.leo != 6 {
			t.Fatalf("diverged %v, log end %d", r.diverged, r.leo)
		}
	})
	t.Run("a divergence that truncates nothing is an error, not a spin", func(t *testing.T) {
		r := follower(10, 10, 3, 3)
		rp := part(func(rp *kmsg.FetchResponseTopicPartition) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 3, 20
		})
		if err := applyAndSettle(tp, r, rp); err == nil {
			t.Fatal("a no-op truncation was not reported")
		}
	})
}

// fetchLog records the fetches a fake leader saw.
type fetchLog struct {
	mu   sync.Mutex
	reqs []*kmsg.FetchRequest
}

func (l *fetchLog) add(r *kmsg.FetchRequest) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
}

// saw reports whether some fetch asked for tp at offset.
func (l *fetchLog) saw(tp TopicPartition, offset int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == tp.Topic && rp.Partition == tp.Partition && rp.FetchOffset == offset {
					return true
				}
			}
		}
	}
	return false
}

// answerWith is a leader holding data for each partition from offset 0 to
// len(data), with that as its high watermark. It answers what the follower
// lacks at once and otherwise waits briefly (a short long poll).
func answerWith(log *fetchLog, data string) func(*kmsg.FetchRequest) *kmsg.FetchResponse {
	return func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
		log.add(req)
		resp := kmsg.NewPtrFetchResponse()
		behind := false
		for _, rt := range req.Topics {
			t := kmsg.NewFetchResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewFetchResponseTopicPartition()
				p.Partition, p.HighWatermark, p.LogStartOffset = rp.Partition, int64(len(data)), 0
				if rp.FetchOffset < int64(len(data)) {
					p.RecordBatches = []byte(data[rp.FetchOffset:])
					behind = true
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		if !behind {
			time.Sleep(20 * time.Millisecond)
		}
		return resp
	}
}

func TestFetchLoopCopiesFromTheLeader(t *testing.T) {
	var seen fetchLog
	leader := startFakeLeader(t, answerWith(&seen, "abcde"))
	tp := TopicPartition{"t", 0}
	r := follower(0, 0, 4, -1)
	reps := &fakeReplicas{}
	reps.add(tp.Topic, tp.Partition, r)
	f := NewFetchers(FetchersConfig{NodeID: 9, Replicas: reps, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)

	f.Set(ctx, map[int32]map[TopicPartition]bool{1: {tp: true}}, map[int32]string{1: leader.addr()})
	testharness.Eventually(t, 10*time.Second, "the follower to copy the leader and fetch on from its new end",
		func() bool { return seen.saw(tp, 5) },
		func() string { r.mu.Lock(); defer r.mu.Unlock(); return fmt.Sprintf("follower log end %d", r.leo) })
	r.mu.Lock()
	appended, hw := slices.Concat(r.appended...), r.hw
	r.mu.Unlock()
	if string(appended) != "abcde" || hw != 5 {
		t.Fatalf("appended %q, hw %d; want abcde, 5", appended, hw)
	}
	seen.mu.Lock()
	first := seen.reqs[0]
	seen.mu.Unlock()
	if first.ReplicaID != 9 || first.Topics[0].Partitions[0].CurrentLeaderEpoch != 4 {
		t.Fatalf("fetch as replica %d at epoch %d, want 9, 4", first.ReplicaID, first.Topics[0].Partitions[0].CurrentLeaderEpoch)
	}
	st, ok := f.Status(1)
	if !ok || st.LastError != "" || st.LastFetch.IsZero() {
		t.Fatalf("status %+v running %v", st, ok)
	}

	// Nothing left to follow from that leader: its loop ends.
	f.Set(ctx, map[int32]map[TopicPartition]bool{}, nil)
	if _, ok := f.Status(1); ok {
		t.Fatal("the loop still runs with nothing to follow")
	}
}

// The partitions of one fetch response are all copied before the loop
// waits for any fsync, so their fsyncs run together, not one after another.
func TestFetchLoopCopiesEveryPartitionBeforeWaitingForFsyncs(t *testing.T) {
	var seen fetchLog
	leader := startFakeLeader(t, answerWith(&seen, "abcde"))
	events := &eventLog{}
	reps := &fakeReplicas{}
	parts := map[TopicPartition]bool{}
	for i := range int32(3) {
		r := follower(0, 0, 4, -1)
		r.events, r.name = events, fmt.Sprint(i)
		reps.add("t", i, r)
		parts[TopicPartition{"t", i}] = true
	}
	f := NewFetchers(FetchersConfig{NodeID: 9, Replicas: reps, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)
	f.Set(ctx, map[int32]map[TopicPartition]bool{1: parts}, map[int32]string{1: leader.addr()})
	testharness.Eventually(t, 10*time.Second, "every partition copied and settled",
		func() bool { return len(events.get()) >= 6 },
		func() string { return fmt.Sprint(events.get()) })
	got := events.get()
	for i, e := range got[:6] {
		if want := i < 3; strings.HasPrefix(e, "copy") != want {
			t.Fatalf("events %v: want three copies, then three settles", got)
		}
	}
}

// A leader that moved to another address is followed there.
func TestFetchLoopFollowsTheLeaderToANewAddress(t *testing.T) {
	var before, after fetchLog
	old := startFakeLeader(t, answerWith(&before, ""))
	moved := startFakeLeader(t, answerWith(&after, ""))
	tp := TopicPartition{"t", 0}
	reps := &fakeReplicas{}
	reps.add(tp.Topic, tp.Partition, follower(0, 0, 1, -1))
	f := NewFetchers(FetchersConfig{NodeID: 2, Replicas: reps, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)
	want := map[int32]map[TopicPartition]bool{1: {tp: true}}

	f.Set(ctx, want, map[int32]string{1: old.addr()})
	testharness.Eventually(t, 10*time.Second, "a fetch at the first address", func() bool { return before.saw(tp, 0) })
	f.Set(ctx, want, map[int32]string{1: moved.addr()})
	testharness.Eventually(t, 10*time.Second, "a fetch at the new address", func() bool { return after.saw(tp, 0) })
}

// A leader that cannot be reached shows in the loop's status.
func TestFetchLoopReportsAnUnreachableLeader(t *testing.T) {
	addr := testharness.FreeAddr(t) // nothing listens there
	tp := TopicPartition{"t", 0}
	reps := &fakeReplicas{}
	reps.add(tp.Topic, tp.Partition, follower(0, 0, 1, -1))
	f := NewFetchers(FetchersConfig{NodeID: 2, Replicas: reps, Logger: testharness.Logger()})
	ctx := testharness.Context(t, 30*time.Second)

	f.Set(ctx, map[int32]map[TopicPartition]bool{1: {tp: true}}, map[int32]string{1: addr})
	testharness.Eventually(t, 10*time.Second, "the fetch failure in the status", func() bool {
		st, ok := f.Status(1)
		return ok && st.LastError != ""
	})
	f.Stop()
	if _, ok := f.Status(1); ok {
		t.Fatal("a loop still reported after Stop")
	}
}

// A fetch the leader refuses as a whole shows in the status.
func TestFetchLoopReportsARefusedFetch(t *testing.T) {
	leader := startFakeLeader(t, func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
		resp := kmsg.NewPtrFetchResponse()
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	})
	tp := TopicPartition{"t", 0}
	reps := &fakeReplicas{}
	reps.add(tp.Topic, tp.Partition, follower(0, 0, 1, -1))
	f := NewFetchers(FetchersConfig{NodeID: 2, Replicas: reps, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)

	f.Set(ctx, map[int32]map[TopicPartition]bool{1: {tp: true}}, map[int32]string{1: leader.addr()})
	testharness.Eventually(t, 10*time.Second, "the refusal in the status", func() bool {
		st, ok := f.Status(1)
		return ok && st.LastError == kerr.ClusterAuthorizationFailed.Error()
	})
}

// applyAndSettle applies one partition of a fetch response as the fetch
// loop does: copy, then settle.
func applyAndSettle(tp TopicPartition, r FollowerReplica, rp kmsg.FetchResponseTopicPartition) error {
	s, err := NewFetchers(FetchersConfig{}).apply(tp, r, rp)
	if err != nil || s.p == nil {
		return err
	}
	return s.p.SettleFromLeader(context.Background(), s.end, s.leaderHW)
}
