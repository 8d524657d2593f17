package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestTransactionsRefused: a transactional producer fails with an error
// instead of hanging or pretending, and the transaction APIs answer with
// INVALID_PRODUCER_ID_MAPPING.
func TestTransactionsRefused(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "txn", 1, nil)
	cl := inproc.NodeClient(t, n, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"),
		kgo.RecordRetries(2), kgo.RequestRetries(2))
	ctx := testharness.Context(t, 20*time.Second)
	// franz-go initialises the producer id eagerly, so the refusal may
	// surface at BeginTransaction or at the first produce.
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	if err == nil {
		t.Fatal("transactional produce succeeded; transactions are not supported")
	}
	if ctx.Err() != nil {
		t.Fatalf("transactional produce hung until the deadline: %v", err)
	}
	t.Logf("transactional producer error: %v", err)

	// Straight to the broker: the client would first look for a transaction
	// coordinator, which is refused.
	raw := inproc.NodeClient(t, n).Broker(1)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx-1", 1, 0, true
	kresp, err := raw.Request(ctx, end)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.EndTxnResponse)
	if resp.ErrorCode != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("EndTxn error %d, want INVALID_PRODUCER_ID_MAPPING", resp.ErrorCode)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	txn := "tx-1"
	init.TransactionalID = &txn
	kiresp, err := raw.Request(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	iresp := kiresp.(*kmsg.InitProducerIDResponse)
	if iresp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("InitProducerID with a transactional id: error %d, want INVALID_REQUEST", iresp.ErrorCode)
	}
}
