// Package txn is the transaction coordinator (KIP-98, KIP-447, KIP-890 part
// 1): InitProducerId with a transactional id, AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, the markers that end a transaction on every
// partition it touched, timeouts, and DescribeTransactions/ListTransactions.
//
// The state of each transactional id (Kafka's TransactionMetadata) lives in
// the compacted internal topic __transaction_state, in Kafka's record format
// (kmsg.TxnMetadataKey / TxnMetadataValue), in partition PartitionFor(id).
// A node coordinates the ids of the __transaction_state partitions it leads:
// the broker calls LoadPartition when it gains leadership of one (with the
// partition's leader epoch as coordinator epoch) and UnloadPartition when it
// loses it. Requests for other ids get NOT_COORDINATOR.
package txn

import (
	"context"
	"log/slog"
	"time"
)

// Marker is one COMMIT or ABORT control batch to write to a partition.
type Marker struct {
	Topic            string
	Partition        int32
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// MarkerWriter writes markers to the partitions' leaders; the result has one
// error (nil = written) per marker, in order. A partition that no longer
// exists answers kerr.UnknownTopicOrPartition: the coordinator then gives up
// on it, as Kafka does; any other error is retried.
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, markers []Marker) []error
}

// Log is how the coordinator persists to __transaction_state. The broker
// implements it over its partition logs.
type Log interface {
	// Append writes one batch (built with batch.Build) to the partition and
	// returns once it is committed. It fails when this node no longer leads
	// the partition at leader epoch coordinatorEpoch. An error means the write
	// may not have happened.
	Append(ctx context.Context, partition int32, coordinatorEpoch int32, batch []byte) error
	// Scan calls fn with every batch of the partition, oldest first.
	Scan(ctx context.Context, partition int32, fn func(batch []byte) error) error
}

// State is a transaction's state, named as Kafka's TransactionState (the
// names DescribeTransactions and ListTransactions use).
type State string

// The states of a transactional id.
const (
	StateEmpty             State = "Empty"
	StateOngoing           State = "Ongoing"
	StatePrepareCommit     State = "PrepareCommit"
	StatePrepareAbort      State = "PrepareAbort"
	StateCompleteCommit    State = "CompleteCommit"
	StateCompleteAbort     State = "CompleteAbort"
	StateDead              State = "Dead"
	StatePrepareEpochFence State = "PrepareEpochFence"
)

// TxnDescription is what DescribeTransactions answers for one id.
type TxnDescription struct {
	TransactionalID string
	// Err is nil, or NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
	// TRANSACTIONAL_ID_NOT_FOUND (kerr errors).
	Err           error
	State         State
	TimeoutMs     int32
	StartTime     time.Time // zero unless a transaction is open
	LastUpdate    time.Time
	ProducerID    int64
	ProducerEpoch int16
	// Partitions of the open (or ending) transaction, by topic.
	Partitions map[string][]int32
	// CoordinatorPartition is the id's partition of __transaction_state and
	// CoordinatorEpoch its leader epoch here.
	CoordinatorPartition int32
	CoordinatorEpoch     int32
}

// TxnSummary is what ListTransactions answers for one id.
type TxnSummary struct {
	TransactionalID      string
	ProducerID           int64
	ProducerEpoch        int16
	State                State
	StartTime            time.Time // zero unless a transaction is open
	TimeoutMs            int32
	Partitions           int // partitions in the transaction
	CoordinatorPartition int32
}

// ListFilter selects transactions for List; zero values select everything.
type ListFilter struct {
	States      []State
	ProducerIDs []int64
	// MinDuration keeps only transactions open for longer (ListTransactions
	// v1 DurationFilter); 0 keeps all.
	MinDuration time.Duration
}

// Defaults, as Kafka's.
const (
	// DefaultPartitions is transaction.state.log.num.partitions.
	DefaultPartitions = 50
	// DefaultMaxTimeout is transaction.max.timeout.ms.
	DefaultMaxTimeout = 15 * time.Minute
	// DefaultIDExpiration is transactional.id.expiration.ms.
	DefaultIDExpiration = 7 * 24 * time.Hour
	// DefaultAbortInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms.
	DefaultAbortInterval = 10 * time.Second
	// DefaultExpireInterval is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	DefaultExpireInterval = time.Hour
)

// Config configures a Coordinator. Zero values get Kafka's defaults.
type Config struct {
	// Partitions is the number of partitions of __transaction_state it is
	// created with; PartitionCount, if set, is the count of the topic as it
	// exists (0: not created yet), which PartitionFor uses when known.
	Partitions     int32
	PartitionCount func() int32
	// MaxTimeout bounds transaction.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
	MaxTimeout time.Duration
	// IDExpiration is how long an id without a transaction open may stay idle
	// before it is forgotten.
	IDExpiration time.Duration
	// AbortInterval and ExpireInterval are how often the background loop
	// looks for timed-out transactions and expired ids.
	AbortInterval, ExpireInterval time.Duration
	// NextProducerID allocates a cluster-unique producer id.
	NextProducerID func(ctx context.Context) (int64, error)
	// Markers writes the transaction markers.
	Markers MarkerWriter
	// PartitionExists reports whether topic/partition exists (AddPartitions
	// answers UNKNOWN_TOPIC_OR_PARTITION otherwise); nil: every partition.
	PartitionExists func(topic string, partition int32) bool
	// OffsetsTopic and OffsetsPartition name the partition of
	// __consumer_offsets holding a group (AddOffsetsToTxn).
	OffsetsTopic     string
	OffsetsPartition func(group string) int32
	// Owns is the broker's live view of whether it leads the id's partition;
	// nil: loaded partitions decide alone.
	Owns   func(partition int32) bool
	Logger *slog.Logger
	// Now is the clock of transaction times; nil means time.Now.
	Now func() time.Time
}
