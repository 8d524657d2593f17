package controller

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/twmb/franz-go/pkg/kerr"
)

// stateMeta is a Metadata that applies every proposal to a state machine,
// as each raft node does, and signals changes.
type stateMeta struct {
	mu      sync.Mutex
	s       *state.State
	changed chan struct{}
}

func newStateMeta(t *testing.T, version int, brokers int32) *stateMeta {
	t.Helper()
	m := &stateMeta{s: state.New(), changed: make(chan struct{})}
	m.must(t, state.TypeInitCluster, state.InitCluster{ClusterID: "c", MetadataVersion: version})
	for id := int32(1); id <= brokers; id++ {
		m.must(t, state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{ID: id, Incarnation: 1, MinMetadataVersion: 1, MaxMetadataVersion: state.MaxMetadataVersion}})
	}
	m.must(t, state.TypeCreateTopic, state.CreateTopic{Topic: state.Topic{Name: "r", ID: [16]byte{1},
		Partitions: []state.Partition{{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}}}}})
	return m
}

func (m *stateMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

func (m *stateMeta) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *stateMeta) Propose(_ context.Context, typ string, payload any) (state.Result, error) {
	b, err := state.Encode(typ, payload)
	if err != nil {
		return state.Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.s.Clone()
	res, err := next.Apply(b)
	if err != nil {
		return res, err
	}
	m.s = next
	close(m.changed)
	m.changed = make(chan struct{})
	return res, nil
}

func (m *stateMeta) must(t *testing.T, typ string, payload any) {
	t.Helper()
	if _, err := m.Propose(context.Background(), typ, payload); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func (m *stateMeta) part() state.Partition {
	p, _ := m.State().Partition("r", 0)
	return *p
}

// expandISR is what the partition leader does once a follower caught up.
func (m *stateMeta) expandISR(t *testing.T, isr ...int32) {
	t.Helper()
	p := m.part()
	m.must(t, state.TypeAlterPartition, state.AlterPartition{Topic: "r", Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr})
}

func newReassignController(m *stateMeta) *Controller {
	return New(Options{NodeID: 1, Logger: slog.New(slog.DiscardHandler)}, m)
}

func wantCode(t *testing.T, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		return
	}
	if err == nil || Code(err) != want {
		t.Fatalf("got %v, want %s", err, want.Message)
	}
}

func TestAlterReassignmentsErrors(t *testing.T) {
	m := newStateMeta(t, state.ReassignmentMetadataVersion, 3)
	c := newReassignController(m)
	ctx := context.Background()
	r0 := state.PartitionRef{Topic: "r"}
	tests := []struct {
		name string
		req  ReassignRequest
		want *kerr.Error
	}{
		{"cancel of none", ReassignRequest{Ref: r0}, kerr.NoReassignmentInProgress},
		{"empty target", ReassignRequest{Ref: r0, Target: []int32{}}, kerr.InvalidReplicaAssignment},
		{"duplicate broker", ReassignRequest{Ref: r0, Target: []int32{2, 2}}, kerr.InvalidReplicaAssignment},
		{"unknown broker", ReassignRequest{Ref: r0, Target: []int32{2, 7}}, kerr.InvalidReplicaAssignment},
		{"unknown topic", ReassignRequest{Ref: state.PartitionRef{Topic: "x"}, Target: []int32{1}}, kerr.UnknownTopicOrPartition},
		{"unknown partition", ReassignRequest{Ref: state.PartitionRef{Topic: "r", Partition: 5}, Target: []int32{1}}, kerr.UnknownTopicOrPartition},
		{"same set", ReassignRequest{Ref: r0, Target: []int32{1, 2}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := m.part()
			wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{tt.req})[0], tt.want)
			if after := m.part(); after.PartitionEpoch != before.PartitionEpoch {
				t.Fatalf("partition changed: %+v", after)
			}
		})
	}
	if got := c.ListReassignments(nil); len(got) != 0 {
		t.Fatalf("reassignments listed: %+v", got)
	}
}

func TestAlterReassignmentsNeedsMetadataVersion(t *testing.T) {
	m := newStateMeta(t, 1, 3)
	c := newReassignController(m)
	err := c.AlterReassignments(context.Background(), []ReassignRequest{{Ref: state.PartitionRef{Topic: "r"}, Target: []int32{2, 3}}})[0]
	wantCode(t, err, kerr.UnsupportedVersion)
}

