package broker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// confirmAll is a transaction coordinator that confirms every partition.
type confirmAll struct{}

func (confirmAll) VerifyTxnPartition(context.Context, string, int64, int16, string, int32) error {
	return nil
}

// txnValues appends one transactional batch of producer pid (epoch 0,
// base sequence seq) holding values, as a produce its coordinator
// confirmed would, committed (the LSO follows the high watermark).
func txnValues(t *testing.T, p *replica.Partition, pid int64, seq int32, values ...string) {
	t.Helper()
	recs := make([]batch.Record, len(values))
	now := time.Now().UnixMilli()
	for i, v := range values {
		recs[i] = batch.Record{Timestamp: now, Key: []byte("k"), Value: []byte(v)}
	}
	b := batch.Build(now, recs)
	batch.SetProducer(b, pid, 0, seq, true, false)
	ctx := testharness.Context(t, 5*time.Second)
	res, err := p.AppendTxn(ctx, b, replica.TxnProduce{TransactionalID: "tx", Verifier: confirmAll{}})
	if err != nil {
		t.Fatalf("transactional append of producer %d: %v", pid, err)
	}
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		t.Fatal(err)
	}
}

// plainValues produces one non-transactional batch over the Kafka listener.
func plainValues(t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	recs := make([]batch.Record, len(values))
	for i, v := range values {
		recs[i] = batch.Record{Timestamp: time.Now().UnixMilli(), Key: []byte("k"), Value: []byte(v)}
	}
	if r := rawProduce(t, cl, topic, 0, batch.Build(time.Now().UnixMilli(), recs)); r.ErrorCode != 0 {
		t.Fatalf("produce %v: error %d", values, r.ErrorCode)
	}
}

// markersReq is a WriteTxnMarkers request for one marker on topic-0.
func markersReq(topic string, pid int64, epoch int16, commit bool, coordEpoch int32) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

// brokerMarker sends a marker as a broker does, over this node's cluster
// connection to itself, and returns the partition's error code.
func brokerMarker(t *testing.T, n *broker.Node, topic string, pid int64, epoch int16, commit bool, coordEpoch int32) int16 {
	t.Helper()
	kresp, err := n.InterbrokerRequestForTest(testharness.Context(t, 10*time.Second), 1, markersReq(topic, pid, epoch, commit, coordEpoch))
	if err != nil {
		t.Fatalf("WriteTxnMarkers over the cluster connection: %v", err)
	}
	return kresp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
}

func ledReplica(t *testing.T, n *broker.Node, topic string) *replica.Partition {
	t.Helper()
	var p *replica.Partition
	testharness.Eventually(t, 10*time.Second, topic+"-0 led here", func() bool {
		p = n.ReplicaForTest(topic, 0)
		return p != nil && p.IsLeader()
	})
	return p
}

