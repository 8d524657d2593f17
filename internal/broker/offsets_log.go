package broker

import (
	"context"
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// offsetsLog stores the group coordinator's records in the partitions of
// __consumer_offsets, like any other topic's data.
type offsetsLog struct {
	replicas   *replica.Manager
	controller *controller.Controller
}

func (o *offsetsLog) partition(ctx context.Context, p int32, create bool) (*replica.Partition, error) {
	if create {
		if _, err := o.controller.EnsureTopic(ctx, controller.OffsetsTopic); err != nil {
			return nil, fmt.Errorf("create %s: %w", controller.OffsetsTopic, err)
		}
	}
	return o.replicas.Get(controller.OffsetsTopic, p), nil
}

// Append writes the batch and returns once it is committed.
func (o *offsetsLog) Append(ctx context.Context, partition int32, b []byte) error {
	p, err := o.partition(ctx, partition, true)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("%s partition %d does not exist", controller.OffsetsTopic, partition)
	}
	if !p.IsLeader() {
		return fmt.Errorf("%s-%d is not led by this node", controller.OffsetsTopic, partition)
	}
	res, err := p.Append(b)
	if err != nil {
		return fmt.Errorf("append to %s-%d: %w", controller.OffsetsTopic, partition, err)
	}
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		return fmt.Errorf("commit to %s-%d: %w", controller.OffsetsTopic, partition, err)
	}
	return nil
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
