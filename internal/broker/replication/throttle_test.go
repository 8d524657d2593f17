package replication

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestThrottleBucket(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	th := newThrottleAt(1000, clk.now)
	if b, w := th.Allowance(1 << 20); b != 1000 || w != 0 {
		t.Fatalf("full bucket: %d %v, want 1000 0", b, w)
	}
	if b, _ := th.Allowance(300); b != 300 {
		t.Fatalf("limited by the request: %d, want 300", b)
	}
	// The leader sent more than asked: the bucket is overdrawn by 500.
	th.Take(1500)
	if b, w := th.Allowance(1 << 20); b != 0 || w != 501*time.Millisecond {
		t.Fatalf("overdrawn: %d %v, want 0 501ms", b, w)
	}
	clk.t = clk.t.Add(750 * time.Millisecond)
	if b, w := th.Allowance(1 << 20); b != 250 || w != 0 {
		t.Fatalf("after 750ms: %d %v, want 250 0", b, w)
	}
	// A long idle time earns at most one second of the rate.
	clk.t = clk.t.Add(time.Hour)
	if b, _ := th.Allowance(1 << 20); b != 1000 {
		t.Fatalf("after an hour: %d, want 1000", b)
	}
	if th.Fetched() != 1500 || th.Rate() != 1000 {
		t.Fatalf("fetched %d rate %d", th.Fetched(), th.Rate())
	}
}

// TestThrottleRateHolds: fetching as fast as the bucket allows moves the
// rate's bytes per second, give or take one overdrawn batch.
func TestThrottleRateHolds(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	th := newThrottleAt(10_000, clk.now)
	start := clk.t
	var moved int
	for clk.t.Sub(start) < 10*time.Second {
		b, w := th.Allowance(4096)
		if b == 0 {
			clk.t = clk.t.Add(w)
			continue
		}
		n := int(b) + 700 // a whole batch larger than asked
		th.Take(n)
		moved += n
	}
	if perSec := moved / 10; perSec < 10_000 || perSec > 11_500 {
		t.Fatalf("moved %d bytes/s, want about 10000", perSec)
	}
}

func TestNoThrottle(t *testing.T) {
	for _, th := range []*Throttle{nil, NewThrottle(0)} {
		if b, w := th.Allowance(123); b != 123 || w != 0 {
			t.Fatalf("unlimited: %d %v", b, w)
		}
		th.Take(1 << 30)
		if b, _ := th.Allowance(123); b != 123 {
			t.Fatalf("unlimited after a take: %d", b)
		}
	}
}

// TestRequestThrottlesOnlyAddingReplicas: a throttled partition asks for
// what the bucket holds and is left out while it is empty; the others
// always ask for their full share.
func TestRequestThrottlesOnlyAddingReplicas(t *testing.T) {
	reps := &fakeReplicas{}
	reps.add("t", 0, follower(10, 10, 3, 3))
	reps.add("new", 0, follower(0, 0, 3, -1))
	clk := &fakeClock{t: time.Unix(0, 0)}
	th := newThrottleAt(1000, clk.now)
	f := NewFetchers(FetchersConfig{NodeID: 7, Replicas: reps, Throttle: th})
	added := TopicPartition{"new", 0}
	f.SetThrottled(map[TopicPartition]bool{added: true})
	parts := map[TopicPartition]bool{{"t", 0}: true, added: true}

	maxBytes := func(req *kmsg.FetchRequest) map[TopicPartition]int32 {
		out := map[TopicPartition]int32{}
		if req == nil {
			return out
		}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				out[TopicPartition{rt.Topic, rp.Partition}] = rp.PartitionMaxBytes
			}
		}
		return out
	}
	req, wait := f.request(parts)
	if got := maxBytes(req); got[added] != 1000 || got[TopicPartition{"t", 0}] != 1<<20 || wait != 0 {
		t.Fatalf("full bucket: max bytes %v wait %v", got, wait)
	}
	th.Take(1500)
	req, wait = f.request(parts)
	if got := maxBytes(req); len(got) != 1 || got[TopicPartition{"t", 0}] != 1<<20 || wait != 501*time.Millisecond {
		t.Fatalf("empty bucket: max bytes %v wait %v, want only t-0 and 501ms", got, wait)
	}
	req, wait = f.request(map[TopicPartition]bool{added: true})
	if req != nil || wait != 501*time.Millisecond {
		t.Fatalf("only the throttled partition, bucket empty: request %v wait %v", req != nil, wait)
	}
	// Not named by SetThrottled any more (the reassignment completed).
	f.SetThrottled(nil)
	if got := maxBytes(func() *kmsg.FetchRequest { r, _ := f.request(parts); return r }()); got[added] != 1<<20 {
		t.Fatalf("unthrottled again: %v", got)
	}
}
