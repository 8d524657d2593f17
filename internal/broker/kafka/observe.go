package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestObserver is told about every request the server reads, once, when
// its fate is known: when the response is ready to be written (for a Pending,
// when the Pending returns, so a long-poll Fetch or an acks=all Produce
// includes its wait), or when the request closed the connection.
//
// key and version come from the request header; both are -1 when the frame
// was too short to carry one or its size prefix was out of bounds. key may be
// one the server does not serve (the request was refused). elapsed runs from
// the moment the frame was read, before decoding, to that point. failed is
// true when the request closed the connection instead of being answered:
// malformed frame, unknown key or unsupported version, a handler error or
// panic, or a missing or mismatched response. Kafka error codes inside a
// response are not failures here.
//
// The observer runs on the connection's goroutines, concurrently for
// different connections and for Pendings: it must be safe for concurrent use
// and quick, since the read loop waits for it.
type RequestObserver func(key, version int16, elapsed time.Duration, failed bool)

// observing reports whether an observer is configured; without one the
// server skips reading the clock.
func (s *Server) observing() bool { return s.cfg.Observer != nil }

// startClock is the start of a request's observed duration: zero when
// nobody observes.
func (s *Server) startClock() time.Time {
	if !s.observing() {
		return time.Time{}
	}
	return time.Now()
}

// observe reports one finished request to the observer, if any.
func (s *Server) observe(key, version int16, start time.Time, failed bool) {
	if !s.observing() {
		return
	}
	var elapsed time.Duration
	if !start.IsZero() {
		elapsed = time.Since(start)
	}
	s.cfg.Observer(key, version, elapsed, failed)
}

// responseFailed is the cheap part of encode's checks: a response the writer
// would refuse means the request ends the connection.
func responseFailed(key int16, resp kmsg.Response) bool {
	return resp == nil || resp.Key() != key
}
