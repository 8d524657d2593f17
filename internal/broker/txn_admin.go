package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// Transactions as the admin API reads them, and the operator's abort of a
// hanging transaction (POST /v1/transactions/abort; kafka-transactions.sh
// abort in Kafka). The abort writes the ABORT marker a coordinator would
// have written, on this node, which must lead the partition.

// TransactionMaxTimeout is --transaction-max-timeout: no transaction may
// ask for a longer timeout, so one open longer on a partition is hanging.
func (n *Node) TransactionMaxTimeout() time.Duration { return n.cfg.TransactionMaxTimeout }

// CoordinatedTxns are the transactional ids this node coordinates, as its
// transaction coordinator lists them; nil before the coordinator exists.
func (n *Node) CoordinatedTxns() []txn.TxnSummary {
	if n.txns == nil {
		return nil
	}
	return n.txns.List(txn.ListFilter{})
}

// TxnOpen reports whether a coordinator state means the transaction is
// open (its markers are not all written).
func TxnOpen(s txn.State) bool {
	return s == txn.StateOngoing || s == txn.StatePrepareCommit || s == txn.StatePrepareAbort
}

// PartitionTxns is what a replica running here knows of transactions.
type PartitionTxns struct {
	LastStableOffset int64
	Ongoing          []replica.OngoingTxn // oldest first
}

// PartitionTxns reports the transactions of the topic-partition replica
// running here; false when none runs.
func (n *Node) PartitionTxns(topic string, partition int32) (PartitionTxns, bool) {
	p := n.replicas.Get(topic, partition)
	if p == nil {
		return PartitionTxns{}, false
	}
	return PartitionTxns{LastStableOffset: p.LastStableOffset(), Ongoing: p.OngoingTxns()}, true
}

// AbortTxnRequest names the transaction to abort on one partition: the one
// open from StartOffset (when >= 0), or the producer's (ProducerID,
// ProducerEpoch, CoordinatorEpoch).
type AbortTxnRequest struct {
	Topic            string
	Partition        int32
	StartOffset      int64 // -1: use the producer fields
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
}

// AbortTxnResult is the marker written and the partition's LSO after it.
type AbortTxnResult struct {
	Marker           replica.TxnMarker
	LastStableOffset int64
}

// NotLeaderError refuses an abort on a node that does not lead the
// partition; Leader is the leader this node knows (-1: none).
type NotLeaderError struct {
	Topic     string
	Partition int32
	Leader    int32
}

func (e *NotLeaderError) Error() string {
	if e.Leader < 0 {
		return fmt.Sprintf("%s-%d has no leader right now: try again once one is elected", e.Topic, e.Partition)
	}
	return fmt.Sprintf("this node does not lead %s-%d; its leader is node %d, ask that node", e.Topic, e.Partition, e.Leader)
}

// ErrUnknownPartition: no such partition in the metadata.
var ErrUnknownPartition = errors.New("unknown topic or partition")

// ErrNoSuchTxn: no transaction is open on the partition from the start
// offset given.
var ErrNoSuchTxn = errors.New("no transaction open at that offset")

// AbortTransaction writes an ABORT marker for the transaction req names on
// the partition this node leads and returns once it is committed. Refused
// with *NotLeaderError on any other node; the replica's own fencing
// (older producer or coordinator epoch) answers with its Kafka error.
func (n *Node) AbortTransaction(ctx context.Context, req AbortTxnRequest) (AbortTxnResult, error) {
	t := n.raft.State().Topics[req.Topic]
	if t == nil || req.Partition < 0 || int(req.Partition) >= len(t.Partitions) {
		return AbortTxnResult{}, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, req.Topic, req.Partition)
	}
	leader := t.Partitions[req.Partition].Leader
	p := n.replicas.Get(req.Topic, req.Partition)
	if leader != n.cfg.NodeID || p == nil || !p.IsLeader() {
		return AbortTxnResult{}, &NotLeaderError{Topic: req.Topic, Partition: req.Partition, Leader: leader}
	}
	m := replica.TxnMarker{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, CoordinatorEpoch: req.CoordinatorEpoch}
	if req.StartOffset >= 0 {
		// As kafka-transactions.sh abort --start-offset does with
		// DescribeProducers: the producer whose open transaction starts
		// there, its epoch, and its last marker's coordinator epoch (a new
		// marker must carry at least that one).
		found := false
		for _, pi := range p.Producers() {
			if pi.TxnStartOffset == req.StartOffset {
				m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, found = pi.ProducerID, pi.ProducerEpoch, max(pi.CoordinatorEpoch, 0), true
				break
			}
		}
		if !found {
			return AbortTxnResult{}, fmt.Errorf("%w: %s-%d has no transaction open from offset %d (its LSO is %d)",
				ErrNoSuchTxn, req.Topic, req.Partition, req.StartOffset, p.LastStableOffset())
		}
	}
	start := time.Now()
	if err := p.WriteTxnMarker(ctx, m); err != nil {
		return AbortTxnResult{}, fmt.Errorf("write abort marker for producer %d epoch %d on %s-%d: %w",
			m.ProducerID, m.ProducerEpoch, req.Topic, req.Partition, err)
	}
	n.logger.Warn("transaction aborted by an operator", "topic", req.Topic, "partition", req.Partition,
		"producer_id", m.ProducerID, "producer_epoch", m.ProducerEpoch, "coordinator_epoch", m.CoordinatorEpoch,
		"took", time.Since(start))
	return AbortTxnResult{Marker: m, LastStableOffset: p.LastStableOffset()}, nil
}
