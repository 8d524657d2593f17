package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// End-to-end transactions on in-process three-node clusters: a zombie
// producer fenced by its successor, and transactions that outlive a restart
// of the whole cluster.

// e2eTxnProduce writes n records value-0.. to partitions 0..2 of topic in
// cl's open transaction.
func e2eTxnProduce(ctx context.Context, cl *kgo.Client, topic, value string, n int) error {
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "%s-%d", value, i)})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// e2eReadCommitted reads topic read_committed from its start until want
// records came (or 20 s passed) and counts each value.
func e2eReadCommitted(t *testing.T, addrs []string, topic string, want int) map[string]int {
	t.Helper()
	cl := inproc.Client(t, addrs, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, n := map[string]int{}, 0
	for n < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
	}
	return got
}

// e2eWaitStable waits until no transaction holds topic's LSO below its HW.
func e2eWaitStable(t *testing.T, addrs []string, topic string) {
	t.Helper()
	adm := inproc.Admin(t, addrs)
	var why string
	testharness.Eventually(t, 20*time.Second, "LSO = HW on "+topic, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		stable, err1 := adm.ListCommittedOffsets(ctx, topic)
		end, err2 := adm.ListEndOffsets(ctx, topic)
		if err := errors.Join(err1, err2); err != nil {
			why = err.Error()
			return false
		}
		ok := true
		end.Each(func(o kadm.ListedOffset) {
			s, _ := stable.Lookup(topic, o.Partition)
			if s.Err != nil || o.Err != nil || s.Offset != o.Offset {
				ok = false
				why = fmt.Sprintf("partition %d: LSO %d (%v), HW %d (%v)", o.Partition, s.Offset, s.Err, o.Offset, o.Err)
			}
		})
		return ok
	}, func() string { return why })
}

