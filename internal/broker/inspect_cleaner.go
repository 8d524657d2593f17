package broker

import "github.com/chronik-dev/chronik/internal/broker/replica"

// The log cleaner as the admin API and /metrics read it.

// CleanerInfo reports the node's log cleaner.
func (n *Node) CleanerInfo() replica.CleanerInfo { return n.replicas.CleanerInfo() }

// PartitionCleaner reports the cleaning of the topic-partition replica
// running here; false when none runs or its topic does not compact.
func (n *Node) PartitionCleaner(topic string, partition int32) (replica.CleanerStatus, bool) {
	p := n.replicas.Get(topic, partition)
	if p == nil {
		return replica.CleanerStatus{}, false
	}
	return p.CleanerStatus()
}
