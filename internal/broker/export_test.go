package broker

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// SetPartitionForTest commits a test-only metadata command that overwrites a
// partition's leader and ISR (the nodes must run with Config.TestCommands).
func (n *Node) SetPartitionForTest(ctx context.Context, topic string, partition, leader int32, isr []int32) error {
	_, err := n.raft.Propose(ctx, state.TypeTestSetPartition, state.TestSetPartition{
		Topic: topic, Partition: partition, Leader: leader, ISR: isr,
	})
	return err
}
