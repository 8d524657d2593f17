package replication

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Brokers 1-3 registered, 3 fenced.
func threeBrokers() *fakeMetadata {
	return &fakeMetadata{leader: 1, st: &state.State{Brokers: map[int32]*state.Broker{
		1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3, Fenced: true},
	}}}
}

func TestISRMaintenanceCommitsTheChangeAsCompareAndSet(t *testing.T) {
	shrink := newFakeReplica()
	shrink.role = replica.Role{Leader: true, Self: 1, LeaderEpoch: 4, PartitionEpoch: 9, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}
	shrink.isr, shrink.change = []int32{1, 2}, true
	steady := newFakeReplica()
	steady.role = replica.Role{Leader: true, Self: 1, ISR: []int32{1}}
	reps := &fakeReplicas{}
	reps.add("t", 0, shrink)
	reps.add("t", 1, steady)
	ctl := &fakeController{}
	var changed [][2][]int32
	m := &ISRMaintenance{
		Replicas: reps, Metadata: threeBrokers(), Controller: ctl, Logger: testharness.Logger(),
		Changed: func(before, after []int32) { changed = append(changed, [2][]int32{before, after}) },
	}
	m.check(context.Background())

	want := state.AlterPartition{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9, ISR: []int32{1, 2}}
	if len(ctl.alters) != 1 || !alterEqual(ctl.alters[0], want) {
		t.Fatalf("asked the controller %+v, want only %+v", ctl.alters, want)
	}
	if ctl.deadline <= 0 || ctl.deadline > 2*time.Second {
		t.Fatalf("AlterPartition bounded by %v, want 2s", ctl.deadline)
	}
	if len(changed) != 1 || !slices.Equal(changed[0][0], []int32{1, 2, 3}) || !slices.Equal(changed[0][1], []int32{1, 2}) {
		t.Fatalf("told of changes %v", changed)
	}
	// Fenced brokers are not eligible to join.
	if !slices.Equal(shrink.eligible, []int32{1, 2}) {
		t.Fatalf("eligible %v, want the live brokers 1 and 2", shrink.eligible)
	}
}

// A refused or failed change is not reported as committed; the next check
// decides again.
func TestISRMaintenanceCountsOnlyCommittedChanges(t *testing.T) {
	for _, err := range []error{
		&controller.Error{Code: kerr.InvalidUpdateVersion, Message: "stale"},
		&controller.Error{Code: kerr.FencedLeaderEpoch, Message: "stale"},
		errors.New("no quorum"),
	} {
		r := newFakeReplica()
		r.role = replica.Role{Leader: true, Self: 1, ISR: []int32{1, 2}}
		r.isr, r.change = []int32{1}, true
		reps := &fakeReplicas{}
		reps.add("t", 0, r)
		ctl := &fakeController{err: err}
		counted := 0
		m := &ISRMaintenance{Replicas: reps, Metadata: threeBrokers(), Controller: ctl,
			Changed: func(before, after []int32) { counted++ }}
		m.check(context.Background())
		m.check(context.Background())
		if len(ctl.alters) != 2 || counted != 0 {
			t.Fatalf("%v: asked %d times, counted %d; want 2 asks, none counted", err, len(ctl.alters), counted)
		}
	}
}

func TestISRMaintenanceRunStopsWithItsContext(t *testing.T) {
	r := newFakeReplica()
	r.role = replica.Role{Leader: true, Self: 1, ISR: []int32{1, 2}}
	r.isr, r.change = []int32{1}, true
	reps := &fakeReplicas{}
	reps.add("t", 0, r)
	ctl := &fakeController{}
	m := &ISRMaintenance{Replicas: reps, Metadata: threeBrokers(), Controller: ctl}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	testharness.Eventually(t, 10*time.Second, "a periodic check", func() bool {
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		return len(ctl.alters) >= 2
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestControlledShutdown(t *testing.T) {
	t.Run("asks the controller, bounded by twice the election timeout", func(t *testing.T) {
		ctl := &fakeController{}
		s := &Shutdown{NodeID: 2, Controller: ctl, Metadata: threeBrokers(), ElectionTimeout: 3 * time.Second}
		s.Run(context.Background())
		if !slices.Equal(ctl.shutdown, []int32{2}) {
			t.Fatalf("shut down %v, want [2]", ctl.shutdown)
		}
		if ctl.deadline <= 5*time.Second || ctl.deadline > 6*time.Second {
			t.Fatalf("bounded by %v, want 6s", ctl.deadline)
		}
	})
	t.Run("at least a second", func(t *testing.T) {
		ctl := &fakeController{}
		s := &Shutdown{NodeID: 2, Controller: ctl, Metadata: threeBrokers(), ElectionTimeout: 100 * time.Millisecond}
		s.Run(context.Background())
		if ctl.deadline <= 500*time.Millisecond || ctl.deadline > time.Second {
			t.Fatalf("bounded by %v, want 1s", ctl.deadline)
		}
	})
	t.Run("skipped without a controller", func(t *testing.T) {
		ctl := &fakeController{}
		md := threeBrokers()
		md.leader = 0
		(&Shutdown{NodeID: 2, Controller: ctl, Metadata: md}).Run(context.Background())
		if len(ctl.shutdown) != 0 {
			t.Fatalf("asked %v with no controller known", ctl.shutdown)
		}
	})
	t.Run("a refusal does not stop the shutdown", func(t *testing.T) {
		ctl := &fakeController{err: errors.New("no quorum")}
		(&Shutdown{NodeID: 2, Controller: ctl, Metadata: threeBrokers(), Logger: testharness.Logger()}).Run(context.Background())
		if len(ctl.shutdown) != 1 {
			t.Fatalf("asked %d times", len(ctl.shutdown))
		}
	})
}

func alterEqual(a, b state.AlterPartition) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && a.Leader == b.Leader &&
		a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch && slices.Equal(a.ISR, b.ISR)
}
