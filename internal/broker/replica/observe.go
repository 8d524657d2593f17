package replica

import (
	"sync/atomic"
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

// lastAppend is the end and time of a leader's latest append, so that a
// follower fetch passing it can say how long the copy took. Only the
// latest is kept: it samples the round trip without a list per append.
type lastAppend struct {
	end atomic.Int64
	at  atomic.Int64 // unix ns
}

// note records an append ending at end.
func (a *lastAppend) note(end int64, now time.Time) {
	a.at.Store(now.UnixNano())
	a.end.Store(end)
}

// passed reports how long ago the latest append was made if a follower
// moving from prev to next has just passed its end.
func (a *lastAppend) passed(prev, next int64, now time.Time) (time.Duration, bool) {
	end := a.end.Load()
	if end == 0 || prev >= end || next < end {
		return 0, false
	}
	return now.Sub(time.Unix(0, a.at.Load())), true
}
