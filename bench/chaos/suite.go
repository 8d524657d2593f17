package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
	"github.com/chronik-dev/chronik/bench/internal/workload"
)

// suite is one seeded run.
type suite struct {
	o              options
	bin            string
	log            *slog.Logger
	stdout, stderr io.Writer
}

// runResult is everything one run observed.
type runResult struct {
	seed      uint64
	client    workload.Client
	start     time.Time // the producer's start: times in the report are since then
	elapsed   time.Duration
	skipped   map[kind]string // kinds left out, and why
	faults    []*fault
	outcomes  []workload.Ack
	sent      int64
	verdict   verdict
	finalEnds map[int32]int64
	// quietProbes are the doctor's answers on the healthy, loaded cluster
	// between faults: anything above info there is a false alarm.
	quietProbes []quietProbe
	err         error // the run could not be carried out or checked
}

// quietProbe is one doctor answer between faults.
type quietProbe struct {
	exit  int
	codes []string // findings above info
	err   string
}

func (r *runResult) ok() bool {
	// A record the client failed was never acknowledged: no guarantee
	// covers it, and it is reported, not a failure (franz-go fails records
	// when a connection closes during its ApiVersions handshake, which it
	// takes for a TLS mismatch and which a broker dying at that moment
	// causes). A record never answered means a stuck producer.
	if r.err != nil || !r.verdict.ok() || r.verdict.unanswered > 0 {
		return false
	}
	for _, f := range r.faults {
		if f.err != nil || f.healthyAt.IsZero() || len(f.fencedUp) > 0 {
			return false
		}
	}
	return true
}

