package quota

import "time"

// rate is Kafka's sampled Rate (org.apache.kafka.common.metrics.stats.Rate
// over a SampledStat): what was recorded in the last `samples` windows of
// `window` each, divided by the time those windows span. A sample starts at
// the first record after the previous one completed (not on a fixed grid),
// samples older than samples*window count for nothing, and the span is at
// least samples-1 full windows, so a client's first burst is measured over
// (samples-1)*window and cannot exceed the quota by much more than that
// allows.
type rate struct {
	samples []sample
	cur     int
}

type sample struct {
	start time.Time // zero: unused
	value float64
}

func newRate(samples int) *rate { return &rate{samples: make([]sample, samples)} }

// record adds v at now, starting a new sample when the current one has
// covered a whole window.
func (r *rate) record(now time.Time, window time.Duration, v float64) {
	s := &r.samples[r.cur]
	if s.start.IsZero() {
		s.start = now
	} else if now.Sub(s.start) >= window {
		r.cur = (r.cur + 1) % len(r.samples)
		s = &r.samples[r.cur]
		*s = sample{start: now}
	}
	s.value += v
}

// purge forgets samples that ended before the measured span: older than
// samples*window.
func (r *rate) purge(now time.Time, window time.Duration) {
	expire := time.Duration(len(r.samples)) * window
	for i := range r.samples {
		if s := &r.samples[i]; !s.start.IsZero() && now.Sub(s.start) >= expire {
			*s = sample{}
		}
	}
}

// windowSize is the span the rate divides by (Kafka's Rate.windowSize): from
// the oldest live sample to now, but at least samples-1 whole windows, and
// never zero.
func (r *rate) windowSize(now time.Time, window time.Duration) time.Duration {
	r.purge(now, window)
	oldest := now
	for _, s := range r.samples {
		if !s.start.IsZero() && s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	full := int(elapsed / window)
	if minFull := len(r.samples) - 1; full < minFull {
		elapsed += time.Duration(minFull-full) * window
	}
	return max(elapsed, time.Millisecond)
}

// measure is the rate per second at now, and the span it was measured over.
func (r *rate) measure(now time.Time, window time.Duration) (perSecond float64, span time.Duration) {
	span = r.windowSize(now, window) // purges first
	var total float64
	for _, s := range r.samples {
		if !s.start.IsZero() {
			total += s.value
		}
	}
	return total / span.Seconds(), span
}

// idle reports whether every sample has expired: the rate is zero and
// forgetting it loses nothing.
func (r *rate) idle(now time.Time, window time.Duration) bool {
	r.purge(now, window)
	for _, s := range r.samples {
		if !s.start.IsZero() {
			return false
		}
	}
	return true
}

// throttle is Kafka's ClientQuotaManager throttle time for a measured rate
// over its bound: how long the client must stay silent for the rate over
// the same span to come down to the bound, (observed - bound) / bound *
// span. Zero when within the bound.
func throttle(observed, bound float64, span time.Duration) time.Duration {
	if observed <= bound || bound <= 0 {
		return 0
	}
	return time.Duration((observed - bound) / bound * float64(span))
}
