package broker

import "github.com/chronik-dev/chronik/internal/broker/replica"

// ReplicaForTest is the topic-partition replica this node runs, nil if none:
// tests read its log directly to compare replicas.
func (n *Node) ReplicaForTest(topic string, partition int32) *replica.Partition {
	return n.replicas.Get(topic, partition)
}
