package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// These tests run three real `chronik serve` processes and kill, stop and
// continue them with signals.

// procCluster is three `chronik serve` processes (a testharness.ProcCluster)
// with what these tests ask of them: clients, partition 0 as one node sees
// it, topics replicated on all three.
type procCluster struct {
	*testharness.ProcCluster
	t *testing.T
}

// startProcCluster starts three processes with extra flags and waits until
// all are ready. It skips the test with -short.
func startProcCluster(t *testing.T, extra ...string) *procCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("process test")
	}
	return &procCluster{ProcCluster: testharness.StartProcCluster(t, chronikBinary(t), 3, extra...), t: t}
}

func (c *procCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.KafkaAddrs()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// partition asks node i itself for partition 0 of topic.
func (c *procCluster) partition(i int, topic string) (kmsg.MetadataResponseTopicPartition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := testharness.MetadataFrom(ctx, c.Procs[i].Kafka, topic)
	if err != nil {
		return kmsg.MetadataResponseTopicPartition{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		return kmsg.MetadataResponseTopicPartition{}, fmt.Errorf("no metadata for %s", topic)
	}
	return resp.Topics[0].Partitions[0], nil
}

// waitPartition polls node i until cond holds for partition 0 of topic.
func (c *procCluster) waitPartition(i int, topic string, within time.Duration, what string, cond func(kmsg.MetadataResponseTopicPartition) bool) kmsg.MetadataResponseTopicPartition {
	c.t.Helper()
	var p kmsg.MetadataResponseTopicPartition
	var err error
	testharness.Eventually(c.t, within, what, func() bool {
		p, err = c.partition(i, topic)
		return err == nil && cond(p)
	}, func() string { return fmt.Sprintf("node %d says leader %d ISR %v, err %v", i+1, p.Leader, p.ISR, err) })
	return p
}

// createRF3 creates a one-partition topic on all three nodes with
// min.insync.replicas 2 and returns the 0-based index of its leader.
func (c *procCluster) createRF3(topic string) int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(c.client()).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("create %s: %v", topic, err)
	}
	p := c.waitPartition(0, topic, 5*time.Second, "full ISR at creation", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3 && p.Leader > 0
	})
	return int(p.Leader - 1)
}

// stream is an idempotent acks=all producer writing sequence numbers, and a
// consumer reading alongside it, recording what it was shown.
type stream struct {
	t        *testing.T
	topic    string
	producer *kgo.Client
	mu       sync.Mutex
	acked    map[uint64]int64 // sequence -> offset
	ackTimes []time.Time
	seen     map[int64][]byte // offset -> value, as the live consumer saw it
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startStream(t *testing.T, c *procCluster, topic string) *stream {
	t.Helper()
	s := &stream{t: t, topic: topic, acked: map[uint64]int64{}, seen: map[int64][]byte{}, stop: make(chan struct{})}
	s.producer = c.client(kgo.DefaultProduceTopic(topic), kgo.RecordRetries(1<<30),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.MaxBufferedRecords(200),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond),
		// A stopped broker never answers: give up on it quickly and retry
		// elsewhere (the idempotent producer keeps its sequence numbers).
		kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second))
	consumer := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.RequestTimeoutOverhead(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.finish() })
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for seq := uint64(0); ; seq++ {
			select {
			case <-s.stop:
				return
			default:
			}
			v := make([]byte, 1024)
			binary.BigEndian.PutUint64(v, seq)
			s.producer.Produce(ctx, &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("record %d not acknowledged: %v", seq, err)
					}
					return
				}
				s.mu.Lock()
				s.acked[seq] = r.Offset
				s.ackTimes = append(s.ackTimes, time.Now())
				s.mu.Unlock()
			})
			if seq%10 == 9 {
				time.Sleep(time.Millisecond) // a steady stream of about 5k records/s at most
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			select {
			case <-s.stop:
				return
			default:
			}
			fs.EachRecord(func(r *kgo.Record) {
				s.mu.Lock()
				if prev, ok := s.seen[r.Offset]; ok && !bytes.Equal(prev, r.Value) {
					t.Errorf("offset %d read twice with different values", r.Offset)
				}
				s.seen[r.Offset] = r.Value
				s.mu.Unlock()
			})
		}
	}()
	return s
}

func (s *stream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// firstAckAfter is when the first acknowledgement after t arrived.
func (s *stream) firstAckAfter(t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.ackTimes), func(i int) bool { return s.ackTimes[i].After(t) })
	if i == len(s.ackTimes) {
		return time.Time{}, false
	}
	return s.ackTimes[i], true
}