// listOffset asks for the latest offset of topic-0 at an isolation level.
func listOffset(t *testing.T, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testharness.Context(t, 5*time.Second), cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("list offsets: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}

func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// A read_committed franz-go consumer skips aborted transactions' records
// (the fetch lists them) and waits at the last stable offset, woken when a
// marker moves it; ListOffsets and DescribeProducers see the open
// transaction.
func TestReadCommittedFetchWithFranzGo(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "rc", 1, nil)
	p := ledReplica(t, n, "rc")
	cl := inproc.NodeClient(t, n)

	txnValues(t, p, 100, 0, "a1", "a2")                                // 0-1, aborted below
	plainValues(t, cl, "rc", "c1")                                     // 2
	txnValues(t, p, 101, 0, "b1")                                      // 3, committed below
	txnValues(t, p, 100, 2, "a3")                                      // 4
	if code := brokerMarker(t, n, "rc", 100, 0, false, 0); code != 0 { // 5
		t.Fatalf("abort marker: error %d", code)
	}
	if code := brokerMarker(t, n, "rc", 101, 0, true, 0); code != 0 { // 6
		t.Fatalf("commit marker: error %d", code)
	}
	txnValues(t, p, 102, 0, "d1") // 7, open
	if got, hw := listOffset(t, cl, "rc", 1), listOffset(t, cl, "rc", 0); got != 7 || hw != 8 {
		t.Fatalf("latest offset read_committed %d, read_uncommitted %d; want 7 and 8", got, hw)
	}

	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = "rc", []int32{0}
	dp.Topics = append(dp.Topics, dt)
	dresp, err := dp.RequestWith(testharness.Context(t, 5*time.Second), cl)
	if err != nil || dresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("describe producers: %v %+v", err, dresp)
	}
	starts := map[int64]int64{}
	for _, ap := range dresp.Topics[0].Partitions[0].ActiveProducers {
		starts[ap.ProducerID] = ap.CurrentTxnStartOffset
	}
	if starts[100] != -1 || starts[101] != -1 || starts[102] != 7 || len(starts) != 3 {
		t.Fatalf("described transaction starts %v, want 102 open at 7 and 100, 101 done", starts)
	}

	consumer := inproc.NodeClient(t, n, kgo.ConsumeTopics("rc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Second))
	var got []*kgo.Record
	ctx := testharness.Context(t, 30*time.Second)
	for len(got) < 2 && ctx.Err() == nil {
		got = append(got, consumer.PollFetches(ctx).Records()...)
	}
	if want := []string{"c1", "b1"}; !slices.Equal(values(got), want) {
		t.Fatalf("read_committed consumed %v, want %v", values(got), want)
	}

	// The consumer now waits at the LSO (7) in a 20 s long poll; the
	// commit marker must wake it long before that.
	polled := make(chan []*kgo.Record, 1)
	pollCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { polled <- consumer.PollFetches(pollCtx).Records() }()
	start := time.Now()
	if code := brokerMarker(t, n, "rc", 102, 0, true, 0); code != 0 {
		t.Fatalf("commit marker: error %d", code)
	}
	select {
	case rs := <-polled:
		if !slices.Equal(values(rs), []string{"d1"}) || time.Since(start) > 10*time.Second {
			t.Fatalf("after the commit marker consumed %v in %v, want [d1] at once", values(rs), time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read_committed consumer waiting at the LSO was not woken by the marker")
	}
	if got := listOffset(t, cl, "rc", 1); got != 9 {
		t.Fatalf("latest read_committed offset %d after every transaction ended, want 9", got)
	}

	all := consumeN(t, n, "rc", 6)
	if want := []string{"a1", "a2", "c1", "b1", "a3", "d1"}; !slices.Equal(values(all), want) {
		t.Fatalf("read_uncommitted consumed %v, want %v", values(all), want)
	}
}

// What lies gets Kafka's error and changes nothing: markers from a client,
// markers with stale epochs, a transactional batch without a transactional
// id or never added to a transaction, a control batch from a producer.
func TestTxnPartitionAttacks(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "atk", 1, nil)
	p := ledReplica(t, n, "atk")
	cl := inproc.NodeClient(t, n)
	ctx := testharness.Context(t, 30*time.Second)

	txnValues(t, p, 200, 0, "x")
	if code := brokerMarker(t, n, "atk", 200, 0, true, 5); code != 0 {
		t.Fatalf("commit marker: error %d", code)
	}
	txnValues(t, p, 200, 1, "y") // open at 2
	end, lso := p.LogEndOffset(), p.LastStableOffset()
	unchanged := func(what string) {
		t.Helper()
		if p.LogEndOffset() != end || p.LastStableOffset() != lso {
			t.Fatalf("%s: log end %d lso %d, want %d and %d", what, p.LogEndOffset(), p.LastStableOffset(), end, lso)
		}
	}

	// A client may not write markers.
	kresp, err := cl.Request(ctx, markersReq("atk", 200, 0, false, 5))
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("WriteTxnMarkers from a client: error %d, want CLUSTER_AUTHORIZATION_FAILED", code)
	}
	unchanged("client marker")

	// Brokers' markers are fenced by epochs.
	for _, c := range []struct {
		epoch      int16
		coordEpoch int32
		want       *kerr.Error
	}{
		{-1, 5, kerr.InvalidProducerIDMapping},
		{0, 4, kerr.TransactionCoordinatorFenced},
	} {
		if code := brokerMarker(t, n, "atk", 200, c.epoch, false, c.coordEpoch); code != c.want.Code {
			t.Errorf("marker epoch %d coordinator epoch %d: error %d, want %s", c.epoch, c.coordEpoch, code, c.want.Message)
		}
	}
	if code := brokerMarker(t, n, "nope", 200, 0, false, 5); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("marker for an unknown topic: error %d", code)
	}
	unchanged("fenced markers")

	txnBatch := func(pid int64, control bool) []byte {
		b := batch.Build(time.Now().UnixMilli(), []batch.Record{{Timestamp: time.Now().UnixMilli(), Key: []byte("k"), Value: []byte("z")}})
		batch.SetProducer(b, pid, 0, 0, true, control)
		return b
	}
	produce := func(txnID *string, records []byte) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = txnID, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "atk"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(nil, txnBatch(300, false)); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("transactional batch without a transactional id: error %d", code)
	}
	id := "never-began"
	if code := produce(&id, txnBatch(300, false)); code == 0 {
		t.Error("a transactional batch the coordinator never heard of was appended")
	} else {
		t.Logf("transactional batch of an unknown transaction: %v", kerr.ErrorForCode(code))
	}
	// A producer whose transaction the coordinator knows, writing to a
	// partition it never added (KIP-890 part 1): refused, nothing appended.
	real := "began"
	var pid int64
	var epoch int16
	testharness.Eventually(t, 20*time.Second, "transactional InitProducerId", func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &real, 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	unadded := batch.Build(time.Now().UnixMilli(), []batch.Record{{Timestamp: time.Now().UnixMilli(), Key: []byte("k"), Value: []byte("z")}})
	batch.SetProducer(unadded, pid, epoch, 0, true, false)
	if code := produce(&real, unadded); code != kerr.InvalidTxnState.Code {
		t.Errorf("batch for a partition never added to the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if code := produce(&id, txnBatch(300, true)); code != kerr.InvalidRecord.Code {
		t.Errorf("control batch from a producer: error %d, want INVALID_RECORD", code)
	}
	unchanged("refused produces")
	// The real end of the transaction still works.
	if code := brokerMarker(t, n, "atk", 200, 0, false, 5); code != 0 {
		t.Fatalf("abort marker: error %d", code)
	}
	if p.LastStableOffset() != p.HighWatermark() || p.LogEndOffset() != end+1 {
		t.Fatalf("after the abort: lso %d hw %d end %d", p.LastStableOffset(), p.HighWatermark(), p.LogEndOffset())
	}
}
