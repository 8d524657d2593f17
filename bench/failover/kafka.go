package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
	"github.com/chronik-dev/chronik/bench/internal/workload"
)

// tracker collects the outcome of every produced record. Times are durations
// since start. One goroutine feeds it the producer's events while the main
// goroutine reads, hence the mutex.
type tracker struct {
	start time.Time

	mu               sync.Mutex
	killAt           time.Duration // -1 until the leader is killed
	firstPostKillAck time.Duration // -1 until a record produced after the kill is acknowledged
	acked            []seqOffset
	ackTimes         []time.Duration
	failed           int64
	firstErr         error
}

func newTracker() *tracker {
	return &tracker{start: time.Now(), killAt: -1, firstPostKillAck: -1}
}

// since is the time since the tracker started.
func (t *tracker) since() time.Duration { return time.Since(t.start) }

// done records one outcome. A driver's Sent comes from the wall clock,
// so Sub compares wall clocks there; on one host that is precise enough.
func (t *tracker) done(a workload.Ack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.Err != "" {
		t.failed++
		if t.firstErr == nil {
			t.firstErr = fmt.Errorf("record %d: %s", a.Seq, a.Err)
		}
		return
	}
	now, sent := a.Done.Sub(t.start), a.Sent.Sub(t.start)
	t.acked = append(t.acked, seqOffset{seq: a.Seq, offset: a.Offset})
	t.ackTimes = append(t.ackTimes, now)
	if t.killAt >= 0 && sent > t.killAt && t.firstPostKillAck < 0 {
		t.firstPostKillAck = now
	}
}

// markKill records that the leader was killed now and returns that time.
func (t *tracker) markKill() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.killAt = t.since()
	return t.killAt
}

// progress is a cheap snapshot of a tracker.
type progress struct {
	acked            int
	failed           int64
	firstErr         error
	lastAck          time.Duration // -1 if none
	firstPostKillAck time.Duration // -1 if none
}

func (t *tracker) progress() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := progress{acked: len(t.acked), failed: t.failed, firstErr: t.firstErr, lastAck: -1, firstPostKillAck: t.firstPostKillAck}
	if n := len(t.ackTimes); n > 0 {
		p.lastAck = t.ackTimes[n-1]
	}
	return p
}

// results returns copies of the acknowledged records and their times.
func (t *tracker) results() ([]seqOffset, []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.acked), slices.Clone(t.ackTimes)
}

// prober asks particular nodes, and only them, who leads a partition.
type prober struct {
	ids     []int32
	clients []*kgo.Client
}

// newProber makes one client per node, each knowing only that node, so an
// answer is that node's view and not whichever broker kgo picked.
func newProber(ns []*nodes.Node, opts ...kgo.Opt) (*prober, error) {
	p := &prober{}
	for _, n := range ns {
		cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(n.KafkaAddr))...)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("create metadata client for node %d: %w", n.ID, err)
		}
		p.ids = append(p.ids, n.ID)
		p.clients = append(p.clients, cl)
	}
	return p, nil
}

func (p *prober) close() {
	for _, cl := range p.clients {
		cl.Close()
	}
}

// leaderAnswer is one node's answer to "who leads the partition".
type leaderAnswer struct {
	node   int32 // who was asked
	leader int32
	epoch  int32
	err    error
}

// ask sends a Metadata request for topic to the i-th node (modulo the count).
func (p *prober) ask(ctx context.Context, i int, topic string, partition int32) leaderAnswer {
	i %= len(p.clients)
	a := leaderAnswer{node: p.ids[i], leader: -1, epoch: -1}
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := p.clients[i].SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		a.err = fmt.Errorf("metadata from node %d: %w", a.node, err)
		return a
	}
	a.leader, a.epoch, a.err = partitionLeader(resp.(*kmsg.MetadataResponse), topic, partition)
	if a.err != nil {
		a.err = fmt.Errorf("metadata from node %d: %w", a.node, a.err)
	}
	return a
}

// partitionLeader extracts a partition's leader and leader epoch from a
// Metadata response.
func partitionLeader(resp *kmsg.MetadataResponse, topic string, partition int32) (leader, epoch int32, err error) {
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return -1, -1, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				// LEADER_NOT_AVAILABLE and friends still carry the epoch.
				return -1, p.LeaderEpoch, fmt.Errorf("partition %s/%d: %w", topic, partition, err)
			}
			return p.Leader, p.LeaderEpoch, nil
		}
		return -1, -1, fmt.Errorf("partition %s/%d missing from metadata", topic, partition)
	}
	return -1, -1, fmt.Errorf("topic %s missing from metadata", topic)
}

// readAll reads partition 0 of topic from the start up to (not including)
// offset end and returns every record's sequence number and offset, and how
// many records were not what the benchmark wrote (key not a number, value of
// another size).
func readAll(ctx context.Context, topic string, end int64, recordSize int, timeout time.Duration, opts ...kgo.Opt) ([]seqOffset, int, error) {
	if end <= 0 {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(append(slices.Clone(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
	)...)
	if err != nil {
		return nil, 0, fmt.Errorf("create consumer: %w", err)
	}
	defer cl.Close()

	var out []seqOffset
	malformed := 0
	next := int64(0)
	var lastErr error
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			msg := fmt.Sprintf("read %s/0: reached offset %d of %d", topic, next, end)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg += " after " + timeout.String()
			}
			if lastErr != nil {
				return out, malformed, fmt.Errorf("%s (last fetch error: %v): %w", msg, lastErr, ctx.Err())
			}
			return out, malformed, fmt.Errorf("%s: %w", msg, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
		fs.EachRecord(func(r *kgo.Record) {
			next = max(next, r.Offset+1)
			seq, err := strconv.ParseInt(string(r.Key), 10, 64)
			if err != nil || len(r.Value) != recordSize {
				malformed++
				return
			}
			out = append(out, seqOffset{seq: seq, offset: r.Offset})
		})
	}
	return out, malformed, nil
}