func (s *stream) waitAcks(n int, within time.Duration) {
	s.t.Helper()
	testharness.Eventually(s.t, within, fmt.Sprintf("%d records acknowledged", n), func() bool { return s.count() >= n },
		func() string { return fmt.Sprintf("%d acknowledged", s.count()) })
}

// finish stops producing, flushes and stops the consumer.
func (s *stream) finish() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.producer.Flush(ctx); err != nil {
		s.t.Errorf("flush: %v", err)
	}
	s.wg.Wait()
}

// verify reads the whole partition and checks: every acknowledged record
// exactly once at its acknowledged offset, no gaps, and everything the live
// consumer was ever shown is still there, unchanged.
func (s *stream) verify(c *procCluster) map[uint64]int64 {
	t := s.t
	t.Helper()
	cl := c.client(kgo.ConsumeTopics(s.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, s.topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(s.topic, 0)
	final := map[int64][]byte{}
	bySeq := map[uint64]int64{}
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records back", next, end.Offset)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("offset %d follows %d", r.Offset, next-1)
			}
			seq := binary.BigEndian.Uint64(r.Value)
			if prev, dup := bySeq[seq]; dup {
				t.Fatalf("record %d at offsets %d and %d", seq, prev, r.Offset)
			}
			bySeq[seq] = r.Offset
			final[r.Offset] = r.Value
			next++
		})
	}
	for seq, off := range s.acked {
		if got, ok := bySeq[seq]; !ok || got != off {
			t.Fatalf("acknowledged record %d at offset %d is at %d (present %v)", seq, off, got, ok)
		}
	}
	for off, v := range s.seen {
		if !bytes.Equal(final[off], v) {
			t.Fatalf("a consumer was shown offset %d, which is gone or changed", off)
		}
	}
	t.Logf("%d records acknowledged, %d in the log, %d shown to the live consumer", len(s.acked), end.Offset, len(s.seen))
	return bySeq
}

// sameLogs stops every node and checks their copies of partition 0 of topic
// are byte-for-byte identical.
func (c *procCluster) sameLogs(topic string) {
	c.t.Helper()
	c.StopAll(c.t)
	read := func(dir string) []byte {
		files, _ := filepath.Glob(filepath.Join(dir, "logs", topic+"-0", "*.log"))
		if len(files) == 0 {
			c.t.Fatalf("no segments of %s-0 in %s", topic, dir)
		}
		sort.Strings(files)
		var out []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				c.t.Fatal(err)
			}
			out = append(out, b...)
		}
		return out
	}
	want := read(c.Procs[0].DataDir)
	for i := 1; i < 3; i++ {
		if got := read(c.Procs[i].DataDir); !bytes.Equal(got, want) {
			c.t.Fatalf("node %d's copy of %s-0 differs from node 1's (%d vs %d bytes)", i+1, topic, len(got), len(want))
		}
	}
}

// TestKillLeaderDuringAcksAllStream: kill -9 the partition leader during a
// steady idempotent acks=all stream: a new leader within 2 s, the stream
// resumes, the killed node restarts and rejoins the ISR, and afterwards
// every acknowledged record is there exactly once, in order, with identical
// bytes at identical offsets on every replica.
func TestKillLeaderDuringAcksAllStream(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "1s")
	leader := c.createRF3("failover")
	s := startStream(t, c, "failover")
	s.waitAcks(2000, 30*time.Second)

	c.Procs[leader].Kill(t)
	killed := time.Now()
	survivor := (leader + 1) % 3
	p := c.waitPartition(survivor, "failover", 5*time.Second, "a new leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.Leader > 0 && int(p.Leader-1) != leader
	})
	elected := time.Since(killed)
	if elected > 2*time.Second {
		t.Errorf("new leader %d after %v, want under 2 s", p.Leader, elected)
	}
	before := s.count()
	s.waitAcks(before+2000, 30*time.Second)
	first, _ := s.firstAckAfter(killed)
	t.Logf("killed leader %d; node %d leads after %v (ISR %v); first acknowledgement after the kill %v later",
		leader+1, p.Leader, elected.Round(time.Millisecond), p.ISR, first.Sub(killed).Round(time.Millisecond))

	c.Restart(t, leader)
	c.waitPartition(survivor, "failover", 30*time.Second, "the restarted node back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	s.finish()
	// All acknowledged now, so the high watermark is the leader's log end:
	// once the ISR holds all three, each has all of it.
	c.waitPartition(survivor, "failover", 30*time.Second, "a full ISR after the last write", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	s.verify(c)
	c.sameLogs("failover")
}

// TestPausedFollowerLeavesAndRejoinsISR: SIGSTOP a follower (with a session
// timeout longer than the test, so only the lag rule acts): after
// replica.lag.time.max.ms it leaves the ISR and acks=all continues with two
// replicas; SIGCONT: it catches up and rejoins.
func TestPausedFollowerLeavesAndRejoinsISR(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "60s", "--replica-lag-time-max", "1s")
	leader := c.createRF3("paused")
	s := startStream(t, c, "paused")
	s.waitAcks(1000, 30*time.Second)
	follower := (leader + 1) % 3
	c.Procs[follower].Pause(t)
	stopped := time.Now()
	p := c.waitPartition(leader, "paused", 10*time.Second, "the paused follower out of the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 2 && !slices.Contains(p.ISR, int32(follower+1))
	})
	t.Logf("paused follower %d left the ISR after %v: ISR %v", follower+1, time.Since(stopped).Round(time.Millisecond), p.ISR)
	before := s.count()
	s.waitAcks(before+1000, 30*time.Second)

	c.Procs[follower].Resume(t)
	resumed := time.Now()
	c.waitPartition(leader, "paused", 30*time.Second, "the resumed follower back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	t.Logf("resumed follower rejoined the ISR after %v", time.Since(resumed).Round(time.Millisecond))
	s.finish()
	s.verify(c)
}

