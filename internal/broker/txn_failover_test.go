package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestTransactionCoordinatorFailover: the coordinator of an open
// transaction stops; the leader of its __transaction_state partition on
// another node loads the transaction (replicated, RF 3) and the producer
// commits it there: read_committed consumers get every record once, and the
// new coordinator describes the id as committed with the same producer id.
func TestTransactionCoordinatorFailover(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	ctx := testharness.Context(t, 90*time.Second)
	if _, err := inproc.Admin(t, c.KafkaAddrs()).CreateTopic(ctx, 3, 3, nil, "fo"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("fo", 3)
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.TransactionalID("tx-failover"), kgo.DefaultProduceTopic("fo"),
		kgo.TransactionTimeout(60*time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceInTxn(t, ctx, cl, "fo", "before", 6)
	pid, _, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey, find.CoordinatorType = "tx-failover", 1
	fr, err := find.RequestWith(ctx, inproc.Client(t, c.KafkaAddrs()))
	if err != nil || fr.ErrorCode != 0 {
		t.Fatalf("find coordinator: %+v %v", fr, err)
	}
	old := int(fr.NodeID) - 1
	c.Stop(old)
	t.Logf("stopped the coordinator, node %d", old+1)

	produceInTxn(t, ctx, cl, "fo", "after", 3)
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit on the new coordinator: %v", err)
	}
	got := readValues(t, c, "fo", 9, kgo.ReadCommitted())
	for i := range 6 {
		if got[fmt.Sprintf("before-%d", i)] != 1 {
			t.Errorf("before-%d read %d times", i, got[fmt.Sprintf("before-%d", i)])
		}
	}
	if len(got) != 9 {
		t.Errorf("read %d distinct records, want 9: %v", len(got), got)
	}
	raw := inproc.Client(t, c.KafkaAddrs())
	testharness.Eventually(t, 20*time.Second, "the new coordinator describes the transaction as committed", func() bool {
		fr, err := find.RequestWith(ctx, raw)
		if err != nil || fr.ErrorCode != 0 || int(fr.NodeID)-1 == old {
			return false
		}
		d := kmsg.NewPtrDescribeTransactionsRequest()
		d.TransactionalIDs = []string{"tx-failover"}
		resp, err := raw.Broker(int(fr.NodeID)).Request(ctx, d)
		if err != nil {
			return false
		}
		s := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
		return s.ErrorCode == 0 && s.State == "CompleteCommit" && s.ProducerID == pid
	})
}

// produceInTxn produces n records prefix-i round robin over 3 partitions in
// the producer's open transaction and waits for each.
func produceInTxn(t *testing.T, ctx context.Context, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s-%d: %v", prefix, i, err)
		}
	}
}

// readValues reads topic from the start at the isolation level until it
// has want records, and counts each value.
func readValues(t *testing.T, c *inproc.Cluster, topic string, want int, level kgo.IsolationLevel) map[string]int {
	t.Helper()
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testharness.Context(t, 30*time.Second)
	got, n := map[string]int{}, 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", n, want, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
	}
	return got
}

// TestTransactionTimeoutAborts: a producer that opens a transaction and
// goes silent has it aborted by the coordinator once transaction.timeout.ms
// passes: read_committed consumers get past it (the LSO moves on) without
// its records, and the producer, fenced by the abort's epoch bump, cannot
// commit it.
func TestTransactionTimeoutAborts(t *testing.T) {
	cfg := inproc.Config(t)
	broker.WithTxnAbortInterval(&cfg, 100*time.Millisecond)
	n := inproc.StartNode(t, cfg)
	createTopic(t, inproc.NodeAdmin(t, n), "to", 1, nil)
	ctx := testharness.Context(t, 60*time.Second)
	stuck := inproc.NodeClient(t, n, kgo.TransactionalID("tx-stuck"), kgo.DefaultProduceTopic("to"),
		kgo.TransactionTimeout(time.Second))
	if err := stuck.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := stuck.ProduceSync(ctx, &kgo.Record{Value: []byte("stuck")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("to"))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// "after" is readable committed only once the stuck transaction ends.
	c := inproc.NodeClient(t, n, kgo.ConsumeTopics("to"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) == 0 && ctx.Err() == nil {
		c.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "after" {
		t.Fatalf("read_committed after the timeout: %q, want [after]", got)
	}
	if err := stuck.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the timed-out transaction committed")
	} else {
		t.Logf("commit after the timeout: %v", err)
	}
	// The markers are written before the abort is recorded complete.
	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{"tx-stuck"}
	raw := inproc.NodeClient(t, n)
	var state string
	testharness.Eventually(t, 20*time.Second, "tx-stuck in CompleteAbort", func() bool {
		dr, err := d.RequestWith(ctx, raw)
		if err == nil && len(dr.TransactionStates) == 1 {
			state = dr.TransactionStates[0].State
		}
		return state == "CompleteAbort"
	}, func() string { return state })
}
