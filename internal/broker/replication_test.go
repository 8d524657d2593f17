package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
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

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// createRF3 creates a one-partition topic replicated on all three nodes
// with min.insync.replicas 2 and returns its leader (1-based node id).
func createRF3(t *testing.T, c *inproc.Cluster, name string, configs map[string]*string) int32 {
	t.Helper()
	if configs == nil {
		configs = map[string]*string{}
	}
	configs["min.insync.replicas"] = kmsg.StringPtr("2")
	resp, err := inproc.NodeAdmin(t, running(t, c)).CreateTopic(testharness.Context(t, 10*time.Second), 1, 3, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return partitionOf(t, c, name).Leader
}

// running is any node that is up.
func running(t *testing.T, c *inproc.Cluster) *broker.Node {
	t.Helper()
	for _, n := range c.Nodes {
		if n != nil {
			return n
		}
	}
	t.Fatal("no node running")
	return nil
}

// runningIndex is a running node, preferring one that is ready (a node that
// just restarted may not have caught up with the metadata yet).
func runningIndex(t *testing.T, c *inproc.Cluster) int {
	t.Helper()
	first := -1
	for i, n := range c.Nodes {
		if n == nil {
			continue
		}
		if n.Ready() {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		t.Fatal("no node running")
	}
	return first
}

// partitionOf is partition 0 of a topic as a running node's metadata says.
// The node asked may apply a just-committed topic a moment after the node
// that created it, so an unknown topic is asked again for a while.
func partitionOf(t *testing.T, c *inproc.Cluster, topic string) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	var p kmsg.MetadataResponseTopicPartition
	testharness.Eventually(t, 10*time.Second, "metadata for "+topic, func() bool {
		md := c.MetadataOf(runningIndex(t, c), topic)
		if len(md.Topics) == 1 && len(md.Topics[0].Partitions) > 0 {
			p = md.Topics[0].Partitions[0]
			return true
		}
		return false
	})
	return p
}

// ackedStream produces sequence numbers to topic from an idempotent acks=all
// producer until stopped, recording what was acknowledged at which offset.
type ackedStream struct {
	cl      *kgo.Client
	mu      sync.Mutex
	acked   map[uint64]int64 // sequence -> offset
	lastAck time.Time
	stop    chan struct{}
	done    chan struct{}
}

func startStream(t *testing.T, seeds []string, topic string) *ackedStream {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordRetries(1<<30),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.MaxBufferedRecords(1000))
	if err != nil {
		t.Fatal(err)
	}
	s := &ackedStream{cl: cl, acked: map[uint64]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	ctx := testharness.Context(t, 2*time.Minute)
	go func() {
		defer close(s.done)
		for seq := uint64(0); ; seq++ {
			select {
			case <-s.stop:
				if err := cl.Flush(ctx); err != nil {
					t.Errorf("flush: %v", err)
				}
				return
			default:
			}
			v := make([]byte, 64)
			binary.BigEndian.PutUint64(v, seq)
			cl.Produce(ctx, &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("record %d: %v", seq, err)
					return
				}
				s.mu.Lock()
				s.acked[seq] = r.Offset
				s.lastAck = time.Now()
				s.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() { s.finish(); cl.Close() })
	return s
}

func (s *ackedStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

func (s *ackedStream) finish() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// checkExactlyOnce consumes the whole partition and checks every acknowledged
// sequence is there exactly once, at the offset it was acknowledged with.
func checkExactlyOnce(t *testing.T, seeds []string, topic string, acked map[uint64]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Right after a leadership change the answer can be a retriable
	// error; an ignored one would read as an empty partition.
	var end kadm.ListedOffset
	testharness.Eventually(t, 10*time.Second, topic+"'s end offset", func() bool {
		ends, err := kadm.NewClient(cl).ListEndOffsets(testharness.Context(t, 5*time.Second), topic)
		if err != nil {
			return false
		}
		end, _ = ends.Lookup(topic, 0)
		return end.Err == nil
	}, func() string { return fmt.Sprintf("last answer %+v", end) })
	seen := map[uint64]int64{}
	ctx := testharness.Context(t, 60*time.Second)
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed up to %d of %d", next, end.Offset)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seq := binary.BigEndian.Uint64(r.Value)
			if prev, dup := seen[seq]; dup {
				t.Fatalf("sequence %d at offsets %d and %d", seq, prev, r.Offset)
			}
			if r.Offset != next {
				t.Fatalf("offset %d after %d: a gap or reordering", r.Offset, next-1)
			}
			seen[seq] = r.Offset
			next = r.Offset + 1
		})
	}
	for seq, off := range acked {
		if got, ok := seen[seq]; !ok || got != off {
			t.Fatalf("acknowledged sequence %d at offset %d: consumed at %d (present %v)", seq, off, got, ok)
		}
	}
}

// logBytes concatenates a partition replica's segment files in offset order.
func logBytes(t *testing.T, dataDir, topic string, partition int) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topic, partition), "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no segments for %s-%d in %s (%v)", topic, partition, dataDir, err)
	}
	sort.Strings(files) // names are zero-padded base offsets
	var out bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	return out.Bytes()
}

