package broker

import (
	"context"
	"errors"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// The node's side of the transaction coordinator (package txn): its state
// lives in __transaction_state, and a node coordinates the transactional ids
// of the partitions of it that it leads, moving with leadership like the
// group coordinator.

// newTxnCoordinator builds the coordinator over this node's replicas; it
// needs the controller, the group coordinator and the inter-broker clients.
func (n *Node) newTxnCoordinator() *txn.Coordinator {
	cfg := n.cfg
	return txn.New(txn.Config{
		Partitions:       cfg.TransactionStatePartitions,
		PartitionCount:   n.txnStatePartitions,
		MaxTimeout:       cfg.TransactionMaxTimeout,
		IDExpiration:     cfg.TransactionalIDExpiration,
		AbortInterval:    cfg.testTxnAbortInterval,
		NextProducerID:   n.controller.NextProducerID,
		Markers:          n.txnMarkerWriter(),
		PartitionExists:  n.partitionExists,
		OffsetsTopic:     controller.OffsetsTopic,
		OffsetsPartition: n.groups.Partition,
		Owns:             n.leadsTxnPartition,
		Logger:           n.logger,
	}, &txnLog{replicas: n.replicas})
}

// txnStatePartitions is the partition count of __transaction_state as it
// exists, 0 before it is created.
func (n *Node) txnStatePartitions() int32 {
	if t, ok := n.raft.State().Topics[controller.TransactionStateTopic]; ok {
		return int32(len(t.Partitions))
	}
	return 0
}

// partitionExists reports whether the metadata has topic/partition.
func (n *Node) partitionExists(topic string, partition int32) bool {
	t, ok := n.raft.State().Topics[topic]
	return ok && partition >= 0 && int(partition) < len(t.Partitions)
}

// leadsTxnPartition is the live view of whether this node leads partition p
// of __transaction_state (it may turn false before the reconciler unloads).
func (n *Node) leadsTxnPartition(p int32) bool {
	r := n.replicas.Get(controller.TransactionStateTopic, p)
	return r != nil && r.IsLeader()
}

// syncTxnCoordination makes the transaction coordinator serve exactly the
// ids of the __transaction_state partitions this node leads, each loaded at
// its current leader epoch (the coordinator epoch its markers carry): a
// partition led at a new epoch is reloaded. coordinated maps the loaded
// partitions to their epoch. It reports whether every led partition is
// loaded.
func (n *Node) syncTxnCoordination(ctx context.Context, coordinated map[int32]int32) bool {
	led := map[int32]int32{}
	for _, p := range n.replicas.Partitions(controller.TransactionStateTopic) {
		if p.IsLeader() {
			led[p.Index] = p.LeaderEpoch()
		}
	}
	for p, epoch := range coordinated {
		if e, ok := led[p]; !ok || e != epoch {
			n.txns.UnloadPartition(p)
			delete(coordinated, p)
			n.logger.Info("stopped coordinating the transactions of a transaction state partition", "partition", p)
		}
	}
	ok := true
	for p, epoch := range led {
		if _, done := coordinated[p]; done {
			continue
		}
		if err := n.txns.LoadPartition(ctx, p, epoch); err != nil {
			if !errors.Is(err, txn.ErrSuperseded) && ctx.Err() == nil {
				n.logger.Error("load transaction state; retrying", "partition", p, "err", err)
			}
			ok = false
			continue
		}
		coordinated[p] = epoch
		n.logger.Info("coordinating the transactions of a transaction state partition", "partition", p, "coordinator_epoch", epoch)
	}
	return ok
}
