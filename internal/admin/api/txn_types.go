package api

import "fmt"

// Transactions (KIP-98) as the admin API shows them: per partition replica
// the last stable offset and the transactions open on it
// ([PartitionInfo.LastStableOffset], [PartitionInfo.OngoingTransactions]),
// per node the transaction settings ([NodeInfo.Transactions]), and the
// abort of a hanging transaction (POST /v1/transactions/abort). Ages are
// seconds measured by the answering node, like everywhere in this API.

// OngoingTransaction is one transaction open on a partition replica: a
// producer wrote transactional batches here and no COMMIT or ABORT marker
// has ended them yet. The partition's last stable offset cannot pass
// FirstOffset until one does, so read_committed consumers wait there.
type OngoingTransaction struct {
	ProducerID    int64 `json:"producer_id"`
	ProducerEpoch int16 `json:"producer_epoch"`
	FirstOffset   int64 `json:"first_offset"` // its first batch here
	LastOffset    int64 `json:"last_offset"`  // its last batch's last offset here
	// AgeSeconds is how long ago its first batch here was appended (after
	// a restart: from that batch's timestamp).
	AgeSeconds float64 `json:"age_seconds"`
}

// TxnNodeInfo is a node's transaction settings, in [NodeInfo.Transactions].
type TxnNodeInfo struct {
	// MaxTimeoutSeconds is --transaction-max-timeout (Kafka's
	// transaction.max.timeout.ms): no transaction may ask for a longer
	// timeout, so one open longer than this on a partition is hanging.
	MaxTimeoutSeconds float64 `json:"max_timeout_seconds"`
	// Coordinator is the transactional ids this node coordinates (it leads
	// their __transaction_state partitions); nil from older nodes.
	Coordinator *TxnCoordinatorInfo `json:"coordinator,omitempty"`
}

// MaxListedOpenTxns bounds TxnCoordinatorInfo.Open: the oldest are listed.
const MaxListedOpenTxns = 100

// TxnCoordinatorInfo is what a node's transaction coordinator holds.
type TxnCoordinatorInfo struct {
	TransactionalIDs int            `json:"transactional_ids"`
	ByState          map[string]int `json:"by_state"` // Kafka's state names; only states with any
	// Open are its open transactions (Ongoing, PrepareCommit,
	// PrepareAbort), oldest first, at most MaxListedOpenTxns; OpenTotal
	// counts them all.
	Open      []CoordinatedTxn `json:"open"`
	OpenTotal int              `json:"open_total"`
}

// CoordinatedTxn is one open transaction at its coordinator.
type CoordinatedTxn struct {
	TransactionalID string  `json:"transactional_id"`
	ProducerID      int64   `json:"producer_id"`
	ProducerEpoch   int16   `json:"producer_epoch"`
	State           string  `json:"state"`
	OpenSeconds     float64 `json:"open_seconds"`
	Partitions      int     `json:"partitions"` // partitions in the transaction
}

// DefaultTxnMaxTimeoutSeconds is Kafka's transaction.max.timeout.ms (15
// min), for a node that does not report its own.
const DefaultTxnMaxTimeoutSeconds = 900.0

// AbortTransactionRequest is the body of POST /v1/transactions/abort: write
// an ABORT marker for a producer's open transaction on one partition, like
// kafka-transactions.sh abort. It goes to the partition's leader, which
// alone writes markers (another node answers not_leader). Two forms:
//
//   - StartOffset: the transaction open on the partition from that offset
//     (`chronik doctor`'s HANGING_TRANSACTION names it); the leader takes
//     its producer id and epoch, and the coordinator epoch of that
//     producer's last marker on the partition (0 when none);
//   - ProducerID, ProducerEpoch and CoordinatorEpoch, all three, as
//     DescribeProducers reports them.
//
// A producer epoch older than the partition knows is refused
// (INVALID_PRODUCER_EPOCH), and so is a coordinator epoch older than the
// producer's last marker's (TRANSACTION_COORDINATOR_FENCED).
type AbortTransactionRequest struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	StartOffset      *int64 `json:"start_offset,omitempty"`
	ProducerID       *int64 `json:"producer_id,omitempty"`
	ProducerEpoch    *int16 `json:"producer_epoch,omitempty"`
	CoordinatorEpoch *int32 `json:"coordinator_epoch,omitempty"`
}

