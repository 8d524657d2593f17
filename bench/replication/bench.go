package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

const (
	// drainTimeout bounds the wait for the records still in the client
	// after a run's last one was handed to it.
	drainTimeout = 2 * time.Minute
	// topicTimeout bounds the wait for a created topic's leaders and ISRs,
	// and for a deleted topic to leave the metadata.
	topicTimeout = 2 * time.Minute
	// metadataPoll is how often topic creation and deletion are polled,
	// and how old the admin client's cached metadata may be.
	metadataPoll = 100 * time.Millisecond
	// saturatedBelow: an open-loop row whose achieved rate is below this
	// fraction of its target says "saturated".
	saturatedBelow = 0.95
	// valueBufBytes of random data back the record values; each record
	// takes the next record-size window of it, so no compression window of
	// one batch sees a value twice.
	valueBufBytes = 16 << 20
)

func bench(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	parent := o.dir
	if parent == "" {
		d, err := os.MkdirTemp("", "chronik-bench-replication-")
		if err != nil {
			return fmt.Errorf("create temporary directory: %w", err)
		}
		defer os.RemoveAll(d)
		parent = d
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create --dir: %w", err)
	}
	bin := o.chronik
	if bin == "" {
		log.Info("building chronik")
		if bin, err = nodes.Build(ctx, parent); err != nil {
			return err
		}
	}
	hz, hzNote := clockTicks()
	if hzNote != "" {
		log.Warn(hzNote)
	}
	rp := &report{w: stdout, json: o.json}
	header := describeRun(o, bin, hz, hzNote)
	log.Info("replication benchmark", "setup", header)
	// The tables come out whatever happened, with the rows measured so far.
	defer rp.tables(header)

	values := make([]byte, max(valueBufBytes/o.recordSize, 64)*o.recordSize)
	if _, err := rand.Read(values); err != nil {
		return fmt.Errorf("random values: %w", err)
	}
	for _, n := range o.nodes {
		cr := &clusterRun{o: o, log: log.With("nodes", n), stderr: stderr, hz: hz, size: n, values: values, report: rp}
		cr.rf = min(3, n)
		cr.minISR = min(2, cr.rf)
		// A new directory per cluster: a --dir used before holds clusters
		// whose data must not be reopened on other ports.
		dir, err := os.MkdirTemp(parent, fmt.Sprintf("%d-nodes-", n))
		if err != nil {
			return fmt.Errorf("create cluster directory: %w", err)
		}
		if err := cr.run(ctx, bin, dir); err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	if n := rp.errors(); n > 0 {
		return fmt.Errorf("%d records failed: see the errors columns", n)
	}
	return nil
}

// describeRun is the line above the tables: what was run, with what.
func describeRun(o options, bin string, hz int64, hzNote string) string {
	franz := "franz-go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/twmb/franz-go" {
				franz += " " + d.Version
			}
		}
	}
	cpu := fmt.Sprintf("CPU from /proc/<pid>/stat at %d ticks/s", hz)
	if hzNote != "" {
		cpu += " (" + hzNote + ")"
	}
	return fmt.Sprintf("chronik %s; one %s producer, %s; %d B random values; warm-up %v, measured %v per run; MB = 10^6 bytes; %s; producer CPU = this process (getrusage).",
		bin, franz, producerLabel(o.linger), o.recordSize, o.warmup, o.duration, cpu)
}

// producerLabel names the producer's settings in every row, so tuned
// numbers are never taken for the client's defaults.
func producerLabel(linger *time.Duration) string {
	if linger == nil {
		return "defaults"
	}
	return fmt.Sprintf("TUNED linger %v", *linger)
}

// clusterRun measures one cluster size on a fresh cluster.
type clusterRun struct {
	o       options
	log     *slog.Logger
	stderr  io.Writer
	hz      int64
	size    int
	rf      int
	minISR  int
	values  []byte
	report  *report
	cluster *nodes.Cluster
	adm     *kadm.Client
	brokers []string
	// httpClient scrapes the nodes' /metrics.
	httpClient *http.Client
}

