package replica

import (
	"sync"
	"time"
)

// Observer is told how long the steps of an acknowledged write take, for
// the node's metrics: together with the follower's own timings
// (replication.FetchersConfig.OnApply) they break one acks=all round trip
// down. Every func may be nil; none may block.
type Observer struct {
	// ProduceWait is an acks=all produce's wait, once appended, for this
	// leader's fsync (local) and then for the high watermark (replicas).
	ProduceWait func(local, replicas time.Duration)
	// FollowerAck is the time from this leader's append of a batch to the
	// follower fetch that reports the follower has it durably.
	FollowerAck func(time.Duration)
}

// appendTimes keeps the end offset and time of a leader's recent appends,
// so that a follower fetch passing one can say how long the copy took. A
// fetch that passes several reports the newest of them (the others were
// copied in the same round trip, and earlier); appends beyond the last
// appendWindow are forgotten, which only drops samples.
type appendTimes struct {
	mu   sync.Mutex
	ends [appendWindow]int64
	ats  [appendWindow]time.Time
	next int // where the next append goes
}

// appendWindow is how many recent appends a leader remembers per partition:
// enough for the appends of a few follower round trips at high rates.
const appendWindow = 32

// note records an append ending at end.
func (a *appendTimes) note(end int64, now time.Time) {
	a.mu.Lock()
	a.ends[a.next], a.ats[a.next] = end, now
	a.next = (a.next + 1) % appendWindow
	a.mu.Unlock()
}

// reset forgets every append.
func (a *appendTimes) reset() {
	a.mu.Lock()
	a.ends, a.ats, a.next = [appendWindow]int64{}, [appendWindow]time.Time{}, 0
	a.mu.Unlock()
}

// passed reports how long ago the newest remembered append was made that a
// follower moving from prev to next has just passed.
func (a *appendTimes) passed(prev, next int64, now time.Time) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 1; i <= appendWindow; i++ {
		j := (a.next - i + appendWindow) % appendWindow
		end := a.ends[j]
		if end == 0 { // an empty slot: no older appends either
			return 0, false
		}
		if end <= prev {
			return 0, false // older appends the follower had already
		}
		if end <= next {
			return now.Sub(a.ats[j]), true
		}
	}
	return 0, false
}
