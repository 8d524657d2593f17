// Command quota measures client quota throttling on any Kafka-compatible
// broker: a throttled and an unthrottled tenant (two client ids) produce as
// fast as they can at the same time, then each consumes the same data, and
// it reports the rate each achieved and the throttles the throttled one was
// sent.
//
//	go run ./bench/quota --brokers 127.0.0.1:9092 --quota 1048576 --duration 30s
//
// It sets producer_byte_rate and consumer_byte_rate of the throttled client
// id with AlterClientQuotas before the run and removes them after. Records
// are random bytes (a quota counts bytes on the wire, which compression
// would shrink). "steady" is the rate after --warmup: Kafka-style rates are
// measured over about ten seconds, so a new client may first burst about
// ten seconds' worth of its quota.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// The two tenants' client ids.
const (
	throttledID   = "bench-quota-throttled"
	unthrottledID = "bench-quota-unthrottled"
)

type options struct {
	brokers    []string
	topic      string
	quota      int64
	duration   time.Duration
	warmup     time.Duration
	recordSize int
	batchBytes int32
	json       bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("quota", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "bench-quota", "topic prefix: <prefix>-throttled and <prefix>-unthrottled are created if missing")
	fs.Int64Var(&o.quota, "quota", 1<<20, "producer_byte_rate and consumer_byte_rate of the throttled tenant, bytes/s")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long each phase (produce, consume) runs")
	fs.DurationVar(&o.warmup, "warmup", 11*time.Second, "the start of each phase left out of the steady rate")
	fs.IntVar(&o.recordSize, "record-size", 1024, "record value size in bytes")
	fs.Func("batch-bytes", "largest produce batch and fetch size in bytes (default 65536)", func(s string) error {
		var n int32
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1024 {
			return fmt.Errorf("want a number >= 1024, got %q", s)
		}
		o.batchBytes = n
		return nil
	})
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.brokers = strings.Split(*brokers, ",")
	if o.batchBytes == 0 {
		o.batchBytes = 64 << 10
	}
	switch {
	case o.quota < 1:
		return o, errors.New("--quota must be >= 1")
	case o.duration <= 0:
		return o, errors.New("--duration must be > 0")
	case o.recordSize < 1:
		return o, errors.New("--record-size must be >= 1")
	}
	return o, nil
}

// tenantResult is what one tenant achieved in one phase.
type tenantResult struct {
	ClientID      string  `json:"client_id"`
	Bytes         int64   `json:"bytes"`
	BytesPerSec   float64 `json:"bytes_per_sec"`
	SteadyPerSec  float64 `json:"steady_bytes_per_sec,omitempty"`
	Throttles     int64   `json:"throttles"`
	MaxThrottleMs int64   `json:"max_throttle_ms"`
}

