package broker_test

// Memory and connection limits of the Kafka listener, against a real node
// over real sockets (issue 11, findings 3 and 8). Every test ends by showing
// that the node still produces and consumes.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// limitsTopicSeq makes the topic names of stillServes unique.
var limitsTopicSeq atomic.Int64

// stillServes produces a record to a new topic and consumes it back with a
// fresh client: the node is healthy.
func stillServes(t *testing.T, n *broker.Node) {
	t.Helper()
	topic := "healthy-" + strconv.FormatInt(limitsTopicSeq.Add(1), 10)
	cl := inproc.NodeClient(t, n, kgo.AllowAutoTopicCreation())
	ctx := testharness.Context(t, 20*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("still here")}).FirstErr(); err != nil {
		t.Fatalf("produce after the test: %v", err)
	}
	recs := consumeN(t, n, topic, 1)
	if string(recs[0].Value) != "still here" {
		t.Fatalf("consumed %q", recs[0].Value)
	}
}

// fillPartition produces count records of size bytes each, one batch per
// record, to partition 0 of topic.
func fillPartition(t *testing.T, n *broker.Node, topic string, count, size int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addrs().Kafka), kgo.AllowAutoTopicCreation(), kgo.ProducerBatchMaxBytes(int32(size+1024)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close() // its connections must not count in the tests' numbers
	ctx := testharness.Context(t, 60*time.Second)
	value := bytes.Repeat([]byte{'x'}, size)
	for range count {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// fetchAll is a Fetch v11 for partition 0 of topic from offset 0 asking for
// everything: MaxBytes and PartitionMaxBytes at their largest.
func fetchAll(topic string) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID = -1
	req.MaxBytes = math.MaxInt32
	req.MinBytes = 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = 0
	rp.FetchOffset = 0
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rp.PartitionMaxBytes = math.MaxInt32
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// kafkaFrame frames req as a client would (kmsg's own request formatter).
func kafkaFrame(req kmsg.Request, corrID int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("limit")).AppendRequest(nil, req, corrID)
}

// kafkaDial opens a raw connection to the node's Kafka listener.
func kafkaDial(t *testing.T, n *broker.Node) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", n.Addrs().Kafka, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// kafkaCall writes req on nc and reads its response frame whole.
func kafkaCall(t *testing.T, nc net.Conn, req kmsg.Request, corrID int32) (frameLen int, body []byte) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	defer nc.SetDeadline(time.Time{})
	frame := kafkaFrame(req, corrID)
	if _, err := nc.Write(frame); err != nil {
		t.Fatalf("write request: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body = make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corrID {
		t.Fatalf("correlation id %d, want %d", got, corrID)
	}
	return len(frame), body[4:]
}

// fetchRecordBytes decodes a Fetch v11 response body and sums its record bytes.
func fetchRecordBytes(t *testing.T, body []byte) int {
	t.Helper()
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(11)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode fetch response: %v", err)
	}
	total := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetch %s[%d]: error code %d", rt.Topic, rp.Partition, rp.ErrorCode)
			}
			total += len(rp.RecordBatches)
		}
	}
	return total
}

// closedBy reports whether the peer closes nc within d.
func closedBy(nc net.Conn, d time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	var b [512]byte
	for {
		_, err := nc.Read(b[:])
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false
		default:
			return true
		}
	}
}

