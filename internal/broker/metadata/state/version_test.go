package state

import (
	"errors"
	"strings"
	"testing"
)

// v2Payload stands for a command a newer release adds at metadata version 2.
type v2Payload struct {
	N int64 `json:"n"`
}

func (v2Payload) MetadataVersion() int { return 2 }

const typeV2 = "test_v2"

func v2Commands() Commands {
	return Commands{typeV2: Handle(func(s *State, p v2Payload) error { s.NextProducerID += p.N; return nil })}
}

// newer is a state as a binary that supports metadata version 2 holds it.
func newer() *State {
	s := New()
	s.Extend(v2Commands())
	s.SetSupportedMetadataVersion(2)
	return s
}

func TestEncodeRecordsMetadataVersion(t *testing.T) {
	// Version 1 commands keep the envelope logs from before versions hold.
	if b := mustEncode(t, TypeDeleteTopic, DeleteTopic{Name: "x"}); strings.Contains(string(b), `"mv"`) {
		t.Fatalf("version 1 envelope %s carries mv", b)
	}
	if b := mustEncode(t, typeV2, v2Payload{N: 1}); !strings.Contains(string(b), `"mv":2`) {
		t.Fatalf("version 2 envelope %s", b)
	}
	// A legacy envelope, as written before versions, still applies.
	s := New()
	if _, err := s.Apply([]byte(`{"type":"allocate_producer_ids","v":1,"data":{"count":4}}`)); err != nil || s.NextProducerID != 4 {
		t.Fatalf("legacy envelope: %v, next producer id %d", err, s.NextProducerID)
	}
}

// A command above the active version is rejected the same way on every node, whether the
// binary understands it or not, so one written early is a no-op, not a fork.
func TestCommandAboveActiveVersionIsRejected(t *testing.T) {
	cmd := mustEncode(t, typeV2, v2Payload{N: 5})
	for name, s := range map[string]*State{"new binary": newer(), "old binary": New()} {
		_, err := s.Apply(cmd)
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "needs metadata version 2, the cluster runs 1") {
			t.Fatalf("%s: %v", name, err)
		}
		if s.NextProducerID != 0 {
			t.Fatalf("%s applied it", name)
		}
		if err := s.Check(cmd); !errors.Is(err, ErrRejected) {
			t.Fatalf("%s: Check = %v", name, err)
		}
	}
}

// A node that meets a command of the active version that its binary does not support
// stops with an error naming the version it needs.
func TestCommandAboveSupportedVersionStops(t *testing.T) {
	s := New()
	s.SetSupportedMetadataVersion(1) // an old binary
	s.MetadataVersion = 2            // raised while this binary was not running
	_, err := s.Apply(mustEncode(t, typeV2, v2Payload{N: 5}))
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Need != 2 || verr.Supported != 1 || errors.Is(err, ErrRejected) {
		t.Fatalf("apply = %v", err)
	}
	if !strings.Contains(err.Error(), `command "test_v2" needs metadata version 2, this binary supports up to 1`) {
		t.Fatalf("message %q", err)
	}
	// Unknown types at a supported version are still plain decode errors.
	if _, err := s.Apply([]byte(`{"type":"nope","v":1,"data":{}}`)); err == nil || IsVersionError(err) || errors.Is(err, ErrRejected) {
		t.Fatalf("unknown type: %v", err)
	}
}

func register(t *testing.T, s *State, id int32, maxMV int) error {
	t.Helper()
	_, err := s.Apply(mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker: Broker{
		ID: id, KafkaAddr: "k", ClusterAddr: "c", Incarnation: 1,
		MinMetadataVersion: 1, MaxMetadataVersion: maxMV,
	}}))
	return err
}

func TestRaiseMetadataVersionOnlyWhenEveryBrokerSupportsIt(t *testing.T) {
	s := newer()
	for id, mv := range map[int32]int{1: 2, 2: 2, 3: 0 /* registered before versions */} {
		if err := register(t, s, id, mv); err != nil {
			t.Fatal(err)
		}
	}
	raise := mustEncode(t, TypeSetMetadataVersion, SetMetadataVersion{Version: 2})
	if _, err := s.Apply(raise); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "broker 3 supports metadata versions up to 1, not 2") {
		t.Fatalf("raise with an old broker: %v", err)
	}
	if s.ActiveMetadataVersion() != 1 {
		t.Fatalf("active %d", s.ActiveMetadataVersion())
	}
	if err := register(t, s, 3, 2); err != nil { // broker 3 upgraded
		t.Fatal(err)
	}
	if _, err := s.Apply(raise); err != nil {
		t.Fatal(err)
	}
	if s.ActiveMetadataVersion() != 2 {
		t.Fatalf("active %d", s.ActiveMetadataVersion())
	}
	if _, err := s.Apply(mustEncode(t, typeV2, v2Payload{N: 5})); err != nil || s.NextProducerID != 5 {
		t.Fatalf("version 2 command at version 2: %v", err)
	}
	// Never down, never again; and an old binary cannot register any more.
	if _, err := s.Apply(mustEncode(t, TypeSetMetadataVersion, SetMetadataVersion{Version: 1})); !errors.Is(err, ErrRejected) {
		t.Fatalf("downgrade: %v", err)
	}
	if err := register(t, s, 4, 1); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "the cluster runs 2") {
		t.Fatalf("old broker registered: %v", err)
	}
	// Nor can one that no longer supports the active version.
	_, err := s.Apply(mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker: Broker{ID: 5, MinMetadataVersion: 3, MaxMetadataVersion: 4}}))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "from 3, the cluster runs 2") {
		t.Fatalf("too new a broker registered: %v", err)
	}
	// The version survives a snapshot.
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(b)
	if err != nil || r.ActiveMetadataVersion() != 2 || r.Clone().ActiveMetadataVersion() != 2 {
		t.Fatalf("restored: %v", err)
	}
}

func TestInitClusterSetsTheFoundersVersion(t *testing.T) {
	s := newer()
	if _, err := s.Apply(mustEncode(t, TypeInitCluster, InitCluster{ClusterID: "a", MetadataVersion: 2})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(mustEncode(t, TypeInitCluster, InitCluster{ClusterID: "b", MetadataVersion: 1})); err != nil {
		t.Fatal(err)
	}
	if s.ClusterID != "a" || s.ActiveMetadataVersion() != 2 {
		t.Fatalf("cluster %q at version %d", s.ClusterID, s.ActiveMetadataVersion())
	}
}
