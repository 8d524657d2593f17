package controller

import (
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTransactionStateTopic: __transaction_state is created on first use,
// internal, compacted, with --transaction-state-partitions partitions (50
// when unset), and clients cannot create it themselves.
func TestTransactionStateTopic(t *testing.T) {
	ctx := t.Context()
	md := newFakeMeta(1)
	c := limitedController(md, Limits{})
	if _, err := c.CreateTopic(ctx, CreateTopic{Name: TransactionStateTopic, Partitions: 1, ReplicationFactor: 1}); Code(err) != kerr.InvalidRequest {
		t.Fatalf("client create of %s: %v", TransactionStateTopic, err)
	}
	tp, err := c.EnsureTopic(ctx, TransactionStateTopic)
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Internal || len(tp.Partitions) != 50 || !maps.Equal(tp.Configs, map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}) {
		t.Fatalf("topic: internal %v, %d partitions, configs %v", tp.Internal, len(tp.Partitions), tp.Configs)
	}
	c2 := limitedController(newFakeMeta(1), Limits{})
	c2.opts.TransactionStatePartitions = 7
	if tp, err := c2.EnsureTopic(ctx, TransactionStateTopic); err != nil || len(tp.Partitions) != 7 {
		t.Fatalf("with 7 configured: %v", err)
	}
}
