package main

import (
	"slices"
	"time"
)

// spread is the minimum, median and maximum of a set of durations.
type spread struct {
	n                int
	min, median, max time.Duration
}

// spreadOf summarises ds (in any order); the median of an even count is the
// mean of the two middle values. An empty ds gives n == 0.
func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	mid := len(s) / 2
	median := s[mid]
	if len(s)%2 == 0 {
		median = (s[mid-1] + s[mid]) / 2
	}
	return spread{n: len(s), min: s[0], median: median, max: s[len(s)-1]}
}

// longestGap returns the longest time between consecutive acknowledgements
// (times since the run started, in any order) among those that end after
// from: the gap that spans from itself, from the last acknowledgement at or
// before from (or from itself if there is none) to the first one after it,
// and every gap after that. With no acknowledgement after from it is 0:
// the failover has no end to measure to, and the caller reports that.
func longestGap(acks []time.Duration, from time.Duration) time.Duration {
	s := slices.Clone(acks)
	slices.Sort(s)
	prev := from
	var longest time.Duration
	for _, a := range s {
		if a <= from {
			prev = a
			continue
		}
		longest = max(longest, a-prev)
		prev = a
	}
	return longest
}

// seqOffset is one record of the benchmark: its sequence number (the key)
// and the offset it was acknowledged at or read from.
type seqOffset struct {
	seq    int64
	offset int64
}

// deliveryReport compares what the producer was told with what a consumer
// reads back.
type deliveryReport struct {
	acked    int // distinct sequence numbers acknowledged
	consumed int // records read, duplicates included

	lost       []int64 // acknowledged, never read
	duplicated []int64 // acknowledged, read more than once
	moved      []int64 // acknowledged at one offset, read once at another
	unacked    int     // distinct sequence numbers read that were never acknowledged (failed or unanswered when the run ended: allowed)
	malformed  int     // records whose key or value is not what the benchmark wrote (filled in by the reader)
}

// ok reports whether every acknowledged record was read exactly once, where
// it was acknowledged, and nothing read was garbage.
func (r deliveryReport) ok() bool {
	return len(r.lost) == 0 && len(r.duplicated) == 0 && len(r.moved) == 0 && r.malformed == 0
}

// checkDelivery checks that every acknowledged record appears exactly once
// among the consumed ones, at the offset it was acknowledged at. The result
// lists are sorted.
func checkDelivery(acked, consumed []seqOffset) deliveryReport {
	ackedAt := make(map[int64]int64, len(acked))
	for _, a := range acked {
		ackedAt[a.seq] = a.offset
	}
	type seen struct {
		count  int
		offset int64 // of the first copy
	}
	read := make(map[int64]seen, len(consumed))
	for _, c := range consumed {
		s := read[c.seq]
		if s.count == 0 {
			s.offset = c.offset
		}
		s.count++
		read[c.seq] = s
	}

	r := deliveryReport{acked: len(ackedAt), consumed: len(consumed)}
	for seq, off := range ackedAt {
		s := read[seq]
		switch {
		case s.count == 0:
			r.lost = append(r.lost, seq)
		case s.count > 1:
			r.duplicated = append(r.duplicated, seq)
		case s.offset != off:
			r.moved = append(r.moved, seq)
		}
	}
	for seq := range read {
		if _, ok := ackedAt[seq]; !ok {
			r.unacked++
		}
	}
	slices.Sort(r.lost)
	slices.Sort(r.duplicated)
	slices.Sort(r.moved)
	return r
}
