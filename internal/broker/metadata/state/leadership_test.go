package state

import (
	"errors"
	"slices"
	"testing"
)

// threeBrokers is a state with brokers 1-3 and topic t (replicas 1,2,3,
// leader 1, ISR all) plus u (replicas 2,1; ISR [2]).
func threeBrokers(t *testing.T, configs map[string]string) *State {
	t.Helper()
	s := New()
	apply := func(typ string, payload any) {
		t.Helper()
		if _, err := s.Apply(mustEncode(t, typ, payload)); err != nil {
			t.Fatal(err)
		}
	}
	for id := int32(1); id <= 3; id++ {
		apply(TypeRegisterBroker, RegisterBroker{Broker{ID: id, Incarnation: uint64(id)}})
	}
	tp := topic("t", 1, part(1, 1, 2, 3))
	tp.Configs = configs
	apply(TypeCreateTopic, CreateTopic{tp})
	apply(TypeCreateTopic, CreateTopic{topic("u", 2, Partition{Replicas: []int32{2, 1}, Leader: 2, ISR: []int32{2}})})
	return s
}

func applyOK(t *testing.T, s *State, typ string, payload any) {
	t.Helper()
	if _, err := s.Apply(mustEncode(t, typ, payload)); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func wantPart(t *testing.T, s *State, topic string, leader, leaderEpoch, partEpoch int32, isr ...int32) {
	t.Helper()
	p, _ := s.Partition(topic, 0)
	if p.Leader != leader || p.LeaderEpoch != leaderEpoch || p.PartitionEpoch != partEpoch || !slices.Equal(p.ISR, isr) {
		t.Fatalf("%s-0: leader %d epoch %d partition epoch %d ISR %v; want %d %d %d %v",
			topic, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR, leader, leaderEpoch, partEpoch, isr)
	}
}

func TestFencingMovesLeadershipAndShrinksISR(t *testing.T) {
	s := threeBrokers(t, nil)
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 1})
	wantPart(t, s, "t", 2, 1, 1, 2, 3)
	// u: 1 was not in its ISR; nothing changes.
	wantPart(t, s, "u", 2, 0, 0, 2)

	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 2})
	wantPart(t, s, "t", 3, 2, 2, 3)
	// u: its only ISR member is gone: offline, the ISR keeps it.
	wantPart(t, s, "u", -1, 1, 1, 2)

	// 1 comes back: not in u's ISR, so u stays offline (clean election).
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 1})
	wantPart(t, s, "u", -1, 1, 1, 2)
	wantPart(t, s, "t", 3, 2, 2, 3)
	// 2 comes back: u is led again by its last ISR member.
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 2})
	wantPart(t, s, "u", 2, 2, 2, 2)

	// The last ISR member of t fenced: offline with ISR [3].
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 3})
	wantPart(t, s, "t", -1, 3, 3, 3)
}

func TestUncleanElectionIsOptIn(t *testing.T) {
	s := threeBrokers(t, map[string]string{UncleanConfig: "true"})
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 2})
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 3})
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 1})
	wantPart(t, s, "t", -1, 1, 3, 1)
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 3})
	// Topic t allows unclean election: 3 leads alone.
	wantPart(t, s, "t", 3, 2, 4, 3)
	// Topic u does not: it waits for 2, even with 1 alive.
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 1})
	wantPart(t, s, "u", -1, 1, 1, 2)
	// An explicit unclean election (ElectLeaders type 1) overrides it.
	applyOK(t, s, TypeElectLeaders, ElectLeaders{Unclean: true, Partitions: []PartitionRef{{"u", 0}}})
	wantPart(t, s, "u", 1, 2, 2, 1)
}

func TestShutdownStaysFencedUntilRegistered(t *testing.T) {
	s := threeBrokers(t, nil)
	applyOK(t, s, TypeShutdownBroker, FenceBroker{ID: 1})
	wantPart(t, s, "t", 2, 1, 1, 2, 3)
	if _, err := s.Apply(mustEncode(t, TypeUnfenceBroker, FenceBroker{ID: 1})); !errors.Is(err, ErrRejected) {
		t.Fatalf("unfence after shutdown: %v", err)
	}
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 9}})
	if b := s.Brokers[1]; b.Fenced || b.ShutDown {
		t.Fatalf("registered broker %+v", b)
	}
	// It rejoins the ISR by catching up (AlterPartition), not by registering.
	wantPart(t, s, "t", 2, 1, 1, 2, 3)
}

