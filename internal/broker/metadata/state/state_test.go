package state

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func mustEncode(t *testing.T, typ string, payload any) []byte {
	t.Helper()
	b, err := Encode(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func topic(name string, id byte, parts ...Partition) Topic {
	return Topic{Name: name, ID: [16]byte{id}, Partitions: parts}
}

func part(leader int32, replicas ...int32) Partition {
	return Partition{Replicas: replicas, Leader: leader, ISR: replicas}
}

// log is a sequence of commands that exercises every type.
func testLog(t *testing.T) [][]byte {
	return [][]byte{
		mustEncode(t, TypeInitCluster, InitCluster{ClusterID: "c1"}),
		mustEncode(t, TypeInitCluster, InitCluster{ClusterID: "c2"}),
		mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, KafkaAddr: "h1:9092", ClusterAddr: "h1:9093", Incarnation: 7}}),
		mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker{ID: 2, KafkaAddr: "h2:9092", ClusterAddr: "h2:9093", Incarnation: 8}}),
		mustEncode(t, TypeCreateTopic, CreateTopic{topic("orders", 1, part(1, 1, 2), part(2, 2, 1))}),
		mustEncode(t, TypeCreatePartitions, CreatePartitions{Name: "orders", Partitions: []Partition{part(1, 1, 2)}}),
		mustEncode(t, TypeAlterTopicConfigs, AlterTopicConfigs{Name: "orders", Configs: map[string]string{"retention.ms": "1000"}}),
		mustEncode(t, TypeFenceBroker, FenceBroker{ID: 2}),
		mustEncode(t, TypeAllocateProducerID, AllocateProducerIDs{Count: 1000}),
		mustEncode(t, TypeCreateTopic, CreateTopic{topic("gone", 2, part(1, 1))}),
		mustEncode(t, TypeDeleteTopic, DeleteTopic{Name: "gone"}),
	}
}

