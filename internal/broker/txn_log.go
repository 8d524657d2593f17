package broker

import (
	"context"
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// txnLog stores the transaction coordinator's records in the partitions of
// __transaction_state, like any other topic's data.
type txnLog struct {
	replicas *replica.Manager
}

// Append writes the batch and returns once it is committed, if this node
// still leads the partition at the coordinator's epoch: a coordinator whose
// partition moved away and back must reload before it writes again.
func (l *txnLog) Append(ctx context.Context, partition int32, coordinatorEpoch int32, b []byte) error {
	p := l.replicas.Get(controller.TransactionStateTopic, partition)
	if p == nil || !p.IsLeader() || p.LeaderEpoch() != coordinatorEpoch {
		return fmt.Errorf("%s-%d is not led by this node at epoch %d", controller.TransactionStateTopic, partition, coordinatorEpoch)
	}
	res, err := p.Append(b)
	if err != nil {
		return fmt.Errorf("append to %s-%d: %w", controller.TransactionStateTopic, partition, err)
	}
	if res.LeaderEpoch != coordinatorEpoch {
		return fmt.Errorf("%s-%d: leader epoch moved to %d", controller.TransactionStateTopic, partition, res.LeaderEpoch)
	}
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		return fmt.Errorf("commit to %s-%d: %w", controller.TransactionStateTopic, partition, err)
	}
	return nil
}

// Scan replays a partition led here.
func (l *txnLog) Scan(ctx context.Context, partition int32, fn func([]byte) error) error {
	p := l.replicas.Get(controller.TransactionStateTopic, partition)
	if p == nil || !p.IsLeader() {
		return fmt.Errorf("%s-%d is not led by this node", controller.TransactionStateTopic, partition)
	}
	return p.ScanBatches(p.LogStartOffset(), func(_ batch.Header, b []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(b)
	})
}
