package replica

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// followerState is what a leader knows of one follower from its fetches.
type followerState struct {
	leo       int64     // the follower has every offset below it
	lastFetch time.Time // zero until it fetches under this leadership
	// lastCaughtUp is the last time the follower was known to have
	// everything the leader had (Kafka's lastCaughtUpTimeMs): a fetch at
	// the leader's end, or at least at the end the leader had when the
	// previous fetch was answered.
	lastCaughtUp       time.Time
	lastFetchLeaderEnd int64
	// lastAdvance is when the follower's log end last moved forward (or
	// its first fetch); rate is its copy rate in offsets per second,
	// measured over windows of rateWindow from (rateAt, rateLEO). A
	// reassignment's progress is read from them.
	lastAdvance time.Time
	rateAt      time.Time
	rateLEO     int64
	rate        float64
}

// rateWindow is how long a follower's copy rate is measured over.
const rateWindow = time.Second

// FollowerInfo is a leader's view of one follower, for the admin API.
type FollowerInfo struct {
	ID           int32
	LogEndOffset int64
	LastFetch    time.Time // zero: no fetch under this leadership
	LastCaughtUp time.Time
	InISR        bool
	Lagging      bool // found out of sync; removal asked
	// LastAdvance is when its log end last moved forward (zero: no fetch
	// under this leadership); OffsetsPerSecond its recent copy rate.
	LastAdvance      time.Time
	OffsetsPerSecond float64
}

// UpdateFollower records a follower's fetch on the leader: the follower has
// every offset below fetchOffset (it fsyncs before fetching again). The high
// watermark may move; a lagging member that caught up counts again.
//
// A follower can only hold what this leader has, so a fetch offset beyond
// the leader's log end (or below zero) is a lie or a bug: it is refused with
// OFFSET_OUT_OF_RANGE and never recorded, so it can neither move the high
// watermark nor keep a cut-off follower in the ISR.
func (p *Partition) UpdateFollower(id int32, fetchOffset int64) error {
	if fetchOffset < 0 || fetchOffset > p.LogEndOffset() {
		return kerr.OffsetOutOfRange
	}
	end := p.FollowerReadEnd()
	now := time.Now()
	lagMax := p.lagTimeMax()
	p.followersMu.Lock()
	f := p.followers[id]
	if f == nil {
		f = &followerState{}
		p.followers[id] = f
	}
	if fetchOffset > f.leo || f.lastAdvance.IsZero() {
		f.lastAdvance = now
	}
	if p.obs != nil && p.obs.FollowerAck != nil {
		if d, ok := p.appends.passed(f.leo, fetchOffset, now); ok {
			p.obs.FollowerAck(d)
		}
	}
	switch {
	case f.rateAt.IsZero():
		f.rateAt, f.rateLEO = now, fetchOffset
	case now.Sub(f.rateAt) >= rateWindow:
		f.rate = float64(fetchOffset-f.rateLEO) / now.Sub(f.rateAt).Seconds()
		f.rateAt, f.rateLEO = now, fetchOffset
	}
	f.leo = fetchOffset
	switch {
	case fetchOffset >= end:
		f.lastCaughtUp = now
	case !f.lastFetch.IsZero() && fetchOffset >= f.lastFetchLeaderEnd && f.lastFetch.After(f.lastCaughtUp):
		f.lastCaughtUp = f.lastFetch
	}
	f.lastFetch, f.lastFetchLeaderEnd = now, end
	if p.lagging[id] && now.Sub(f.lastCaughtUp) <= lagMax {
		delete(p.lagging, id)
		p.hw.wake()
	}
	p.followersMu.Unlock()
	p.recomputeHW()
	return nil
}

func (p *Partition) lagTimeMax() time.Duration {
	return time.Duration(p.Config().ReplicaLagTimeMaxMs) * time.Millisecond
}

// inSyncCount is how many ISR members count for min.insync.replicas: the
// ISR less the members found lagging whose removal is not committed yet.
func (p *Partition) inSyncCount(r *Role) int {
	p.followersMu.Lock()
	defer p.followersMu.Unlock()
	n := len(r.ISR)
	for id := range p.lagging {
		if slices.Contains(r.ISR, id) {
			n--
		}
	}
	return n
}

// DefaultShortISRHold is how long an acks=all produce waits for the
// in-sync replicas to reach min.insync.replicas before it is refused.
const DefaultShortISRHold = time.Second