func TestApplyEveryCommand(t *testing.T) {
	s := New()
	for i, c := range testLog(t) {
		if _, err := s.Apply(c); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	if s.ClusterID != "c1" {
		t.Errorf("cluster id %q: the first committed init wins", s.ClusterID)
	}
	if len(s.Brokers) != 2 || !s.Brokers[2].Fenced || s.Brokers[1].Fenced {
		t.Errorf("brokers %+v", s.Brokers)
	}
	if got := s.LiveBrokers(); len(got) != 1 || got[0] != 1 {
		t.Errorf("live brokers %v", got)
	}
	o := s.Topics["orders"]
	if o == nil || len(o.Partitions) != 3 || o.Configs["retention.ms"] != "1000" {
		t.Fatalf("orders %+v", o)
	}
	if _, ok := s.Topics["gone"]; ok {
		t.Error("deleted topic still there")
	}
	if _, ok := s.TopicByID([16]byte{2}); ok {
		t.Error("deleted topic still found by id")
	}
	if got, ok := s.TopicByID([16]byte{1}); !ok || got.Name != "orders" {
		t.Error("orders not found by id")
	}
	if s.NextProducerID != 1000 {
		t.Errorf("next producer id %d", s.NextProducerID)
	}
	if h := s.HostedBy(2); len(h["orders"]) != 3 {
		t.Errorf("hosted by 2: %v", h)
	}
}

func TestAllocateProducerIDsReturnsBlockStart(t *testing.T) {
	s := New()
	for want := int64(0); want < 3000; want += 1000 {
		r, err := s.Apply(mustEncode(t, TypeAllocateProducerID, AllocateProducerIDs{Count: 1000}))
		if err != nil || r.ProducerID != want {
			t.Fatalf("block start %d (%v), want %d", r.ProducerID, err, want)
		}
	}
}

// Rejected commands leave the state exactly as it was, on every node alike.
func TestRejectionsChangeNothing(t *testing.T) {
	s := New()
	for _, c := range testLog(t) {
		if _, err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.Snapshot()
	bad := map[string][]byte{
		"duplicate topic":         mustEncode(t, TypeCreateTopic, CreateTopic{topic("orders", 9, part(1, 1))}),
		"duplicate topic id":      mustEncode(t, TypeCreateTopic, CreateTopic{topic("other", 1, part(1, 1))}),
		"no partitions":           mustEncode(t, TypeCreateTopic, CreateTopic{topic("empty", 3)}),
		"empty ISR":               mustEncode(t, TypeCreateTopic, CreateTopic{topic("noisr", 3, Partition{Replicas: []int32{1}, Leader: 1})}),
		"leader outside ISR":      mustEncode(t, TypeCreateTopic, CreateTopic{topic("badleader", 3, Partition{Replicas: []int32{1, 2}, Leader: 2, ISR: []int32{1}})}),
		"ISR outside replicas":    mustEncode(t, TypeCreateTopic, CreateTopic{topic("badisr", 3, Partition{Replicas: []int32{1}, Leader: 1, ISR: []int32{1, 3}})}),
		"delete unknown":          mustEncode(t, TypeDeleteTopic, DeleteTopic{Name: "nope"}),
		"partitions unknown":      mustEncode(t, TypeCreatePartitions, CreatePartitions{Name: "nope", Partitions: []Partition{part(1, 1)}}),
		"configs unknown":         mustEncode(t, TypeAlterTopicConfigs, AlterTopicConfigs{Name: "nope"}),
		"fence unknown broker":    mustEncode(t, TypeFenceBroker, FenceBroker{ID: 9}),
		"zero producer ids":       mustEncode(t, TypeAllocateProducerID, AllocateProducerIDs{}),
		"partition without ISR":   mustEncode(t, TypeCreatePartitions, CreatePartitions{Name: "orders", Partitions: []Partition{{Replicas: []int32{1}, Leader: 1}}}),
		"leader of new partition": mustEncode(t, TypeCreatePartitions, CreatePartitions{Name: "orders", Partitions: []Partition{{Replicas: []int32{1}, Leader: -1, ISR: []int32{1}}}}),
	}
	for name, c := range bad {
		_, err := s.Apply(c)
		if !errors.Is(err, ErrRejected) {
			t.Errorf("%s: got %v, want a rejection", name, err)
		}
		after, _ := s.Snapshot()
		if !bytes.Equal(before, after) {
			t.Fatalf("%s: rejected command changed the state", name)
		}
	}
	if _, err := s.Apply(bad["duplicate topic"]); !errors.Is(err, ErrTopicExists) {
		t.Errorf("duplicate topic: %v, want ErrTopicExists", err)
	}
	if _, err := s.Apply(bad["delete unknown"]); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("delete unknown: %v, want ErrUnknownTopic", err)
	}
}

// Entries this binary cannot understand are errors, not rejections: the
// node must stop instead of silently diverging.
func TestUndecodableCommands(t *testing.T) {
	s := New()
	for name, c := range map[string][]byte{
		"not json":       []byte("\x00garbage"),
		"unknown type":   []byte(`{"type":"future_thing","v":1,"data":{}}`),
		"future version": []byte(`{"type":"delete_topic","v":2,"data":{"name":"x"}}`),
		"bad payload":    []byte(`{"type":"delete_topic","v":1,"data":{"name":7}}`),
	} {
		if _, err := s.Apply(c); err == nil || errors.Is(err, ErrRejected) {
			t.Errorf("%s: got %v, want a decode error", name, err)
		}
	}
}

func TestSnapshotRestoreAndDeterminism(t *testing.T) {
	a, b := New(), New()
	for _, c := range testLog(t) {
		ra, erra := a.Apply(c)
		rb, errb := b.Apply(c)
		if !reflect.DeepEqual(ra, rb) || (erra == nil) != (errb == nil) {
			t.Fatal("two states applying the same command disagree")
		}
	}
	sa, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := b.Snapshot()
	if !bytes.Equal(sa, sb) {
		t.Fatal("same log, different snapshots")
	}
	r, err := Restore(sa)
	if err != nil {
		t.Fatal(err)
	}
	sr, _ := r.Snapshot()
	if !bytes.Equal(sa, sr) {
		t.Fatal("restore changed the state")
	}
	if got, ok := r.TopicByID([16]byte{1}); !ok || got.Name != "orders" {
		t.Fatal("restored state lost its topic id index")
	}
	// The restored state keeps applying.
	if _, err := r.Apply(mustEncode(t, TypeDeleteTopic, DeleteTopic{Name: "orders"})); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{[]byte("nope"), []byte(`{"version":9,"state":{}}`), []byte(`{"version":1}`)} {
		if _, err := Restore(bad); err == nil {
			t.Errorf("restore %q: no error", bad)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s := New()
	for _, c := range testLog(t) {
		if _, err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	c := s.Clone()
	c.Topics["orders"].Partitions[0].ISR[0] = 99
	c.Topics["orders"].Configs["x"] = "y"
	c.Brokers[1].Fenced = true
	if s.Topics["orders"].Partitions[0].ISR[0] == 99 || s.Topics["orders"].Configs["x"] == "y" || s.Brokers[1].Fenced {
		t.Fatal("mutating a clone changed the original")
	}
}
