package raftnode

import "sync"

// notifier is a level-triggered broadcast: wait returns a channel that is
// closed by the next notify. A watcher takes the channel BEFORE it reads the
// value it watches, so a change between the read and the wait is never missed.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

func (b *notifier) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *notifier) notify() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
