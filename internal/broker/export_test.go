package broker

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state/statetest"
)

// WithTestCommands makes a node's metadata apply the test-only commands
// (statetest); every node of the cluster needs it.
func WithTestCommands(cfg *Config) { cfg.testCommands = statetest.Commands() }

// SetPartitionForTest commits a test-only metadata command that overwrites a
// partition's leader and ISR (the nodes must run WithTestCommands).
func (n *Node) SetPartitionForTest(ctx context.Context, topic string, partition, leader int32, isr []int32) error {
	_, err := n.raft.Propose(ctx, statetest.TypeSetPartition, statetest.SetPartition{
		Topic: topic, Partition: partition, Leader: leader, ISR: isr,
	})
	return err
}