func (cr *clusterRun) run(ctx context.Context, bin, dir string) (err error) {
	o := cr.o
	c, err := nodes.Start(ctx, nodes.Config{Binary: bin, Dir: dir, Size: cr.size, LogLevel: o.nodeLogLevel, Args: o.serveArgs, Logger: cr.log})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && ctx.Err() == nil { // the cause is usually in there
			c.WriteTails(cr.stderr, 20)
		}
		// Gracefully if they let us, then whatever is left.
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		c.Stop(sctx)
		cancel()
		c.Close()
	}()
	cr.cluster = c
	cr.httpClient = &http.Client{}
	defer cr.httpClient.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = nodes.WaitReady(rctx, c.Nodes)
	cancel()
	if err != nil {
		return err
	}
	cr.brokers = nodes.KafkaAddrs(c.Nodes)
	// kadm answers Metadata from the client's cache while it is younger
	// than the minimum age (5 s by default): polling a topic's creation or
	// deletion needs fresh answers.
	admin, err := kgo.NewClient(kgo.SeedBrokers(cr.brokers...), kgo.MetadataMinAge(metadataPoll))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	cr.adm = kadm.NewClient(admin)

	var maxRow *row
	if o.mode != modeSweep {
		topic := fmt.Sprintf("max-p%d", o.partitions)
		if err := cr.createTopic(ctx, topic, o.partitions); err != nil {
			return err
		}
		if o.mode == modeAll || len(o.rates) > 0 {
			r, err := cr.closedLoop(ctx, topic, o.partitions, kindMax)
			if err != nil {
				return err
			}
			if err := cr.add(r); err != nil {
				return err
			}
			maxRow = &r
		}
		for _, pct := range o.rates {
			rate := max(1, int64(math.Round(maxRow.RecordsPerSec*pct/100)))
			r, err := cr.openLoop(ctx, topic, o.partitions, fmt.Sprintf("%g%% of max", pct), rate)
			if err != nil {
				return err
			}
			if err := cr.add(r); err != nil {
				return err
			}
		}
		for _, rate := range o.rateList {
			r, err := cr.openLoop(ctx, topic, o.partitions, "absolute", int64(rate))
			if err != nil {
				return err
			}
			if err := cr.add(r); err != nil {
				return err
			}
		}
		if err := cr.deleteTopic(ctx, topic); err != nil {
			return err
		}
	}
	if o.mode == modeLatency {
		return nil
	}
	for _, p := range o.sweepPartitions {
		if maxRow != nil && p == o.partitions {
			// Measured just now on a new topic of this many partitions.
			r := *maxRow
			r.Kind, r.SameRunAs = kindSweep, "the max run above"
			if err := cr.add(r); err != nil {
				return err
			}
			continue
		}
		topic := fmt.Sprintf("sweep-p%d", p)
		if err := cr.createTopic(ctx, topic, p); err != nil {
			return err
		}
		r, err := cr.closedLoop(ctx, topic, p, kindSweep)
		if err != nil {
			return err
		}
		if err := cr.add(r); err != nil {
			return err
		}
		if err := cr.deleteTopic(ctx, topic); err != nil {
			return err
		}
	}
	return nil
}

func (cr *clusterRun) add(r row) error {
	args := []any{"kind", r.Kind, "partitions", r.Partitions, "errors", r.Errors}
	if r.Kind == kindLatency {
		args = append(args, "target", r.TargetRate, "achieved", math.Round(r.Achieved), "p50_ms", r.P50Ms, "p99_ms", r.P99Ms, "max_ms", r.MaxMs)
	} else {
		args = append(args, "mb_per_s", math.Round(r.MBPerSec*10)/10, "node_cpu_ms_per_mb", math.Round(r.NodeCPUMsPerMB*100)/100)
	}
	if r.Errors > 0 {
		cr.log.Error("row with producer errors", append(args, "first_error", r.FirstErr)...)
	} else {
		cr.log.Info("row", args...)
	}
	return cr.report.add(r)
}

func (cr *clusterRun) baseRow(kind string, partitions int) row {
	return row{Kind: kind, Nodes: cr.size, RF: cr.rf, MinISR: cr.minISR, Partitions: partitions,
		Producer: producerLabel(cr.o.linger), RecordSize: cr.o.recordSize, Seconds: cr.o.duration.Seconds()}
}

// producer is a client with franz-go's default producer settings (acks=all,
// idempotent, its own batching and buffer) unless --linger tunes it.
func (cr *clusterRun) producer(topic string) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cr.brokers...), kgo.DefaultProduceTopic(topic)}
	if cr.o.linger != nil {
		opts = append(opts, kgo.ProducerLinger(*cr.o.linger))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return cl, nil
}