// waitFullISR waits until the partition's ISR holds all three replicas.
func waitFullISR(t *testing.T, c *inproc.Cluster, topic string, within time.Duration) {
	t.Helper()
	var last kmsg.MetadataResponseTopicPartition
	testharness.Eventually(t, within, topic+" ISR back to three", func() bool {
		last = partitionOf(t, c, topic)
		return len(last.ISR) == 3
	}, func() string { return fmt.Sprintf("leader %d ISR %v", last.Leader, last.ISR) })
}

// TestReplicationControlledShutdownKeepsEveryAck: stopping the leader of an
// RF 3 partition in the middle of an idempotent acks=all stream moves
// leadership at once (controlled shutdown); the stream continues; the stopped
// node restarts, catches up and rejoins the ISR; every acknowledged record is
// there exactly once, in order, and all three replicas hold identical bytes.
func TestReplicationControlledShutdownKeepsEveryAck(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, "moving", nil)
	s := startStream(t, c.KafkaAddrs(), "moving")
	testharness.Eventually(t, 20*time.Second, "500 acks", func() bool { return s.count() >= 500 })

	stopped := time.Now()
	c.Stop(int(leader - 1))
	t.Logf("leader %d stopped in %v", leader, time.Since(stopped).Round(time.Millisecond))
	var p kmsg.MetadataResponseTopicPartition
	testharness.Eventually(t, 2*time.Second, "leadership moved by the controlled shutdown", func() bool {
		p = partitionOf(t, c, "moving")
		return p.Leader != leader && p.Leader >= 0 && !slices.Contains(p.ISR, leader)
	}, func() string { return fmt.Sprintf("leader %d ISR %v", p.Leader, p.ISR) })
	before := s.count()
	testharness.Eventually(t, 10*time.Second, "acks on the new leader", func() bool { return s.count() >= before+500 })

	c.Start(int(leader - 1))
	waitFullISR(t, c, "moving", 20*time.Second)
	testharness.Eventually(t, 10*time.Second, "more acks with the full ISR", func() bool { return s.count() >= before+1000 })
	s.finish()
	checkExactlyOnce(t, c.KafkaAddrs(), "moving", s.acked)

	// Identical bytes on every replica: wait until all hold the same end,
	// then stop them and compare the segment files.
	testharness.Eventually(t, 10*time.Second, "replicas at the same log end", func() bool {
		var ends []int64
		for _, n := range c.Nodes {
			leo, _ := n.LogEndOffset("moving", 0)
			ends = append(ends, leo)
		}
		return ends[0] == ends[1] && ends[1] == ends[2]
	})
	for i := range c.Nodes {
		c.Stop(i)
	}
	want := logBytes(t, c.Cfgs[0].DataDir, "moving", 0)
	for i := 1; i < 3; i++ {
		if got := logBytes(t, c.Cfgs[i].DataDir, "moving", 0); !bytes.Equal(got, want) {
			t.Fatalf("node %d's log differs from node 1's (%d vs %d bytes)", i+1, len(got), len(want))
		}
	}
}

