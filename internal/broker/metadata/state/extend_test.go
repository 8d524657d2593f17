package state_test

import (
	"errors"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state/statetest"
)

func withTopic(t *testing.T) *state.State {
	t.Helper()
	s := state.New()
	for _, c := range []struct {
		typ     string
		payload any
	}{
		{state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{ID: 1}}},
		{state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{ID: 2}}},
		{state.TypeCreateTopic, state.CreateTopic{Topic: state.Topic{Name: "t", ID: [16]byte{1},
			Partitions: []state.Partition{{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}}}}}},
	} {
		if _, err := s.Apply(encode(t, c.typ, c.payload)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func encode(t *testing.T, typ string, payload any) []byte {
	t.Helper()
	b, err := state.Encode(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The product's state machine does not know test commands: they are unknown
// types (an error that stops a node, not a rejection) unless added.
func TestTestCommandsOnlyWhenAdded(t *testing.T) {
	s := withTopic(t)
	cmd := encode(t, statetest.TypeSetPartition, statetest.SetPartition{Topic: "t", Leader: 2, ISR: []int32{}})
	if _, err := s.Apply(cmd); err == nil || errors.Is(err, state.ErrRejected) {
		t.Fatalf("test command without Extend: %v, want an unknown-type error", err)
	}
	plain := s.Clone()
	s.Extend(statetest.Commands())
	if _, err := plain.Apply(cmd); err == nil {
		t.Fatal("Extend reached a state cloned before it")
	}
	if _, err := s.Clone().Apply(cmd); err != nil {
		t.Fatalf("a clone keeps the added commands: %v", err)
	}
	if _, err := s.Apply(cmd); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Partition("t", 0); p.Leader != 2 || len(p.ISR) != 0 || p.PartitionEpoch != 1 {
		t.Fatalf("partition %+v", p)
	}
	bad := encode(t, statetest.TypeSetPartition, statetest.SetPartition{Topic: "t", Partition: 3})
	if _, err := s.Apply(bad); !errors.Is(err, state.ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

func TestExtendRefusesBuiltinAndDuplicateTypes(t *testing.T) {
	handler := state.Handle(func(*state.State, struct{}) error { return nil })
	for name, cmds := range map[string]state.Commands{
		"built in":    {state.TypeCreateTopic: handler},
		"duplicate":   statetest.Commands(),
		"nil handler": {"x": nil},
	} {
		s := state.New()
		s.Extend(statetest.Commands())
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			s.Extend(cmds)
		}()
	}
}
