package state

import (
	"strings"
	"testing"
)

// TestRegistrationRack: a registration carries the broker's rack; one whose
// rack is oversized or holds control characters is refused and changes
// nothing.
func TestRegistrationRack(t *testing.T) {
	s := New()
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1, KafkaAddr: "h1:9092", Rack: "eu-west-1a"}})
	if s.Brokers[1].Rack != "eu-west-1a" {
		t.Fatalf("rack %q", s.Brokers[1].Rack)
	}
	for name, rack := range map[string]string{
		"oversized":    strings.Repeat("r", MaxRackLen+1),
		"newline":      "rack\nUser:admin",
		"escape":       "rack\x1b[31m",
		"invalid utf8": "rack\xff",
	} {
		if _, err := s.Apply(mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 2, KafkaAddr: "h1:9092", Rack: rack}})); err == nil {
			t.Errorf("%s: registered", name)
		}
		if s.Brokers[1].Incarnation != 1 || s.Brokers[1].Rack != "eu-west-1a" {
			t.Fatalf("%s: a refused registration changed the broker: %+v", name, s.Brokers[1])
		}
	}
	if err := CheckRack(strings.Repeat("r", MaxRackLen)); err != nil {
		t.Errorf("a rack of %d bytes: %v", MaxRackLen, err)
	}
}
