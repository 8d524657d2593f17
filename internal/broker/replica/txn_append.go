package replica

// How a produce carrying a transactional batch is checked (KIP-98, and
// KIP-890 part 1's verification):
//
//   - producers may not write control batches (INVALID_RECORD, as Kafka's
//     LogValidator); a transactional batch needs a producer id
//     (INVALID_RECORD), a transactional id on the request
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and a verifier on this node
//     (INVALID_TXN_STATE without one);
//   - the first transactional batch of a producer's transaction here is
//     appended only once the coordinator confirmed the partition was added
//     to that transaction; later batches of the same transaction are not
//     asked about again. A partition never added is refused with what the
//     coordinator answered (INVALID_TXN_STATE for "not added") and nothing
//     is appended. A marker for the producer that lands between the
//     question and the append (the coordinator aborted the transaction
//     meanwhile) refuses the batch with INVALID_TXN_STATE, as Kafka's
//     verification guard does;
//   - a non-transactional batch from a producer with a transaction open
//     here is INVALID_TXN_STATE (Kafka's "expected transactional write").
//
// Epochs and sequences are checked as for idempotent producers
// (producers.go): an older epoch is INVALID_PRODUCER_EPOCH.

import (
	"context"
	"errors"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TxnProduce is what a produce request brings beyond its batch for a
// transactional batch: the request's transactional id ("" when it has
// none) and who asks the coordinator (nil: transactional batches are
// refused with INVALID_TXN_STATE).
type TxnProduce struct {
	TransactionalID string
	Verifier        TxnVerifier
}

// checkTxnBatch refuses batches a producer may not send, before the
// producer state is looked at.
func checkTxnBatch(h batch.Header, tp TxnProduce) error {
	switch {
	case h.IsControl():
		return &RejectedError{Code: kerr.InvalidRecord, Record: -1, Message: "producers may not write control batches"}
	case !h.IsTransactional():
		return nil
	case h.ProducerID < 0:
		return &RejectedError{Code: kerr.InvalidRecord, Record: -1, Message: "transactional record batch without a producer id"}
	case tp.TransactionalID == "":
		return kerr.TransactionalIDAuthorizationFailed
	case tp.Verifier == nil:
		return kerr.InvalidTxnState
	}
	return nil
}

// checkTxn refuses a non-transactional batch from a producer that has a
// transaction open here. s may be nil (an unknown producer).
func (s *producerState) checkTxn(h batch.Header) error {
	if s != nil && !h.IsTransactional() && s.txnFirst != noTxn {
		return kerr.InvalidTxnState
	}
	return nil
}

// verifyTxnLocked asks the coordinator about a transactional batch that
// would start a transaction here. p.appendMu is held on entry and on
// return, and released while the coordinator is asked.
func (p *Partition) verifyTxnLocked(ctx context.Context, h batch.Header, tp TxnProduce) error {
	s := p.producers[h.ProducerID]
	if s != nil && s.txnFirst != noTxn && s.epoch == h.ProducerEpoch {
		return nil // the coordinator confirmed this transaction's first batch
	}
	var markers uint64
	if s != nil {
		markers = s.markers
	}
	epoch := p.role.Load().LeaderEpoch
	p.appendMu.Unlock()
	err := tp.Verifier.VerifyTxnPartition(ctx, tp.TransactionalID, h.ProducerID, h.ProducerEpoch, p.Topic, p.Index)
	p.appendMu.Lock()
	if err != nil {
		p.logger.Info("transactional batch refused by its coordinator", "topic", p.Topic, "partition", p.Index,
			"transactional_id", tp.TransactionalID, "producer_id", h.ProducerID, "epoch", h.ProducerEpoch, "err", err)
		return verifyError(err)
	}
	if r := p.role.Load(); !r.Leader || r.LeaderEpoch != epoch {
		return kerr.NotLeaderForPartition
	}
	now := p.producers[h.ProducerID]
	if (s != nil && now != s) || (now != nil && now.markers != markers) {
		return kerr.InvalidTxnState // a marker came between: the answer is stale
	}
	return nil
}

// verifyError is what the producer is told when the coordinator could not
// confirm its partition. The coordinator's own retriable answers (and not
// reaching it at all) become NOT_ENOUGH_REPLICAS, which every producer
// retries, as Kafka's ReplicaManager converts them: a producer takes
// NOT_COORDINATOR in a produce response for fatal.
func verifyError(err error) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.NotEnoughReplicas
	}
	switch ke {
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress,
		kerr.ConcurrentTransactions, kerr.NetworkException, kerr.RequestTimedOut:
		return kerr.NotEnoughReplicas
	}
	return ke
}
