package main

import (
	"math"
	"math/bits"
)

// The histogram keeps every value exactly below 2^(subBits+1) and, above
// that, in buckets 2^-subBits wide relative to their value: with subBits = 7
// a reported percentile is at most 1/128 (0.8%) above the true one, in
// fixed memory however long the run, unlike keeping every latency.
const (
	subBits    = 7
	subCount   = 1 << subBits       // buckets per power of two
	exactLimit = 1 << (subBits + 1) // values below this have a bucket each
	// int64 values have at most 63 significant bits.
	numBuckets = (63-subBits-1)*subCount + exactLimit
)

// histogram counts non-negative int64 values (nanoseconds here).
// It is not safe for concurrent use.
type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	min    int64
	max    int64
}

// bucketOf returns the bucket holding v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < exactLimit {
		return int(u)
	}
	shift := bits.Len64(u) - (subBits + 1)
	top := u >> shift // in [subCount, 2*subCount)
	return shift*subCount + int(top)
}

// bucketBounds returns the smallest and largest value bucket b holds.
func bucketBounds(b int) (lo, hi int64) {
	if b < exactLimit {
		return int64(b), int64(b)
	}
	shift := b/subCount - 1
	top := uint64(b%subCount + subCount)
	lo64 := top << shift
	hi64 := (top+1)<<shift - 1
	return int64(lo64), int64(hi64)
}

// record adds one value; negative values (a clock step) count as zero.
func (h *histogram) record(v int64) {
	v = max(v, 0)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[bucketOf(v)]++
	h.n++
}

// count returns how many values were recorded.
func (h *histogram) count() uint64 { return h.n }

// quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value v such that at least q of all values are <= v, rounded up
// to its bucket's upper bound (never above the maximum). 0 when empty.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(b)
			return max(min(hi, h.max), h.min)
		}
	}
	return h.max // unreachable: the counts sum to n
}
