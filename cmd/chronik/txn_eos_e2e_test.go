package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// Exactly-once on real `chronik serve` processes: franz-go's
// GroupTransactSession consumes eos-in and produces every record to
// eos-out in transactions that also commit the group's offsets, while the
// transaction coordinator's node and then a partition leader of eos-out are
// killed -9 (transactions commit continuously, so the kills land between
// a transaction's markers) and restarted. Meanwhile another producer writes
// transactions that it aborts on purpose, their records marked with an
// "aborted" header. A read_committed consumer must see every input record
// exactly once and never an aborted one; read_uncommitted sees the aborted
// ones.

const (
	eosRecords    = 3000
	eosIn, eosOut = "eos-in", "eos-out"
	eosTxnID      = "eos-tx"
	hdrAborted    = "aborted"
	hdrSentinel   = "sentinel"
)

// eosChecker counts what a consumer of eos-out returned.
type eosChecker struct {
	mu        sync.Mutex
	count     map[string]int // input value -> times read
	aborted   int            // records with the aborted header
	sentinels map[int32]bool // partitions whose sentinel was read
	dups      []string
}

func newEOSChecker() *eosChecker {
	return &eosChecker{count: map[string]int{}, sentinels: map[int32]bool{}}
}

func (c *eosChecker) add(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range r.Headers {
		switch h.Key {
		case hdrAborted:
			c.aborted++
			return
		case hdrSentinel:
			c.sentinels[r.Partition] = true
			return
		}
	}
	v := string(r.Value)
	c.count[v]++
	if c.count[v] == 2 {
		c.dups = append(c.dups, fmt.Sprintf("%s (partition %d offset %d)", v, r.Partition, r.Offset))
	}
}

func (c *eosChecker) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.count)
}

func (c *eosChecker) sentinelsRead() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sentinels)
}

// consume reads eos-out from its start at the isolation level until ctx ends.
func (c *eosChecker) consume(ctx context.Context, brokers []string, iso kgo.IsolationLevel) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(eosOut),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(c.add)
	}
}

// startChecker runs a checker's consumer until the test ends.
func startChecker(t *testing.T, brokers []string, iso kgo.IsolationLevel) *eosChecker {
	chk := newEOSChecker()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- chk.consume(ctx, brokers, iso) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("checker: %v", err)
		}
	})
	return chk
}

// eosTransform is the consume-transform-produce loop; it returns when ctx
// ends, or with an error when the session keeps failing.
func eosTransform(ctx context.Context, brokers []string, logf func(string, ...any), clientLog io.Writer) error {
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(brokers...), kgo.TransactionalID(eosTxnID),
		kgo.WithLogger(kgo.BasicLogger(clientLog, kgo.LogLevelInfo, nil)),
		kgo.TransactionTimeout(10*time.Second), kgo.ConsumerGroup("eos"), kgo.ConsumeTopics(eosIn),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(eosOut),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer sess.Close()
	failures := 0
	for {
		fs := sess.PollRecords(ctx, 100)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) { logf("transform fetch %s-%d: %v", topic, p, err) })
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil || !committed:
			failures++
			logf("transform: transaction of %d records not committed (%d failures in a row): %v", fs.NumRecords(), failures, err)
			if failures > 50 {
				return fmt.Errorf("%d transactions in a row not committed, last: %w", failures, err)
			}
		default:
			failures = 0
		}
	}
}

// abortTxn writes n records with the aborted header in a transaction of
// the producer and aborts it; it returns how many were acknowledged.
func abortTxn(t *testing.T, cl *kgo.Client, n int) int {
	t.Helper()
	ctx := testharness.Context(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin the aborted transaction: %v", err)
	}
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "aborted-%d", i), Headers: []kgo.RecordHeader{{Key: hdrAborted}}})
	}
	acked := 0
	for _, r := range cl.ProduceSync(ctx, recs...) {
		if r.Err == nil {
			acked++
		} else {
			t.Logf("aborted transaction's record: %v", r.Err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	return acked
}

// writeSentinels commits one sentinel record to every partition of eos-out
// in a transaction: a consumer that read a partition's sentinel has read
// everything committed before it there.
func writeSentinels(t *testing.T, c *procCluster, partitions int32) {
	t.Helper()
	cl := c.client(kgo.TransactionalID("eos-sentinel"), kgo.DefaultProduceTopic(eosOut), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testharness.Context(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Headers: []kgo.RecordHeader{{Key: hdrSentinel}}}).FirstErr(); err != nil {
			t.Fatalf("sentinel to partition %d: %v", p, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit the sentinels: %v", err)
	}
}

// txnCoordinator is the node id coordinating txnID, as the nodes answer.
func (c *procCluster) txnCoordinator(txnID string, except ...int) int32 {
	c.t.Helper()
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.KafkaAddrs(except...)...)))
	var id int32
	var err error
	testharness.Eventually(c.t, 20*time.Second, "a transaction coordinator for "+txnID, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r := adm.FindTxnCoordinators(ctx, txnID)[txnID]
		id, err = r.NodeID, r.Err
		return err == nil && id > 0 && !slices.Contains(except, int(id-1))
	}, func() string { return fmt.Sprintf("node %d, err %v", id, err) })
	return id
}

