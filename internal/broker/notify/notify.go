// Package notify is a level-triggered broadcast: many goroutines wait for
// "something changed" and re-read the state they watch, without a channel
// per waiter and without missing a change.
package notify

import "sync"

// Notifier wakes every waiter at once. Wait returns a channel that the next
// Notify closes. A watcher takes the channel BEFORE it reads the value it
// watches, so a change between the read and the wait is never missed:
//
//	for {
//		ch := n.Wait()
//		if done(read()) { return }
//		<-ch
//	}
//
// The zero value is ready to use. A Notifier must not be copied after first
// use.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{} // nil until someone waits: no allocation for a Notify nobody watches
}

// Wait returns a channel closed by the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes everyone waiting on a channel from Wait.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
