package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestTransactionsCommitAndAbort: a franz-go transactional producer commits
// one transaction and aborts the next; a read_committed consumer sees
// exactly the committed records, a read_uncommitted one sees both, and the
// coordinator describes and lists the id with its final state.
func TestTransactionsCommitAndAbort(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "txn", 2, nil)
	ctx := testharness.Context(t, 60*time.Second)
	cl := inproc.NodeClient(t, n, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"),
		kgo.TransactionTimeout(30*time.Second))

	produce := func(prefix string, commit bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for i := range 10 {
			r := &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i), Partition: int32(i % 2)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", prefix, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s (commit %v): %v", prefix, commit, err)
		}
	}
	produce("committed", true)
	produce("aborted", false)
	produce("again", true)

	read := func(level kgo.IsolationLevel, want int) map[string]bool {
		t.Helper()
		c := inproc.NodeClient(t, n, kgo.ConsumeTopics("txn"), kgo.FetchIsolationLevel(level),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := map[string]bool{}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for len(got) < want && rctx.Err() == nil {
			c.PollFetches(rctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		}
		if len(got) != want {
			t.Fatalf("isolation %v: read %d records, want %d: %v", level, len(got), want, got)
		}
		return got
	}
	committed := read(kgo.ReadCommitted(), 20)
	for v := range committed {
		if v[:7] == "aborted" {
			t.Fatalf("read_committed returned an aborted record %q", v)
		}
	}
	read(kgo.ReadUncommitted(), 30)

	raw := inproc.NodeClient(t, n)
	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{"tx-1", "nobody"}
	var dr *kmsg.DescribeTransactionsResponse
	// EndTxn answers before the markers; the end is recorded after them.
	testharness.Eventually(t, 20*time.Second, "tx-1 in CompleteCommit", func() bool {
		var err error
		dr, err = d.RequestWith(ctx, raw)
		return err == nil && dr.TransactionStates[0].State == "CompleteCommit"
	}, func() string { return fmt.Sprintf("%+v", dr) })
	if s := dr.TransactionStates[0]; s.ErrorCode != 0 || s.ProducerID < 0 {
		t.Fatalf("describe tx-1: %+v", s)
	}
	if s := dr.TransactionStates[1]; s.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe an unknown id: %+v", s)
	}
	l := kmsg.NewPtrListTransactionsRequest()
	l.StateFilters = []string{"CompleteCommit", "Bogus"}
	lr, err := l.RequestWith(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if lr.ErrorCode != 0 || len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "tx-1" ||
		len(lr.UnknownStateFilters) != 1 {
		t.Fatalf("list: %+v", lr)
	}
}

// TestTransactionRequestsThatLie: requests naming producer ids, epochs or
// forms they have no right to get Kafka's errors and change nothing.
func TestTransactionRequestsThatLie(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "txn", 1, nil)
	ctx := testharness.Context(t, 30*time.Second)
	raw := inproc.NodeClient(t, n)

	id := "tx-lie"
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey, find.CoordinatorType = id, 1
	var fr *kmsg.FindCoordinatorResponse
	testharness.Eventually(t, 20*time.Second, "transaction coordinator found", func() bool {
		var err error
		fr, err = find.RequestWith(ctx, raw)
		return err == nil && fr.ErrorCode == 0
	})
	if fr.NodeID != 1 {
		t.Fatalf("coordinator %d, want 1", fr.NodeID)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = &id
	init.TransactionTimeoutMillis = int32((16 * time.Minute).Milliseconds())
	ir, err := init.RequestWith(ctx, raw)
	if err != nil || ir.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above --transaction-max-timeout: %+v %v", ir, err)
	}
	init.TransactionTimeoutMillis = 60000
	testharness.Eventually(t, 20*time.Second, "InitProducerId answered", func() bool {
		ir, err = init.RequestWith(ctx, raw)
		return err == nil && ir.ErrorCode == 0
	})
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid+1, epoch, true
	if er, err := end.RequestWith(ctx, raw); err != nil || er.ErrorCode != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("EndTxn with another producer id: %+v %v", er, err)
	}
	end.ProducerID, end.ProducerEpoch = pid, epoch+1
	if er, err := end.RequestWith(ctx, raw); err != nil || er.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("EndTxn with a future epoch: %+v %v", er, err)
	}

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "txn", Partitions: []int32{0}}, {Topic: "nope", Partitions: []int32{0}}}
	ar, err := add.RequestWith(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range ar.Topics {
		want := kerr.OperationNotAttempted.Code
		if rt.Topic == "nope" {
			want = kerr.UnknownTopicOrPartition.Code
		}
		if rt.Partitions[0].ErrorCode != want {
			t.Fatalf("AddPartitionsToTxn %s: %d, want %d", rt.Topic, rt.Partitions[0].ErrorCode, want)
		}
	}
	// The broker-only batched form, from a client.
	v4 := kmsg.NewPtrAddPartitionsToTxnRequest()
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = id, pid, epoch, true
	v4.Transactions = append(v4.Transactions, tr)
	v4.SetVersion(4)
	br, err := raw.Broker(1).Request(ctx, v4)
	if err != nil {
		t.Fatal(err)
	}
	if code := br.(*kmsg.AddPartitionsToTxnResponse).ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("v4 from a client: %d, want CLUSTER_AUTHORIZATION_FAILED", code)
	}
	// Nothing was added: committing is an invalid transition.
	end.ProducerID, end.ProducerEpoch = pid, epoch
	if er, err := end.RequestWith(ctx, raw); err != nil || er.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn with nothing added: %+v %v", er, err)
	}
}
