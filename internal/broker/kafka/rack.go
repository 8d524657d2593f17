package kafka

import "github.com/chronik-dev/chronik/internal/broker/metadata/state"

// rackOf is a broker's rack as Metadata and DescribeCluster carry it: null
// when the broker has none, as Kafka answers without broker.rack.
func rackOf(b *state.Broker) *string {
	if b.Rack == "" {
		return nil
	}
	r := b.Rack
	return &r
}
