// Package replication is a broker's replication runtime: the follower fetch
// loops that copy partitions from their leaders, the leader's ISR
// maintenance, and the controlled shutdown. It reaches the replicas, the
// metadata and the controller through the small interfaces below, so each
// part runs against fakes in tests; package broker adapts the real ones.
package replication

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// FollowerReplica is what a fetch loop needs of a local replica
// (replica.Partition).
type FollowerReplica interface {
	IsLeader() bool
	LeaderEpoch() int32
	LogEndOffset() int64
	CommittedEnd() int64
	LastFetchedEpoch() int32
	// CopyFromLeader appends what the leader sent and starts its fsync;
	// SettleFromLeader then waits for it and adopts the leader's high
	// watermark (replica.Partition).
	CopyFromLeader(batches []byte) (end int64, err error)
	SettleFromLeader(ctx context.Context, end, leaderHW int64) error
	Truncate(offset int64) error
	TruncateDiverged(epoch int32, end int64) error
	StartAt(offset int64) error
}

// LeaderReplica is what ISR maintenance needs of a local replica
// (replica.Partition).
type LeaderReplica interface {
	ISRChange(eligible func(id int32) bool) (r replica.Role, isr []int32, ok bool)
}

// Hosted is one local replica with its partition's name.
type Hosted struct {
	TopicPartition
	Replica LeaderReplica
}

// Replicas is the node's set of local replicas (replica.Manager).
type Replicas interface {
	// Follower is the local replica of tp, nil when none runs here.
	Follower(tp TopicPartition) FollowerReplica
	// All is every local replica, in a stable order.
	All() []Hosted
}

// Metadata is the cluster metadata this node has applied (raftnode.Node).
type Metadata interface {
	State() *state.State
	// LeaderID is the raft leader (the controller) as this node knows it, 0
	// if none.
	LeaderID() uint64
}

// Controller commits metadata changes (controller.Controller).
type Controller interface {
	AlterPartition(ctx context.Context, a state.AlterPartition) error
	ShutdownBroker(ctx context.Context, id int32) error
}