// CheckProduce refuses a produce before anything is appended when this
// replica does not lead the partition (NOT_LEADER_OR_FOLLOWER) or, for
// acks=all, when fewer replicas are in sync than the effective
// min.insync.replicas (the topic's value capped at the replication factor):
// NOT_ENOUGH_REPLICAS.
//
// An acks=all produce that finds too few in sync first waits up to
// DefaultShortISRHold for them (every change of the ISR or of the members
// counted in sync wakes it): when an outage heals, the restarted replicas
// rejoin within a fetch round or two, and a default franz-go producer told
// NOT_ENOUGH_REPLICAS retries only after its next metadata refresh, up to
// 5 s later. It runs on the connection's read goroutine, so the
// connection's later requests keep their order behind it.
func (p *Partition) CheckProduce(acks int16) error {
	deadline := time.Now().Add(p.shortISRHold)
	for {
		_, changed := p.hw.getAndWait() // before the checks: no change is missed
		r := p.role.Load()
		if !r.Leader {
			return kerr.NotLeaderForPartition
		}
		if acks != -1 || p.inSyncCount(r) >= p.Config().EffectiveMinISR(len(r.Replicas)) {
			return nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return kerr.NotEnoughReplicas
		}
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// ISRChange is, on the leader, the ISR this partition should have now:
// members not caught up for replica.lag.time.max.ms leave; replicas that
// reached the high watermark and this epoch's start, caught up within the
// lag time and alive (eligible) join. ok is false when nothing should
// change. Members found lagging stop counting for min.insync.replicas at
// once, before the change commits.
func (p *Partition) ISRChange(eligible func(id int32) bool) (r Role, isr []int32, ok bool) {
	r = *p.role.Load()
	if !r.Leader || !slices.Contains(r.ISR, r.Self) {
		// A leader outside its own ISR (or an empty ISR) is a state the
		// product never creates; changing the ISR from here would hide it
		// from the diagnosis that reports it (LEADER_NOT_IN_ISR).
		return r, nil, false
	}
	epochStart := p.epochStart.Load()
	lagMax := p.lagTimeMax()
	now := time.Now()
	p.followersMu.Lock()
	defer p.followersMu.Unlock()
	hw := p.hw.get()
	lagging := map[int32]bool{}
	for _, id := range r.ISR {
		if id == r.Self {
			isr = append(isr, id)
			continue
		}
		if f := p.followers[id]; f == nil || now.Sub(f.lastCaughtUp) > lagMax {
			lagging[id] = true
			continue
		}
		isr = append(isr, id)
	}
	for _, id := range r.Replicas {
		if slices.Contains(r.ISR, id) {
			continue
		}
		f := p.followers[id]
		if f != nil && !f.lastFetch.IsZero() && f.leo >= hw && f.leo >= epochStart &&
			now.Sub(f.lastCaughtUp) <= lagMax && eligible(id) {
			isr = append(isr, id)
		}
	}
	if !maps.Equal(lagging, p.lagging) {
		p.lagging = lagging
		p.hw.wake()
	}
	// The replicas about to be proposed as members hold the high watermark
	// from now on (see joining); the next check replaces them, so one that
	// stops qualifying before its addition commits stops holding it.
	p.joining = slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return slices.Contains(r.ISR, id) })
	return r, isr, !slices.Equal(isr, r.ISR)
}

// Followers is the leader's view of every other replica (nil on a
// follower), in assignment order.
func (p *Partition) Followers() []FollowerInfo {
	r := p.role.Load()
	if !r.Leader {
		return nil
	}
	p.followersMu.Lock()
	defer p.followersMu.Unlock()
	var out []FollowerInfo
	for _, id := range r.Replicas {
		if id == r.Self {
			continue
		}
		fi := FollowerInfo{ID: id, InISR: slices.Contains(r.ISR, id), Lagging: p.lagging[id]}
		if f := p.followers[id]; f != nil {
			fi.LogEndOffset, fi.LastFetch, fi.LastCaughtUp = f.leo, f.lastFetch, f.lastCaughtUp
			fi.LastAdvance, fi.OffsetsPerSecond = f.lastAdvance, max(f.rate, 0)
			if time.Since(f.lastFetch) > 2*rateWindow {
				fi.OffsetsPerSecond = 0 // it stopped fetching: no measured rate
			}
		}
		out = append(out, fi)
	}
	return out
}

// DivergingEpoch is the leader's check of a follower's fetch (KIP-320,
// Fetch v12 DivergingEpoch): the follower's last batch has leader epoch
// lastFetchedEpoch and it fetches from fetchOffset. If this leader's log
// ended that epoch earlier (or never had it), the follower holds a tail that
// is not the leader's: it must truncate to the returned end offset of the
// returned epoch and fetch again.
func (p *Partition) DivergingEpoch(lastFetchedEpoch int32, fetchOffset int64) (epoch int32, end int64, diverged bool) {
	if lastFetchedEpoch < 0 {
		return 0, 0, false
	}
	e, endOffset := p.log.EndOffsetForEpoch(lastFetchedEpoch)
	if e == lastFetchedEpoch && endOffset >= fetchOffset {
		return 0, 0, false
	}
	return e, endOffset, true
}

// TruncateDiverged handles a leader's DivergingEpoch answer on a follower:
// the leader's epoch `epoch` ended at end, so this replica keeps nothing
// past min(end, where its own copy of that epoch ended). An end below zero
// (the leader knows no such epoch) falls back to the high watermark, as
// Kafka does.
func (p *Partition) TruncateDiverged(epoch int32, end int64) error {
	to := p.HighWatermark()
	if end >= 0 {
		_, own := p.log.EndOffsetForEpoch(epoch)
		to = end
		if own >= 0 {
			to = min(end, own)
		}
	}
	return p.Truncate(to)
}

// HighWatermarkCurrent reports whether a leader's high watermark has reached
// the start of its own epoch: before that, a just-elected leader's high
// watermark can be below what the previous leader had already exposed.
func (p *Partition) HighWatermarkCurrent() bool {
	return p.HighWatermark() >= p.epochStart.Load()
}
