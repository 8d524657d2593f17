package interbroker

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// DefaultVerifyTimeout bounds one verification when the caller's context
// allows longer: a producer's first transactional batch waits for it.
const DefaultVerifyTimeout = 10 * time.Second

// Verifier is replica.TxnVerifier (KIP-890 part 1): it asks the
// transactional id's coordinator, with AddPartitionsToTxn v4 VerifyOnly,
// whether a partition is in the producer's ongoing transaction. The
// coordinator is the leader of the id's partition of the transaction
// state topic in this node's metadata, as FindCoordinator answers.
type Verifier struct {
	Client *Client
	Meta   Metadata
	// Topic is the transaction state topic (__transaction_state).
	Topic string
	// PartitionFor is the id's partition of Topic when it has partitions
	// partitions (the coordinator's own function).
	PartitionFor func(txnID string, partitions int32) int32
	// Timeout bounds each verification; DefaultVerifyTimeout when 0.
	Timeout time.Duration
}

var _ replica.TxnVerifier = (*Verifier)(nil)

// VerifyTxnPartition returns nil when the coordinator says topic/partition
// was added to the transaction of (txnID, producerID, epoch); otherwise the
// coordinator's error (INVALID_TXN_STATE: not added; PRODUCER_FENCED,
// INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING, NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS ...). When the
// coordinator cannot be found or reached the error wraps
// kerr.CoordinatorNotAvailable (retriable) and the cause.
func (v *Verifier) VerifyTxnPartition(ctx context.Context, txnID string, producerID int64, epoch int16, topic string, partition int32) error {
	leader, err := v.coordinator(txnID)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, producerID, epoch, true
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{rt}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}

	vctx, cancel := context.WithTimeout(ctx, cmp.Or(v.Timeout, DefaultVerifyTimeout))
	defer cancel()
	kresp, err := v.Client.Request(vctx, leader, req)
	if err != nil {
		return fmt.Errorf("verify transaction %q with its coordinator (node %d): %w: %w", txnID, leader, kerr.CoordinatorNotAvailable, err)
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if e := kerr.ErrorForCode(resp.ErrorCode); e != nil {
		return fmt.Errorf("verify transaction %q: coordinator node %d answered: %w", txnID, leader, e)
	}
	for _, t := range resp.Transactions {
		if t.TransactionalID != txnID {
			continue
		}
		for _, rt := range t.Topics {
			if rt.Topic != topic {
				continue
			}
			for _, rp := range rt.Partitions {
				if rp.Partition != partition {
					continue
				}
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					return fmt.Errorf("verify transaction %q for %s/%d: coordinator node %d answered: %w", txnID, topic, partition, leader, e)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("verify transaction %q: coordinator node %d did not answer for %s/%d: %w", txnID, leader, topic, partition, kerr.CoordinatorNotAvailable)
}

// coordinator is the node leading txnID's partition of the transaction
// state topic.
func (v *Verifier) coordinator(txnID string) (int32, error) {
	t := v.Meta.State().Topics[v.Topic]
	if t == nil || len(t.Partitions) == 0 {
		return -1, fmt.Errorf("verify transaction %q: %s does not exist: %w", txnID, v.Topic, kerr.CoordinatorNotAvailable)
	}
	p := v.PartitionFor(txnID, int32(len(t.Partitions)))
	if p < 0 || int(p) >= len(t.Partitions) || t.Partitions[p].Leader < 0 {
		return -1, fmt.Errorf("verify transaction %q: %s/%d has no leader: %w", txnID, v.Topic, p, kerr.CoordinatorNotAvailable)
	}
	return t.Partitions[p].Leader, nil
}
