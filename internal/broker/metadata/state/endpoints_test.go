package state

import (
	"reflect"
	"testing"
)

// TestRegistrationEndpoints: a registration carries the broker's listeners
// into the state (clones copy them); one whose endpoints a client could not
// use is refused and changes nothing.
func TestRegistrationEndpoints(t *testing.T) {
	s := New()
	good := []Endpoint{{Name: "PLAINTEXT", Host: "h1", Port: 9092, Protocol: "PLAINTEXT"}, {Name: "SSL", Host: "h1", Port: 9093, Protocol: "SSL"}}
	applyOK(t, s, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 1, KafkaAddr: "h1:9092", Listeners: good}})
	if !reflect.DeepEqual(s.Brokers[1].Listeners, good) {
		t.Fatalf("listeners %+v", s.Brokers[1].Listeners)
	}
	c := s.Clone()
	c.Brokers[1].Listeners[0].Port = 1
	if s.Brokers[1].Listeners[0].Port != 9092 {
		t.Fatal("a clone shares the listeners")
	}

	for name, ls := range map[string][]Endpoint{
		"no name":    {{Host: "h", Port: 1}},
		"twice":      {{Name: "SSL", Host: "h", Port: 1}, {Name: "SSL", Host: "h", Port: 2}},
		"no host":    {{Name: "SSL", Port: 1}},
		"port 0":     {{Name: "SSL", Host: "h"}},
		"port 70000": {{Name: "SSL", Host: "h", Port: 70000}},
	} {
		if _, err := s.Apply(mustEncode(t, TypeRegisterBroker, RegisterBroker{Broker{ID: 1, Incarnation: 2, Listeners: ls}})); err == nil {
			t.Errorf("%s: registered", name)
		}
		if s.Brokers[1].Incarnation != 1 || !reflect.DeepEqual(s.Brokers[1].Listeners, good) {
			t.Fatalf("%s: a refused registration changed the broker: %+v", name, s.Brokers[1])
		}
	}
}
