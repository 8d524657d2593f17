package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// exactQuantile is the nearest-rank definition on sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestQuantileSmallValuesExact(t *testing.T) {
	var h histogram
	for v := int64(1); v <= 100; v++ {
		h.record(v)
	}
	for _, tt := range []struct {
		q    float64
		want int64
	}{
		{0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}, {0.01, 1}, {0.001, 1}, {0.505, 51},
	} {
		if got := h.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) of 1..100 = %d, want %d", tt.q, got, tt.want)
		}
	}
	if h.count() != 100 || h.min != 1 || h.max != 100 {
		t.Errorf("count=%d min=%d max=%d", h.count(), h.min, h.max)
	}
}

func TestQuantileEdgeCases(t *testing.T) {
	var h histogram
	if got := h.quantile(0.99); got != 0 {
		t.Fatalf("empty quantile = %d, want 0", got)
	}

	h.record(7_000_000) // one value: every quantile is that value, clamped to max
	for _, q := range []float64{0.001, 0.5, 0.999, 1} {
		if got := h.quantile(q); got != 7_000_000 {
			t.Errorf("single value quantile(%v) = %d", q, got)
		}
	}

	var neg histogram
	neg.record(-5)
	if neg.min != 0 || neg.quantile(1) != 0 {
		t.Errorf("negative value not clamped: min=%d q=%d", neg.min, neg.quantile(1))
	}

	// One slow outlier in 1000 shows at p999 and max, not at p99.
	var tail histogram
	for range 999 {
		tail.record(1000)
	}
	tail.record(1_000_000_000)
	if p99 := tail.quantile(0.99); p99 > 1000+1000/subCount {
		t.Errorf("p99 = %d, want about 1000", p99)
	}
	if p999 := tail.quantile(0.999); p999 > 1000+1000/subCount {
		t.Errorf("p999 = %d, want about 1000 (rank 999 of 1000)", p999)
	}
	if got := tail.quantile(1); got != 1_000_000_000 {
		t.Errorf("max quantile = %d", got)
	}
}

func TestBucketsCoverValues(t *testing.T) {
	values := []int64{0, 1, 255, 256, 257, 511, 512, 1000, 123456789, 1 << 40, math.MaxInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, r.Int64N(math.MaxInt64))
		values = append(values, r.Int64N(1<<20))
	}
	for _, v := range values {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		lo, hi := bucketBounds(b)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d with bounds [%d, %d]", v, b, lo, hi)
		}
		if v >= exactLimit && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its value", b, lo, hi, subCount)
		}
	}
	// Buckets are ordered: a larger value never lands in an earlier bucket.
	for b := 1; b < numBuckets; b++ {
		_, prevHi := bucketBounds(b - 1)
		lo, _ := bucketBounds(b)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", b, lo, prevHi)
		}
	}
}

func TestQuantileMatchesSortedWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h histogram
	var all []int64
	for range 200000 {
		// Log-normal-ish latencies between ~100µs and ~1s, like a real run.
		v := int64(math.Exp(r.NormFloat64()*1.5 + 14))
		h.record(v)
		all = append(all, v)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		want := exactQuantile(all, q)
		got := h.quantile(q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("quantile(%v) = %d, exact %d: outside [exact, exact*(1+1/%d)]", q, got, want, subCount)
		}
	}
	if h.max != all[len(all)-1] || h.min != all[0] {
		t.Errorf("min/max = %d/%d, want %d/%d", h.min, h.max, all[0], all[len(all)-1])
	}
}
