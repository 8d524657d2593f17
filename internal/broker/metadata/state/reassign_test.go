package state

import (
	"errors"
	"slices"
	"testing"
)

// reassignState is a version-2 state with brokers 1-4 and topic r whose
// partition 0 has replicas [1,2], leader 1, ISR [1,2].
func reassignState(t *testing.T) *State {
	t.Helper()
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: ReassignmentMetadataVersion})
	for id := int32(1); id <= 4; id++ {
		applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: id, Incarnation: uint64(id), MinMetadataVersion: 1, MaxMetadataVersion: MaxMetadataVersion}})
	}
	applyOK(t, s, TypeCreateTopic, CreateTopic{topic("r", 9, part(1, 1, 2))})
	return s
}

func applyErr(t *testing.T, s *State, typ string, payload any) error {
	t.Helper()
	before, _ := s.Snapshot()
	_, err := s.Apply(mustEncode(t, typ, payload))
	if err == nil {
		t.Fatalf("%s %+v: applied, want a rejection", typ, payload)
	}
	if after, _ := s.Snapshot(); string(after) != string(before) {
		t.Fatalf("%s: a rejection changed the state", typ)
	}
	return err
}

type wantReassign struct {
	replicas, adding, removing, isr []int32
	leader, leaderEpoch, partEpoch  int32
}

func checkPart(t *testing.T, s *State, w wantReassign) {
	t.Helper()
	p, _ := s.Partition("r", 0)
	if !slices.Equal(p.Replicas, w.replicas) || !slices.Equal(p.AddingReplicas, w.adding) || !slices.Equal(p.RemovingReplicas, w.removing) ||
		!slices.Equal(p.ISR, w.isr) || p.Leader != w.leader || p.LeaderEpoch != w.leaderEpoch || p.PartitionEpoch != w.partEpoch {
		t.Fatalf("r-0: replicas %v adding %v removing %v ISR %v leader %d epoch %d partition epoch %d; want %+v",
			p.Replicas, p.AddingReplicas, p.RemovingReplicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch, w)
	}
	if p.Leader != -1 && !slices.Contains(p.ISR, p.Leader) {
		t.Fatalf("leader %d outside the ISR %v", p.Leader, p.ISR)
	}
	for _, r := range p.ISR {
		if !slices.Contains(p.Replicas, r) {
			t.Fatalf("ISR member %d is not a replica %v", r, p.Replicas)
		}
	}
}

func catchUp(t *testing.T, s *State, isr ...int32) {
	t.Helper()
	p, _ := s.Partition("r", 0)
	applyOK(t, s, TypeAlterPartition, AlterPartition{Topic: "r", Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr})
}

func complete(t *testing.T, s *State) {
	t.Helper()
	p, _ := s.Partition("r", 0)
	if !s.ReassignmentReady(p) {
		t.Fatalf("r-0 not ready: %+v", *p)
	}
	applyOK(t, s, TypeCompleteReassignment, CompleteReassignment{Topic: "r", PartitionEpoch: p.PartitionEpoch})
}

