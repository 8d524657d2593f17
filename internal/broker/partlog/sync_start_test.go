package partlog

import (
	"context"
	"testing"
	"time"
)

// A Sync that arrives while a pass started by StartSync runs, and that the
// pass covers, returns when that pass ends rather than after the next one:
// a produce or a follower that started its fsync early does not also wait
// for the fsync of appends that came after its own.
func TestSyncJoinsThePassStartSyncStarted(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{}, 4)
	l := open(t, t.TempDir(), Config{}, withFlush(FlushAlways), func(o *Options) {
		o.BeforeFsync = func() error {
			entered <- struct{}{}
			<-release
			return nil
		}
	})
	// On failure, let every pass finish so that closing the log returns.
	t.Cleanup(func() {
		for range cap(release) {
			select {
			case release <- struct{}{}:
			default:
			}
		}
	})
	mustAppend(t, l, mkBatch(1, 1, "a"), 0)
	end := l.LogEndOffset()
	l.StartSync()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("StartSync started no pass")
	}
	// Appended while the first pass runs: only a second pass covers it.
	mustAppend(t, l, mkBatch(2, 1, "b"), 0)
	done := make(chan error, 1)
	go func() { done <- l.Sync(context.Background(), end) }()
	second := make(chan error, 1)
	go func() { second <- l.Sync(context.Background(), l.LogEndOffset()) }()
	release <- struct{}{} // the first pass only
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sync of what the running pass covered waited for the next pass")
	}
	select {
	case <-entered: // the second pass, for "b"
	case <-time.After(10 * time.Second):
		t.Fatal("no second pass for the later append")
	}
	release <- struct{}{}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if l.DurableEnd() != l.LogEndOffset() {
		t.Fatalf("durable end %d, log end %d", l.DurableEnd(), l.LogEndOffset())
	}
}
