package state

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestUnregisterBroker(t *testing.T) {
	s := reassignState(t) // brokers 1-4, r-0 on [1,2]
	applyOK(t, s, TypeUnregisterBroker, UnregisterBroker{ID: 4})
	if _, ok := s.Brokers[4]; ok {
		t.Fatal("broker 4 still registered")
	}
	if got := s.LiveBrokers(); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("live brokers %v", got)
	}
	// A clone and a snapshot round trip agree.
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Brokers[4]; ok {
		t.Fatal("restored state has broker 4")
	}
}

func TestUnregisterBrokerRefusals(t *testing.T) {
	s := reassignState(t)
	if err := applyErr(t, s, TypeUnregisterBroker, UnregisterBroker{ID: 9}); !errors.Is(err, ErrRejected) ||
		!strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unknown broker: %v", err)
	}
	// A replica, leader or follower, keeps it registered.
	for _, id := range []int32{1, 2} {
		err := applyErr(t, s, TypeUnregisterBroker, UnregisterBroker{ID: id})
		if !errors.Is(err, ErrBrokerHostsReplicas) || !strings.Contains(err.Error(), "r-0") {
			t.Fatalf("broker %d: %v", id, err)
		}
	}
	// So does being an adding replica of a reassignment: [1,2] -> [1,3].
	applyOK(t, s, TypeStartReassignment, StartReassignment{Topic: "r", Partition: 0, Target: []int32{1, 3}})
	for _, id := range []int32{2, 3} { // removing and adding
		if err := applyErr(t, s, TypeUnregisterBroker, UnregisterBroker{ID: id}); !errors.Is(err, ErrBrokerHostsReplicas) {
			t.Fatalf("broker %d mid-reassignment: %v", id, err)
		}
	}
	// Once the move completes, the replica that left can go.
	catchUp(t, s, 1, 2, 3)
	complete(t, s)
	applyOK(t, s, TypeUnregisterBroker, UnregisterBroker{ID: 2})
	if got := s.ReplicasOf(3); !slices.Equal(got, []PartitionRef{{Topic: "r", Partition: 0}}) {
		t.Fatalf("ReplicasOf(3) = %v", got)
	}
	// Unregistering twice: the second is refused (not registered).
	if err := applyErr(t, s, TypeUnregisterBroker, UnregisterBroker{ID: 2}); !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("second unregister: %v", err)
	}
}

func TestUnregisterBrokerNeedsMetadataVersion2(t *testing.T) {
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: 1})
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1}})
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 2, Incarnation: 1}})
	if err := s.Check(mustEncode(t, TypeUnregisterBroker, UnregisterBroker{ID: 2})); err == nil {
		t.Fatal("a version-1 cluster accepts unregistering a broker")
	}
	if got := since(TypeUnregisterBroker); got != RemovalMetadataVersion {
		t.Fatalf("since = %d", got)
	}
}