func TestReassignmentKeepsLeader(t *testing.T) {
	s := reassignState(t)
	// [1,2] -> [1,3]: 3 is added, 2 removed; 1 keeps leading.
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1, 3}})
	checkPart(t, s, wantReassign{replicas: []int32{1, 3, 2}, adding: []int32{3}, removing: []int32{2}, isr: []int32{1, 2}, leader: 1, partEpoch: 1})
	if !slices.Equal(s.HostedBy(3)["r"], []int32{0}) {
		t.Fatal("the adding replica's node does not host the partition")
	}
	p, _ := s.Partition("r", 0)
	if s.ReassignmentReady(p) {
		t.Fatal("ready before the adding replica is in the ISR")
	}
	err := applyErr(t, s, TypeCompleteReassignment, CompleteReassignment{Topic: "r", PartitionEpoch: 1})
	if !errors.Is(err, ErrReassignmentNotReady) {
		t.Fatalf("early completion: %v", err)
	}
	catchUp(t, s, 1, 2, 3)
	checkPart(t, s, wantReassign{replicas: []int32{1, 3, 2}, adding: []int32{3}, removing: []int32{2}, isr: []int32{1, 2, 3}, leader: 1, partEpoch: 2})
	// A completion decided at an older epoch is refused.
	if err := applyErr(t, s, TypeCompleteReassignment, CompleteReassignment{Topic: "r", PartitionEpoch: 1}); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("stale completion: %v", err)
	}
	complete(t, s)
	checkPart(t, s, wantReassign{replicas: []int32{1, 3}, isr: []int32{1, 3}, leader: 1, partEpoch: 3})
	if len(s.HostedBy(2)["r"]) != 0 {
		t.Fatal("the removed replica's node still hosts the partition")
	}
	if err := applyErr(t, s, TypeCompleteReassignment, CompleteReassignment{Topic: "r", PartitionEpoch: 3}); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("second completion: %v", err)
	}
}

func TestReassignmentMovesLeader(t *testing.T) {
	s := reassignState(t)
	// [1,2] -> [2,3]: the leader 1 is removed.
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{2, 3}})
	checkPart(t, s, wantReassign{replicas: []int32{2, 3, 1}, adding: []int32{3}, removing: []int32{1}, isr: []int32{1, 2}, leader: 1, partEpoch: 1})
	catchUp(t, s, 1, 2, 3)
	complete(t, s)
	// Leadership moved to the first live target replica in the ISR, epoch bumped.
	checkPart(t, s, wantReassign{replicas: []int32{2, 3}, isr: []int32{2, 3}, leader: 2, leaderEpoch: 1, partEpoch: 3})
}

func TestReassignmentLeaderMoveSkipsFencedTarget(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{2, 3}})
	catchUp(t, s, 1, 2, 3)
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 2}) // leaves the ISR
	checkPart(t, s, wantReassign{replicas: []int32{2, 3, 1}, adding: []int32{3}, removing: []int32{1}, isr: []int32{1, 3}, leader: 1, partEpoch: 3})
	complete(t, s)
	checkPart(t, s, wantReassign{replicas: []int32{2, 3}, isr: []int32{3}, leader: 3, leaderEpoch: 1, partEpoch: 4})
}

func TestReassignmentCancel(t *testing.T) {
	s := reassignState(t)
	if err := applyErr(t, s, TypeCancelReassignment, CancelReassignment{Topic: "r"}); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("cancel of none: %v", err)
	}
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{3, 4}})
	checkPart(t, s, wantReassign{replicas: []int32{3, 4, 1, 2}, adding: []int32{3, 4}, removing: []int32{1, 2}, isr: []int32{1, 2}, leader: 1, partEpoch: 1})
	catchUp(t, s, 1, 2, 3) // 3 caught up, 4 not yet
	applyOK(t, s, TypeCancelReassignment, CancelReassignment{Topic: "r"})
	// Back to the original replicas: 3 leaves the replicas and the ISR.
	checkPart(t, s, wantReassign{replicas: []int32{1, 2}, isr: []int32{1, 2}, leader: 1, partEpoch: 3})
}

func TestReassignmentCancelRefusedWhenOnlyAddingReplicasInSync(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{3}})
	catchUp(t, s, 1, 2, 3)
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 1})
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 2})
	// 3 leads alone; cancelling would leave the ISR empty.
	checkPart(t, s, wantReassign{replicas: []int32{3, 1, 2}, adding: []int32{3}, removing: []int32{1, 2}, isr: []int32{3}, leader: 3, leaderEpoch: 1, partEpoch: 4})
	if err := applyErr(t, s, TypeCancelReassignment, CancelReassignment{Topic: "r"}); !errors.Is(err, ErrReassignmentNotReady) {
		t.Fatalf("cancel: %v", err)
	}
	complete(t, s)
	checkPart(t, s, wantReassign{replicas: []int32{3}, isr: []int32{3}, leader: 3, leaderEpoch: 1, partEpoch: 5})
}

