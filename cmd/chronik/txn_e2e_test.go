package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// `chronik txn` against a real node with a live transaction of a franz-go
// producer: list and describe show it at its coordinator; find-hanging
// does not call it hanging however old (its coordinator has it open with
// the partition in it); the admin API shows it on the partition; abort
// through the leader's admin API ends it there (the token required).
func TestTxnCommandsE2E(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	cfg.TransactionStatePartitions = 1
	cfg.AdminToken = "tok"
	cfg.AdminHandler = server.HandlerFor(cfg.Logger, cfg.AdminToken)
	n := inproc.StartNode(t, cfg)
	brokers := n.Addrs().Kafka
	admin := "http://" + n.Addrs().Admin
	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	cli.run(exitOK, "", "topic", "create", "pay", "--partitions", "1", "--brokers", brokers)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.TransactionalID("pay-tx"), kgo.DefaultProduceTopic("pay"),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := testharness.Context(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var listed []api.TxnListing
	cli.json(&listed, "txn", "list", "--brokers", brokers)
	i := slices.IndexFunc(listed, func(l api.TxnListing) bool { return l.TransactionalID == "pay-tx" })
	if i < 0 || listed[i].State != "Ongoing" || listed[i].Coordinator != n.NodeID() || listed[i].DurationSeconds == nil {
		t.Fatalf("txn list: %+v", listed)
	}
	var described []api.TxnDescription
	cli.json(&described, "txn", "describe", "pay-tx", "--brokers", brokers)
	if len(described) != 1 || described[0].State != "Ongoing" || described[0].TimeoutMs != 60000 ||
		!slices.Equal(described[0].Partitions, []api.TopicPartition{{Topic: "pay", Partition: 0}}) || described[0].StartTimestampMs <= 0 {
		t.Fatalf("txn describe: %+v", described)
	}
	// The node's admin API lists it among its coordinator's open transactions.
	node, err := client.New(admin, http.DefaultClient).Node(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tx := node.Data.Transactions; tx == nil || tx.Coordinator == nil || tx.Coordinator.OpenTotal != 1 ||
		tx.Coordinator.Open[0].TransactionalID != "pay-tx" || tx.Coordinator.Open[0].State != "Ongoing" || tx.Coordinator.Open[0].Partitions != 1 {
		t.Fatalf("node transactions %+v", node.Data.Transactions)
	}
	out, errOut := cli.run(exitError, "", "txn", "describe", "pay-tx", "nobody-tx", "--brokers", brokers)
	if !strings.Contains(out, "Transactional id: pay-tx") || !strings.Contains(errOut, `transactional id "nobody-tx"`) {
		t.Fatalf("describe of an unknown id: %s / %s", out, errOut)
	}

	// Older than any max timeout, but its coordinator has it open: the
	// partition reports it (so find-hanging has a candidate), the
	// coordinator clears it.
	time.Sleep(5 * time.Millisecond) // the producer's last write must be older than the 1 ms given below
	dp, err := kadm.NewClient(cl).DescribeProducers(ctx, kadm.TopicsSet{"pay": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ps := dp.SortedProducers()
	if len(ps) != 1 || ps[0].CurrentTxnStartOffset != 0 || ps[0].LastTimestamp <= 0 {
		t.Fatalf("DescribeProducers: %+v", ps)
	}
	var hanging []api.HangingTransaction
	cli.json(&hanging, "txn", "find-hanging", "--topic", "pay", "--max-transaction-timeout", "1ms", "--brokers", brokers)
	if len(hanging) != 0 {
		t.Fatalf("a live transaction called hanging: %+v", hanging)
	}

	// The merged rows carry the leader's transactions.
	var rep struct {
		Partitions []api.PartitionRow `json:"partitions"`
	}
	cli.json(&rep, "isr", "describe", "pay", "--admin", admin)
	rows := rep.Partitions
	if len(rows) != 1 || rows[0].LastStableOffset == nil || *rows[0].LastStableOffset != 0 || len(rows[0].OngoingTransactions) != 1 ||
		rows[0].OngoingTransactions[0].FirstOffset != 0 {
		t.Fatalf("isr describe rows: %+v", rows)
	}

	cli.env = map[string]string{EnvAdminToken: "wrong"}
	cli.run(exitError, "", "txn", "abort", "--topic", "pay", "--partition", "0", "--start-offset", "0", "--admin", admin)
	cli.env = map[string]string{EnvAdminToken: "tok"}
	var res api.AbortTransactionResult
	cli.json(&res, "txn", "abort", "--topic", "pay", "--partition", "0", "--start-offset", "0", "--admin", admin)
	if res.ProducerID != rows[0].OngoingTransactions[0].ProducerID || res.LastStableOffset < 2 {
		t.Fatalf("abort: %+v", res)
	}
	cli.json(&rep, "isr", "describe", "pay", "--admin", admin)
	rows = rep.Partitions
	if len(rows) != 1 || rows[0].LastStableOffset == nil || *rows[0].LastStableOffset != rows[0].HighWatermark || len(rows[0].OngoingTransactions) != 0 {
		t.Fatalf("after the abort: %+v", rows)
	}
	// The producer's own end still works (its marker ends nothing now).
	if err := cl.EndTransaction(context.Background(), kgo.TryAbort); err != nil {
		t.Fatalf("end the aborted transaction: %v", err)
	}
}