// prepare starts a measurement from a quiet disk: the previous run's dirty
// pages written back now rather than during this run.
func (cr *clusterRun) prepare() float64 {
	t := time.Now()
	syscall.Sync()
	cr.log.Debug("sync before run", "took", time.Since(t))
	return load1()
}

// sample is what a closed-loop window is computed from.
type sample struct {
	at      time.Time
	acked   int64
	nodeCPU time.Duration
	selfCPU time.Duration
}

func (cr *clusterRun) sample(acked *atomic.Int64) (sample, error) {
	s := sample{at: time.Now(), acked: acked.Load()}
	for _, n := range cr.cluster.Nodes {
		pid := n.Pid()
		if pid == 0 || !n.Running() {
			return s, fmt.Errorf("node %d is not running (%s)", n.ID, n.ExitStatus())
		}
		cpu, err := procCPU(pid, cr.hz)
		if err != nil {
			return s, fmt.Errorf("node %d: %w", n.ID, err)
		}
		s.nodeCPU += cpu
	}
	var err error
	s.selfCPU, err = selfCPU()
	return s, err
}

// closedLoop produces as fast as the client takes records for the warm-up
// and the measured window, and reports the window.
func (cr *clusterRun) closedLoop(ctx context.Context, topic string, partitions int, kind string) (row, error) {
	r := cr.baseRow(kind, partitions)
	r.Load1 = cr.prepare()
	cr.log.Info("closed loop", "kind", kind, "topic", topic, "partitions", partitions)
	cl, err := cr.producer(topic)
	if err != nil {
		return r, err
	}
	defer cl.Close()
	var acked atomic.Int64
	var errs errCount
	vals := valueCursor{buf: cr.values, size: cr.o.recordSize}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Blocks while the client's buffer is full: that is the loop's
			// only brake.
			cl.Produce(ctx, &kgo.Record{Value: vals.next()}, func(_ *kgo.Record, err error) {
				if err != nil {
					errs.add(err)
					return
				}
				acked.Add(1)
			})
			if ctx.Err() != nil {
				return
			}
		}
	}()
	var stopOnce sync.Once
	stopProducing := func() { stopOnce.Do(func() { close(stop); <-done }) }
	defer stopProducing()

	if err := sleepCtx(ctx, cr.o.warmup); err != nil {
		return r, err
	}
	// The metrics scrapes enclose the sampled window.
	m0 := cr.scrapeAll(ctx)
	s0, err := cr.sample(&acked)
	if err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, cr.o.duration); err != nil {
		return r, err
	}
	s1, err := cr.sample(&acked)
	if err != nil {
		return r, err
	}
	m1 := cr.scrapeAll(ctx)
	stopProducing()
	if err := drain(ctx, cl); err != nil {
		return r, err
	}
	window := s1.at.Sub(s0.at).Seconds()
	records := float64(s1.acked - s0.acked)
	mb := records * float64(cr.o.recordSize) / 1e6
	r.Seconds = window
	r.RecordsPerSec = records / window
	r.MBPerSec = mb / window
	nodeCPU, selfCPU := (s1.nodeCPU - s0.nodeCPU).Seconds(), (s1.selfCPU - s0.selfCPU).Seconds()
	r.NodeCores, r.ProducerCores = nodeCPU/window, selfCPU/window
	if mb > 0 {
		r.NodeCPUMsPerMB, r.ProducerCPUMsPerMB = nodeCPU*1000/mb, selfCPU*1000/mb
	}
	r.Errors, r.FirstErr = errs.get()
	cr.measureBreakdown(&r, m0, m1)
	return r, nil
}

