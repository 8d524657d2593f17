package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// metadata asks who leads the topic's partitions and the cluster.
func metadata(adm *kadm.Client) func(ctx context.Context) (clusterMeta, error) {
	return func(ctx context.Context) (clusterMeta, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return clusterMeta{}, fmt.Errorf("metadata: %w", err)
		}
		m := clusterMeta{controller: md.Controller, leaders: map[int32]int32{}}
		for p, pd := range md.Topics[topic].Partitions {
			m.leaders[p] = pd.Leader
		}
		return m, nil
	}
}

// consumer reads the topic from the start for the whole run, as a
// subscriber would, and keeps what it read.
type consumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	got       []seen
	malformed int
	lastErr   error
}

func startConsumer(ctx context.Context, opts ...kgo.Opt) (*consumer, error) {
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) {
					c.lastErr = err
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				seq, ok := parseSeq(r.Key)
				if !ok {
					c.malformed++
					return
				}
				c.got = append(c.got, seen{at{r.Partition, r.Offset}, seq})
			})
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// stop ends the consumer and returns what it read.
func (c *consumer) stop() ([]seen, int) {
	c.cancel()
	<-c.done
	c.cl.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got, c.malformed
}

// readFinal reads every partition from its start to its end offset.
func readFinal(ctx context.Context, adm *kadm.Client, opts ...kgo.Opt) (records []seen, malformed int, ends map[int32]int64, err error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	offs, err := adm.ListEndOffsets(lctx, topic)
	cancel()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("list end offsets: %w", err)
	}
	ends = map[int32]int64{}
	start := map[int32]kgo.Offset{}
	var lerr error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = fmt.Errorf("end offset of %s-%d: %w", o.Topic, o.Partition, o.Err)
		}
		ends[o.Partition] = o.Offset
		start[o.Partition] = kgo.NewOffset().AtStart()
	})
	if lerr != nil {
		return nil, 0, nil, lerr
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))...)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("create reader: %w", err)
	}
	defer cl.Close()
	next := map[int32]int64{}
	remaining := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return true
			}
		}
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for remaining() {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			return records, malformed, ends, fmt.Errorf("read the topic back: reached %v of %v (last fetch error: %v): %w", next, ends, lastErr, rctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			if r.Offset >= ends[r.Partition] {
				return
			}
			seq, ok := parseSeq(r.Key)
			if !ok {
				malformed++
				return
			}
			records = append(records, seen{at{r.Partition, r.Offset}, seq})
		})
	}
	return records, malformed, ends, nil
}
