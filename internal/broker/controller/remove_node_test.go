package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// removalMeta: brokers 1-4, r-0 on [1,2] (leader 1, ISR [1,2]) and s-0 on
// [2,3] with broker 4 hosting nothing.
func removalMeta(t *testing.T) *stateMeta {
	t.Helper()
	m := newStateMeta(t, state.RemovalMetadataVersion, 4)
	m.must(t, state.TypeCreateTopic, state.CreateTopic{Topic: state.Topic{Name: "s", ID: [16]byte{2},
		Partitions: []state.Partition{{Replicas: []int32{2, 3}, Leader: 2, ISR: []int32{2, 3}}}}})
	return m
}

func wantRefused(t *testing.T, err error, says string) {
	t.Helper()
	if !errors.Is(err, ErrRemovalRefused) || !strings.Contains(err.Error(), says) {
		t.Fatalf("got %v, want a refusal saying %q", err, says)
	}
}

func TestPlanRemovalMovesEveryReplicaInPlace(t *testing.T) {
	m := removalMeta(t)
	plan, err := PlanRemoval(m.State(), 2, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	// Broker 4 hosts nothing, so it takes r-0; then 1 and 4 host one each
	// and the lower id takes s-0. Each lands in broker 2's position.
	want := []ReassignRequest{
		{Ref: state.PartitionRef{Topic: "r"}, Target: []int32{1, 4}},
		{Ref: state.PartitionRef{Topic: "s"}, Target: []int32{1, 3}},
	}
	if len(plan.Moves) != 2 || !slices.Equal(plan.Moves[0].Target, want[0].Target) || plan.Moves[0].Ref != want[0].Ref ||
		!slices.Equal(plan.Moves[1].Target, want[1].Target) || plan.Moves[1].Ref != want[1].Ref {
		t.Fatalf("moves %+v, want %+v", plan.Moves, want)
	}
	// Started, the same removal planned again finds them moving: resumable.
	c := newReassignController(m)
	if err := c.StartRemoval(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	again, err := PlanRemoval(m.State(), 2, 0, false)
	if err != nil || len(again.Moves) != 0 || len(again.Moving) != 2 {
		t.Fatalf("second plan %+v, %v; want both partitions moving and nothing to start", again, err)
	}
	// A target that died since is replaced on the next run: r-0 was going
	// to [1 4]; with 4 down, 3 (live, not a replica) takes its place.
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 4})
	again, err = PlanRemoval(m.State(), 2, 0, false)
	if err != nil || len(again.Moves) != 1 || again.Moves[0].Ref.Topic != "r" || !slices.Equal(again.Moves[0].Target, []int32{1, 3}) {
		t.Fatalf("plan with a dead target: %+v, %v; want r-0 retargeted to [1 3]", again, err)
	}
	if err := c.StartRemoval(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.State().Partition("r", 0); !slices.Equal(p.TargetReplicas(), []int32{1, 3}) {
		t.Fatalf("r-0 target %v after retargeting", p.TargetReplicas())
	}
	// Unregistering waits for the moves.
	if err := c.UnregisterBroker(context.Background(), 2); err == nil || !strings.Contains(err.Error(), "move them first") {
		t.Fatalf("unregister mid-move: %v", err)
	}
}

func TestPlanRemovalReplace(t *testing.T) {
	m := removalMeta(t)
	plan, err := PlanRemoval(m.State(), 2, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Moves) != 2 || !slices.Equal(plan.Moves[0].Target, []int32{1, 4}) || !slices.Equal(plan.Moves[1].Target, []int32{4, 3}) {
		t.Fatalf("moves %+v", plan.Moves)
	}
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 2, false)), "cannot replace itself")
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 9, false)), "replacement broker 9 is not registered")
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 3, false)), "broker 3 already hosts 1 of broker 2's partitions (s-0)")
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 4})
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 4, false)), "replacement broker 4 is not live")
}

func TestPlanRemovalRefusals(t *testing.T) {
	m := removalMeta(t)
	wantRefused(t, errOf(PlanRemoval(m.State(), 7, 0, false)), "broker 7 is not registered")

	// Fewer live brokers than the replication factor: with 4 fenced, r-0
	// on [1,2] has nowhere to go but 3, s-0 on [2,3] nowhere but 1.
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 4})
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 1})
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 0, false)), "under their replication factor")

	// A dead broker needs --force; its only-ISR partitions are refused even then.
	m = removalMeta(t)
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 2})
	wantRefused(t, errOf(PlanRemoval(m.State(), 2, 0, false)), "--force")
	plan, err := PlanRemoval(m.State(), 2, 0, true)
	if err != nil || len(plan.Moves) != 2 {
		t.Fatalf("forced plan of a dead broker: %+v, %v", plan, err)
	}
	m = removalMeta(t)
	p := m.part()
	m.must(t, state.TypeAlterPartition, state.AlterPartition{Topic: "r", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1}})
	m.must(t, state.TypeFenceBroker, state.FenceBroker{ID: 1})
	wantRefused(t, errOf(PlanRemoval(m.State(), 1, 0, true)), "only in-sync replica of 1 partitions (r-0)")

	// A version-1 cluster cannot remove a node.
	m = &stateMeta{s: state.New(), changed: make(chan struct{})}
	m.must(t, state.TypeInitCluster, state.InitCluster{ClusterID: "c", MetadataVersion: 1})
	m.must(t, state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{ID: 1, Incarnation: 1}})
	wantRefused(t, errOf(PlanRemoval(m.State(), 1, 0, false)), "metadata version 1")
}

func TestPlanRemovalHonoursRacks(t *testing.T) {
	m := &stateMeta{s: state.New(), changed: make(chan struct{})}
	m.must(t, state.TypeInitCluster, state.InitCluster{ClusterID: "c", MetadataVersion: state.RemovalMetadataVersion})
	for id, rack := range map[int32]string{1: "a", 2: "b", 3: "a", 4: "b"} {
		m.must(t, state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{ID: id, Incarnation: 1, Rack: rack, MinMetadataVersion: 1, MaxMetadataVersion: state.MaxMetadataVersion}})
	}
	// r-0 on [1,2] (racks a, b); broker 3 (rack a) hosts less than 4 (rack
	// b), but removing 2 must keep rack b: broker 4.
	m.must(t, state.TypeCreateTopic, state.CreateTopic{Topic: state.Topic{Name: "r", ID: [16]byte{1},
		Partitions: []state.Partition{{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}}}}})
	m.must(t, state.TypeCreateTopic, state.CreateTopic{Topic: state.Topic{Name: "x", ID: [16]byte{3},
		Partitions: []state.Partition{{Replicas: []int32{4}, Leader: 4, ISR: []int32{4}}}}})
	plan, err := PlanRemoval(m.State(), 2, 0, false)
	if err != nil || len(plan.Moves) != 1 || !slices.Equal(plan.Moves[0].Target, []int32{1, 4}) {
		t.Fatalf("plan %+v, %v; want r-0 to [1 4]", plan, err)
	}
}

func TestUnregisterBrokerThroughController(t *testing.T) {
	m := removalMeta(t)
	c := newReassignController(m)
	if err := c.UnregisterBroker(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.State().Brokers[4]; ok {
		t.Fatal("broker 4 still registered")
	}
	if err := c.UnregisterBroker(context.Background(), 4); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("second unregister: %v", err)
	}
}

func errOf(_ RemovalPlan, err error) error { return err }
