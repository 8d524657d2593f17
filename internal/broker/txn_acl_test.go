package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestTransactionACLs: the coordinator's APIs check ACLs as Kafka's
// KafkaApis: WRITE on the transactional id to use it, WRITE on each topic
// added, DESCRIBE on the id to find, describe or list it.
func TestTransactionACLs(t *testing.T) {
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	for _, topic := range []string{"orders", "secrets"} {
		if err := aclCreateTopic(t, root, topic); err != nil {
			t.Fatal(err)
		}
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-a").Operations(kadm.OpWrite, kadm.OpDescribe))
	ctx := aclCtx(t)

	alice := an.client(t, "alice", kgo.TransactionalID("tx-a"), kgo.DefaultProduceTopic("orders"))
	if err := alice.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("alice produces in tx-a: %v", err)
	}
	pid, epoch, err := alice.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("alice commits tx-a: %v", err)
	}

	raw := an.client(t, "alice")
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "tx-a", pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "orders", Partitions: []int32{0}}, {Topic: "secrets", Partitions: []int32{0}}}
	for _, rt := range direct[*kmsg.AddPartitionsToTxnResponse](t, raw, add).Topics {
		want := kerr.OperationNotAttempted.Code
		if rt.Topic == "secrets" {
			want = kerr.TopicAuthorizationFailed.Code
		}
		if rt.Partitions[0].ErrorCode != want {
			t.Errorf("alice adds %s: %v, want %v", rt.Topic, kerr.ErrorForCode(rt.Partitions[0].ErrorCode), kerr.ErrorForCode(want))
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = 1, "tx-b", []string{"tx-b"}
	if r := direct[*kmsg.FindCoordinatorResponse](t, raw, fc); r.Coordinators[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("alice finds tx-b's coordinator: %v", kerr.ErrorForCode(r.Coordinators[0].ErrorCode))
	}
	list := kmsg.NewPtrListTransactionsRequest()
	if r := direct[*kmsg.ListTransactionsResponse](t, raw, list); len(r.TransactionStates) != 1 || r.TransactionStates[0].TransactionalID != "tx-a" {
		t.Errorf("alice lists: %+v", r.TransactionStates)
	}

	bob := an.client(t, "bob")
	init := kmsg.NewPtrInitProducerIDRequest()
	id := "tx-a"
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	if r := direct[*kmsg.InitProducerIDResponse](t, bob, init); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("bob's InitProducerId for tx-a: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx-a", pid, epoch, false
	if r := direct[*kmsg.EndTxnResponse](t, bob, end); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("bob's EndTxn for tx-a: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := direct[*kmsg.ListTransactionsResponse](t, bob, list); len(r.TransactionStates) != 0 {
		t.Errorf("bob lists ids he may not describe: %+v", r.TransactionStates)
	}
	desc := kmsg.NewPtrDescribeTransactionsRequest()
	desc.TransactionalIDs = []string{"tx-a"}
	if r := direct[*kmsg.DescribeTransactionsResponse](t, bob, desc); r.TransactionStates[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("bob describes tx-a: %+v", r.TransactionStates[0])
	}
	// EndTxn answers before the markers; the end is recorded after them.
	testharness.Eventually(t, 20*time.Second, "alice describes tx-a as committed", func() bool {
		r := direct[*kmsg.DescribeTransactionsResponse](t, raw, desc)
		return r.TransactionStates[0].ErrorCode == 0 && r.TransactionStates[0].State == "CompleteCommit"
	})
}
