package replication

import (
	"sync"
	"sync/atomic"
	"time"
)

// Throttle is a token bucket of bytes per second for the fetches of the
// replicas a reassignment adds on this node (Kafka's
// follower.replication.throttled.rate, one broker-wide rate): copying a
// partition to a new broker must not starve the replication that keeps the
// ISRs in sync, which is never throttled.
//
// A fetch asks for at most the bytes the bucket holds; what the leader
// sends is taken afterwards, and may overdraw the bucket (a leader always
// sends a whole first batch), which the next fetches wait out, so the rate
// holds on average. The bucket holds at most one second of the rate.
type Throttle struct {
	rate int64 // bytes per second; 0: no limit

	mu     sync.Mutex
	tokens float64
	last   time.Time
	now    func() time.Time

	fetched atomic.Int64 // bytes fetched for throttled replicas
}

// NewThrottle returns a throttle of rate bytes per second; 0 means no limit.
func NewThrottle(rate int64) *Throttle {
	return newThrottleAt(rate, time.Now)
}

func newThrottleAt(rate int64, now func() time.Time) *Throttle {
	return &Throttle{rate: max(rate, 0), tokens: float64(max(rate, 0)), last: now(), now: now}
}

// Rate is the configured limit in bytes per second; 0: no limit.
func (t *Throttle) Rate() int64 {
	if t == nil {
		return 0
	}
	return t.rate
}

// Fetched is the bytes fetched for throttled replicas so far.
func (t *Throttle) Fetched() int64 {
	if t == nil {
		return 0
	}
	return t.fetched.Load()
}

// refill adds the tokens earned since the last call; mu is held.
func (t *Throttle) refill() {
	now := t.now()
	if d := now.Sub(t.last); d > 0 {
		t.tokens = min(t.tokens+d.Seconds()*float64(t.rate), float64(t.rate))
	}
	t.last = now
}

// Allowance is how many bytes a fetch may ask for now, up to limit; when
// it is 0 the bucket is empty or overdrawn and wait says when it is not.
func (t *Throttle) Allowance(limit int32) (bytes int32, wait time.Duration) {
	if t == nil || t.rate == 0 {
		return limit, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refill()
	if t.tokens < 1 {
		return 0, time.Duration((1 - t.tokens) / float64(t.rate) * float64(time.Second))
	}
	return int32(min(t.tokens, float64(limit))), 0
}

// Take records n bytes fetched for throttled replicas.
func (t *Throttle) Take(n int) {
	if t == nil || n <= 0 {
		return
	}
	t.fetched.Add(int64(n))
	if t.rate == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refill()
	t.tokens -= float64(n)
}
