package state

import (
	"fmt"
	"net"
	"strconv"
)

// Endpoint is one Kafka listener a broker advertises: clients that came in
// on the listener named Name are told Host:Port for this broker (Kafka's
// per-listener endpoints, KIP-103).
type Endpoint struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))) }

// legacyListener is the listener a broker registered before listeners
// existed serves: its KafkaAddr was a PLAINTEXT listener.
const legacyListener = "PLAINTEXT"

// KafkaEndpoint is the broker's address for clients of listener (a Kafka
// listener name, Conn.Listener). An empty listener (cluster connections)
// means KafkaAddr. ok is false when the broker has no such listener: Kafka
// then leaves it out of the answer rather than hand out an address of
// another security protocol.
func (b *Broker) KafkaEndpoint(listener string) (addr string, ok bool) {
	if listener == "" {
		return b.KafkaAddr, true
	}
	if len(b.Listeners) == 0 {
		if listener != legacyListener {
			return "", false
		}
		return b.KafkaAddr, true
	}
	for _, e := range b.Listeners {
		if e.Name == listener {
			return e.Addr(), true
		}
	}
	return "", false
}

// checkEndpoints rejects a registration whose endpoints a client could not
// use or that name a listener twice.
func checkEndpoints(b Broker) error {
	seen := make(map[string]bool, len(b.Listeners))
	for _, e := range b.Listeners {
		switch {
		case e.Name == "":
			return rejectf("broker %d: an endpoint has no listener name", b.ID)
		case seen[e.Name]:
			return rejectf("broker %d: listener %s advertised twice", b.ID, e.Name)
		case e.Host == "" || e.Port <= 0 || e.Port > 65535:
			return rejectf("broker %d: listener %s: bad address %s", b.ID, e.Name, fmt.Sprintf("%s:%d", e.Host, e.Port))
		}
		seen[e.Name] = true
	}
	return nil
}