// produceTo sends one produce of a single record straight to a node and
// returns the partition's error code.
func produceTo(t *testing.T, n *broker.Node, topic string, acks int16) int16 {
	t.Helper()
	// kgo sends a raw produce with the client's acks, whatever the request says.
	ack := kgo.AllISRAcks()
	if acks == 1 {
		ack = kgo.LeaderAck()
	}
	cl := inproc.NodeClient(t, n, kgo.RequiredAcks(ack), kgo.DisableIdempotentWrite())
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(1, 10)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(n.NodeID())).Request(testharness.Context(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return kresp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// TestReplicationTwoOfThreeDown: with min.insync.replicas 2 and both
// followers stopped, acks=all is refused with NOT_ENOUGH_REPLICAS (at the
// latest once the lag time shows the followers gone, even though the lost
// quorum cannot commit the ISR change) and nothing is appended; acks=1
// still works.
func TestReplicationTwoOfThreeDown(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, "lonely", map[string]*string{"replica.lag.time.max.ms": kmsg.StringPtr("1000")})
	ln := c.Nodes[leader-1]
	var code int16
	testharness.Eventually(t, 5*time.Second, "acks=all with the full ISR", func() bool {
		code = produceTo(t, ln, "lonely", -1)
		return code == 0
	}, func() string { return kerr.ErrorForCode(code).Error() })
	for i := range c.Nodes {
		if int32(i+1) != leader {
			c.Stop(i)
		}
	}
	start := time.Now()
	testharness.Eventually(t, 5*time.Second, "acks=all refused with NOT_ENOUGH_REPLICAS", func() bool {
		before, _ := ln.LogEndOffset("lonely", 0)
		code = produceTo(t, ln, "lonely", -1)
		if code == kerr.NotEnoughReplicas.Code {
			if after, _ := ln.LogEndOffset("lonely", 0); after != before {
				t.Fatalf("refused acks=all produce appended: log end %d -> %d", before, after)
			}
			return true
		}
		// Until then a produce may be appended and answered
		// NOT_ENOUGH_REPLICAS_AFTER_APPEND, never acknowledged.
		if code != kerr.NotEnoughReplicasAfterAppend.Code {
			t.Fatalf("acks=all with one of three replicas: %v", kerr.ErrorForCode(code))
		}
		return false
	})
	t.Logf("acks=all refused %v after the followers stopped", time.Since(start).Round(time.Millisecond))
	if code := produceTo(t, ln, "lonely", 1); code != 0 {
		t.Fatalf("acks=1 with one replica: %v", kerr.ErrorForCode(code))
	}
}

// TestReplicationPreferredLeaderElection: after the preferred leader comes
// back and rejoins the ISR, ElectLeaders moves leadership back to it; asking
// again is ELECTION_NOT_NEEDED; with it down, PREFERRED_LEADER_NOT_AVAILABLE.
func TestReplicationPreferredLeaderElection(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.LeaderRebalanceInterval = 0 })
	c.StartAll()
	preferred := createRF3(t, c, "pref", nil)
	if p := partitionOf(t, c, "pref"); p.Replicas[0] != preferred {
		t.Fatalf("leader %d is not the first replica %v", preferred, p.Replicas)
	}
	c.Stop(int(preferred - 1))
	elect := func() error {
		cl := inproc.NodeClient(t, running(t, c))
		res, err := kadm.NewClient(cl).ElectLeaders(testharness.Context(t, 10*time.Second), kadm.ElectPreferredReplica, kadm.TopicsSet{"pref": {0: {}}})
		if err != nil {
			return err
		}
		return res["pref"][0].Err
	}
	if err := elect(); !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred replica down: %v", err)
	}
	c.Start(int(preferred - 1))
	waitFullISR(t, c, "pref", 20*time.Second)
	if p := partitionOf(t, c, "pref"); p.Leader == preferred {
		t.Fatal("leadership moved back without an election")
	}
	if err := elect(); err != nil {
		t.Fatalf("preferred election: %v", err)
	}
	// The node that ran the election has applied it; others follow within ms.
	testharness.Eventually(t, 2*time.Second, "the preferred replica leading", func() bool { return partitionOf(t, c, "pref").Leader == preferred })
	if err := elect(); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("second election: %v", err)
	}
}

// TestReplicationAutomaticLeaderRebalance: with a rebalance interval set,
// leadership returns to the preferred replica on its own once it is back in
// the ISR.
func TestReplicationAutomaticLeaderRebalance(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { cfg.LeaderRebalanceInterval = 300 * time.Millisecond })
	c.StartAll()
	preferred := createRF3(t, c, "rebalanced", nil)
	c.Stop(int(preferred - 1))
	testharness.Eventually(t, 2*time.Second, "leadership moved", func() bool { return partitionOf(t, c, "rebalanced").Leader != preferred })
	c.Start(int(preferred - 1))
	testharness.Eventually(t, 20*time.Second, "leadership back on the preferred replica", func() bool {
		p := partitionOf(t, c, "rebalanced")
		return p.Leader == preferred && len(p.ISR) == 3
	})
}

// TestReplicationGroupOffsetsSurviveCoordinatorLoss: __consumer_offsets is
// replicated on all three nodes; committed offsets are served by the next
// coordinator after the first one stops.
func TestReplicationGroupOffsetsSurviveCoordinatorLoss(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	createRF3(t, c, "tracked", nil)
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 30*time.Second)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "tracked", Partition: 0, At: 42, LeaderEpoch: -1})
	var commitErr error
	testharness.Eventually(t, 10*time.Second, "offset commit", func() bool {
		commitErr = adm.CommitAllOffsets(ctx, "survivors", offsets)
		return commitErr == nil
	}, func() string { return fmt.Sprint(commitErr) })
	md := c.MetadataOf(runningIndex(t, c), "__consumer_offsets")
	for _, p := range md.Topics[0].Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Fatalf("__consumer_offsets-%d: replicas %v ISR %v, want three", p.Partition, p.Replicas, p.ISR)
		}
	}
	coord := adm.FindGroupCoordinators(ctx, "survivors")["survivors"]
	if coord.Err != nil {
		t.Fatal(coord.Err)
	}
	c.Stop(int(coord.NodeID - 1))
	adm2 := inproc.Admin(t, c.KafkaAddrs())
	var last string
	testharness.Eventually(t, 30*time.Second, "offsets from the next coordinator", func() bool {
		got, err := adm2.FetchOffsets(testharness.Context(t, 5*time.Second), "survivors")
		if err != nil {
			last = err.Error()
			return false
		}
		o, ok := got.Lookup("tracked", 0)
		last = fmt.Sprintf("offset %+v (found %v)", o, ok)
		return ok && o.Err == nil && o.At == 42
	}, func() string {
		return last + "; " + fmt.Sprint(adm2.FindGroupCoordinators(testharness.Context(t, 5*time.Second), "survivors"))
	})
}
