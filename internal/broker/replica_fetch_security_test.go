package broker_test

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// seqRecord is a record whose value starts with seq, as checkExactlyOnce
// reads it.
func seqRecord(seq uint64) *kgo.Record {
	v := make([]byte, 64)
	binary.BigEndian.PutUint64(v, seq)
	return &kgo.Record{Value: v}
}

// acksAllProducer is an idempotent acks=all producer to topic that retries
// through leader changes.
func acksAllProducer(t *testing.T, seeds []string, topic string) *kgo.Client {
	t.Helper()
	return inproc.Client(t, seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.RecordRetries(1<<30),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
}

// produceSeqs produces seqs first..last-1 one at a time, recording each
// acknowledged offset in acked.
func produceSeqs(t *testing.T, cl *kgo.Client, first, last uint64, acked map[uint64]int64) {
	t.Helper()
	ctx := testharness.Context(t, 30*time.Second)
	for seq := first; seq < last; seq++ {
		r, err := cl.ProduceSync(ctx, seqRecord(seq)).First()
		if err != nil {
			t.Fatalf("produce %d with acks=all: %v", seq, err)
		}
		acked[seq] = r.Offset
	}
}

// forgedFetch is what an attacker sends a leader's Kafka listener: a Fetch
// claiming to be follower replica, at fetchOffset.
func forgedFetch(topic string, replica int32, fetchOffset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = replica
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = 0
	rp.FetchOffset = fetchOffset
	rp.CurrentLeaderEpoch = -1
	rp.LastFetchedEpoch = -1
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// wantAuthorizationFailed checks a fetch was refused partition by partition
// with TOPIC_AUTHORIZATION_FAILED and carried nothing.
func wantAuthorizationFailed(t *testing.T, what string, resp *kmsg.FetchResponse) {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("%s: error %d, topics %+v", what, resp.ErrorCode, resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 || p.HighWatermark != -1 {
		t.Fatalf("%s: error %v, hw %d, %d record bytes; want TOPIC_AUTHORIZATION_FAILED, no data",
			what, kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(p.RecordBatches))
	}
}

// TestForgedFollowerFetchIsRefused reproduces finding 2 of issue 11: with
// one follower of an RF 3 partition cut off (crashed, so no controlled
// shutdown moves anything), a plain Kafka client sends the leader's Kafka
// listener Fetches claiming to be that follower at the leader's log end.
// Each is refused with TOPIC_AUTHORIZATION_FAILED and records nothing: an
// acks=all record produced meanwhile is not acknowledged while the cut-off
// follower counts, the follower leaves the ISR after
// replica.lag.time.max.ms (well before the controller would fence it), and
// acks=all produces go on with the remaining ISR. After the leader is
// killed too (and the cut-off follower comes back, for a raft quorum), the
// new leader is the in-sync survivor and every acknowledged record is there.
// Before the fix the forged fetches kept the follower in the ISR, moved the
// high watermark, and the follower could lead without the records.
func TestForgedFollowerFetchIsRefused(t *testing.T) {
	const session = 6 * time.Second // the controller fences a silent broker only after this
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.BrokerSessionTimeout = session })
	c.StartAll()
	const topic = "forged"
	leader := createRF3(t, c, topic, map[string]*string{"replica.lag.time.max.ms": kmsg.StringPtr("1500")})
	var cut, other int32 // the follower first in assignment order (it would be elected first), and the other
	for _, r := range partitionOf(t, c, topic).Replicas {
		switch {
		case r == leader:
		case cut == 0:
			cut = r
		default:
			other = r
		}
	}
	t.Logf("leader %d, cut-off follower %d, other follower %d", leader, cut, other)

	prod := acksAllProducer(t, c.KafkaAddrs(), topic)
	acked := map[uint64]int64{}
	produceSeqs(t, prod, 0, 10, acked)
	waitFullISR(t, c, topic, 10*time.Second)
	leaderNode := c.Nodes[leader-1]
	ctx := testharness.Context(t, 2*time.Minute)
	ends, err := kadm.NewClient(inproc.NodeClient(t, leaderNode)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	hw0, _ := ends.Lookup(topic, 0)
	if hw0.Err != nil || hw0.Offset != 10 {
		t.Fatalf("high watermark %d (%v), want 10", hw0.Offset, hw0.Err)
	}

	if err := c.Nodes[cut-1].CrashForTest(ctx); err != nil {
		t.Fatalf("crash node %d: %v", cut, err)
	}
	c.Nodes[cut-1] = nil
	// Its cluster address answers nothing instead of refusing, as a paused or
	// cut-off node's would: a refused address is fenced within a few hundred
	// milliseconds, and this test is about the lag rule, which forged fetches
	// must not defeat.
	unsilence := testharness.Silence(t, c.Cfgs[cut-1].ClusterAddr)
	crashed := time.Now()

	// One more acks=all record: the leader's log end becomes hw0+1.
	type ack struct {
		offset int64
		err    error
		at     time.Time
	}
	acks := make(chan ack, 1)
	sent := time.Now()
	prod.Produce(ctx, seqRecord(10), func(r *kgo.Record, err error) { acks <- ack{r.Offset, err, time.Now()} })

	forger := inproc.NodeClient(t, leaderNode)
	seed := forger.Broker(math.MinInt32) // the leader's Kafka listener, addressed directly
	var got *ack
	left := false
	forged := 0
	for !left {
		if time.Since(crashed) > session-time.Second {
			t.Fatalf("follower %d still in the ISR %v after %v of forged fetches; the lag time is 1.5s",
				cut, partitionOf(t, c, topic).ISR, time.Since(crashed))
		}
		kresp, err := seed.Request(ctx, forgedFetch(topic, cut, hw0.Offset+1))
		if err != nil {
			t.Fatalf("forged fetch: %v", err)
		}
		forged++
		wantAuthorizationFailed(t, fmt.Sprintf("forged fetch %d", forged), kresp.(*kmsg.FetchResponse))
		md := c.MetadataOf(int(leader-1), topic).Topics[0].Partitions[0]
		if !slices.Contains(md.ISR, cut) {
			if slices.Contains(md.OfflineReplicas, cut) {
				t.Fatalf("follower %d left the ISR by being fenced, not by lagging", cut)
			}
			left = true
		}
		select {
		case a := <-acks:
			got = &a
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("follower %d left the ISR %v after the crash, through %d forged fetches", cut, time.Since(crashed), forged)
	if got == nil {
		select {
		case a := <-acks:
			got = &a
		case <-time.After(10 * time.Second):
			t.Fatal("the acks=all record was not answered within 10s of the ISR shrinking")
		}
	}
	if got.err != nil {
		t.Fatalf("acks=all record produced after the crash: %v", got.err)
	}
	// The follower's last caught-up fetch was at most a long poll (0.5 s)
	// before the crash, so the record can only be acknowledged once it is
	// found lagging, ~1 s after: a forged fetch would have done it at once.
	if d := got.at.Sub(sent); d < 500*time.Millisecond {
		t.Fatalf("record acknowledged %v after it was sent, with follower %d down and in the ISR: a forged fetch moved the high watermark", d, cut)
	}
	acked[10] = got.offset

	// acks=all keeps working with the remaining ISR.
	produceSeqs(t, prod, 11, 60, acked)

	// Kill the leader; bring the cut-off follower back so that raft has a
	// quorum to fence the dead leader with.
	if err := c.Nodes[leader-1].CrashForTest(ctx); err != nil {
		t.Fatalf("crash node %d: %v", leader, err)
	}
	c.Nodes[leader-1] = nil
	unsilence()
	c.Start(int(cut - 1))
	var p kmsg.MetadataResponseTopicPartition
	testharness.Eventually(t, session+20*time.Second, "the in-sync follower leads", func() bool {
		p = c.MetadataOf(int(other-1), topic).Topics[0].Partitions[0]
		return p.Leader == other
	}, func() string { return fmt.Sprintf("leader %d, ISR %v", p.Leader, p.ISR) })
	checkExactlyOnce(t, []string{c.Nodes[other-1].Addrs().Kafka}, topic, acked)
}

// rawRoundTrip writes req on c as one request frame and reads its response.
func rawRoundTrip(c net.Conn, br *bufio.Reader, req kmsg.Request, corr int32) (kmsg.Response, error) {
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("test-replica")).AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(br, frame); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body := frame[4:]
	if resp.IsFlexible() {
		body = body[1:] // the response header's empty tag section
	}
	return resp, resp.ReadFrom(body)
}

// TestReplicaConnectionFromStaleIncarnationRefused: a replica connection
// must prove the dialing broker's current incarnation (KIP-903's broker
// epoch). A wrong one is refused at the preamble with STALE_BROKER_EPOCH;
// on an accepted connection a Fetch claiming another broker's id gets
// TOPIC_AUTHORIZATION_FAILED; once the broker registers again (as a restart
// does) a Fetch on its old connection is refused with STALE_BROKER_EPOCH and
// the connection is closed, while its fetch loop reconnects as the new
// incarnation and the follower rejoins the ISR.
func TestReplicaConnectionFromStaleIncarnationRefused(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	const topic = "stale"
	leader := createRF3(t, c, topic, nil)
	var follower, other int32
	for _, r := range partitionOf(t, c, topic).Replicas {
		switch {
		case r == leader:
		case follower == 0:
			follower = r
		default:
			other = r
		}
	}
	prod := acksAllProducer(t, c.KafkaAddrs(), topic)
	acked := map[uint64]int64{}
	produceSeqs(t, prod, 0, 5, acked)
	waitFullISR(t, c, topic, 10*time.Second)
	f := c.Nodes[follower-1]
	ctx := testharness.Context(t, time.Minute)

	if _, err := f.DialReplicaForTest(ctx, leader, f.IncarnationForTest()+1); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Fatalf("replica connection with a wrong incarnation: %v, want STALE_BROKER_EPOCH", err)
	}

	conn, err := f.DialReplicaForTest(ctx, leader, f.IncarnationForTest())
	if err != nil {
		t.Fatalf("replica connection with the current incarnation: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	fetchAs := func(replica int32, corr int32) (*kmsg.FetchResponse, error) {
		req := forgedFetch(topic, replica, 5)
		req.SetVersion(12)
		resp, err := rawRoundTrip(conn, br, req, corr)
		if err != nil {
			return nil, err
		}
		return resp.(*kmsg.FetchResponse), nil
	}
	resp, err := fetchAs(follower, 1)
	if err != nil {
		t.Fatalf("fetch as itself: %v", err)
	}
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[0].Partitions[0].HighWatermark != 5 {
		t.Fatalf("fetch as itself: error %d, partition %+v", resp.ErrorCode, resp.Topics[0].Partitions[0])
	}
	resp, err = fetchAs(other, 2)
	if err != nil {
		t.Fatalf("fetch as broker %d: %v", other, err)
	}
	wantAuthorizationFailed(t, fmt.Sprintf("broker %d claiming broker %d's id", follower, other), resp)

	old := f.IncarnationForTest()
	f.ReregisterForTest(ctx)
	if f.IncarnationForTest() == old {
		t.Fatal("re-registration kept the incarnation")
	}
	// Once the leader has applied the new registration, the new incarnation
	// is accepted...
	testharness.Eventually(t, 10*time.Second, "the leader knows the new incarnation", func() bool {
		nc, err := f.DialReplicaForTest(ctx, leader, f.IncarnationForTest())
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
	// ...and the old connection is from a previous life.
	resp, err = fetchAs(follower, 3)
	if err != nil {
		t.Fatalf("fetch on the old connection: %v", err)
	}
	if resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("fetch on the old connection: error %v, want STALE_BROKER_EPOCH", kerr.ErrorForCode(resp.ErrorCode))
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			t.Fatalf("old connection after STALE_BROKER_EPOCH: %v, want it closed", err)
		}
	}

	// The follower itself reconnects as its new incarnation.
	produceSeqs(t, prod, 5, 20, acked)
	waitFullISR(t, c, topic, 20*time.Second)
	checkExactlyOnce(t, c.KafkaAddrs(), topic, acked)
}

// TestReplicationOverClusterListener: followers fetch over the cluster
// listener in each of its authentication modes — none (loopback, the
// default), the shared-secret challenge and mutual TLS — so acks=all
// produces complete and every replica holds the leader's bytes. (Fetches
// claiming a replica id are refused on the Kafka listeners, so replication
// that works went over the cluster listener.)
func TestReplicationOverClusterListener(t *testing.T) {
	modes := []struct {
		name   string
		mutate func(t *testing.T) func(*broker.Config)
	}{
		{"loopback-insecure", func(*testing.T) func(*broker.Config) { return nil }},
		{"secret", func(t *testing.T) func(*broker.Config) {
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "cluster.secret")
			if err := os.WriteFile(path, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return func(cfg *broker.Config) { cfg.ClusterSecretFile = path }
		}},
		{"tls", func(t *testing.T) func(*broker.Config) {
			dir := t.TempDir()
			opts := certs.Options{Dir: dir}
			if _, err := certs.CreateCA(opts, false); err != nil {
				t.Fatal(err)
			}
			for id := uint64(1); id <= 3; id++ {
				if _, err := certs.CreateNode(opts, id, []string{"127.0.0.1", "localhost"}); err != nil {
					t.Fatal(err)
				}
			}
			return func(cfg *broker.Config) {
				id := uint64(cfg.NodeID)
				cfg.ClusterTLSCertFile = filepath.Join(dir, certs.NodeCertFile(id))
				cfg.ClusterTLSKeyFile = filepath.Join(dir, certs.NodeKeyFile(id))
				cfg.ClusterTLSCAFile = filepath.Join(dir, certs.CACertFile)
			}
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := inproc.NewCluster(t, 3, m.mutate(t))
			c.StartAll()
			const topic = "over-cluster"
			createRF3(t, c, topic, nil)
			prod := acksAllProducer(t, c.KafkaAddrs(), topic)
			acked := map[uint64]int64{}
			produceSeqs(t, prod, 0, 30, acked)
			waitFullISR(t, c, topic, 10*time.Second)
			var lens []int
			testharness.Eventually(t, 10*time.Second, "identical replicas", func() bool {
				want := logBytes(t, c.Cfgs[0].DataDir, topic, 0)
				lens = lens[:0]
				same := true
				for i := range c.Nodes {
					b := logBytes(t, c.Cfgs[i].DataDir, topic, 0)
					lens = append(lens, len(b))
					same = same && string(b) == string(want)
				}
				return same
			}, func() string { return fmt.Sprintf("log sizes %v", lens) })
			checkExactlyOnce(t, c.KafkaAddrs(), topic, acked)
		})
	}
}