// TestZombieProducerFenced: producer A has a transaction open on three
// partitions of a three-node cluster when B starts with the same
// transactional id. B's InitProducerId aborts A's transaction and bumps the
// epoch: A can neither write nor commit any more (fenced), none of its
// records is ever read committed, and B's transaction commits.
func TestZombieProducerFenced(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	ctx := testharness.Context(t, 60*time.Second)
	if _, err := inproc.Admin(t, c.KafkaAddrs()).CreateTopic(ctx, 3, 3, nil, "zombie"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("zombie", 3)
	opts := []kgo.Opt{kgo.TransactionalID("zombie-tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute)}
	a := inproc.Client(t, c.KafkaAddrs(), opts...)
	if err := a.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e2eTxnProduce(ctx, a, "zombie", "a", 6); err != nil {
		t.Fatal(err)
	}
	aPID, aEpoch, err := a.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	b := inproc.Client(t, c.KafkaAddrs(), opts...)
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e2eTxnProduce(ctx, b, "zombie", "b", 6); err != nil {
		t.Fatalf("the successor's produce: %v", err)
	}
	bPID, bEpoch, err := b.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bPID != aPID || bEpoch <= aEpoch {
		t.Fatalf("successor got producer %d epoch %d; want the zombie's id %d with an epoch above %d", bPID, bEpoch, aPID, aEpoch)
	}

	// The zombie: a write into its transaction and its commit are refused.
	perr := e2eTxnProduce(ctx, a, "zombie", "late", 3)
	cerr := a.EndTransaction(ctx, kgo.TryCommit)
	fenced := func(err error) bool {
		return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.InvalidProducerIDMapping)
	}
	if !fenced(perr) && !fenced(cerr) {
		t.Fatalf("the zombie was not fenced: produce %v, commit %v", perr, cerr)
	}
	t.Logf("zombie: produce %v, commit %v", perr, cerr)

	if err := b.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("the successor's commit: %v", err)
	}
	e2eWaitStable(t, c.KafkaAddrs(), "zombie")
	got := e2eReadCommitted(t, c.KafkaAddrs(), "zombie", 6)
	for v, n := range got {
		if n != 1 || v[0] != 'b' {
			t.Errorf("read_committed returned %q %d times (the zombie's records must never be read)", v, n)
		}
	}
	if len(got) != 6 {
		t.Errorf("read_committed: %d distinct records, want the successor's 6: %v", len(got), got)
	}
}

// TestTransactionsAcrossClusterRestart: one transaction committed, another
// left open with its partitions added and written, then every node stops
// and starts again. The committed one is read committed, the open one is
// still Ongoing at its coordinator (the state log is replicated and
// reloaded) and holds the LSO; its producer's successor aborts it, and
// then nothing of it is read and the LSO reaches the HW.
func TestTransactionsAcrossClusterRestart(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	ctx := testharness.Context(t, 90*time.Second)
	if _, err := inproc.Admin(t, c.KafkaAddrs()).CreateTopic(ctx, 3, 3, nil, "restart"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("restart", 3)
	opts := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(5 * time.Minute)}
	}
	done := inproc.Client(t, c.KafkaAddrs(), opts("done-tx")...)
	if err := done.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e2eTxnProduce(ctx, done, "restart", "done", 6); err != nil {
		t.Fatal(err)
	}
	if err := done.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	open := inproc.Client(t, c.KafkaAddrs(), opts("open-tx")...)
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e2eTxnProduce(ctx, open, "restart", "open", 6); err != nil {
		t.Fatal(err)
	}
	openPID, _, err := open.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2eWaitStableBelow := func() {
		t.Helper()
		adm := inproc.Admin(t, c.KafkaAddrs())
		var why string
		testharness.Eventually(t, 20*time.Second, "the open transaction holds every partition's LSO", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			stable, err1 := adm.ListCommittedOffsets(ctx, "restart")
			end, err2 := adm.ListEndOffsets(ctx, "restart")
			if err := errors.Join(err1, err2, stable.Error(), end.Error()); err != nil {
				why = err.Error()
				return false
			}
			held := 0
			end.Each(func(o kadm.ListedOffset) {
				if s, _ := stable.Lookup("restart", o.Partition); s.Offset < o.Offset {
					held++
				}
			})
			why = fmt.Sprintf("%d of 3 partitions held", held)
			return held == 3
		}, func() string { return why })
	}
	e2eWaitStableBelow()
	open.Close()

	for i := range c.Nodes {
		c.Stop(i)
	}
	c.StartAll()
	c.WaitTopic("restart", 3)
	adm := inproc.Admin(t, c.KafkaAddrs())
	var d kadm.DescribedTransaction
	testharness.Eventually(t, 30*time.Second, "open-tx described as Ongoing after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ds, err := adm.DescribeTransactions(ctx, "open-tx")
		if err != nil {
			return false
		}
		d = ds["open-tx"]
		return d.Err == nil && d.State == "Ongoing"
	}, func() string { return fmt.Sprintf("%+v", d) })
	if d.ProducerID != openPID || len(d.Topics["restart"]) != 3 {
		t.Fatalf("after the restart open-tx is producer %d with partitions %v; want %d with 3 partitions", d.ProducerID, d.Topics, openPID)
	}
	e2eWaitStableBelow()
	got := e2eReadCommitted(t, c.KafkaAddrs(), "restart", 6)
	for v, n := range got {
		if n != 1 || v[:4] != "done" {
			t.Errorf("read_committed returned %q %d times", v, n)
		}
	}

	// The successor of the open transaction's producer aborts it.
	next := inproc.Client(t, c.KafkaAddrs(), opts("open-tx")...)
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e2eTxnProduce(ctx, next, "restart", "next", 3); err != nil {
		t.Fatalf("the successor's produce: %v", err)
	}
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("the successor's commit: %v", err)
	}
	e2eWaitStable(t, c.KafkaAddrs(), "restart")
	got = e2eReadCommitted(t, c.KafkaAddrs(), "restart", 9)
	for v, n := range got {
		if n != 1 || v[:4] == "open" {
			t.Errorf("read_committed returned %q %d times", v, n)
		}
	}
	if len(got) != 9 {
		t.Errorf("read_committed: %d distinct records, want 6 done and 3 next: %v", len(got), got)
	}
}