// openLoop produces rate records/s on a fixed schedule for the warm-up and
// the measured window, and reports the latencies of the records due in the
// window.
func (cr *clusterRun) openLoop(ctx context.Context, topic string, partitions int, target string, rate int64) (row, error) {
	r := cr.baseRow(kindLatency, partitions)
	r.Target, r.TargetRate = target, rate
	r.Load1 = cr.prepare()
	cr.log.Info("open loop", "topic", topic, "target", target, "records_per_s", rate)
	cl, err := cr.producer(topic)
	if err != nil {
		return r, err
	}
	defer cl.Close()
	vals := valueCursor{buf: cr.values, size: cr.o.recordSize}
	t0 := time.Now()
	from := t0.Add(cr.o.warmup)
	to := from.Add(cr.o.duration)
	rec := newRecorder(realClock{}, from, to)
	loop := &openLoop{sched: schedule{t0: t0, rate: rate}, clock: realClock{}, send: func(intended time.Time) {
		// Produce blocks while the client's buffer is full; the record's
		// latency still counts from its intended send time.
		cl.Produce(ctx, &kgo.Record{Value: vals.next()}, func(_ *kgo.Record, err error) { rec.ack(intended, err) })
	}}
	// The metrics are scraped when the measured window opens, while the
	// loop runs, and when the loop ends; the acknowledgements still
	// outstanding then are drained outside the window.
	var m0 []nodeScrape
	sctx, cancelScrape := context.WithCancel(ctx)
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		if (realClock{}).SleepUntil(sctx, from) == nil {
			m0 = cr.scrapeAll(sctx)
		}
	}()
	_, err = loop.run(ctx, to)
	if err != nil {
		cancelScrape()
	}
	<-scraped
	cancelScrape()
	if err != nil {
		return r, err
	}
	m1 := cr.scrapeAll(ctx)
	if err := drain(ctx, cl); err != nil {
		return r, err
	}
	rec.mu.Lock()
	h, inWindow := rec.hist, rec.inWindow
	rec.mu.Unlock()
	r.Achieved = float64(inWindow) / cr.o.duration.Seconds()
	r.Saturated = r.Achieved < saturatedBelow*float64(rate)
	r.Measured = h.TotalCount()
	r.P50Ms, r.P90Ms = msOfUs(h.ValueAtQuantile(50)), msOfUs(h.ValueAtQuantile(90))
	r.P99Ms, r.P999Ms = msOfUs(h.ValueAtQuantile(99)), msOfUs(h.ValueAtQuantile(99.9))
	r.MaxMs = msOfUs(h.Max())
	r.Errors, r.FirstErr = rec.errs.get()
	cr.measureBreakdown(&r, m0, m1)
	return r, nil
}

// drain waits for the records still in the client.
func drain(ctx context.Context, cl *kgo.Client) error {
	dctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	if err := cl.Flush(dctx); err != nil {
		return fmt.Errorf("records still unacknowledged %v after the run: %w", drainTimeout, err)
	}
	return nil
}

// valueCursor hands out consecutive record-size windows of the random
// buffer; one goroutine uses it.
type valueCursor struct {
	buf  []byte
	size int
	off  int
}

func (v *valueCursor) next() []byte {
	if v.off+v.size > len(v.buf) {
		v.off = 0
	}
	b := v.buf[v.off : v.off+v.size : v.off+v.size]
	v.off += v.size
	return b
}

func (cr *clusterRun) createTopic(ctx context.Context, topic string, partitions int) error {
	configs := map[string]*string{"min.insync.replicas": kadm.StringPtr(strconv.Itoa(cr.minISR))}
	resp, err := cr.adm.CreateTopic(ctx, int32(partitions), int16(cr.rf), configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s (%d partitions, RF %d): %w", topic, partitions, cr.rf, err)
	}
	// Every partition led and fully in sync before the clock starts.
	return poll(ctx, topicTimeout, func() (bool, string) {
		md, err := cr.adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		td, ok := md.Topics[topic]
		switch {
		case !ok:
			return false, "not in metadata"
		case td.Err != nil:
			return false, td.Err.Error()
		case len(td.Partitions) != partitions:
			return false, fmt.Sprintf("%d of %d partitions in metadata", len(td.Partitions), partitions)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) != cr.rf {
				return false, fmt.Sprintf("partition %d: leader %d, ISR %v, err %v", p.Partition, p.Leader, p.ISR, p.Err)
			}
		}
		return true, ""
	})
}

func (cr *clusterRun) deleteTopic(ctx context.Context, topic string) error {
	resp, err := cr.adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return poll(ctx, topicTimeout, func() (bool, string) {
		md, err := cr.adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		td, ok := md.Topics[topic]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return true, ""
		}
		return false, fmt.Sprintf("still in metadata (%d partitions, err %v)", len(td.Partitions), td.Err)
	})
}

// poll asks cond every metadataPoll until it holds, ctx ends or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(metadataPoll)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", why, ctx.Err())
		case <-tick.C:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	return realClock{}.SleepUntil(ctx, time.Now().Add(d))
}

// load1 is the 1-minute load average, or -1 if unknown: the machine is
// shared, and a loaded one explains a slow row.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return -1
	}
	return v
}
