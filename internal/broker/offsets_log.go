package broker

import (
	"context"
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// offsetsLog stores the group coordinator's records in the partitions of
// __consumer_offsets, like any other topic's data.
type offsetsLog struct {
	replicas   *replica.Manager
	controller *controller.Controller
	// verifier asks transaction coordinators about TxnOffsetCommit
	// batches (AppendTxn); nil refuses them (INVALID_TXN_STATE).
	verifier replica.TxnVerifier
}

func (o *offsetsLog) partition(ctx context.Context, p int32, create bool) (*replica.Partition, error) {
	if create {
		if _, err := o.controller.EnsureTopic(ctx, controller.OffsetsTopic); err != nil {
			return nil, fmt.Errorf("create %s: %w", controller.OffsetsTopic, err)
		}
	}
	return o.replicas.Get(controller.OffsetsTopic, p), nil
}

// Append writes the batch and returns once it is committed, with its base
// offset.
func (o *offsetsLog) Append(ctx context.Context, partition int32, b []byte) (int64, error) {
	return o.append(ctx, partition, b, replica.TxnProduce{})
}

// AppendTxn writes a TxnOffsetCommit's transactional batch; the replica
// verifies it with the transaction coordinator as any transactional
// produce.
func (o *offsetsLog) AppendTxn(ctx context.Context, partition int32, txnID string, b []byte) (int64, error) {
	return o.append(ctx, partition, b, replica.TxnProduce{TransactionalID: txnID, Verifier: o.verifier})
}

func (o *offsetsLog) append(ctx context.Context, partition int32, b []byte, tp replica.TxnProduce) (int64, error) {
	p, err := o.partition(ctx, partition, true)
	if err != nil {
		return -1, err
	}
	if p == nil {
		return -1, fmt.Errorf("%s partition %d does not exist", controller.OffsetsTopic, partition)
	}
	if !p.IsLeader() {
		return -1, fmt.Errorf("%s-%d is not led by this node", controller.OffsetsTopic, partition)
	}
	res, err := p.AppendTxn(ctx, b, tp)
	if err != nil {
		return -1, fmt.Errorf("append to %s-%d: %w", controller.OffsetsTopic, partition, err)
	}
	if res.Duplicate {
		// Only transactional offset commits carry a producer id here; a
		// duplicate means the coordinator reused a sequence after a write
		// whose outcome it did not learn: these records were not written.
		return -1, fmt.Errorf("append to %s-%d: batch taken for a duplicate of offset %d", controller.OffsetsTopic, partition, res.BaseOffset)
	}
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		return -1, fmt.Errorf("commit to %s-%d: %w: %w", controller.OffsetsTopic, partition, group.ErrNotCommitted, err)
	}
	return res.BaseOffset, nil
}

// Scan replays a partition; a topic not created yet has nothing to replay.
func (o *offsetsLog) Scan(ctx context.Context, partition int32, fn func([]byte) error) error {
	p, _ := o.partition(ctx, partition, false)
	if p == nil || !p.IsLeader() {
		return nil
	}
	return p.ScanBatches(p.LogStartOffset(), func(_ batch.Header, b []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(b)
	})
}
