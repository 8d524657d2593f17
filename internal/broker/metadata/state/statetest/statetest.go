// Package statetest holds metadata commands that only tests apply: they
// build states the product never creates (an empty ISR, a leader outside
// it) for the diagnosis tests. Only _test.go files import it, so the
// product's state machine does not know these types at all.
package statetest

import (
	"fmt"
	"slices"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// TypeSetPartition overwrites a partition's leader and ISR with no checks.
const TypeSetPartition = "test_set_partition"

// SetPartition is the payload of TypeSetPartition.
type SetPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	ISR       []int32 `json:"isr"`
}

// Commands returns the test-only commands, for state.State.Extend (or the
// raft node's Config.Commands). Every voter of a cluster must have them.
func Commands() state.Commands {
	return state.Commands{TypeSetPartition: state.Handle(applySetPartition)}
}

func applySetPartition(s *state.State, c SetPartition) error {
	p, ok := s.Partition(c.Topic, c.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", state.ErrUnknownPartition, c.Topic, c.Partition)
	}
	p.Leader, p.ISR = c.Leader, slices.Clone(c.ISR)
	p.PartitionEpoch++
	return nil
}