func (s *suite) run(ctx context.Context, seed uint64) (res *runResult) {
	res = &runResult{seed: seed, client: s.o.client, skipped: map[kind]string{}}
	dir, err := os.MkdirTemp("", fmt.Sprintf("chronik-chaos-%d-", seed))
	if err != nil {
		res.err = err
		return res
	}
	defer func() {
		if s.o.keep {
			s.log.Info("kept the run's directory", "dir", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	kinds := slices.Clone(s.o.kinds)
	tmpfs := int64(0)
	if slices.Contains(kinds, diskFull) {
		if os.Geteuid() == 0 {
			tmpfs = s.o.tmpfsBytes
		} else {
			res.skipped[diskFull] = "needs root to mount a tmpfs per node"
		}
	}
	if !s.o.proxies {
		for _, k := range []kind{cutNode, cutLink} {
			if slices.Contains(kinds, k) {
				res.skipped[k] = "needs the proxies (--proxies)"
			}
		}
	}
	c, err := nodes.Start(ctx, nodes.Config{
		Binary: s.bin, Dir: dir, Size: clusterSize, LogLevel: s.o.nodeLogLevel,
		Proxied: s.o.proxies, TmpfsBytes: tmpfs, Logger: s.log,
	})
	if err != nil && tmpfs > 0 {
		s.log.Warn("no tmpfs data directories; the disk-full fault is skipped", "err", err)
		res.skipped[diskFull] = err.Error()
		c, err = nodes.Start(ctx, nodes.Config{
			Binary: s.bin, Dir: dir, Size: clusterSize, LogLevel: s.o.nodeLogLevel, Proxied: s.o.proxies, Logger: s.log,
		})
	}
	if err != nil {
		res.err = err
		return res
	}
	defer c.Close()
	defer func() {
		if !res.ok() && ctx.Err() == nil {
			fmt.Fprintf(s.stderr, "seed %d failed; the nodes' logs end with:\n", seed)
			c.WriteTails(s.stderr, tailLines)
		}
	}()
	res.err = s.exercise(ctx, c, seed, kinds, res)
	return res
}

func (s *suite) exercise(ctx context.Context, c *nodes.Cluster, seed uint64, kinds []kind, res *runResult) error {
	o := s.o
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := nodes.WaitReady(sctx, c.Nodes)
	cancel()
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if slices.Contains(kinds, slowFsync) && !faultsAvailable(ctx, hc, c.Nodes[0]) {
		res.skipped[slowFsync] = "the binary has no fault injection (build it with -tags " + faultsTag + ")"
	}
	kinds = slices.DeleteFunc(kinds, func(k kind) bool { _, skip := res.skipped[k]; return skip })
	if len(kinds) == 0 {
		return errors.New("no fault kind left to inject")
	}

	seeds := nodes.KafkaAddrs(c.Nodes)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = workload.CreateTopic(tctx, adm, topic, int32(o.partitions), clusterSize, minISR)
	cancel()
	if err != nil {
		return err
	}

	p, err := workload.StartProducer(ctx, workload.ProducerConfig{
		Client: o.client, Brokers: seeds, Topic: topic, Rate: o.rate, RecordSize: o.recordSize,
		DeliveryTimeout: 5 * time.Minute, Stderr: s.stderr, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("start the producer: %w", err)
	}
	res.start = time.Now()
	var outcomes []workload.Ack
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for a := range p.Events() {
			outcomes = append(outcomes, a)
		}
	}()
	stopProducer := func() error {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
		defer cancel()
		sent, err := p.Stop(fctx)
		wg.Wait()
		res.sent, res.outcomes = sent, outcomes
		return err
	}
	producerStopped := false
	defer func() {
		if !producerStopped {
			_ = stopProducer()
		}
	}()
	cons, err := startConsumer(ctx, kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	consumerStopped := false
	var consumed []seen
	consumedMalformed := 0
	defer func() {
		if !consumerStopped {
			cons.stop()
		}
	}()

	if err := pause(ctx, o.warmup); err != nil {
		return err
	}
	doc := doctor{bin: s.bin, urls: nodes.AdminURLs(c.Nodes)}
	nem := newNemesis(seed, kinds, o.rounds > 0)
	nem.c, nem.meta, nem.hc = c, metadata(adm), hc
	scheduleStart := time.Now()
	more := func() bool {
		if o.rounds > 0 {
			return len(res.faults) < o.rounds*len(kinds)
		}
		return time.Since(scheduleStart) < o.duration
	}
	for more() && ctx.Err() == nil {
		f, err := nem.next(ctx, int32(o.partitions))
		if err != nil {
			return fmt.Errorf("pick fault %d: %w", len(res.faults)+1, err)
		}
		res.faults = append(res.faults, f)
		s.runFault(ctx, nem, doc, c, f, res.start)
		if f.err != nil || f.healthyAt.IsZero() {
			break // the next fault would start on a broken cluster and say nothing new
		}
		// Halfway through the quiet time the cluster has been healthy for a
		// while and carries the full load: the doctor should say nothing.
		if err := pause(ctx, o.quiet/2); err != nil {
			return err
		}
		res.quietProbes = append(res.quietProbes, doc.quiet(ctx))
		if err := pause(ctx, o.quiet-o.quiet/2); err != nil {
			return err
		}
	}

	// Stop writing, then read back everything and compare.
	producerStopped = true
	perr := stopProducer()
	if perr != nil {
		s.log.Warn("producer stop", "err", perr)
	}
	consumed, consumedMalformed = cons.stop()
	consumerStopped = true
	res.elapsed = time.Since(res.start)
	final, finalMalformed, ends, err := readFinal(ctx, adm, kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	res.finalEnds = ends
	res.verdict = checkRecords(res.outcomes, res.sent, consumed, final, consumedMalformed+finalMalformed)

	// Replicas must hold the same bytes below the high watermark: compare
	// their logs on disk once every node has stopped gracefully.
	sctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	forced := c.Stop(sctx)
	cancel()
	if len(forced) > 0 {
		s.log.Warn("nodes ignored SIGTERM and were killed", "nodes", forced)
	}
	for part := range int32(o.partitions) {
		var ds []replicaDigest
		for _, n := range c.Nodes {
			d, err := digestReplica(n.DataDir, topic, part, ends[part])
			if err != nil {
				return fmt.Errorf("node %d: %w", n.ID, err)
			}
			d.node = n.ID
			ds = append(ds, d)
		}
		compareReplicas(&res.verdict, part, ends[part], ds)
	}
	return nil
}

// runFault injects one fault, asks the doctor during it, heals it and waits
// for the cluster to be healthy.
func (s *suite) runFault(ctx context.Context, nem *nemesis, doc doctor, c *nodes.Cluster, f *fault, t0 time.Time) {
	f.start = time.Now()
	s.log.Info("fault", "at", since(t0, f.start), "fault", f.describe())
	if err := nem.inject(ctx, f); err != nil {
		f.err = fmt.Errorf("inject %s: %w", f.kind, err)
	}
	if f.err == nil && pause(ctx, time.Until(f.start.Add(s.o.probeAfter))) == nil {
		f.doctor = doc.probe(ctx, f)
	}
	_ = pause(ctx, time.Until(f.start.Add(f.hold)))
	if err := nem.heal(context.WithoutCancel(ctx), f); err != nil {
		f.err = errors.Join(f.err, fmt.Errorf("heal %s: %w", f.kind, err))
	}
	f.healed = time.Now()
	hctx, cancel := context.WithTimeout(ctx, s.o.settle)
	h := doc.waitHealthy(hctx, c)
	cancel()
	if h.ok {
		f.healthyAt = time.Now()
	} else {
		f.unhealthy = h.why
		f.fencedUp = h.fencedUp
	}
}

func since(t0, t time.Time) string { return fmt.Sprintf("%.1fs", t.Sub(t0).Seconds()) }