// TestFetchBoundedByBrokerLimits: one ~100-byte Fetch asking for MaxInt32
// bytes over a partition holding more than the broker's caps gets at most
// --fetch-max-bytes (and at most --max-partition-fetch-bytes of the
// partition) plus one batch; a batch larger than the caps still comes whole.
func TestFetchBoundedByBrokerLimits(t *testing.T) {
	const (
		batchSize = 64 << 10
		fetchMax  = 1 << 20
		partMax   = 512 << 10
	)
	t.Run("fetch-max-bytes", func(t *testing.T) {
		cfg := inproc.Config(t)
		cfg.LogFlush = partlog.FlushNever // the data, not fsync, is under test
		cfg.FetchMaxBytes = fetchMax
		n := inproc.StartNode(t, cfg)
		fillPartition(t, n, "big", 48, batchSize) // 3 MiB
		nc := kafkaDial(t, n)
		reqLen, body := kafkaCall(t, nc, fetchAll("big"), 1)
		got := fetchRecordBytes(t, body)
		t.Logf("a %d-byte request got %d record bytes (%d-byte response)", reqLen, got, len(body))
		if reqLen > 120 {
			t.Fatalf("request is %d bytes, meant to be about 100", reqLen)
		}
		if got > fetchMax+batchSize+1024 || got < fetchMax-batchSize-1024 {
			t.Fatalf("got %d record bytes, want about the %d-byte broker cap (one batch is %d)", got, fetchMax, batchSize)
		}
		stillServes(t, n)
	})
	t.Run("max-partition-fetch-bytes", func(t *testing.T) {
		cfg := inproc.Config(t)
		cfg.LogFlush = partlog.FlushNever
		cfg.PartitionFetchMaxBytes = partMax
		n := inproc.StartNode(t, cfg)
		fillPartition(t, n, "big", 24, batchSize) // 1.5 MiB
		_, body := kafkaCall(t, kafkaDial(t, n), fetchAll("big"), 1)
		if got := fetchRecordBytes(t, body); got > partMax+batchSize+1024 || got < partMax-batchSize-1024 {
			t.Fatalf("got %d record bytes of one partition, want about the %d-byte cap", got, partMax)
		}
		stillServes(t, n)
	})
	t.Run("one batch larger than the caps", func(t *testing.T) {
		cfg := inproc.Config(t)
		cfg.LogFlush = partlog.FlushNever
		cfg.FetchMaxBytes, cfg.PartitionFetchMaxBytes = 64<<10, 32<<10
		n := inproc.StartNode(t, cfg)
		fillPartition(t, n, "big", 2, 200<<10)
		_, body := kafkaCall(t, kafkaDial(t, n), fetchAll("big"), 1)
		if got := fetchRecordBytes(t, body); got < 200<<10 || got > 200<<10+1024 {
			t.Fatalf("got %d record bytes, want exactly the first 200 KiB batch", got)
		}
		stillServes(t, n)
	})
}

