package kafka

import (
	"context"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/notify"
)

// budget is a count of bytes held against a capacity: request frames read
// but not yet answered, and response bytes built but not yet written
// (Kafka's queued.max.request.bytes, extended to responses, since a 100-byte
// Fetch can ask for megabytes). The server has one for the whole broker and
// one per connection.
type budget struct {
	capacity int64
	freed    notify.Notifier // notified whenever bytes are released

	mu   sync.Mutex
	used int64
}

func newBudget(capacity int64) *budget { return &budget{capacity: capacity} }

// tryAcquire takes n bytes if they fit, or if nothing is held at all (so one
// item larger than the whole budget still passes, alone).
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n <= b.capacity || b.used == 0 {
		b.used += n
		return true
	}
	return false
}

// take grants up to n bytes of what is free below ceiling (at most the
// capacity) and returns how many (maybe 0).
func (b *budget) take(n, ceiling int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	got := max(min(n, min(ceiling, b.capacity)-b.used), 0)
	b.used += got
	return got
}

// responseCeiling is how much of the broker's budget responses may hold:
// three quarters, so that while slow readers hold their answers, requests
// (produce, heartbeats, metadata) always find a quarter free to be read in.
func (b *budget) responseCeiling() int64 { return b.capacity - b.capacity/4 }

// charge adds n bytes whether or not they fit: memory that already exists
// (the one whole batch a fetch returns beyond its limit) is counted, so the
// next request waits for it.
func (b *budget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.freed.Notify()
}

// inUse is the number of bytes held.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// acquire blocks until tryAcquire(n) succeeds, or until done or stopping
// closes (then it returns false).
func (b *budget) acquire(n int64, done, stopping <-chan struct{}) bool {
	for {
		ch := b.freed.Wait() // before trying, so a release in between wakes us
		if b.tryAcquire(n) {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		case <-stopping:
			return false
		}
	}
}

// acquireFrame holds n bytes of a request frame against the connection's
// budget and then the broker's, blocking until both have room. false when
// the connection or the server stopped first.
func (c *conn) acquireFrame(n int64) bool {
	if !c.mem.acquire(n, c.ctx.Done(), c.s.stopping) {
		return false
	}
	if !c.s.mem.acquire(n, c.ctx.Done(), c.s.stopping) {
		c.mem.release(n)
		return false
	}
	return true
}

// releaseHeld gives back what request it holds of both budgets: its frame
// and its response, once the response is written (or was never wanted).
func (c *conn) releaseHeld(it *inflight) {
	n := it.held
	it.held = 0
	c.mem.release(n)
	c.s.mem.release(n)
}

// releaseRemaining gives the broker back whatever the connection still holds
// when it ends: requests never answered, responses never written. Nothing
// acquires after it (the reader, writer and every Pending have ended).
func (c *conn) releaseRemaining() {
	c.s.mem.release(c.mem.inUse())
}

// inflightKey carries a request's *inflight in the context its handler and
// Pending get, for ResponseBudget.
type inflightKey struct{}

// ResponseBudget is the share of the connection's and the broker's queued
// bytes budget a handler may fill with one response. A handler that builds a
// large response (Fetch) takes bytes before reading data and settles what it
// used; the server releases the rest when the response has been written. The
// zero value (a handler called outside a server, as in tests) grants
// everything.
type ResponseBudget struct {
	c  *conn
	it *inflight
}

// BudgetFrom returns the response budget of the request ctx belongs to.
func BudgetFrom(ctx context.Context) ResponseBudget {
	it, _ := ctx.Value(inflightKey{}).(*inflight)
	if it == nil || it.c == nil {
		return ResponseBudget{}
	}
	return ResponseBudget{c: it.c, it: it}
}

// Take grants up to n bytes, what is free in both the connection's budget
// and the broker's (of which responses may hold three quarters); 0 when
// either is full. The bytes are held until Release or until the response is
// written.
func (r ResponseBudget) Take(n int) int {
	if r.c == nil {
		return n
	}
	got := r.c.mem.take(int64(n), r.c.mem.capacity)
	if got == 0 {
		return 0
	}
	if srv := r.c.s.mem.take(got, r.c.s.mem.responseCeiling()); srv < got {
		r.c.mem.release(got - srv)
		got = srv
	}
	r.it.held += got
	return int(got)
}

// Charge holds n bytes whether or not they fit, for a response that must not
// wait for budget (a follower's fetch: replication must not stall behind
// slow consumers). They are counted, so other requests wait for them.
func (r ResponseBudget) Charge(n int) {
	if r.c == nil || n <= 0 {
		return
	}
	r.c.mem.charge(int64(n))
	r.c.s.mem.charge(int64(n))
	r.it.held += int64(n)
}

// Settle turns a grant of granted bytes into what the response really uses:
// the unused part is released, and bytes beyond the grant (the one whole
// batch a fetch returns for progress) are charged.
func (r ResponseBudget) Settle(granted, used int) {
	if r.c == nil {
		return
	}
	switch {
	case used < granted:
		r.Release(granted - used)
	case used > granted:
		extra := int64(used - granted)
		r.c.mem.charge(extra)
		r.c.s.mem.charge(extra)
		r.it.held += extra
	}
}

// Release gives back n bytes this request holds (a response it discards).
func (r ResponseBudget) Release(n int) {
	if r.c == nil || n <= 0 {
		return
	}
	m := min(int64(n), r.it.held)
	r.it.held -= m
	r.c.mem.release(m)
	r.c.s.mem.release(m)
}

// Freed returns channels closed when the connection's or the broker's budget
// next frees bytes, for a handler that got less than it asked to wait on; nil
// outside a server.
func (r ResponseBudget) Freed() []<-chan struct{} {
	if r.c == nil {
		return nil
	}
	return []<-chan struct{}{r.c.mem.freed.Wait(), r.c.s.mem.freed.Wait()}
}
