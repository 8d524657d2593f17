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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/txn"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// txnRecords produces n records with values prefix-i to topic's partitions
// round robin inside the producer's current transaction, and waits for
// them.
func txnRecords(t *testing.T, ctx context.Context, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s-%d: %v", prefix, i, err)
		}
	}
}

// consumeValues reads topic from the start with isolation until it holds want
// records, and returns the values.
func consumeValues(t *testing.T, c *inproc.Cluster, topic string, want int, isolation kgo.IsolationLevel) map[string]int {
	t.Helper()
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(isolation),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testharness.Context(t, 30*time.Second)
	got := map[string]int{}
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", n, want, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)]++
			n++
		})
	}
	return got
}

// A franz-go transactional producer on a 3-node cluster: its coordinator
// and its partitions' leaders on different nodes, so markers and the
// leaders' verifications travel between brokers. Committed records are
// read by read_committed consumers exactly once, aborted ones never; the
// coordinator confirms to every node that a partition is in the open
// transaction, and refuses one that is not.
func TestTransactionsAcrossBrokers(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	ctx := testharness.Context(t, 90*time.Second)
	if _, err := inproc.Admin(t, c.KafkaAddrs()).CreateTopic(ctx, 3, 3, nil, "tx"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("tx", 3)
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.TransactionalID("tx-across"), kgo.DefaultProduceTopic("tx"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(30*time.Second))
	end := func(commit kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	txnRecords(t, ctx, cl, "tx", "committed", 9)
	end(kgo.TryCommit)

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tx", Partition: 0, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		if err := n.VerifyTxnPartitionForTest(ctx, "tx-across", pid, epoch, "tx", 0); err != nil {
			t.Errorf("node %d: verify tx/0 in the open transaction: %v", i+1, err)
		}
		if err := n.VerifyTxnPartitionForTest(ctx, "tx-across", pid, epoch, "tx", 1); !errors.Is(err, kerr.InvalidTxnState) {
			t.Errorf("node %d: verify tx/1 never added: %v, want INVALID_TXN_STATE", i+1, err)
		}
	}
	txnRecords(t, ctx, cl, "tx", "aborted", 6)
	end(kgo.TryAbort)

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	txnRecords(t, ctx, cl, "tx", "later", 3)
	end(kgo.TryCommit)

	got := consumeValues(t, c, "tx", 12, kgo.ReadCommitted())
	for v, k := range got {
		if k != 1 {
			t.Errorf("read_committed: %s read %d times", v, k)
		}
	}
	for i := range 9 {
		if got[fmt.Sprintf("committed-%d", i)] != 1 {
			t.Errorf("read_committed: committed-%d missing", i)
		}
	}
	if len(got) != 12 {
		t.Errorf("read_committed read %d distinct records, want 12: %v", len(got), got)
	}
	uncommitted := consumeValues(t, c, "tx", 19, kgo.ReadUncommitted())
	if uncommitted["aborted-0"] != 1 || uncommitted["open"] != 1 {
		t.Errorf("read_uncommitted misses the aborted records: %v", uncommitted)
	}
}

// endOffsets are the high watermarks of topic's partitions.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(testharness.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// The coordinator's marker writer reaches every partition's leader, local
// or remote; when a leader dies mid-way the markers reach the partition's
// new leader. The leaders' answers for a stale coordinator or producer
// epoch come back unretried.
func TestMarkerWriterFollowsLeaders(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 60*time.Second)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "mk"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("mk", 3)
	leaders := map[int32]int32{}
	for _, p := range c.MetadataOf(0, "mk").Topics[0].Partitions {
		leaders[p.Partition] = p.Leader
	}
	markers := func(pid int64, epoch int16, coordEpoch int32) []txn.Marker {
		var ms []txn.Marker
		for p := range int32(3) {
			ms = append(ms, txn.Marker{Topic: "mk", Partition: p, ProducerID: pid, ProducerEpoch: epoch, Commit: true, CoordinatorEpoch: coordEpoch})
		}
		return ms
	}
	// The writer runs on node 1; every partition gets its marker.
	w := c.Nodes[0]
	for i, err := range w.WriteTxnMarkersForTest(ctx, markers(1000, 3, 5)) {
		if err != nil {
			t.Fatalf("marker to mk/%d (leader %d): %v", i, leaders[int32(i)], err)
		}
	}
	for p, end := range endOffsets(t, adm, "mk") {
		if end != 1 {
			t.Fatalf("mk/%d ends at %d after one marker, want 1", p, end)
		}
	}

	// Older coordinator and producer epochs are refused by the leaders.
	for i, err := range w.WriteTxnMarkersForTest(ctx, markers(1000, 3, 4)) {
		if !errors.Is(err, kerr.TransactionCoordinatorFenced) {
			t.Fatalf("older coordinator epoch to mk/%d: %v, want TRANSACTION_COORDINATOR_FENCED", i, err)
		}
	}
	for i, err := range w.WriteTxnMarkersForTest(ctx, markers(1000, 2, 5)) {
		if !errors.Is(err, kerr.InvalidProducerEpoch) {
			t.Fatalf("older producer epoch to mk/%d: %v, want INVALID_PRODUCER_EPOCH", i, err)
		}
	}

}

