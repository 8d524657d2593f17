package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

type latencyOptions struct {
	chronik         string
	dir             string
	rate            int
	duration        time.Duration
	maxClean        time.Duration
	recordSize      int
	dirtyMiB        int
	dirtyPartitions int
	dirtyKeys       int
	rounds          int
	serveArgs       []string
	nodeLogLevel    string
}

func parseLatencyOptions(args []string, stderr io.Writer) (latencyOptions, error) {
	fs := flag.NewFlagSet("compaction latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o latencyOptions
	fs.StringVar(&o.chronik, "chronik", "", "chronik binary to run (default: go build "+nodes.ChronikPackage+" into a temporary directory)")
	fs.StringVar(&o.dir, "dir", "", "parent of the node's data directory and log (default: a temporary directory, removed after)")
	fs.IntVar(&o.rate, "rate", 2000, "probe records per second (open loop)")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "how long the probe runs with the cleaner idle")
	fs.DurationVar(&o.maxClean, "max-clean", 90*time.Second, "give up when the dirty topic is not cleaned within this")
	fs.IntVar(&o.recordSize, "record-size", 1024, "probe and dirty record value size in bytes")
	fs.IntVar(&o.dirtyMiB, "dirty-mib", 1024, "MiB written to the compacted topic in each round before it is cleaned")
	fs.IntVar(&o.dirtyPartitions, "dirty-partitions", 1, "partitions of the compacted topic")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of fill, idle probe, cleaning probe; the phases' latencies are pooled")
	fs.IntVar(&o.dirtyKeys, "dirty-keys", 10_000, "distinct keys of the compacted topic")
	fs.Func("serve-arg", "a further flag for chronik serve (repeatable), e.g. --serve-arg=--log-cleaner-io-max-bytes-per-second=52428800", func(s string) error {
		o.serveArgs = append(o.serveArgs, s)
		return nil
	})
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the node's --log-level")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	switch {
	case o.rate < 1:
		return o, usagef("--rate must be at least 1, got %d", o.rate)
	case o.duration <= 0 || o.maxClean <= 0:
		return o, usagef("--duration and --max-clean must be positive")
	case o.recordSize < 1:
		return o, usagef("--record-size must be at least 1, got %d", o.recordSize)
	case o.dirtyMiB < 1 || o.dirtyPartitions < 1 || o.dirtyKeys < 1 || o.rounds < 1:
		return o, usagef("--dirty-mib, --dirty-partitions, --dirty-keys and --rounds must be at least 1")
	}
	return o, nil
}

// Topics of the latency run.
const (
	probeTopic = "probe"
	dirtyTopic = "dirty"
	// dirtySegmentBytes keeps the dirty topic's segments small, so that all
	// but the last of each partition's are cleanable.
	dirtySegmentBytes = 16 << 20
	// lagWhileFilling keeps the cleaner off the dirty topic while it is
	// filled and during the idle phase: one day of min.compaction.lag.ms.
	lagWhileFilling = 24 * 60 * 60 * 1000
)

// phaseResult is one probe phase.
type phaseResult struct {
	Name     string
	Took     time.Duration
	Acked    int64
	Failed   int64
	P50, P99 time.Duration
	P999     time.Duration
	Max      time.Duration
}