func TestRestartOfALiveLeaderMovesLeadership(t *testing.T) {
	s := threeBrokers(t, nil)
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1}})
	wantPart(t, s, "t", 1, 0, 0, 1, 2, 3) // same incarnation: nothing happened
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 77}})
	wantPart(t, s, "t", 2, 1, 1, 2, 3)

	// A lone broker restarting leads again at a new epoch.
	one := New()
	applyOK(t, one, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1}})
	applyOK(t, one, TypeCreateTopic, CreateTopic{topic("t", 1, part(1, 1))})
	applyOK(t, one, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 2}})
	p, _ := one.Partition("t", 0)
	if p.Leader != 1 || p.LeaderEpoch != 2 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("single node after restart: %+v", p)
	}
}

func TestAlterPartitionIsCompareAndSet(t *testing.T) {
	s := threeBrokers(t, nil)
	shrink := AlterPartition{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, ISR: []int32{1, 2}}
	applyOK(t, s, TypeAlterPartition, shrink)
	wantPart(t, s, "t", 1, 0, 1, 1, 2)

	for name, tc := range map[string]struct {
		a    AlterPartition
		want error
	}{
		"stale partition epoch": {shrink, ErrStalePartitionEpoch},
		"old leader epoch":      {AlterPartition{Topic: "t", Leader: 1, LeaderEpoch: -1, PartitionEpoch: 1, ISR: []int32{1}}, ErrFencedLeaderEpoch},
		"not the leader":        {AlterPartition{Topic: "t", Leader: 2, PartitionEpoch: 1, ISR: []int32{2}}, ErrFencedLeaderEpoch},
		"unknown partition":     {AlterPartition{Topic: "t", Partition: 5, Leader: 1, PartitionEpoch: 1, ISR: []int32{1}}, ErrUnknownPartition},
		"leader left out":       {AlterPartition{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []int32{2}}, ErrRejected},
		"not a replica":         {AlterPartition{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []int32{1, 4}}, ErrRejected},
		"duplicate":             {AlterPartition{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []int32{1, 1}}, ErrRejected},
	} {
		if _, err := s.Apply(mustEncode(t, TypeAlterPartition, tc.a)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	wantPart(t, s, "t", 1, 0, 1, 1, 2)

	// A fenced broker cannot be added back; a live one can.
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 3})
	wantPart(t, s, "t", 1, 0, 1, 1, 2) // 3 was not in the ISR any more
	expand := AlterPartition{Topic: "t", Leader: 1, PartitionEpoch: 1, ISR: []int32{1, 2, 3}}
	if _, err := s.Apply(mustEncode(t, TypeAlterPartition, expand)); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("adding a fenced broker: %v", err)
	}
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 3})
	applyOK(t, s, TypeAlterPartition, expand)
	wantPart(t, s, "t", 1, 0, 2, 1, 2, 3)
}

func TestPreferredElection(t *testing.T) {
	s := threeBrokers(t, nil)
	applyOK(t, s, TypeFenceBroker, FenceBroker{ID: 1})
	wantPart(t, s, "t", 2, 1, 1, 2, 3)
	refs := ElectLeaders{Partitions: []PartitionRef{{"t", 0}, {"nope", 0}, {"t", 7}}}
	// 1 is not in the ISR yet: nothing moves.
	applyOK(t, s, TypeUnfenceBroker, FenceBroker{ID: 1})
	applyOK(t, s, TypeElectLeaders, refs)
	wantPart(t, s, "t", 2, 1, 1, 2, 3)
	applyOK(t, s, TypeAlterPartition, AlterPartition{Topic: "t", Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, ISR: []int32{2, 3, 1}})
	applyOK(t, s, TypeElectLeaders, refs)
	wantPart(t, s, "t", 1, 2, 3, 2, 3, 1)
	applyOK(t, s, TypeElectLeaders, refs) // already preferred: no change
	wantPart(t, s, "t", 1, 2, 3, 2, 3, 1)
}
