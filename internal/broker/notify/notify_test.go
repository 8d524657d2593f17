package notify

import (
	"sync"
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotifyClosesTheChannelTakenBefore(t *testing.T) {
	var n Notifier
	ch := n.Wait()
	if closed(ch) {
		t.Fatal("closed before any Notify")
	}
	if n.Wait() != ch {
		t.Fatal("two Waits without a Notify between them returned different channels")
	}
	n.Notify()
	if !closed(ch) {
		t.Fatal("Notify did not close the channel taken before it")
	}
	next := n.Wait()
	if closed(next) {
		t.Fatal("a Wait after Notify returned an already closed channel")
	}
	n.Notify()
	if !closed(next) {
		t.Fatal("second Notify did not close the second channel")
	}
}

func TestNotifyWithoutWaitersIsNotRemembered(t *testing.T) {
	var n Notifier
	n.Notify()
	n.Notify()
	if closed(n.Wait()) {
		t.Fatal("a Notify before Wait woke a later waiter")
	}
}

func TestNotifyWakesEveryWaiter(t *testing.T) {
	var n Notifier
	const waiters = 8
	var started, woke sync.WaitGroup
	started.Add(waiters)
	woke.Add(waiters)
	for range waiters {
		ch := n.Wait()
		go func() {
			defer woke.Done()
			started.Done()
			<-ch
		}()
	}
	started.Wait()
	n.Notify()
	done := make(chan struct{})
	go func() { woke.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("not every waiter woke")
	}
}

// A watcher that takes the channel before reading never misses a change made
// concurrently: the race detector and the final check both hold.
func TestWatchLoopSeesLastValue(t *testing.T) {
	var (
		n  Notifier
		mu sync.Mutex
		v  int
	)
	const last = 1000
	go func() {
		for i := 1; i <= last; i++ {
			mu.Lock()
			v = i
			mu.Unlock()
			n.Notify()
		}
	}()
	deadline := time.After(10 * time.Second)
	for {
		ch := n.Wait()
		mu.Lock()
		cur := v
		mu.Unlock()
		if cur == last {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("stuck at %d: a change was missed", cur)
		}
	}
}
