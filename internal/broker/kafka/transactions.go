package kafka

// Transactions (KIP-98, KIP-447, KIP-890 part 1). The transaction
// coordinator is package txn (Backend.Txn); its APIs are
//
//	FindCoordinator (type 1)  the leader of the id's __transaction_state partition
//	InitProducerID (txn id)   22_init_producer_id.go
//	AddPartitionsToTxn        24_add_partitions_to_txn.go (v4+: brokers only)
//	AddOffsetsToTxn, EndTxn   25_add_offsets_to_txn.go, 26_end_txn.go
//	DescribeTransactions, ListTransactions
//	                          65_describe_transactions.go, 66_list_transactions.go
//
// and the partitions' side is Produce (transactional batches), Fetch and
// ListOffsets (read_committed), WriteTxnMarkers and DescribeProducers.
// Without a coordinator (Backend.Txn nil) transactional producers are
// refused with Kafka's own codes, never with a pretend success:
// FindCoordinator type 1 and InitProducerID with a transactional id get
// INVALID_REQUEST, the others INVALID_PRODUCER_ID_MAPPING (errNoTransactions)
// after TRANSACTIONAL_ID_AUTHORIZATION_FAILED without WRITE on the id, as
// Kafka checks that first.

import "github.com/twmb/franz-go/pkg/kerr"

var errNoTransactions = kerr.InvalidProducerIDMapping.Code