func (p phaseResult) String() string {
	return fmt.Sprintf("%-9s %6.1fs  %7d acked  %d failed  %7.0f/s  p50 %7.2f ms  p99 %7.2f ms  p999 %7.2f ms  max %7.2f ms",
		p.Name, p.Took.Seconds(), p.Acked, p.Failed, float64(p.Acked)/p.Took.Seconds(),
		ms(p.P50), ms(p.P99), ms(p.P999), ms(p.Max))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func runLatency(ctx context.Context, o latencyOptions, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	parent := o.dir
	if parent == "" {
		d, err := os.MkdirTemp("", "chronik-bench-compaction-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		parent = d
	}
	bin := o.chronik
	if bin == "" {
		log.Info("building chronik")
		var err error
		if bin, err = nodes.Build(ctx, parent); err != nil {
			return err
		}
	}
	// The cleaner looks for work every 500 ms rather than Kafka's 15 s, so
	// the cleaning phase starts as soon as the dirty topic is cleanable.
	args := append([]string{"--log-cleaner-backoff", "500ms"}, o.serveArgs...)
	c, err := nodes.Start(ctx, nodes.Config{Binary: bin, Dir: parent, Size: 1, LogLevel: o.nodeLogLevel, Args: args, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	defer func() {
		if err != nil {
			c.WriteTails(stderr, 30)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = nodes.WaitReady(rctx, c.Nodes)
	cancel()
	if err != nil {
		return err
	}
	node := c.Nodes[0]

	admin, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr))
	if err != nil {
		return err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if err = createTopic(ctx, adm, probeTopic, 1, nil); err != nil {
		return err
	}
	if err = createTopic(ctx, adm, dirtyTopic, int32(o.dirtyPartitions), map[string]*string{
		"cleanup.policy":        kadm.StringPtr("compact"),
		"segment.bytes":         kadm.StringPtr(strconv.Itoa(dirtySegmentBytes)),
		"min.compaction.lag.ms": kadm.StringPtr(strconv.Itoa(lagWhileFilling)),
	}); err != nil {
		return err
	}
	// The probe: franz-go with its defaults (acks=all, idempotent).
	probe, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr), kgo.DefaultProduceTopic(probeTopic))
	if err != nil {
		return err
	}
	defer probe.Close()
	value := make([]byte, o.recordSize)
	_, _ = rand.Read(value)
	// Warm up: connections, metadata, producer id.
	if err = probe.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("probe warm-up: %w", err)
	}

	fmt.Fprintf(stdout, "probe %d records/s of %d bytes (franz-go defaults, open loop); each of %d rounds: %d MiB written to %d compacted partitions over %d keys, %v probe with the cleaner idle, then a probe while it cleans them\n",
		o.rate, o.recordSize, o.rounds, o.dirtyMiB, o.dirtyPartitions, o.dirtyKeys, o.duration)
	idle, cleaning := newPhase("idle"), newPhase("cleaning")
	for round := 1; round <= o.rounds; round++ {
		if round > 1 {
			if err = alterTopic(ctx, adm, dirtyTopic, "min.compaction.lag.ms", strconv.Itoa(lagWhileFilling)); err != nil {
				return err
			}
		}
		log.Info("filling the compacted topic", "round", round, "mib", o.dirtyMiB)
		if err = fillDirty(ctx, node.KafkaAddr, o, round); err != nil {
			return err
		}
		log.Info("probe with the cleaner idle", "round", round, "duration", o.duration)
		deadline := time.Now().Add(o.duration)
		if err = idle.probe(ctx, probe, value, o.rate, func() (bool, error) { return !time.Now().Before(deadline), nil }); err != nil {
			return err
		}
		before, err := dirtyCleaners(ctx, node.AdminAddr)
		if err != nil {
			return err
		}
		log.Info("making the compacted topic cleanable", "round", round)
		if err = alterTopic(ctx, adm, dirtyTopic, "min.compaction.lag.ms", "0"); err != nil {
			return err
		}
		giveUp := time.Now().Add(o.maxClean)
		err = cleaning.probe(ctx, probe, value, o.rate, func() (bool, error) {
			if time.Now().After(giveUp) {
				now, _ := dirtyCleaners(ctx, node.AdminAddr)
				return false, fmt.Errorf("the dirty topic was not cleaned within %v: %+v", o.maxClean, now)
			}
			return cleanedSince(ctx, node.AdminAddr, before)
		})
		if err != nil {
			return err
		}
		after, err := dirtyCleaners(ctx, node.AdminAddr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "round %d: %s\n", round, describeClean(before, after))
	}
	fmt.Fprintln(stdout, idle.result())
	fmt.Fprintln(stdout, cleaning.result())
	return nil
}

// phase accumulates one kind of probe phase over the rounds.
type phase struct {
	name          string
	hist          *hdrhistogram.Histogram // µs
	took          time.Duration
	acked, failed int64
}

func newPhase(name string) *phase {
	return &phase{name: name, hist: hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3)}
}

func (p *phase) result() phaseResult {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return phaseResult{Name: p.name, Took: p.took, Acked: p.acked, Failed: p.failed,
		P50: us(p.hist.ValueAtQuantile(50)), P99: us(p.hist.ValueAtQuantile(99)),
		P999: us(p.hist.ValueAtQuantile(99.9)), Max: us(p.hist.Max())}
}

// probe produces rate records per second, open loop, until done says so
// (asked every 100 ms), and records the latency of each record from its
// intended send time to its acknowledgement.
func (p *phase) probe(ctx context.Context, cl *kgo.Client, value []byte, rate int, done func() (bool, error)) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	nextCheck := start
	timer := time.NewTimer(0)
	defer timer.Stop()
	var stopErr error
	for i := int64(0); ; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if now := time.Now(); !now.Before(nextCheck) {
			nextCheck = now.Add(100 * time.Millisecond)
			finished, err := done()
			if err != nil {
				stopErr = err
				break
			}
			if finished {
				break
			}
		}
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				stopErr = ctx.Err()
			case <-timer.C:
			}
			if stopErr != nil {
				break
			}
		}
		wg.Add(1)
		// Produce blocks while the client's buffer is full; the record's
		// latency still counts from when it should have been sent.
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat := time.Since(intended)
			mu.Lock()
			if err != nil {
				p.failed++
			} else {
				p.acked++
				_ = p.hist.RecordValue(lat.Microseconds())
			}
			mu.Unlock()
			wg.Done()
		})
	}
	p.took += time.Since(start)
	wg.Wait()
	if stopErr != nil {
		return fmt.Errorf("probe %s: %w", p.name, stopErr)
	}
	return nil
}

// fillDirty writes o.dirtyMiB MiB of keyed records to the dirty topic,
// spread over its partitions by key.
func fillDirty(ctx context.Context, addr string, o latencyOptions, round int) error {
	// Uncompressed: the one value repeated would compress to nothing, and
	// the point is megabytes on disk for the cleaner.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(dirtyTopic),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, o.recordSize)
	_, _ = rand.Read(value)
	value[0] = byte(round)
	n := int64(o.dirtyMiB) << 20 / int64(o.recordSize)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i := int64(0); i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("key-%08d", i%int64(o.dirtyKeys))), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("fill %s: %w", dirtyTopic, firstErr)
	}
	return nil
}

func cmpErr(old, new error) error {
	if old != nil {
		return old
	}
	return new
}

func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return nil
}

func alterTopic(ctx context.Context, adm *kadm.Client, topic, key, value string) error {
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(value)}}, topic)
	if err == nil {
		for _, r := range resp {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("set %s=%s on %s: %w", key, value, topic, err)
	}
	return nil
}
