package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// committedOffset is group's committed offset of topic-0 (-1: none).
func committedOffset(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(testharness.Context(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok {
		return -1
	}
	if o.Err != nil {
		t.Fatalf("offset of %s %s-0: %v", group, topic, o.Err)
	}
	return o.At
}

// stableFetch is OffsetFetch v7 with RequireStable for group's topic-0: the
// offset and the partition's error.
func stableFetch(t *testing.T, cl *kgo.Client, group, topic string) (int64, error) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	req.RequireStable = true
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	resp, err := req.RequestWith(testharness.Context(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, kerr.ErrorForCode(p.ErrorCode)
}

// txnOffsetCommit sends TxnOffsetCommit v3 for group's topic-0 as producer
// pid/epoch of txnID.
func txnOffsetCommit(t *testing.T, cl *kgo.Client, txnID string, pid int64, epoch int16, group, topic string, offset int64) error {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID = txnID
	req.Group = group
	req.ProducerID = pid
	req.ProducerEpoch = epoch
	req.Generation = -1
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
	resp, err := req.RequestWith(testharness.Context(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("txn offset commit: %v", err)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// TestTxnOffsetsThroughMarkers: offsets committed in a transaction are
// pending (RequireStable answers UNSTABLE_OFFSET_COMMIT) until EndTxn's
// marker lands on __consumer_offsets; a commit makes them the group's, an
// abort leaves the previous ones; a producer that never added the group to
// its transaction writes nothing.
func TestTxnOffsetsThroughMarkers(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	ctx := testharness.Context(t, 60*time.Second)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "out"); err != nil {
		t.Fatal(err)
	}
	plain := inproc.NodeClient(t, n)
	// The group has a committed offset before any transaction.
	first := make(kadm.Offsets)
	first.Add(kadm.Offset{Topic: "out", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", first); err != nil {
		t.Fatal(err)
	}

	for i, commit := range []bool{true, false} {
		txnID := fmt.Sprintf("tx-%d", i)
		cl := inproc.NodeClient(t, n, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic("out"))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
		pid, epoch, err := cl.ProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, "g"
		addResp, err := add.RequestWith(ctx, cl)
		if err != nil || addResp.ErrorCode != 0 {
			t.Fatalf("add offsets to txn: %v %v", err, kerr.ErrorForCode(addResp.ErrorCode))
		}
		want := int64(10 + i)
		if err := txnOffsetCommit(t, cl, txnID, pid, epoch, "g", "out", want); err != nil {
			t.Fatalf("txn offset commit: %v", err)
		}
		if off, err := stableFetch(t, plain, "g", "out"); err != kerr.UnstableOffsetCommit {
			t.Fatalf("require stable while the transaction is open: %d %v", off, err)
		}
		if got := committedOffset(t, adm, "g", "out"); got != 4+int64(i)*6 {
			t.Fatalf("pending offset visible before the marker: %d", got)
		}
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatalf("end txn: %v", err)
		}
		// The marker is written after EndTxn answered.
		expect := int64(4)
		if commit {
			expect = want
		}
		if i == 1 {
			expect = 10 // the first transaction's
		}
		testharness.Eventually(t, 30*time.Second, "the transaction's outcome applied", func() bool {
			off, err := stableFetch(t, plain, "g", "out")
			return err == nil && off == expect
		}, func() string {
			off, err := stableFetch(t, plain, "g", "out")
			return fmt.Sprintf("offset %d err %v, want %d", off, err, expect)
		})
	}

	// A producer that did not add the group to its transaction is refused
	// by the transaction coordinator and writes nothing.
	cl := inproc.NodeClient(t, n, kgo.TransactionalID("tx-liar"), kgo.DefaultProduceTopic("out"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, lie := range []struct {
		what  string
		pid   int64
		epoch int16
		want  error
	}{
		{"group never added", pid, epoch, kerr.InvalidTxnState},
		{"someone else's producer id", pid + 1000, 0, kerr.InvalidProducerIDMapping},
		{"a newer epoch", pid, epoch + 1, kerr.ProducerFenced},
	} {
		if err := txnOffsetCommit(t, cl, "tx-liar", lie.pid, lie.epoch, "g", "out", 99); err != lie.want {
			t.Errorf("%s: %v, want %v", lie.what, err, lie.want)
		}
	}
	if off, err := stableFetch(t, plain, "g", "out"); err != nil || off != 10 {
		t.Fatalf("after refused commits: %d %v, want 10 and stable", off, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("end txn: %v", err)
	}
}

// TestGroupTransactSession: franz-go's consume-transform-produce loop
// commits its consumed offsets in its transactions; an aborted
// transaction's offsets are not committed and its records are consumed
// again.
func TestGroupTransactSession(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	groupTransactSession(t, []string{n.Addrs().Kafka}, 1, nil)
}

// TestGroupTransactSessionCluster is TestGroupTransactSession on three
// nodes: the transaction coordinator, the group coordinator and the
// partitions' leaders are spread, so markers and verifications cross
// brokers.
func TestGroupTransactSessionCluster(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	groupTransactSession(t, c.KafkaAddrs(), 3, c.WaitTopic)
}

func groupTransactSession(t *testing.T, addrs []string, rf int16, waitTopic func(string, int)) {
	adm := inproc.Admin(t, addrs)
	ctx := testharness.Context(t, 90*time.Second)
	for _, topic := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, 1, rf, nil, topic); err != nil {
			t.Fatal(err)
		}
		if waitTopic != nil {
			waitTopic(topic, 1)
		}
	}
	plain := inproc.Client(t, addrs)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := plain.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 5)

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(addrs...),
		kgo.TransactionalID("cttp"),
		kgo.ConsumerGroup("cg"),
		kgo.ConsumeTopics("in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic("out"),
		kgo.HeartbeatInterval(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	// round polls until it has want records (from where the group stands)
	// and ends the transaction with commit.
	round := func(want int, commit bool) []string {
		t.Helper()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < want {
			fs := sess.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("polled %v of %d: %v", got, want, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				got = append(got, string(r.Value))
				sess.Produce(ctx, kgo.StringRecord("x"+string(r.Value)), func(_ *kgo.Record, err error) {
					if err != nil && commit {
						t.Errorf("produce: %v", err)
					}
				})
			})
		}
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		committed, err := sess.End(ctx, end)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed != commit {
			t.Fatalf("end: committed %v, want %v", committed, commit)
		}
		return got
	}

	if got := round(5, true); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("first round %v", got)
	}
	testharness.Eventually(t, 30*time.Second, "offset 5 committed", func() bool { return committedOffset(t, adm, "cg", "in") == 5 })

	produce(5, 8)
	if got := round(3, false); fmt.Sprint(got) != "[5 6 7]" {
		t.Fatalf("aborted round %v", got)
	}
	if got := committedOffset(t, adm, "cg", "in"); got != 5 {
		t.Fatalf("aborted transaction's offsets committed: %d", got)
	}
	// The aborted records are consumed again and committed this time.
	if got := round(3, true); fmt.Sprint(got) != "[5 6 7]" {
		t.Fatalf("round after the abort %v", got)
	}
	testharness.Eventually(t, 30*time.Second, "offset 8 committed", func() bool { return committedOffset(t, adm, "cg", "in") == 8 })

	// read_committed sees exactly the committed rounds' output.
	rc := inproc.Client(t, addrs, kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	for len(out) < 8 {
		fs := rc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v: %v", out, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	if fmt.Sprint(out) != "[x0 x1 x2 x3 x4 x5 x6 x7]" {
		t.Fatalf("read_committed output %v", out)
	}
}

// TestTxnOffsetCommitACLs: Kafka's order of checks — WRITE on the
// transactional id, READ on the group, READ on each topic — and a topic
// that does not exist; nothing refused is written.
func TestTxnOffsetCommitACLs(t *testing.T) {
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	for _, topic := range []string{"t1", "t2"} {
		if err := aclCreateTopic(t, root, topic); err != nil {
			t.Fatal(err)
		}
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-a").Operations(kadm.OpWrite))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Groups("g-a").Operations(kadm.OpRead))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("t1", "nope").Operations(kadm.OpRead))
	alice := an.client(t, "alice")
	// g-a's coordinator is loaded once a commit made __consumer_offsets.
	var first kadm.Offsets
	first.AddOffset("t2", 0, 1, -1)
	if res, err := root.CommitOffsets(aclCtx(t), "g-a", first); err != nil || res.Error() != nil {
		t.Fatalf("admin commit: %v %v", err, res.Error())
	}

	send := func(txnID, group string, topics ...string) map[string]int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = txnID, group, 1, 0, -1
		for _, topic := range topics {
			req.Topics = append(req.Topics, kmsg.TxnOffsetCommitRequestTopic{Topic: topic,
				Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3, LeaderEpoch: -1}}})
		}
		resp := direct[*kmsg.TxnOffsetCommitResponse](t, alice, req)
		out := make(map[string]int16)
		for _, rt := range resp.Topics {
			out[rt.Topic] = rt.Partitions[0].ErrorCode
		}
		return out
	}
	want := func(what string, got map[string]int16, codes map[string]int16) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(codes) {
			t.Fatalf("%s: %v, want %v", what, got, codes)
		}
	}
	want("transactional id without WRITE", send("tx-b", "g-a", "t1"), map[string]int16{"t1": kerr.TransactionalIDAuthorizationFailed.Code})
	want("group without READ", send("tx-a", "h-b", "t1"), map[string]int16{"t1": kerr.GroupAuthorizationFailed.Code})
	// Producer 1 never added g-a to a transaction of tx-a: t1 reaches the
	// group coordinator and its partition's verification refuses it.
	got := send("tx-a", "g-a", "t1", "t2", "nope")
	if got["t2"] != kerr.TopicAuthorizationFailed.Code || got["nope"] != kerr.UnknownTopicOrPartition.Code || got["t1"] == 0 {
		t.Fatalf("mixed topics: %v, want t2 TOPIC_AUTHORIZATION_FAILED, nope UNKNOWN_TOPIC_OR_PARTITION, t1 refused", got)
	}
	offs, err := root.FetchOffsets(aclCtx(t), "g-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("t1", 0); ok {
		t.Fatalf("a refused transactional commit is visible: %+v", offs)
	}
}

// TestTxnOffsetsAcrossRestart: offsets of a transaction open when the node
// restarts are pending again after it (replayed from __consumer_offsets)
// and committed by the transaction's COMMIT after the restart.
func TestTxnOffsetsAcrossRestart(t *testing.T) {
	c := inproc.NewCluster(t, 1, nil)
	c.StartAll()
	ctx := testharness.Context(t, 90*time.Second)
	adm := inproc.Admin(t, c.KafkaAddrs())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "out"); err != nil {
		t.Fatal(err)
	}
	// Nothing asked for the group's coordinator yet: AddOffsetsToTxn itself
	// creates __consumer_offsets.
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.TransactionalID("tx-r"), kgo.DefaultProduceTopic("out"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "tx-r", pid, epoch, "g"
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("add offsets to txn: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	if err := txnOffsetCommit(t, cl, "tx-r", pid, epoch, "g", "out", 42); err != nil {
		t.Fatalf("txn offset commit: %v", err)
	}

	c.Restart(0)
	plain := inproc.Client(t, c.KafkaAddrs())
	testharness.Eventually(t, 30*time.Second, "the offset pending after the restart", func() bool {
		_, err := stableFetch(t, plain, "g", "out")
		return err == kerr.UnstableOffsetCommit
	})
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("end txn after the restart: %v", err)
	}
	testharness.Eventually(t, 30*time.Second, "the offset committed", func() bool {
		off, err := stableFetch(t, plain, "g", "out")
		return err == nil && off == 42
	}, func() string {
		off, err := stableFetch(t, plain, "g", "out")
		return fmt.Sprintf("offset %d err %v", off, err)
	})
}
