package state

import (
	"fmt"
	"maps"
	"slices"
)

// TypeUnregisterBroker removes a broker from the broker list: the last step
// of removing a node, after its replicas moved elsewhere and it left raft
// (metadata version 2).
const TypeUnregisterBroker = "unregister_broker"

// RemovalMetadataVersion (2) adds unregistering brokers; it arrives with
// partition reassignment, which moving a node's replicas away needs.
const RemovalMetadataVersion = 2

// ErrBrokerHostsReplicas rejects unregistering a broker that a partition
// still names as a replica (or as an adding or removing one): the
// partition would keep a replica no broker serves. Its replicas must move
// first (a reassignment), even for a node that is gone for good.
var ErrBrokerHostsReplicas = fmt.Errorf("%w: broker hosts replicas", ErrRejected)

// UnregisterBroker is the payload of TypeUnregisterBroker.
type UnregisterBroker struct {
	ID int32 `json:"id"`
}

// ReplicasOf lists the partitions that name broker id among their
// replicas, adding or removing ones included, sorted by topic and
// partition.
func (s *State) ReplicasOf(id int32) []PartitionRef {
	hosted := s.HostedBy(id) // Replicas includes the adding and removing ones
	names := slices.Sorted(maps.Keys(hosted))
	var out []PartitionRef
	for _, name := range names {
		for _, p := range slices.Sorted(slices.Values(hosted[name])) {
			out = append(out, PartitionRef{Topic: name, Partition: p})
		}
	}
	return out
}

// CheckUnregister says why broker id cannot be unregistered now, nil if it
// can. The controller calls it before the steps of a removal, and Apply
// again, so a partition assigned to the broker in between is caught.
func (s *State) CheckUnregister(id int32) error {
	if _, ok := s.Brokers[id]; !ok {
		return rejectf("broker %d is not registered", id)
	}
	if parts := s.ReplicasOf(id); len(parts) > 0 {
		return fmt.Errorf("%w: broker %d is a replica of %d partitions (first %s-%d); move them first",
			ErrBrokerHostsReplicas, id, len(parts), parts[0].Topic, parts[0].Partition)
	}
	return nil
}

func (s *State) applyUnregisterBroker(c UnregisterBroker) error {
	if err := s.CheckUnregister(c.ID); err != nil {
		return err
	}
	delete(s.Brokers, c.ID)
	return nil
}
