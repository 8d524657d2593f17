package main

import (
	"context"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// clock is time as the open loop sees it; tests use a fake one.
type clock interface {
	Now() time.Time
	// SleepUntil returns at t, at once if t has passed, or with ctx's error.
	SleepUntil(ctx context.Context, t time.Time) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// schedule is a fixed-rate send schedule: record i is due at t0 + i/rate.
// It never moves: a record sent late keeps its due time.
type schedule struct {
	t0   time.Time
	rate int64 // records per second
}

func (s schedule) at(i int64) time.Time {
	return s.t0.Add(time.Duration(i * int64(time.Second) / s.rate))
}

// openLoop hands records to send on schedule until end. Each record whose
// due time has come is sent at once, so after a stall (send blocking, a
// late wake-up) the records it held back go out in one burst, each with its
// own due time.
type openLoop struct {
	sched schedule
	clock clock
	// send hands the record due at intended to the client. It may block
	// (a full client buffer); its acknowledgement is measured from
	// intended.
	send func(intended time.Time)
}

// run sends every record due before end and returns how many it sent.
func (l *openLoop) run(ctx context.Context, end time.Time) (int64, error) {
	for i := int64(0); ; i++ {
		t := l.sched.at(i)
		if !t.Before(end) {
			return i, nil
		}
		if err := l.clock.SleepUntil(ctx, t); err != nil {
			return i, err
		}
		l.send(t)
	}
}

// recorder collects the acknowledgements of one open-loop run: latency from
// the intended send time, for records due from `from` on (earlier ones are
// the warm-up), and the acknowledgements that arrived in [from, to), for
// the achieved rate. Errors count whenever they happen.
type recorder struct {
	clock    clock
	from, to time.Time

	mu       sync.Mutex
	hist     *hdrhistogram.Histogram // µs
	inWindow int64                   // acknowledged in [from, to)
	errs     errCount
}

// Latency histogram bounds: 1 µs .. 2 min, 3 significant digits.
const (
	histMin = 1
	histMax = int64(2 * time.Minute / time.Microsecond)
	histSig = 3
)

func newRecorder(c clock, from, to time.Time) *recorder {
	return &recorder{clock: c, from: from, to: to, hist: hdrhistogram.New(histMin, histMax, histSig)}
}

// ack records the outcome of the record due at intended. Safe for
// concurrent use (franz-go calls promises from several goroutines).
func (r *recorder) ack(intended time.Time, err error) {
	if err != nil {
		r.errs.add(err)
		return
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !now.Before(r.from) && now.Before(r.to) {
		r.inWindow++
	}
	if intended.Before(r.from) {
		return
	}
	us := max(now.Sub(intended).Microseconds(), histMin)
	// Above the histogram's range: record its maximum rather than lose it.
	_ = r.hist.RecordValue(min(us, histMax))
}

// errCount counts failed records and keeps the first error.
type errCount struct {
	mu    sync.Mutex
	n     int64
	first error
}

func (e *errCount) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.first == nil {
		e.first = err
	}
}

// get returns the count and the first error's text.
func (e *errCount) get() (int64, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		return e.n, ""
	}
	return e.n, e.first.Error()
}
