package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// The transaction coordinator's metrics follow a franz-go transactional
// producer: its id Ongoing while a transaction is open (with its age), then
// CompleteCommit; the partition's series while the transaction is open on it.
func TestMetricsTxnCoordinator(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.TransactionStatePartitions = 1
	n := inproc.StartNode(t, cfg)
	createTopic(t, inproc.NodeAdmin(t, n), "pay", 1, nil)
	cl := inproc.NodeClient(t, n, kgo.TransactionalID("pay-tx"), kgo.DefaultProduceTopic("pay"))
	ctx := testharness.Context(t, 30*time.Second)

	if _, ok := scrape(t, n).value("chronik_txn_coordinator_transactional_ids", "state", "Ongoing"); ok {
		t.Fatal("an Ongoing series before any transaction")
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, n)
	if got := m.must(t, "chronik_txn_coordinator_transactional_ids", "state", "Ongoing"); got != 1 {
		t.Errorf("Ongoing ids %v, want 1", got)
	}
	if got := m.must(t, "chronik_txn_coordinator_oldest_open_seconds"); got <= 0 || got > 30 {
		t.Errorf("oldest open %v", got)
	}
	if got := m.must(t, "chronik_partition_ongoing_transactions", "topic", "pay", "partition", "0"); got != 1 {
		t.Errorf("pay-0 open transactions %v", got)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	var done, oldest float64
	var ongoing, open bool
	testharness.Eventually(t, 10*time.Second, "the id CompleteCommit and nothing open", func() bool {
		m := scrape(t, n)
		done, _ = m.value("chronik_txn_coordinator_transactional_ids", "state", "CompleteCommit")
		_, ongoing = m.value("chronik_txn_coordinator_transactional_ids", "state", "Ongoing")
		_, open = m.value("chronik_partition_ongoing_transactions", "topic", "pay", "partition", "0")
		oldest, _ = m.value("chronik_txn_coordinator_oldest_open_seconds")
		return done == 1 && !ongoing && !open && oldest == 0
	}, func() string {
		return fmt.Sprintf("complete %v ongoing %v open %v oldest %v", done, ongoing, open, oldest)
	})
}