// TestIsolatedOldLeaderTruncatesItsTail: SIGSTOP the leader longer than the
// session timeout; a new leader is elected and the stream moves on. Before
// SIGCONT, acks=1 produces are queued on a connection to the old leader, so
// that it may append them at its old epoch before it learns it was deposed.
// Whatever it appended alone is cut when it rejoins as a follower: in the
// end all three logs are identical, every acks=all record is there once,
// and the live consumer was never shown a record that later disappeared.
func TestIsolatedOldLeaderTruncatesItsTail(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "1s")
	leader := c.createRF3("isolated")
	s := startStream(t, c, "isolated")
	s.waitAcks(1000, 30*time.Second)

	// A client connected to the old leader before it stops.
	old, err := kgo.NewClient(kgo.SeedBrokers(c.Procs[leader].Kafka), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBroker := old.Broker(-2147483648)
	if _, err := oldBroker.Request(context.Background(), kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatal(err)
	}

	c.Procs[leader].Pause(t)
	survivor := (leader + 1) % 3
	c.waitPartition(survivor, "isolated", 10*time.Second, "a new leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.Leader > 0 && int(p.Leader-1) != leader
	})
	s.waitAcks(s.count()+1000, 30*time.Second)

	// Queue acks=1 produces to the stopped old leader, then let it run.
	var wg sync.WaitGroup
	results := make([]int16, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := kmsg.NewPtrProduceRequest()
			req.Acks = 1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "isolated"
			rp := kmsg.NewProduceRequestTopicPartition()
			v := make([]byte, 1024)
			binary.BigEndian.PutUint64(v, uint64(1<<62+i)) // never a stream sequence
			rp.Records = oneBatch(v)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			kresp, err := oldBroker.Request(ctx, req)
			if err != nil {
				results[i] = -1
				return
			}
			results[i] = kresp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the requests reach the stopped process's socket
	c.Procs[leader].Resume(t)
	wg.Wait()
	appended := 0
	for _, code := range results {
		if code == 0 {
			appended++
		} else if code > 0 && code != kerr.NotLeaderForPartition.Code {
			t.Logf("acks=1 on the old leader: %v", kerr.ErrorForCode(code))
		}
	}
	t.Logf("the old leader took %d of %d acks=1 produces after SIGCONT", appended, len(results))

	c.waitPartition(survivor, "isolated", 30*time.Second, "the old leader back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	s.finish()
	c.waitPartition(survivor, "isolated", 30*time.Second, "a full ISR after the last write", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	final := s.verify(c)
	for seq, off := range final {
		if seq >= 1<<62 {
			t.Fatalf("a record the deposed leader appended alone (%d) survived at offset %d", seq-1<<62, off)
		}
	}
	c.sameLogs("isolated")
}

// oneBatch is a RecordBatch holding one record with value v.
func oneBatch(v []byte) []byte {
	now := time.Now().UnixMilli()
	return batch.Build(now, []batch.Record{{Timestamp: now, Value: v}})
}
