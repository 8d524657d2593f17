package replica

import (
	"sync"
	"testing"
	"time"
)

func fired(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHighWatermarkAdvancesOnlyForward(t *testing.T) {
	h := newHighWatermark(5)
	if got := h.get(); got != 5 {
		t.Fatalf("start: %d, want 5", got)
	}
	if h.advance(5) || h.advance(3) {
		t.Fatal("advance to the same or a lower offset reported a move")
	}
	if got := h.get(); got != 5 {
		t.Fatalf("moved backwards to %d", got)
	}
	if !h.advance(9) {
		t.Fatal("advance to 9 reported no move")
	}
	if got := h.get(); got != 9 {
		t.Fatalf("after advance: %d, want 9", got)
	}
}

func TestHighWatermarkNotifiesOnlyWhenItMoves(t *testing.T) {
	h := newHighWatermark(0)
	hw, ch := h.getAndWait()
	if hw != 0 {
		t.Fatalf("hw %d, want 0", hw)
	}
	h.advance(0)
	if fired(ch) {
		t.Fatal("notified although the high watermark did not move")
	}
	h.advance(3)
	if !fired(ch) {
		t.Fatal("not notified when the high watermark moved")
	}
	hw, ch = h.getAndWait()
	if hw != 3 || fired(ch) {
		t.Fatalf("after the move: hw %d, fired %v", hw, fired(ch))
	}
	h.wake()
	if !fired(ch) {
		t.Fatal("wake did not notify")
	}
	if got := h.get(); got != 3 {
		t.Fatalf("wake moved the high watermark to %d", got)
	}
}

// A follower's truncation and log restart are the only ways down, and they
// wake nobody: no acks=all waits on a follower.
func TestHighWatermarkTruncateAndReset(t *testing.T) {
	h := newHighWatermark(10)
	_, ch := h.getAndWait()
	h.truncate(20)
	if got := h.get(); got != 10 {
		t.Fatalf("truncate above raised it to %d", got)
	}
	h.truncate(7)
	if got := h.get(); got != 7 {
		t.Fatalf("truncate to 7: %d", got)
	}
	h.reset(100)
	if got := h.get(); got != 100 {
		t.Fatalf("reset to 100: %d", got)
	}
	h.reset(2)
	if got := h.get(); got != 2 {
		t.Fatalf("reset to 2: %d", got)
	}
	if fired(ch) {
		t.Fatal("truncate or reset notified")
	}
}

// A waiter that takes the channel with the value never misses a move, however
// the advances interleave.
func TestHighWatermarkWaiterSeesEveryAdvance(t *testing.T) {
	h := newHighWatermark(0)
	const end = 500
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := int64(w + 1); o <= end; o += 4 {
				h.advance(o)
			}
		}()
	}
	deadline := time.After(10 * time.Second)
	for {
		hw, ch := h.getAndWait()
		if hw == end {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("stuck at %d", hw)
		}
	}
	wg.Wait()
}

func TestHighWatermarkTracksWaiters(t *testing.T) {
	h := newHighWatermark(0)
	if n, age := h.waiters(); n != 0 || age != 0 {
		t.Fatalf("fresh: %d waiting, oldest %v", n, age)
	}
	done1 := h.trackWaiter()
	time.Sleep(5 * time.Millisecond) // so the first is measurably older
	second := time.Now()
	done2 := h.trackWaiter()
	n, age := h.waiters()
	if n != 2 || age < 5*time.Millisecond {
		t.Fatalf("two waiting: %d, oldest %v", n, age)
	}
	done1()
	n, age = h.waiters()
	if bound := time.Since(second); n != 1 || age > bound {
		t.Fatalf("after the oldest left: %d waiting, oldest %v (the other started %v ago)", n, age, bound)
	}
	done2()
	if n, _ := h.waiters(); n != 0 {
		t.Fatalf("after both left: %d waiting", n)
	}
}
