package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// The faults of issue 17 on real `chronik serve` processes: the
// coordinator killed -9 between a transaction's PrepareCommit and its
// markers, a partition leader killed -9 between them, and the producer's
// process killed -9 after adding partitions and writing to them. Every
// transaction must end committed on all its partitions or aborted on all,
// and the last stable offsets must move on.

const txnPartitions = 6

// txnOffsets are the last stable offsets and the high watermarks of topic,
// as the running nodes (but except) answer.
func (c *procCluster) txnOffsets(topic string, except ...int) (lso, hw map[int32]int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs(except...)...))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read_committed offsets: %w", err)
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = end.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	lso, hw = map[int32]int64{}, map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) { lso[o.Partition] = o.Offset })
	end.Each(func(o kadm.ListedOffset) { hw[o.Partition] = o.Offset })
	return lso, hw, nil
}

// waitStable waits until every partition's last stable offset is its high
// watermark: no transaction left open on topic.
func (c *procCluster) waitStable(topic string, within time.Duration, except ...int) {
	c.t.Helper()
	var lso, hw map[int32]int64
	var err error
	testharness.Eventually(c.t, within, "LSO = HW on every partition of "+topic, func() bool {
		lso, hw, err = c.txnOffsets(topic, except...)
		if err != nil || len(lso) != len(hw) || len(hw) == 0 {
			return false
		}
		for p, h := range hw {
			if lso[p] != h {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("LSO %v HW %v err %v", lso, hw, err) })
}

// readCommitted reads every partition of topic read_committed from its
// start until it has want records (or 30 s passed) and returns the values.
func (c *procCluster) readCommitted(topic string, want int, except ...int) []string {
	c.t.Helper()
	cl := c.client(kgo.SeedBrokers(c.KafkaAddrs(except...)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// txnDescription is how the coordinator describes txnID.
func (c *procCluster) txnDescription(txnID string, except ...int) (kadm.DescribedTransaction, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs(except...)...))
	if err != nil {
		return kadm.DescribedTransaction{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := kadm.NewClient(cl).DescribeTransactions(ctx, txnID)
	if err != nil {
		return kadm.DescribedTransaction{}, err
	}
	d, ok := ds[txnID]
	if !ok {
		return d, fmt.Errorf("%s not described", txnID)
	}
	return d, d.Err
}

func (c *procCluster) waitTxnState(txnID, state string, except ...int) {
	c.t.Helper()
	var d kadm.DescribedTransaction
	var err error
	testharness.Eventually(c.t, 30*time.Second, txnID+" in state "+state, func() bool {
		d, err = c.txnDescription(txnID, except...)
		return err == nil && d.State == state
	}, func() string { return fmt.Sprintf("state %q, err %v", d.State, err) })
}

// TestTxnKilledBetweenPrepareAndMarkers: a transaction over six partitions
// led by all three nodes; a node leading some of them (not the
// coordinator) is stopped, so its partitions cannot get their markers;
// EndTxn(commit) answers once PrepareCommit is written; then either the
// coordinator's node or the stopped leader is killed -9. The transaction
// must end committed on every partition, through the new coordinator or
// the new leaders, and the killed node rejoins.
func TestTxnKilledBetweenPrepareAndMarkers(t *testing.T) {
	for _, kill := range []string{"coordinator", "leader"} {
		t.Run(kill, func(t *testing.T) {
			c := startProcCluster(t, "--transaction-state-partitions", "3", "--offsets-topic-partitions", "1",
				"--replica-lag-time-max", "2s")
			topic, txnID := "mid-"+kill, "mid-tx-"+kill
			c.createTopicRF3(topic, txnPartitions, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
			layout := c.waitFullISR(20*time.Second, topic)

			cl := c.client(kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute))
			ctx := testharness.Context(t, 60*time.Second)
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			for p := range int32(txnPartitions) {
				for i := range 10 {
					recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
				}
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce in the transaction: %v", err)
			}
			coord := int(c.txnCoordinator(txnID)) - 1
			leads := map[int]int{}
			for _, pd := range layout[topic] {
				leads[int(pd.Leader)-1]++
			}
			stopped := (coord + 1) % 3
			if leads[(coord+2)%3] > leads[stopped] {
				stopped = (coord + 2) % 3
			}
			if leads[stopped] == 0 {
				t.Fatalf("no node but the coordinator (node %d) leads a partition of %s: %v", coord+1, topic, leads)
			}
			t.Logf("coordinator node %d; node %d, leading %d partitions, stopped before the commit", coord+1, stopped+1, leads[stopped])
			c.Procs[stopped].Pause(t)
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatalf("commit (PrepareCommit written): %v", err)
			}
			var survivors []int
			switch kill {
			case "coordinator":
				c.Procs[coord].Kill(t)
				c.Procs[stopped].Resume(t)
				survivors = []int{coord}
			case "leader":
				c.Procs[stopped].Kill(t)
				survivors = []int{stopped}
			}
			if got := c.readCommitted(topic, len(recs), survivors...); len(got) != len(recs) {
				t.Fatalf("read_committed with node %d dead: %d of %d committed records", survivors[0]+1, len(got), len(recs))
			}
			c.waitStable(topic, 30*time.Second, survivors...)
			c.waitTxnState(txnID, "CompleteCommit", survivors...)

			c.Restart(t, survivors[0])
			c.waitFullISR(30*time.Second, topic)
			c.waitStable(topic, 30*time.Second)
			if got := c.readCommitted(topic, len(recs)); len(got) != len(recs) {
				t.Fatalf("read_committed after node %d rejoined: %d of %d records", survivors[0]+1, len(got), len(recs))
			}
			// The producer goes on: its next transaction commits.
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("next")}).FirstErr(); err != nil {
				t.Fatalf("produce after the faults: %v", err)
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatalf("commit after the faults: %v", err)
			}
			if got := c.readCommitted(topic, len(recs)+1); len(got) != len(recs)+1 {
				t.Fatalf("read_committed after the next transaction: %d of %d records", len(got), len(recs)+1)
			}
		})
	}
}

// helperEnv names the environment of TestTxnHelperProducer: the brokers and
// topic it writes to, in a transaction it never ends.
const helperEnv = "CHRONIK_TXN_HELPER_BROKERS"

// TestTxnHelperProducer is the producer process
// TestTxnProducerKilledAbortsOnTimeout kills: it begins a transaction with
// a 6 s timeout, writes to every partition of the topic, says so on stdout
// and waits to be killed.
func TestTxnHelperProducer(t *testing.T) {
	brokers := os.Getenv(helperEnv)
	if brokers == "" {
		t.Skip("the producer process of TestTxnProducerKilledAbortsOnTimeout")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.TransactionalID("hung-tx"),
		kgo.DefaultProduceTopic("hung"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range int32(txnPartitions) {
		recs = append(recs, &kgo.Record{Partition: p, Value: []byte("hung")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PRODUCED")
	<-ctx.Done() // killed long before
}

// TestTxnProducerKilledAbortsOnTimeout: the producer's process is killed
// -9 with its transaction open on six partitions (6 s
// transaction.timeout.ms). The transaction holds the last stable offsets
// back; a later committed transaction on the same partitions is not
// readable read_committed until the coordinator aborts the hung one on its
// timeout; then the LSO moves on, the later records are read and the hung
// ones never.
func TestTxnProducerKilledAbortsOnTimeout(t *testing.T) {
	c := startProcCluster(t, "--transaction-state-partitions", "3", "--offsets-topic-partitions", "1")
	c.createTopicRF3("hung", txnPartitions, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
	c.waitFullISR(20*time.Second, "hung")

	cmd := exec.Command(os.Args[0], "-test.run=^TestTxnHelperProducer$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(c.KafkaAddrs(), ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testharness.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	produced := false
	for !produced && lines.Scan() {
		produced = lines.Text() == "PRODUCED"
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !produced {
		t.Fatalf("the producer process did not write its transaction: %s", stderr.String())
	}
	// Right after the kill the transaction is open: LSO below HW. (The
	// timeout is 6 s; these requests take milliseconds.)
	lso, hw, err := c.txnOffsets("hung")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(txnPartitions) {
		if lso[p] >= hw[p] {
			t.Fatalf("partition %d: LSO %d, HW %d with the transaction open", p, lso[p], hw[p])
		}
	}

	// A committed transaction after it: held behind the hung one until that
	// aborts.
	cl := c.client(kgo.TransactionalID("after-tx"), kgo.DefaultProduceTopic("hung"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testharness.Context(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(txnPartitions) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("after")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	c.waitTxnState("hung-tx", "CompleteAbort")
	c.waitStable("hung", 30*time.Second)
	got := c.readCommitted("hung", txnPartitions)
	if len(got) != txnPartitions {
		t.Fatalf("read_committed: %d of %d committed records: %v", len(got), txnPartitions, got)
	}
	for _, v := range got {
		if v != "after" {
			t.Fatalf("read_committed returned %q from the aborted transaction", v)
		}
	}
}