// Validate checks what the server can check without the partition: one of
// the two forms, no negative numbers.
func (r AbortTransactionRequest) Validate() error {
	producer := r.ProducerID != nil || r.ProducerEpoch != nil || r.CoordinatorEpoch != nil
	switch {
	case r.Topic == "":
		return fmt.Errorf("topic is required")
	case r.Partition < 0:
		return fmt.Errorf("partition must be 0 or more, not %d", r.Partition)
	case r.StartOffset != nil && producer:
		return fmt.Errorf("give either start_offset or producer_id, producer_epoch and coordinator_epoch, not both")
	case r.StartOffset != nil:
		if *r.StartOffset < 0 {
			return fmt.Errorf("start_offset must be 0 or more, not %d", *r.StartOffset)
		}
		return nil
	case r.ProducerID == nil || r.ProducerEpoch == nil || r.CoordinatorEpoch == nil:
		return fmt.Errorf("give start_offset, or all of producer_id, producer_epoch and coordinator_epoch")
	case *r.ProducerID < 0:
		return fmt.Errorf("producer_id must be 0 or more, not %d", *r.ProducerID)
	case *r.ProducerEpoch < 0:
		return fmt.Errorf("producer_epoch must be 0 or more, not %d", *r.ProducerEpoch)
	case *r.CoordinatorEpoch < 0:
		return fmt.Errorf("coordinator_epoch must be 0 or more, not %d", *r.CoordinatorEpoch)
	}
	return nil
}

// AbortTransactionResult answers POST /v1/transactions/abort: the marker is
// written and committed (the high watermark passed it).
type AbortTransactionResult struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	ProducerID    int64  `json:"producer_id"`
	ProducerEpoch int16  `json:"producer_epoch"`
	// CoordinatorEpoch is the one the marker carries.
	CoordinatorEpoch int32 `json:"coordinator_epoch"`
	// LastStableOffset is the partition's after the abort.
	LastStableOffset int64 `json:"last_stable_offset"`
}

// CodeNotLeader: the node asked does not lead the partition; the message
// names the leader it knows of. Markers are written by the leader only.
const CodeNotLeader = "not_leader"

// CodeKafkaError: the partition refused the request with a Kafka error
// (its name starts the message, e.g. INVALID_PRODUCER_EPOCH).
const CodeKafkaError = "kafka_error"

// The CLI's views of the transaction coordinators (`chronik txn`), read over
// the Kafka protocol (ListTransactions, DescribeTransactions,
// DescribeProducers) so they work against any Kafka-compatible broker. They
// are the -o json output.

// TxnListing is one transactional id as its coordinator lists it.
type TxnListing struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	State           string `json:"state"` // Kafka's: Empty, Ongoing, PrepareCommit, ...
	Coordinator     int32  `json:"coordinator"`
	// DurationSeconds is how long the current transaction has been open
	// (from DescribeTransactions); nil when none is or it is unknown.
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
}

// TxnDescription is one transactional id as its coordinator describes it.
type TxnDescription struct {
	TransactionalID string `json:"transactional_id"`
	Coordinator     int32  `json:"coordinator"`
	State           string `json:"state"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	TimeoutMs       int32  `json:"timeout_ms"`
	// StartTimestampMs is when the current transaction started (ms since
	// the epoch); -1 when none is open.
	StartTimestampMs int64            `json:"start_timestamp_ms"`
	Partitions       []TopicPartition `json:"partitions"`
	// Error is the coordinator's error for this id (e.g.
	// TRANSACTIONAL_ID_NOT_FOUND); the other fields are then unset.
	Error string `json:"error,omitempty"`
}

// HangingTransaction is a transaction open on a partition longer than the
// maximum transaction timeout whose producer has no open transaction on
// its coordinator: nothing will ever end it but an abort.
type HangingTransaction struct {
	Topic            string  `json:"topic"`
	Partition        int32   `json:"partition"`
	Leader           int32   `json:"leader"`
	ProducerID       int64   `json:"producer_id"`
	ProducerEpoch    int16   `json:"producer_epoch"`
	CoordinatorEpoch int32   `json:"coordinator_epoch"` // of the producer's last marker there; 0 for none
	FirstOffset      int64   `json:"first_offset"`
	AgeSeconds       float64 `json:"age_seconds"`
	// TransactionalID is the id the producer id belongs to, when a
	// coordinator lists it (its transaction there is not Ongoing).
	TransactionalID string `json:"transactional_id,omitempty"`
	// AbortCommand is the command line that aborts it.
	AbortCommand string `json:"abort_command"`
}
