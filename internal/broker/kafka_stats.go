package broker

import "github.com/chronik-dev/chronik/internal/broker/kafka"

// KafkaStats is a snapshot of the Kafka listener's counters: open and
// refused connections, requests by API key, and the bytes requests and
// responses in flight hold of the queued bytes budget.
func (n *Node) KafkaStats() kafka.ServerStats { return n.kafka.Stats() }
