package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// allowTxn is a coordinator that confirms every partition.
type allowTxn struct{}

func (allowTxn) VerifyTxnPartition(context.Context, string, int64, int16, string, int32) error {
	return nil
}

// openTxn appends one transactional batch of producer pid (epoch 0) to p,
// as a produce the coordinator confirmed would, and returns its offset.
func openTxn(t *testing.T, p *replica.Partition, pid int64, seq int32) int64 {
	t.Helper()
	b := batch.Build(time.Now().UnixMilli(), []batch.Record{{Key: []byte("k"), Value: []byte("v")}})
	batch.SetProducer(b, pid, 0, seq, true, false)
	ctx := testharness.Context(t, 5*time.Second)
	res, err := p.AppendTxn(ctx, b, replica.TxnProduce{TransactionalID: "tx", Verifier: allowTxn{}})
	if err != nil {
		t.Fatalf("transactional append of producer %d: %v", pid, err)
	}
	// As an acks=all produce does: the LSO and the markers follow the HW.
	if err := p.WaitCommitted(ctx, res.LastOffset+1, p.Role().LeaderEpoch); err != nil {
		t.Fatalf("commit producer %d's batch: %v", pid, err)
	}
	return res.BaseOffset
}

// What the admin API and /metrics read of transactions, and the operator's
// abort: by start offset (the producer's id, epoch and last coordinator
// epoch taken from the replica) and by producer, with the replica's fencing.
func TestAbortTransactionOnNode(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "pay", 1, nil)
	var p *replica.Partition
	testharness.Eventually(t, 10*time.Second, "pay-0 led here", func() bool {
		p = n.ReplicaForTest("pay", 0)
		return p != nil && p.IsLeader()
	})
	ctx := testharness.Context(t, 20*time.Second)

	if got := scrape(t, n).must(t, "chronik_txn_oldest_age_seconds"); got != 0 {
		t.Errorf("oldest age %v without transactions", got)
	}
	first := openTxn(t, p, 4001, 0)
	second := openTxn(t, p, 4002, 0)
	tx, ok := n.PartitionTxns("pay", 0)
	if !ok || tx.LastStableOffset != first || len(tx.Ongoing) != 2 || tx.Ongoing[0].ProducerID != 4001 || tx.Ongoing[1].FirstOffset != second {
		t.Fatalf("partition txns %+v %v", tx, ok)
	}
	if _, ok := n.PartitionTxns("pay", 7); ok {
		t.Error("a partition that does not run here reported transactions")
	}
	m := scrape(t, n)
	if got := m.must(t, "chronik_partition_ongoing_transactions", "topic", "pay", "partition", "0"); got != 2 {
		t.Errorf("ongoing transactions %v, want 2", got)
	}
	if got := m.must(t, "chronik_partitions_with_ongoing_transactions"); got != 1 {
		t.Errorf("partitions with transactions %v", got)
	}
	if got := m.must(t, "chronik_txn_oldest_age_seconds"); got <= 0 || got > 60 {
		t.Errorf("oldest age %v", got)
	}

	// Refusals change nothing.
	for _, tc := range []struct {
		req  broker.AbortTxnRequest
		want error
	}{
		{broker.AbortTxnRequest{Topic: "nope", Partition: 0, StartOffset: 0}, broker.ErrUnknownPartition},
		{broker.AbortTxnRequest{Topic: "pay", Partition: 3, StartOffset: 0}, broker.ErrUnknownPartition},
		{broker.AbortTxnRequest{Topic: "pay", Partition: 0, StartOffset: second + 5}, broker.ErrNoSuchTxn},
	} {
		if _, err := n.AbortTransaction(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.req, err, tc.want)
		}
	}
	if tx, _ := n.PartitionTxns("pay", 0); len(tx.Ongoing) != 2 || p.LogEndOffset() != second+1 {
		t.Fatalf("a refusal changed the partition: %+v, log end %d", tx, p.LogEndOffset())
	}

	// By start offset: producer 4001's transaction ends, the LSO moves to
	// the next open one.
	res, err := n.AbortTransaction(ctx, broker.AbortTxnRequest{Topic: "pay", Partition: 0, StartOffset: first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Marker != (replica.TxnMarker{ProducerID: 4001, ProducerEpoch: 0, CoordinatorEpoch: 0}) || res.LastStableOffset != second {
		t.Fatalf("abort by offset: %+v", res)
	}
	if ab := p.AbortedTxns(0, p.HighWatermark()); len(ab) != 1 || ab[0].ProducerID != 4001 || ab[0].FirstOffset != first {
		t.Fatalf("aborted index %+v", ab)
	}

	// By producer, with a coordinator epoch; afterwards an older one is fenced.
	res, err = n.AbortTransaction(ctx, broker.AbortTxnRequest{Topic: "pay", Partition: 0, StartOffset: -1, ProducerID: 4002, CoordinatorEpoch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.LastStableOffset != p.HighWatermark() {
		t.Fatalf("LSO %d after the last abort, HW %d", res.LastStableOffset, p.HighWatermark())
	}
	next := openTxn(t, p, 4002, 1)
	_, err = n.AbortTransaction(ctx, broker.AbortTxnRequest{Topic: "pay", Partition: 0, StartOffset: -1, ProducerID: 4002, CoordinatorEpoch: 2})
	if !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Fatalf("older coordinator epoch: %v", err)
	}
	// By offset, the replica's last coordinator epoch for the producer is used.
	res, err = n.AbortTransaction(ctx, broker.AbortTxnRequest{Topic: "pay", Partition: 0, StartOffset: next})
	if err != nil || res.Marker.CoordinatorEpoch != 3 {
		t.Fatalf("abort by offset after a marker with coordinator epoch 3: %+v %v", res, err)
	}
	m = scrape(t, n)
	if _, ok := m.value("chronik_partition_ongoing_transactions", "topic", "pay", "partition", "0"); ok {
		t.Error("a partition without open transactions has an ongoing-transactions series")
	}
	if got := m.must(t, "chronik_txn_oldest_age_seconds"); got != 0 {
		t.Errorf("oldest age %v after every transaction ended", got)
	}
}