// TestPipelinedUnreadFetchesBoundHeap: connections that pipeline big
// fetches and never read the answers do not grow the node's heap beyond its
// queued bytes budget (plus a batch per fetch in progress); without the
// budget the answers would take 48 times as much (8 MiB each). Connections
// whose answers are stuck are cut by the write timeout and the node serves
// on.
func TestPipelinedUnreadFetchesBoundHeap(t *testing.T) {
	const (
		fetchMax = 8 << 20
		budget   = 16 << 20 // broker-wide
		perConn  = 8 << 20
		conns    = 6
		pipeline = 8
	)
	cfg := inproc.Config(t)
	cfg.LogFlush = partlog.FlushNever
	cfg.MaxRequestBytes = 8 << 20
	cfg.FetchMaxBytes, cfg.PartitionFetchMaxBytes = fetchMax, fetchMax
	cfg.QueuedMaxRequestBytes, cfg.ConnQueuedMaxBytes = budget, perConn
	cfg.ConnectionWriteTimeout = 3 * time.Second
	n := inproc.StartNode(t, cfg)
	fillPartition(t, n, "big", 80, 128<<10) // 10 MiB

	testharness.Eventually(t, 10*time.Second, "the producer's connections to end", func() bool {
		return n.KafkaStats().OpenConnections == 0
	})
	base := liveHeap()
	var raw []net.Conn
	for i := range conns {
		nc := kafkaDial(t, n)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10) // the kernel holds little of the answers
		}
		for j := range pipeline {
			if _, err := nc.Write(kafkaFrame(fetchAll("big"), int32(i*pipeline+j))); err != nil {
				t.Fatalf("write fetch: %v", err)
			}
		}
		raw = append(raw, nc)
	}
	// Observe the heap while the fetches are read and answered into
	// connections that do not read, until the write timeout cuts them.
	peak, peakQueued := uint64(0), int64(0)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		peak = max(peak, liveHeap())
		peakQueued = max(peakQueued, n.KafkaStats().QueuedBytes)
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap %d MiB before, peak %d MiB with %d connections x %d unread fetches of up to %d MiB (growth %d MiB; queued bytes peak %d MiB of a %d MiB budget)",
		base>>20, peak>>20, conns, pipeline, fetchMax>>20, growth>>20, peakQueued>>20, budget>>20)
	if peakQueued == 0 {
		t.Fatal("no response ever held budget: the fetches were not served")
	}
	if limit := int64(budget + conns*(128<<10)); peakQueued > limit {
		t.Fatalf("responses held %d bytes of the queued bytes budget, bound %d", peakQueued, limit)
	}
	if limit := int64(budget + conns*(128<<10) + 12<<20); growth > limit {
		t.Fatalf("heap grew %d MiB with unread fetches, bound %d MiB", growth>>20, limit>>20)
	}
	// The connections whose big answers are stuck are cut by the write
	// timeout, which gives back what they held; the others got answers the
	// kernel's buffers took (small or empty ones), and stay open until
	// closed. (Which is which depends on the kernel's buffer sizes; the
	// kafka package's TestUnreadResponsesCutByWriteTimeout pins the cut.)
	testharness.Eventually(t, 30*time.Second, "stuck connections to be cut and their bytes released", func() bool {
		return n.KafkaStats().QueuedBytes == 0
	})
	t.Logf("%d of %d connections cut by the write timeout", conns-n.KafkaStats().OpenConnections, conns)
	for _, nc := range raw {
		nc.Close()
	}
	testharness.Eventually(t, 10*time.Second, "closed connections to end", func() bool {
		return n.KafkaStats().OpenConnections == 0
	})
	stillServes(t, n)
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestIdleAndSlowConnectionsCut: a Kafka connection idle for
// --connections-max-idle is closed, and a request sent one byte at a time is
// cut at --request-read-timeout after its first byte.
func TestIdleAndSlowConnectionsCut(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.ConnectionsMaxIdle = 700 * time.Millisecond
	cfg.RequestReadTimeout = 700 * time.Millisecond
	n := inproc.StartNode(t, cfg)

	idle := kafkaDial(t, n)
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(1)
	meta.Topics = []kmsg.MetadataRequestTopic{}
	kafkaCall(t, idle, meta, 1)
	start := time.Now()
	if !closedBy(idle, 10*time.Second) {
		t.Fatal("idle connection not closed")
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before the 700ms idle timeout", took)
	}

	slow := kafkaDial(t, n)
	frame := kafkaFrame(meta, 2)
	start = time.Now()
	sent := 0
	for _, b := range frame {
		if _, err := slow.Write([]byte{b}); err != nil || closedBy(slow, 200*time.Millisecond) {
			break
		}
		sent++
	}
	if sent == len(frame) {
		t.Fatalf("a %d-byte request sent a byte per 200ms was read whole, not cut", len(frame))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("slow request cut only after %v", took)
	}
	t.Logf("slow request cut after %d of %d bytes, %v", sent, len(frame), time.Since(start).Round(time.Millisecond))
	stillServes(t, n)
}