func TestReassignmentCompletesAfterCatchUp(t *testing.T) {
	m := newStateMeta(t, state.ReassignmentMetadataVersion, 3)
	c := newReassignController(m)
	ctx := context.Background()
	ref := state.PartitionRef{Topic: "r"}
	wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{{Ref: ref, Target: []int32{2, 3}}})[0], nil)
	got := c.ListReassignments(nil)
	if len(got) != 1 || !slices.Equal(got[0].Replicas, []int32{2, 3, 1}) || !slices.Equal(got[0].Adding, []int32{3}) || !slices.Equal(got[0].Removing, []int32{1}) {
		t.Fatalf("listed %+v", got)
	}
	if n := c.CompleteReassignments(ctx); n != 0 {
		t.Fatalf("completed %d before the adding replica caught up", n)
	}
	m.expandISR(t, 1, 2, 3)
	if n := c.CompleteReassignments(ctx); n != 1 {
		t.Fatalf("completed %d, want 1", n)
	}
	p := m.part()
	if !slices.Equal(p.Replicas, []int32{2, 3}) || !slices.Equal(p.ISR, []int32{2, 3}) || p.Leader != 2 || p.LeaderEpoch != 1 || p.Reassigning() {
		t.Fatalf("after completion: %+v", p)
	}
	if got := c.ListReassignments(nil); len(got) != 0 {
		t.Fatalf("still listed: %+v", got)
	}
}

func TestReassignmentCancelThroughController(t *testing.T) {
	m := newStateMeta(t, state.ReassignmentMetadataVersion, 3)
	c := newReassignController(m)
	ctx := context.Background()
	ref := state.PartitionRef{Topic: "r"}
	wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{{Ref: ref, Target: []int32{3}}})[0], nil)
	wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{{Ref: ref}})[0], nil)
	if p := m.part(); !slices.Equal(p.Replicas, []int32{1, 2}) || p.Reassigning() {
		t.Fatalf("after cancel: %+v", p)
	}
	wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{{Ref: ref}})[0], kerr.NoReassignmentInProgress)
}

// TestRunReassignmentsIsLevelTriggered: a controller that starts after the
// adding replica joined the ISR (a failover) completes the reassignment, and
// one that runs sees the ISR change without waiting for its interval.
func TestRunReassignmentsIsLevelTriggered(t *testing.T) {
	m := newStateMeta(t, state.ReassignmentMetadataVersion, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newReassignController(m)
	wantCode(t, first.AlterReassignments(ctx, []ReassignRequest{{Ref: state.PartitionRef{Topic: "r"}, Target: []int32{1, 3}}})[0], nil)
	m.expandISR(t, 1, 2, 3)

	// The new controller was not there when the reassignment started.
	second := newReassignController(m)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		second.RunReassignments(ctx, func() bool { return true }, m.Changed, time.Hour)
	}()
	testharness.Eventually(t, 5*time.Second, "reassignment to [1 3] completed", func() bool {
		p := m.part()
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{1, 3})
	})

	// A new reassignment completes on the ISR change alone (the ticker is an hour).
	wantCode(t, second.AlterReassignments(ctx, []ReassignRequest{{Ref: state.PartitionRef{Topic: "r"}, Target: []int32{3, 2}}})[0], nil)
	if p := m.part(); !p.Reassigning() {
		t.Fatalf("completed before catch-up: %+v", p)
	}
	m.expandISR(t, 1, 3, 2)
	testharness.Eventually(t, 5*time.Second, "reassignment to [3 2] completed", func() bool {
		p := m.part()
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{3, 2}) && p.Leader == 3
	})
	cancel()
	wg.Wait()
}

func TestRunReassignmentsIdleWhenNotLeading(t *testing.T) {
	m := newStateMeta(t, state.ReassignmentMetadataVersion, 3)
	ctx, cancel := context.WithCancel(context.Background())
	c := newReassignController(m)
	wantCode(t, c.AlterReassignments(ctx, []ReassignRequest{{Ref: state.PartitionRef{Topic: "r"}, Target: []int32{1, 3}}})[0], nil)
	m.expandISR(t, 1, 2, 3)
	checked := make(chan struct{}, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.RunReassignments(ctx, func() bool {
			select {
			case checked <- struct{}{}:
			default:
			}
			return false
		}, m.Changed, time.Millisecond)
	}()
	for range 3 {
		<-checked
	}
	cancel()
	wg.Wait()
	if p := m.part(); !p.Reassigning() {
		t.Fatalf("a node that does not lead completed the reassignment: %+v", p)
	}
}
