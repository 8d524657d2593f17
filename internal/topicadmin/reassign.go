package topicadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionReassignment is one partition's reassignment in progress, as
// ListPartitionReassignments answers it.
type PartitionReassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"` // the target followed by the removing replicas
	Adding    []int32 `json:"adding_replicas"`
	Removing  []int32 `json:"removing_replicas"`
}

// MovePartition starts moving topic/partition to the target replicas
// (AlterPartitionReassignments); with target nil it cancels the
// partition's reassignment instead.
func (c *Client) MovePartition(ctx context.Context, topic string, partition int32, target []int32) error {
	op := fmt.Sprintf("move %s/%d", topic, partition)
	var req kadm.AlterPartitionAssignmentsReq
	if target == nil {
		op = fmt.Sprintf("cancel the move of %s/%d", topic, partition)
		req.CancelAssign(topic, partition)
	} else {
		req.Assign(topic, partition, target)
	}
	resp, err := c.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		var em *kadm.ErrAndMessage
		msg := ""
		if errors.As(err, &em) {
			msg = em.ErrMessage
		}
		return c.explainAPI(ctx, op, "AlterPartitionReassignments", err, msg)
	}
	r, ok := resp[topic][partition]
	if !ok {
		return fmt.Errorf("%s: the broker's answer does not name the partition", op)
	}
	if r.Err != nil {
		return c.explain(ctx, op, topic, r.Err, r.ErrMessage)
	}
	return nil
}

// Reassignments lists the reassignments in progress, of every partition
// (ListPartitionReassignments with null topics, which kadm cannot send).
func (c *Client) Reassignments(ctx context.Context) ([]PartitionReassignment, error) {
	const op = "list partition reassignments"
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.explainAPI(ctx, op, "ListPartitionReassignments", err, "")
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		return nil, c.explain(ctx, op, "", err, msg)
	}
	out := []PartitionReassignment{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, PartitionReassignment{Topic: t.Topic, Partition: p.Partition,
				Replicas: p.Replicas, Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
		}
	}
	slices.SortFunc(out, func(a, b PartitionReassignment) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// WaitMoved polls every poll until topic/partition is no longer being
// reassigned, calling progress with each listing of it that is.
func (c *Client) WaitMoved(ctx context.Context, topic string, partition int32, poll time.Duration, progress func(PartitionReassignment)) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		all, err := c.Reassignments(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(r PartitionReassignment) bool { return r.Topic == topic && r.Partition == partition })
		if i < 0 {
			return nil
		}
		if progress != nil {
			progress(all[i])
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s/%d to move: %w (the move goes on; `chronik partition reassignments` shows it)", topic, partition, ctx.Err())
		case <-t.C:
		}
	}
}
