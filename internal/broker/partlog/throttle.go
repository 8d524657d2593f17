package partlog

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Throttle bounds the cleaner's I/O in bytes per second, shared by every
// pass that uses it: a token bucket holding at most one second's worth. A
// caller takes what it needs at once and then waits off any debt, so large
// reads are paced rather than refused. Safe for concurrent use.
type Throttle struct {
	mu     sync.Mutex
	rate   float64 // bytes per second; <= 0 unlimited
	tokens float64
	last   time.Time
}

// NewThrottle returns a throttle of bytesPerSecond; <= 0 is unlimited.
func NewThrottle(bytesPerSecond float64) *Throttle {
	t := &Throttle{}
	t.SetRate(bytesPerSecond)
	return t
}

// SetRate changes the rate (a dynamic configuration); <= 0 is unlimited.
func (t *Throttle) SetRate(bytesPerSecond float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rate = bytesPerSecond
	t.tokens = max(bytesPerSecond, 0)
	t.last = time.Now()
}

// Rate is the rate in effect; <= 0 is unlimited.
func (t *Throttle) Rate() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rate
}

// Wait takes n bytes' worth from the bucket, waiting as long as the rate
// requires. A nil Throttle never waits. It returns ctx's error if ctx ends
// first.
func (t *Throttle) Wait(ctx context.Context, n int) error {
	if t == nil || n <= 0 {
		return ctx.Err()
	}
	t.mu.Lock()
	if t.rate <= 0 {
		t.mu.Unlock()
		return ctx.Err()
	}
	now := time.Now()
	t.tokens = min(t.rate, t.tokens+now.Sub(t.last).Seconds()*t.rate)
	t.last = now
	t.tokens -= float64(n)
	var wait time.Duration
	if t.tokens < 0 {
		wait = time.Duration(-t.tokens / t.rate * float64(time.Second))
	}
	t.mu.Unlock()
	if wait <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cleaner throttle: %w", ctx.Err())
	}
}
