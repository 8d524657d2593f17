package replica

import (
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/notify"
)

// highWatermark is a replica's high watermark with its change notification
// and the acks=all produces waiting on it (after hashicorp/raft's
// commitment: a small state type with its own lock, testable without a
// log). It knows nothing of the ISR: the partition computes where the high
// watermark may go and tells it.
//
// It only moves forward (advance). A follower lowers it when it truncates a
// divergent tail (truncate) and sets it when it restarts its log at the
// leader's log start (reset); neither wakes waiters, as before.
type highWatermark struct {
	mu     sync.Mutex
	offset int64
	// changed fires when the offset moves, and when anything else a waiter
	// re-checks changes (the role, the members found lagging): see wake.
	changed notify.Notifier
	// waiting are the acks=all produces waiting for the high watermark, by
	// when they started (for the admin API's ACKS_ALL_WAITING).
	waiting   map[uint64]time.Time
	waitingID uint64
}

func newHighWatermark(offset int64) *highWatermark {
	return &highWatermark{offset: offset}
}

// get is the high watermark.
func (h *highWatermark) get() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.offset
}

// getAndWait is the high watermark and a channel closed when it next moves
// (or wake is called), taken together so no change is missed in between.
func (h *highWatermark) getAndWait() (int64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.offset, h.changed.Wait()
}

// advance moves the high watermark to to if that is forward, and wakes the
// waiters when it moved. It reports whether it moved.
func (h *highWatermark) advance(to int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if to <= h.offset {
		return false
	}
	h.offset = to
	h.changed.Notify()
	return true
}

// truncate lowers the high watermark to end if it is above (a follower cut
// its log there).
func (h *highWatermark) truncate(end int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offset = min(h.offset, end)
}

// reset sets the high watermark to offset (a follower restarted its log
// there).
func (h *highWatermark) reset(offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offset = offset
}

// wake makes waiters re-check without the high watermark moving: the role
// or the members counted in sync changed.
func (h *highWatermark) wake() { h.changed.Notify() }

// trackWaiter registers an acks=all wait and returns its removal.
func (h *highWatermark) trackWaiter() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiting == nil {
		h.waiting = map[uint64]time.Time{}
	}
	h.waitingID++
	id := h.waitingID
	h.waiting[id] = time.Now()
	return func() {
		h.mu.Lock()
		delete(h.waiting, id)
		h.mu.Unlock()
	}
}

// waiters is how many acks=all waits are registered and how long the oldest
// has waited.
func (h *highWatermark) waiters() (int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var oldest time.Time
	for _, t := range h.waiting {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0, 0
	}
	return len(h.waiting), time.Since(oldest)
}