// A marker its leader cannot commit yet (fewer in-sync replicas than
// min.insync.replicas) is retried; the leadership moves meanwhile from a
// peer to the writer's own node, and the marker is written there once the
// missing replica is back.
func TestMarkerWriterLeaderMovesMidway(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 90*time.Second)
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "mid", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{2, 1, 3}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("3")
	ct.Configs = append(ct.Configs, cfg)
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, inproc.Client(t, c.KafkaAddrs()))
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, cresp)
	}
	c.WaitTopic("mid", 1)
	testharness.Eventually(t, 10*time.Second, "node 2 leads mid/0", func() bool { return partitionOf(t, c, "mid").Leader == 2 })

	c.Stop(2) // node 3: the ISR shrinks below min.insync.replicas
	testharness.Eventually(t, 20*time.Second, "mid/0 without node 3 in its ISR", func() bool {
		return len(partitionOf(t, c, "mid").ISR) == 2
	})
	done := make(chan []error, 1)
	go func() {
		done <- c.Nodes[0].WriteTxnMarkersForTest(ctx, []txn.Marker{{Topic: "mid", Partition: 0, ProducerID: 77, Commit: true, CoordinatorEpoch: 1}})
	}()

	// Leadership to node 1 (the writer) while the marker waits.
	if _, err := adm.AlterPartitionAssignments(ctx, kadm.AlterPartitionAssignmentsReq{"mid": {0: {1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 20*time.Second, "mid/0 reordered with node 1 first", func() bool {
		r := partitionOf(t, c, "mid").Replicas
		return len(r) == 3 && r[0] == 1
	})
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"mid": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 20*time.Second, "node 1 leads mid/0", func() bool { return partitionOf(t, c, "mid").Leader == 1 })
	select {
	case errs := <-done:
		t.Fatalf("the marker finished with 2 of 3 replicas in sync: %v", errs)
	default:
	}

	c.Restart(2)
	select {
	case errs := <-done:
		if errs[0] != nil {
			t.Fatalf("marker: %v", errs[0])
		}
	case <-ctx.Done():
		t.Fatal("the marker was not written after the ISR recovered")
	}
	// A leader that appended the marker before its ISR shrank (its view
	// lags the writer's) could not commit it and the marker is written
	// again: a second marker for the producer is harmless, as in Kafka.
	if end := endOffsets(t, adm, "mid")[0]; end < 1 || end > 2 {
		t.Fatalf("mid/0 ends at %d, want the marker (written once, or twice after a failed commit)", end)
	}
}

// WriteTxnMarkers is the brokers' own: sent by a client on a Kafka listener
// every partition is refused and nothing is written.
func TestWriteTxnMarkersRefusedOnKafkaListener(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "forge", 1, nil)
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.Committed = 1, true
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "forge", []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	cl := inproc.NodeClient(t, n)
	kresp, err := req.RequestWith(testharness.Context(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := kresp.Markers[0].Topics[0].Partitions[0].ErrorCode
	if got != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("error code %d, want CLUSTER_AUTHORIZATION_FAILED", got)
	}
	if end := endOffsets(t, adm, "forge")[0]; end != 0 {
		t.Fatalf("the log ends at %d: the forged marker was written", end)
	}
}

// A franz-go GroupTransactSession (consume, transform, produce, offsets in
// the transaction) on a 3-node cluster: the COMMIT marker on
// __consumer_offsets reaches the group coordinator (Backend.OnTxnMarker),
// so the group's offsets are committed exactly where the output is, and the
// output is read once by a read_committed consumer.
func TestTransactSessionAcrossBrokers(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	ctx := testharness.Context(t, 90*time.Second)
	adm := inproc.Admin(t, c.KafkaAddrs())
	for _, topic := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		c.WaitTopic(topic, 3)
	}
	in := inproc.Client(t, c.KafkaAddrs(), kgo.DefaultProduceTopic("in"))
	for i := range 30 {
		if err := in.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.TransactionalID("session"),
		kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"), kgo.DefaultProduceTopic("out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequireStableFetchOffsets(), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := 0
	for done < 30 {
		fs := s.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("processed %d of 30: %v", done, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		if fs.NumRecords() == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			s.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
		})
		committed, err := s.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	got := consumeValues(t, c, "out", 30, kgo.ReadCommitted())
	for i := range 30 {
		if k := got[fmt.Sprintf("out-v%d", i)]; k != 1 {
			t.Errorf("out-v%d read %d times", i, k)
		}
	}
	var offsets kadm.OffsetResponses
	testharness.Eventually(t, 20*time.Second, "the group's offsets committed at the end of in", func() bool {
		offsets, err = adm.FetchOffsets(ctx, "g")
		if err != nil {
			return false
		}
		var sum int64
		ok := true
		offsets.Each(func(o kadm.OffsetResponse) {
			ok = ok && o.Err == nil
			sum += o.At
		})
		return ok && sum == 30
	}, func() string { return fmt.Sprintf("offsets %+v, err %v", offsets, err) })
}
