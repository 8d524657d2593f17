package kafka

// Transactions are not supported. The transaction APIs are served only to
// refuse them with Kafka's own error codes, never with a pretend success:
//
//	FindCoordinator (type 1)  INVALID_REQUEST, "transactions are not supported by chronik"
//	InitProducerID (txn id)   INVALID_REQUEST
//	AddPartitionsToTxn, AddOffsetsToTxn, EndTxn
//	                          INVALID_PRODUCER_ID_MAPPING: no producer id is
//	                          ever mapped to a transactional id here.
//
// With an authorizer, a transactional id without WRITE on it is answered
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED first, as Kafka checks it first.
//
// Each of the last three has its file (24_add_partitions_to_txn.go,
// 25_add_offsets_to_txn.go, 26_end_txn.go) declaring its versions; this one
// holds the code they answer with. TxnOffsetCommit is served for real
// (28_txn_offset_commit.go).

import "github.com/twmb/franz-go/pkg/kerr"

var errNoTransactions = kerr.InvalidProducerIDMapping.Code
