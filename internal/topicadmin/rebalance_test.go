package topicadmin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/rebalance"
)

// TestReassignmentMissing: a cluster that does not serve partition
// reassignment is refused before anything moves, with ErrNoReassignment,
// both by the up-front check and by the requests themselves.
func TestReassignmentMissing(t *testing.T) {
	c, err := New(Config{Brokers: []string{oldBroker(t)}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CheckReassignment(ctx); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("CheckReassignment: %v, want ErrNoReassignment", err)
	}
	moves := []rebalance.Move{{Topic: "t", Partition: 0, From: []int32{0}, To: []int32{1}}}
	if err := c.Reassign(ctx, moves); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("Reassign: %v, want ErrNoReassignment", err)
	}
	if err := c.WaitReassigned(ctx, moves, 10*time.Millisecond, nil); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("WaitReassigned: %v, want ErrNoReassignment", err)
	}
	if busy, err := c.InProgress(ctx); err != nil || busy != nil {
		t.Fatalf("InProgress: %v %v, want nothing in progress", busy, err)
	}
	brokers, parts, err := c.Layout(ctx)
	if err != nil || len(brokers) != 1 || !brokers[0].Live || len(parts) != 0 {
		t.Fatalf("Layout: %v %+v %+v", err, brokers, parts)
	}
}