func TestExactlyOnceAcrossKills(t *testing.T) {
	c := startProcCluster(t, "--transaction-state-partitions", "3", "--offsets-topic-partitions", "3")
	isr2 := map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}
	c.createTopicRF3(eosIn, 3, isr2)
	c.createTopicRF3(eosOut, 3, isr2)
	c.waitFullISR(20*time.Second, eosIn, eosOut)

	in := c.client(kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DefaultProduceTopic(eosIn))
	var recs []*kgo.Record
	for i := range eosRecords {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "in-%05d", i)})
	}
	if err := in.ProduceSync(testharness.Context(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce the input: %v", err)
	}

	live := startChecker(t, c.KafkaAddrs(), kgo.ReadCommitted())
	tctx, stopTransform := context.WithCancel(context.Background())
	transformed := make(chan error, 1)
	// The session's client log, shown when the test fails.
	var clientLog testharness.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(clientLog.String(), "\n")
			t.Logf("the transform's franz-go log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-150):], "\n"))
		}
	})
	// franz-go can fail a session for good when the coordinator it cached
	// leaves the metadata ("unknown broker" on AddPartitionsToTxn, then
	// InitProducerId): as an application must, start a new session with
	// the same transactional id, which fences the old one.
	go func() {
		for restarts := 0; ; restarts++ {
			err := eosTransform(tctx, c.KafkaAddrs(), t.Logf, &clientLog)
			if err == nil || restarts == 5 {
				transformed <- err
				return
			}
			t.Logf("transform session failed, starting a new one: %v", err)
		}
	}()
	t.Cleanup(func() { stopTransform(); <-transformed })
	progress := func(n int, what string) {
		t.Helper()
		n = min(n, eosRecords)
		testharness.Eventually(t, 40*time.Second, what, func() bool { return live.distinct() >= n },
			func() string {
				return fmt.Sprintf("%d of %d input records read committed", live.distinct(), eosRecords)
			})
	}

	aborter := c.client(kgo.TransactionalID("eos-aborter"), kgo.DefaultProduceTopic(eosOut),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.TransactionTimeout(10*time.Second))
	abortedAcked := abortTxn(t, aborter, 30)

	progress(eosRecords/5, "a fifth of the input transformed")
	coord := c.txnCoordinator(eosTxnID)
	t.Logf("kill -9 node %d, the coordinator of %s", coord, eosTxnID)
	c.Procs[coord-1].Kill(t)
	before := live.distinct()
	progress(before+eosRecords/10, "progress with the coordinator's node dead")
	abortedAcked += abortTxn(t, aborter, 30)
	c.Restart(t, int(coord-1))

	layout := c.waitFullISR(30*time.Second, eosOut)
	leader := layout[eosOut][0].Leader
	t.Logf("kill -9 node %d, the leader of %s-0", leader, eosOut)
	c.Procs[leader-1].Kill(t)
	before = live.distinct()
	progress(before+eosRecords/10, "progress with a leader of eos-out dead")
	c.Restart(t, int(leader-1))
	abortedAcked += abortTxn(t, aborter, 30)

	progress(eosRecords, "every input record transformed")
	stopTransform()
	if err := <-transformed; err != nil {
		t.Fatalf("transform: %v", err)
	}
	transformed <- nil // for the cleanup's receive

	writeSentinels(t, c, 3)
	for _, iso := range []kgo.IsolationLevel{kgo.ReadCommitted(), kgo.ReadUncommitted()} {
		chk := startChecker(t, c.KafkaAddrs(), iso)
		testharness.Eventually(t, 30*time.Second, "every partition's sentinel read", func() bool { return chk.sentinelsRead() == 3 })
		chk.mu.Lock()
		committed := iso == kgo.ReadCommitted()
		missing := 0
		for i := range eosRecords {
			if chk.count[fmt.Sprintf("in-%05d", i)] == 0 {
				missing++
			}
		}
		switch {
		case missing > 0:
			t.Errorf("read_committed %v: %d input records missing from %s", committed, missing, eosOut)
		case committed && len(chk.dups) > 0:
			t.Errorf("read_committed: %d records read twice, e.g. %s", len(chk.dups), chk.dups[0])
		case committed && chk.aborted > 0:
			t.Errorf("read_committed returned %d records of aborted transactions", chk.aborted)
		case !committed && chk.aborted < abortedAcked:
			t.Errorf("read_uncommitted returned %d records of aborted transactions, %d were acknowledged", chk.aborted, abortedAcked)
		}
		chk.mu.Unlock()
	}
	live.mu.Lock()
	if len(live.dups) > 0 || live.aborted > 0 {
		t.Errorf("the read_committed consumer during the kills: %d duplicates (%v), %d aborted records", len(live.dups), live.dups, live.aborted)
	}
	live.mu.Unlock()

	// The group's offsets committed with the last transaction: all of eos-in.
	ctx := testharness.Context(t, 10*time.Second)
	offs, err := kadm.NewClient(c.client()).FetchOffsets(ctx, "eos")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != eosRecords {
		t.Errorf("group eos committed offsets summing to %d, want %d", sum, eosRecords)
	}
}