func TestReassignmentToSameSet(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1, 2}})
	checkPart(t, s, wantReassign{replicas: []int32{1, 2}, isr: []int32{1, 2}, leader: 1})
	// Mid-flight, the original set as a new target cancels.
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1, 3}})
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1, 2}})
	checkPart(t, s, wantReassign{replicas: []int32{1, 2}, isr: []int32{1, 2}, leader: 1, partEpoch: 2})
}

func TestReassignmentNewTargetMidFlight(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1, 3}})
	catchUp(t, s, 1, 2, 3)
	// A new target keeps the original [1,2] as its base: 3 is dropped.
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{4, 2}})
	checkPart(t, s, wantReassign{replicas: []int32{4, 2, 1}, adding: []int32{4}, removing: []int32{1}, isr: []int32{1, 2}, leader: 1, partEpoch: 3})
}

func TestReassignmentTargetWithFencedBroker(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 3})
	// A registered but dead broker may be a target; the reassignment waits.
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{2, 3}})
	p, _ := s.Partition("r", 0)
	if s.ReassignmentReady(p) {
		t.Fatal("ready with the dead target out of the ISR")
	}
	// The fenced broker cannot join the ISR.
	err := applyErr(t, s, TypeAlterPartition, AlterPartition{Topic: "r", Leader: 1, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3}})
	if !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("ISR with a fenced broker: %v", err)
	}
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 3})
	catchUp(t, s, 1, 2, 3)
	complete(t, s)
	checkPart(t, s, wantReassign{replicas: []int32{2, 3}, isr: []int32{2, 3}, leader: 2, leaderEpoch: 1, partEpoch: 3})
}

func TestReassignmentRejections(t *testing.T) {
	s := reassignState(t)
	huge := make([]int32, 100_000) // a lying client's list: refused without quadratic work
	for i := range huge {
		huge[i] = int32(i % 3)
	}
	for _, target := range [][]int32{nil, {}, {1, 1}, {1, 9}, {-1}, {1, 2, 3, 4, 4}, huge} {
		if err := applyErr(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: target}); !errors.Is(err, ErrInvalidAssignment) {
			t.Fatalf("target %v: %v", target, err)
		}
	}
	for _, ref := range []PartitionRef{{"nope", 0}, {"r", 1}, {"r", -1}} {
		if err := applyErr(t, s, TypeStartReassignment, StartReassignment{Topic: ref.Topic, Partition: ref.Partition, Target: []int32{1}}); !errors.Is(err, ErrUnknownPartition) {
			t.Fatalf("%v: %v", ref, err)
		}
	}
}

func TestReassignmentNeedsMetadataVersion2(t *testing.T) {
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: 1})
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1}})
	applyOK(t, s, TypeCreateTopic, CreateTopic{topic("r", 9, part(1, 1))})
	b := mustEncode(t, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{1}})
	if err := s.Check(b); err == nil {
		t.Fatal("a version-1 cluster accepts a reassignment")
	}
	for _, typ := range []string{TypeStartReassignment, TypeCancelReassignment, TypeCompleteReassignment} {
		if got := since(typ); got != ReassignmentMetadataVersion {
			t.Fatalf("since(%s) = %d", typ, got)
		}
	}
}

func TestReassignmentSurvivesSnapshotAndClone(t *testing.T) {
	s := reassignState(t)
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Target: []int32{2, 3}})
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	checkPart(t, r, wantReassign{replicas: []int32{2, 3, 1}, adding: []int32{3}, removing: []int32{1}, isr: []int32{1, 2}, leader: 1, partEpoch: 1})
	c := s.Clone()
	p, _ := c.Partition("r", 0)
	p.AddingReplicas[0] = 99
	checkPart(t, s, wantReassign{replicas: []int32{2, 3, 1}, adding: []int32{3}, removing: []int32{1}, isr: []int32{1, 2}, leader: 1, partEpoch: 1})
}
