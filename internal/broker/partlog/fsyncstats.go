package partlog

import (
	"slices"
	"sync"
	"time"
)

// FsyncWindow is how far back a log's recent fsync passes reach: a disk
// that was slow a minute ago and is fast now no longer counts.
const FsyncWindow = 30 * time.Second

// fsyncRing is how many recent passes a log keeps: its latest ones are
// what its writers wait for now. Of 5, the median needs 3 slow to be slow,
// so one or two outliers (a rolled segment's larger fsync, a neighbour's
// burst) do not move it, while a disk turned slow shows after 3 passes (a
// follower under a 200 ms delay does them in well under 2 s) and a disk
// fast again clears as quickly.
const fsyncRing = 5

// FsyncStats is a log's record of its fsync passes: one pass fsyncs
// whatever was appended since the previous one (group commit), so its
// duration is what an acks=all produce or a follower's fetch waits for.
// A pass's duration includes Options.BeforeFsync, so an injected delay
// counts as a slow disk would.
type FsyncStats struct {
	Passes uint64        // passes that had data to flush, since Open
	Last   time.Duration // the latest pass; 0 before the first
	LastAt time.Time     // when the latest pass ended (Options.Now); zero before the first
	// Recent is how many of the last passes (at most 5) ended within
	// FsyncWindow; Median and Max are over them, 0 when there are none.
	Recent int
	Median time.Duration
	Max    time.Duration
}

// fsyncSample is one pass: how long it took and when it ended (unix ns by
// Options.Now, so tests can age it out).
type fsyncSample struct {
	took time.Duration
	at   int64
}

// FsyncRecord is a running record of recent fsyncs: the last 5, each
// with when it ended. A Log keeps one for its passes (FsyncStats); a node
// keeps one for its raft store's writes. The zero value is ready to use.
// Only the syncer goroutine writes a Log's, once per pass, never on the
// append path; the mutex only orders it with readers (the admin API).
type FsyncRecord struct {
	mu     sync.Mutex
	passes uint64
	next   int // ring slot the next pass goes to
	ring   [fsyncRing]fsyncSample
}

// Add records one fsync that took took and ended at at.
func (r *FsyncRecord) Add(took time.Duration, at time.Time) {
	r.mu.Lock()
	r.ring[r.next] = fsyncSample{took: took, at: at.UnixNano()}
	r.next = (r.next + 1) % fsyncRing
	r.passes++
	r.mu.Unlock()
}

// FsyncStats reports the log's recent fsync passes as of Options.Now.
func (l *Log) FsyncStats() FsyncStats { return l.fsyncRec.Stats(l.now()) }

// Stats reports the recorded fsyncs as of now.
func (r *FsyncRecord) Stats(now time.Time) FsyncStats {
	var buf [fsyncRing]time.Duration
	recent := r.AppendRecent(buf[:0], now)
	r.mu.Lock()
	st := FsyncStats{Passes: r.passes, Recent: len(recent)}
	if r.passes > 0 {
		last := r.ring[(r.next+fsyncRing-1)%fsyncRing]
		st.Last, st.LastAt = last.took, time.Unix(0, last.at)
	}
	r.mu.Unlock()
	if len(recent) > 0 {
		slices.Sort(recent)
		st.Median, st.Max = Median(recent), recent[len(recent)-1]
	}
	return st
}

// AppendRecentFsyncs appends the durations of the log's recent passes
// (those of the last 5 that ended within FsyncWindow) to dst, in no
// particular order. A node pools them over all its logs, so that many idle
// logs with one slow pass each still show a slow disk.
func (l *Log) AppendRecentFsyncs(dst []time.Duration) []time.Duration {
	return l.fsyncRec.AppendRecent(dst, l.now())
}

// AppendRecent appends the durations of the recorded fsyncs that ended
// within FsyncWindow before now to dst.
func (r *FsyncRecord) AppendRecent(dst []time.Duration, now time.Time) []time.Duration {
	since := now.Add(-FsyncWindow).UnixNano()
	r.mu.Lock()
	n := min(r.passes, fsyncRing)
	for i := range int(n) {
		if s := r.ring[i]; s.at >= since {
			dst = append(dst, s.took)
		}
	}
	r.mu.Unlock()
	return dst
}

// Median is the middle of sorted durations (the lower of the two middle
// ones for an even count: a slow disk must slow most passes, not half);
// 0 for none.
func Median(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)/2]
}