type result struct {
	QuotaBytesPerSec int64           `json:"quota_bytes_per_sec"`
	DurationSec      float64         `json:"duration_sec"`
	Produce          [2]tenantResult `json:"produce"` // throttled, unthrottled
	Fetch            [2]tenantResult `json:"fetch"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	res, err := measure(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "quota:", err)
		return 1
	}
	if o.json {
		_ = json.NewEncoder(stdout).Encode(res)
		return 0
	}
	fmt.Fprintf(stdout, "quota %d B/s (%.0f KiB/s), %v per phase\n", res.QuotaBytesPerSec, float64(res.QuotaBytesPerSec)/1024, o.duration)
	for _, phase := range []struct {
		name string
		r    [2]tenantResult
	}{{"produce", res.Produce}, {"fetch", res.Fetch}} {
		for _, t := range phase.r {
			fmt.Fprintf(stdout, "%-8s %-24s %9.0f KiB/s (steady %9.0f KiB/s) %6d throttles, max %d ms\n",
				phase.name, t.ClientID, t.BytesPerSec/1024, t.SteadyPerSec/1024, t.Throttles, t.MaxThrottleMs)
		}
	}
	return 0
}

// throttles counts the throttles a client was sent.
type throttles struct{ n, maxMs atomic.Int64 }

func (h *throttles) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.n.Add(1)
	for ms := d.Milliseconds(); ms > h.maxMs.Load(); {
		if h.maxMs.CompareAndSwap(h.maxMs.Load(), ms) {
			break
		}
	}
}

func measure(ctx context.Context, o options, stderr io.Writer) (result, error) {
	res := result{QuotaBytesPerSec: o.quota, DurationSec: o.duration.Seconds()}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers...))
	if err != nil {
		return res, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics := [2]string{o.topic + "-throttled", o.topic + "-unthrottled"}
	for _, t := range topics {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, t); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return res, fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	if err := setQuota(ctx, adm, float64(o.quota), false); err != nil {
		return res, err
	}
	defer func() {
		// Leave the broker as we found it, even when interrupted.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := setQuota(cctx, adm, 0, true); err != nil {
			fmt.Fprintln(stderr, "quota: remove the quota:", err)
		}
	}()

	ids := [2]string{throttledID, unthrottledID}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	fmt.Fprintln(stderr, "producing...")
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Produce[i], errs[i] = produce(ctx, o, ids[i], topics[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	fmt.Fprintln(stderr, "consuming...")
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Both read the unthrottled tenant's topic: the most data.
			res.Fetch[i], errs[i] = consume(ctx, o, ids[i], topics[1])
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

func setQuota(ctx context.Context, adm *kadm.Client, v float64, remove bool) error {
	id := throttledID
	entry := kadm.AlterClientQuotaEntry{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &id}},
		Ops: []kadm.AlterClientQuotaOp{
			{Key: "producer_byte_rate", Value: v, Remove: remove},
			{Key: "consumer_byte_rate", Value: v, Remove: remove},
		},
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{entry})
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("alter client quotas: %w (%s)", r.Err, r.ErrMessage)
		}
	}
	return nil
}

// meter sums bytes, and those after the warm-up, and notes when the last
// arrived: a consumer that caught up early is measured until then.
type meter struct {
	start, warm time.Time
	all, steady atomic.Int64
	last        atomic.Int64 // unix nanoseconds
}

func newMeter(warmup time.Duration) *meter {
	now := time.Now()
	return &meter{start: now, warm: now.Add(warmup)}
}

func (m *meter) add(n int) {
	now := time.Now()
	m.all.Add(int64(n))
	if now.After(m.warm) {
		m.steady.Add(int64(n))
	}
	m.last.Store(now.UnixNano())
}

func (m *meter) result(id string, h *throttles) tenantResult {
	r := tenantResult{ClientID: id, Bytes: m.all.Load(), Throttles: h.n.Load(), MaxThrottleMs: h.maxMs.Load()}
	last := time.Unix(0, m.last.Load())
	if elapsed := last.Sub(m.start); elapsed > 0 {
		r.BytesPerSec = float64(r.Bytes) / elapsed.Seconds()
	}
	if steady := last.Sub(m.warm); steady > time.Second {
		r.SteadyPerSec = float64(m.steady.Load()) / steady.Seconds()
	}
	return r
}

func produce(ctx context.Context, o options, id, topic string) (tenantResult, error) {
	var h throttles
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers...), kgo.ClientID(id), kgo.WithHooks(&h),
		kgo.ProducerBatchMaxBytes(o.batchBytes), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1000),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return tenantResult{}, err
	}
	defer cl.Close()
	pool := make([]byte, 8<<20)
	if _, err := rand.Read(pool); err != nil {
		return tenantResult{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	m := newMeter(o.warmup)
	var failed atomic.Value
	for i := 0; pctx.Err() == nil; i++ {
		off := (i * 7919) % (len(pool) - o.recordSize)
		cl.Produce(pctx, &kgo.Record{Topic: topic, Value: pool[off : off+o.recordSize]}, func(r *kgo.Record, err error) {
			switch {
			case err == nil:
				if pctx.Err() == nil {
					m.add(len(r.Value))
				}
			case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
				failed.Store(err)
			}
		})
	}
	if err, _ := failed.Load().(error); err != nil {
		return tenantResult{}, fmt.Errorf("produce as %s: %w", id, err)
	}
	return m.result(id, &h), ctx.Err()
}

func consume(ctx context.Context, o options, id, topic string) (tenantResult, error) {
	var h throttles
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.brokers...), kgo.ClientID(id), kgo.WithHooks(&h),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(o.batchBytes), kgo.FetchMaxPartitionBytes(o.batchBytes))
	if err != nil {
		return tenantResult{}, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	m := newMeter(o.warmup)
	for cctx.Err() == nil {
		fs := cl.PollFetches(cctx)
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetch %s[%d] as %s: %w", t, p, id, err)
			}
		})
		if ferr != nil {
			return tenantResult{}, ferr
		}
		fs.EachRecord(func(r *kgo.Record) { m.add(len(r.Value)) })
	}
	return m.result(id, &h), ctx.Err()
}