// TestExcessConnectionsRefused: beyond --max-connections-per-ip (and
// --max-connections) a new connection is closed at accept, while the open
// ones keep working.
func TestExcessConnectionsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply func(*broker.Config)
	}{
		{"max-connections", func(c *broker.Config) { c.MaxConnections = 6 }},
		{"max-connections-per-ip", func(c *broker.Config) { c.MaxConnectionsPerIP = 6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := inproc.Config(t)
			tc.apply(&cfg)
			n := inproc.StartNode(t, cfg)
			meta := kmsg.NewPtrMetadataRequest()
			meta.SetVersion(1)
			meta.Topics = []kmsg.MetadataRequestTopic{}
			var open []net.Conn
			for i := range 6 {
				nc := kafkaDial(t, n)
				kafkaCall(t, nc, meta, int32(i))
				open = append(open, nc)
			}
			if !closedBy(kafkaDial(t, n), 10*time.Second) {
				t.Fatal("a 7th connection was not refused")
			}
			for i, nc := range open {
				kafkaCall(t, nc, meta, int32(10+i))
			}
			for _, nc := range open {
				nc.Close()
			}
			stillServes(t, n)
		})
	}
}

// TestReplicationNotStarvedByUnreadFetches: while connections that never
// read hold all the leader's fetch budget, followers still replicate: an
// acks=all produce to a replication-factor-2 partition is answered at once
// and the ISR keeps both replicas.
func TestReplicationNotStarvedByUnreadFetches(t *testing.T) {
	c := inproc.NewCluster(t, 2, func(cfg *broker.Config) {
		cfg.LogFlush = partlog.FlushNever
		cfg.MaxRequestBytes = 8 << 20
		cfg.FetchMaxBytes, cfg.PartitionFetchMaxBytes = 8<<20, 8<<20
		cfg.QueuedMaxRequestBytes, cfg.ConnQueuedMaxBytes = 16<<20, 8<<20
		cfg.ConnectionWriteTimeout = time.Minute // the stuck answers stay stuck
	})
	c.StartAll()
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 30*time.Second)
	if resp, err := adm.CreateTopic(ctx, 1, 2, nil, "big"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	leaderOf := func() (*broker.Node, []int32) {
		for _, tp := range c.MetadataOf(0, "big").Topics {
			for _, p := range tp.Partitions {
				if p.Leader > 0 && len(p.ISR) > 0 {
					return c.Nodes[p.Leader-1], p.ISR
				}
			}
		}
		return nil, nil
	}
	testharness.Eventually(t, 20*time.Second, "a leader and a full ISR", func() bool {
		n, isr := leaderOf()
		return n != nil && len(isr) == 2
	})
	leader, _ := leaderOf()
	fillPartition(t, leader, "big", 80, 128<<10) // 10 MiB, acks=all

	// Long polls: a fetch that finds no budget waits for some to free and
	// takes it, so the stuck answers end up holding all the budget that
	// responses may (whatever part of them the kernel's buffers absorbed).
	poll := fetchAll("big")
	poll.MaxWaitMillis = 30000
	for i := range 4 {
		nc := kafkaDial(t, leader)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		for j := range 8 {
			if _, err := nc.Write(kafkaFrame(poll, int32(i*8+j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	testharness.Eventually(t, 20*time.Second, "unread answers to fill the fetch budget", func() bool {
		return leader.KafkaStats().QueuedBytes >= 12<<20 // the three quarters responses may hold
	}, func() string {
		st := leader.KafkaStats()
		now, isr := leaderOf()
		return fmt.Sprintf("queued %d bytes, %d connections, fetches %d; leader now %v (was node %d), ISR %v",
			st.QueuedBytes, st.OpenConnections, st.Requests[1], now.NodeID(), leader.NodeID(), isr)
	})

	cl := inproc.NodeClient(t, leader, kgo.RequiredAcks(kgo.AllISRAcks()))
	start := time.Now()
	pctx := testharness.Context(t, 20*time.Second)
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "big", Value: []byte("replicated")}).FirstErr(); err != nil {
		t.Fatalf("acks=all produce while the budget is full: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("acks=all produce took %v while the fetch budget was full", took)
	}
	if _, isr := leaderOf(); len(isr) != 2 {
		t.Fatalf("ISR %v after the produce, want both replicas", isr)
	}
}
