// Command failover measures how long a three-node chronik cluster takes to
// fail over when the leader of a partition is killed with SIGKILL (or
// paused with SIGSTOP) while an idempotent acks=all producer is writing to
// it, and checks that every acknowledged record survives exactly once.
//
//	go run ./bench/failover --runs 5
//	go run ./bench/failover --runs 5 --client librdkafka --client-defaults
//	go run ./bench/failover --runs 3 --fault sigstop --client-defaults
//
// Each run starts three `chronik serve` processes on free loopback ports in
// a fresh temporary directory, creates topic "failover" (one partition,
// replication factor 3, min.insync.replicas 2), produces --records-per-sec
// records with keys 0, 1, 2, ... through --client (franz-go, librdkafka or
// kafka-python; see bench/internal/workload) and, after --warmup of steady
// acknowledgements, kills the partition leader. With --fault sigstop the
// leader is paused instead, and continued once the failover was measured,
// before the check. It reports:
//
//   - failover: from the kill to the acknowledgement of the first record
//     handed to the client after the kill;
//   - new leader: from the kill until a Metadata request to a surviving
//     node names another leader;
//   - max ack gap: the longest pause between consecutive acknowledgements
//     from the last one before the kill on.
//
// Then it stops producing, reads the partition back from the survivors and
// checks that every acknowledged record is there exactly once, at the offset
// it was acknowledged at. One line per run and a summary go to stdout,
// progress to stderr. Exit code 1 if a run failed or lost, duplicated or
// moved an acknowledged record; 2 for a usage error.
//
// Without --chronik the binary is built from this module with `go build`,
// so run it from inside the repository.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
	"github.com/chronik-dev/chronik/bench/internal/workload"
)

const (
	topic        = "failover"
	clusterSize  = 3
	minISR       = 2
	tailLines    = 8                // node log lines shown for a failed run
	stopTimeout  = 15 * time.Second // SIGTERM to SIGKILL for the surviving nodes
	probeTimeout = time.Second      // one Metadata request to a survivor
	flushTimeout = 30 * time.Second // outstanding records after the producer stops
	readTimeout  = 30 * time.Second // reading the partition back
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	chronik         string
	runs            int
	rate            int
	recordSize      int
	sessionTimeout  time.Duration
	keep            bool
	warmup          time.Duration
	after           time.Duration
	startTimeout    time.Duration
	failoverTimeout time.Duration
	deliveryTimeout time.Duration
	client          workload.Client
	fault           string // faultKill or faultStop
	nodeLogLevel    string
	clientLog       bool
	clientDefaults  bool
	verbose         bool
}

// defaultsWarmup is --warmup under --client-defaults. franz-go's producer
// refreshes metadata when it starts and once more 5 s later, and after a
// refresh it does not refresh again for its 5 s minimum metadata age
// whatever the broker answers; so the kill comes more than 5 s after the
// second one. A long-running producer refreshes every 5 minutes and is
// rarely that close to its last refresh. The other clients warm up as long,
// so every client is measured at the same point of its life.
const defaultsWarmup = 11 * time.Second

// The --fault values.
const (
	faultKill = "kill"    // SIGKILL: the leader's sockets close at once
	faultStop = "sigstop" // SIGSTOP: the leader holds its sockets and says nothing
)

// stopFailoverTimeout is --failover-timeout under --fault sigstop: a
// producer resumes only when its request to the stopped leader times out,
// which takes librdkafka 60 s and more with its defaults.
const stopFailoverTimeout = 90 * time.Second

// benchClientInterval is the metadata refresh and retry backoff of the
// benchmark's own franz-go clients (topic set-up, leader probes, the
// read-back), which are not measured.
const benchClientInterval = 100 * time.Millisecond

// parseOptions parses and checks args; errors are usage errors.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.chronik, "chronik", "", "chronik binary to run (default: go build "+nodes.ChronikPackage+" into a temporary directory)")
	fs.IntVar(&o.runs, "runs", 5, "number of runs, each on a fresh cluster")
	fs.IntVar(&o.rate, "records-per-sec", 2000, "records produced per second")
	fs.IntVar(&o.recordSize, "record-size", 1024, "record value size in bytes")
	fs.DurationVar(&o.sessionTimeout, "session-timeout", 0, "passed to serve as --broker-session-timeout (0: the broker's default)")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's data directories and node logs")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "steady acknowledgements before the leader is killed")
	fs.DurationVar(&o.after, "after", 2*time.Second, "keep producing this long after the failover before checking")
	fs.DurationVar(&o.startTimeout, "start-timeout", 30*time.Second, "limit for the nodes to be ready, the topic to have a full ISR and the first acknowledgement")
	fs.DurationVar(&o.failoverTimeout, "failover-timeout", 30*time.Second, "limit for a new leader and the first post-fault acknowledgement (under --fault sigstop: "+stopFailoverTimeout.String()+" unless given)")
	fs.DurationVar(&o.deliveryTimeout, "delivery-timeout", 2*time.Minute, "the producer fails a record not acknowledged within this long")
	client := fs.String("client", string(workload.FranzGo), "producer client: franz-go, librdkafka (confluent-kafka) or kafka-python")
	fs.StringVar(&o.fault, "fault", faultKill, "what happens to the partition leader: kill (SIGKILL) or sigstop (SIGSTOP, SIGCONT after the failover)")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "info", "--log-level of the nodes: debug, info, warn or error")
	fs.BoolVar(&o.clientDefaults, "client-defaults", false, "producer with the client's own defaults (only acks=all, idempotence, unlimited retries and the delivery timeout set) and, unless given, --warmup "+defaultsWarmup.String()+"; without it the producer is tuned (100 ms metadata refresh and retry backoff)")
	fs.BoolVar(&o.clientLog, "client-log", false, "show the producer client's own log (warnings and errors) on stderr")
	fs.BoolVar(&o.verbose, "verbose", false, "log progress in more detail")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if o.client, err = workload.ParseClient(*client); err != nil {
		return o, fmt.Errorf("--client: %w", err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.clientDefaults && !given["warmup"] {
		o.warmup = defaultsWarmup
	}
	if o.fault == faultStop && !given["failover-timeout"] {
		o.failoverTimeout = stopFailoverTimeout
	}
	switch {
	case o.runs < 1:
		return o, fmt.Errorf("--runs: must be >= 1, got %d", o.runs)
	case o.rate < 1:
		return o, fmt.Errorf("--records-per-sec: must be >= 1, got %d", o.rate)
	case o.recordSize < 0:
		return o, fmt.Errorf("--record-size: must be >= 0, got %d", o.recordSize)
	case o.sessionTimeout < 0:
		return o, errors.New("--session-timeout: must not be negative")
	case o.warmup <= 0, o.after < 0:
		return o, errors.New("--warmup must be > 0 and --after must not be negative")
	case o.startTimeout <= 0, o.failoverTimeout <= 0, o.deliveryTimeout <= 0:
		return o, errors.New("--start-timeout, --failover-timeout and --delivery-timeout must be > 0")
	case o.fault != faultKill && o.fault != faultStop:
		return o, fmt.Errorf("--fault: want kill or sigstop, got %q", o.fault)
	case !slices.Contains([]string{"debug", "info", "warn", "error"}, o.nodeLogLevel):
		return o, fmt.Errorf("--node-log-level: want debug, info, warn or error, got %q", o.nodeLogLevel)
	}
	return o, nil
}

// run is main without os.Exit.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// Ctrl-C cancels ctx; the run in progress then stops its nodes and
	// cleans up. A second Ctrl-C kills the benchmark (and, on Linux, the
	// kernel kills the nodes with it).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bin := o.chronik
	if bin == "" {
		dir, err := os.MkdirTemp("", "chronik-failover-bin-")
		if err != nil {
			fmt.Fprintf(stderr, "Error: create build directory: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		log.Info("building chronik")
		if bin, err = nodes.Build(ctx, dir); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return 1
		}
	}

	b := &bench{o: o, bin: bin, log: log, stderr: stderr}
	fmt.Fprintln(stdout, o.describe())
	var results []runResult
	for i := 1; i <= o.runs && ctx.Err() == nil; i++ {
		res := b.runOnce(ctx, i)
		results = append(results, res)
		fmt.Fprintln(stdout, res.line(o.runs))
	}
	sum := summarize(results)
	writeSummary(stdout, sum)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "Error: interrupted")
		return 1
	case sum.failed > 0 || sum.violations > 0:
		fmt.Fprintf(stderr, "Error: %d of %d runs failed, %d lost, duplicated or moved acknowledged records\n",
			sum.failed, sum.runs, sum.violations)
		return 1
	}
	return 0
}

// describe says in one line what the runs measure.
func (o options) describe() string {
	settings := "tuned (100 ms metadata refresh and retry backoff)"
	if o.clientDefaults {
		settings = "defaults"
	}
	session := "default"
	if o.sessionTimeout > 0 {
		session = o.sessionTimeout.String()
	}
	return fmt.Sprintf("client %s, %s; fault %s; broker session timeout %s; %d records/s of %d bytes",
		o.client, settings, o.fault, session, o.rate, o.recordSize)
}

// bench runs the measurements.
type bench struct {
	o      options
	bin    string
	log    *slog.Logger
	stderr io.Writer
}

// runResult is what one run measured. Durations count from the kill.
type runResult struct {
	index int
	err   error // why the run did not finish; the fields below hold what was measured before

	fault      string
	killed     int32 // the partition leader that was killed (or stopped); -1 before the fault
	controller int32 // the controller at the time of the kill
	oldEpoch   int32

	newLeader      int32 // -1 until a survivor names one
	newEpoch       int32
	newLeaderAfter time.Duration

	failover         time.Duration
	failoverMeasured bool
	maxAckGap        time.Duration

	counted    bool // the producer stopped and the counts below are final
	produced   int64
	acked      int
	failed     int64
	unanswered int64 // neither acknowledged nor failed when the run ended
	firstErr   error

	checked  bool // the partition was read back
	delivery deliveryReport
}

// runOnce starts a cluster, measures one failover and cleans up.
func (b *bench) runOnce(ctx context.Context, idx int) (res runResult) {
	res = runResult{index: idx, fault: b.o.fault, killed: -1, controller: -1, oldEpoch: -1, newLeader: -1, newEpoch: -1}
	dir, err := os.MkdirTemp("", fmt.Sprintf("chronik-failover-run%d-", idx))
	if err != nil {
		res.err = fmt.Errorf("create run directory: %w", err)
		return res
	}
	defer func() {
		if b.o.keep {
			b.log.Info("kept data directories and node logs", "run", idx, "dir", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			b.log.Warn("remove run directory", "dir", dir, "err", err)
		}
	}()

	var args []string
	if b.o.sessionTimeout > 0 {
		args = []string{"--broker-session-timeout", b.o.sessionTimeout.String()}
	}
	c, err := nodes.Start(ctx, nodes.Config{
		Binary:   b.bin,
		Dir:      dir,
		Size:     clusterSize,
		LogLevel: b.o.nodeLogLevel,
		Args:     args,
		Logger:   b.log,
	})
	if err != nil {
		res.err = err
		return res
	}
	defer func() {
		// Stopping must happen even when ctx is already canceled (Ctrl-C).
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if forced := c.Stop(stopCtx); len(forced) > 0 {
			b.log.Warn("nodes ignored SIGTERM and were killed", "run", idx, "nodes", forced, "after", stopTimeout)
		}
		c.Close()
	}()
	defer func() {
		if res.err != nil && ctx.Err() == nil {
			fmt.Fprintf(b.stderr, "run %d failed (%v); the nodes' logs end with:\n", idx, res.err)
			c.WriteTails(b.stderr, tailLines)
		}
	}()
	res.err = b.measure(ctx, c, &res)
	return res
}

// clientOpts are the kgo options of the benchmark's own clients, which
// set up, probe and read back; the measured producer is --client's.
func (b *bench) clientOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.MetadataMinAge(benchClientInterval),
		kgo.RetryBackoffFn(func(int) time.Duration { return benchClientInterval }),
	}
}

// measure does one run on a started cluster, filling res as it goes.
func (b *bench) measure(ctx context.Context, c *nodes.Cluster, res *runResult) error {
	o := b.o
	rctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	err := nodes.WaitReady(rctx, c.Nodes)
	cancel()
	if err != nil {
		return err
	}
	b.log.Debug("nodes ready", "run", res.index)

	admCl, err := kgo.NewClient(b.clientOpts(nodes.KafkaAddrs(c.Nodes))...)
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	tctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	pds, err := workload.CreateTopic(tctx, adm, topic, 1, clusterSize, minISR)
	cancel()
	if err != nil {
		return err
	}
	b.log.Debug("topic ready", "run", res.index, "leader", pds[0].Leader, "isr", pds[0].ISR)

	clientLog := io.Discard
	if o.clientLog {
		clientLog = b.stderr
	}
	tr := newTracker()
	// Canceling prodCtx fails (franz-go) or kills (drivers) what is still
	// outstanding: only an early return does that.
	prodCtx, cancelProd := context.WithCancel(ctx)
	defer cancelProd()
	p, err := workload.StartProducer(prodCtx, workload.ProducerConfig{
		Client:          o.client,
		Brokers:         nodes.KafkaAddrs(c.Nodes),
		Topic:           topic,
		Rate:            o.rate,
		RecordSize:      o.recordSize,
		Tuned:           !o.clientDefaults,
		DeliveryTimeout: o.deliveryTimeout,
		Stderr:          clientLog,
		Logger:          b.log.With("run", res.index),
	})
	if err != nil {
		return fmt.Errorf("start the %s producer: %w", o.client, err)
	}
	// The drain goroutine ends when Events is closed, which Stop does.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for a := range p.Events() {
			tr.done(a)
		}
	}()
	stopped := false
	defer func() {
		if stopped {
			return
		}
		// An early return: fail what is outstanding rather than wait for it.
		cancelProd()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		_, _ = p.Stop(sctx)
		<-drained
	}()

	if err := b.warmUp(ctx, tr); err != nil {
		return err
	}

	mdCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	md, err := adm.Metadata(mdCtx, topic)
	cancel()
	if err != nil {
		return fmt.Errorf("find the leader of %s/0: %w", topic, err)
	}
	pd := md.Topics[topic].Partitions[0]
	victim := c.Node(pd.Leader)
	if victim == nil {
		return fmt.Errorf("find the leader of %s/0: metadata names leader %d, not one of nodes 1-%d", topic, pd.Leader, clusterSize)
	}
	res.killed, res.controller, res.oldEpoch = victim.ID, md.Controller, pd.LeaderEpoch
	var killAt time.Duration
	if o.fault == faultStop {
		if err := c.Pause(victim); err != nil {
			return err
		}
		killAt = tr.markKill()
		// The cluster's Stop continues it too, on every exit path.
	} else {
		// The fault counts from the signal, but Kill returns only once the
		// process has been reaped, which can take milliseconds: mark first.
		// A record handed to the client in the microseconds between cannot
		// be acknowledged by the leader the signal then kills.
		killAt = tr.markKill()
		if err := c.Kill(ctx, victim); err != nil {
			return err
		}
	}
	b.log.Info("fault on the partition leader", "run", res.index, "fault", o.fault, "node", victim.ID, "controller", md.Controller, "leader_epoch", pd.LeaderEpoch)

	survivors := c.Others(victim.ID)
	if err := b.awaitFailover(ctx, survivors, victim.ID, tr, killAt, res); err != nil {
		return err
	}
	if o.fault == faultStop {
		// Back before the check, so the check sees the old leader rejoin
		// as a follower without disturbing what was acknowledged.
		if err := c.Resume(victim); err != nil {
			return err
		}
		b.log.Info("continued the old leader", "run", res.index, "node", victim.ID)
	}

	// Keep producing, so the new leader is seen to carry the load and not
	// just one batch.
	timer := time.NewTimer(o.after)
	select {
	case <-ctx.Done():
		timer.Stop()
		return fmt.Errorf("produce after the failover: %w", ctx.Err())
	case <-timer.C:
	}
	flushCtx, cancel := context.WithTimeout(ctx, flushTimeout)
	res.produced, err = p.Stop(flushCtx)
	cancel()
	<-drained
	stopped = true
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("wait for outstanding records: %w", ctx.Err())
		}
		b.log.Warn("producer did not stop cleanly; records it had not answered count as unanswered", "run", res.index, "waited", flushTimeout, "err", err)
	}
	acked, ackTimes := tr.results()
	pg := tr.progress()
	res.counted = true
	res.acked, res.failed, res.firstErr = len(acked), pg.failed, pg.firstErr
	res.unanswered = res.produced - int64(res.acked) - res.failed
	res.maxAckGap = longestGap(ackTimes, killAt)

	// Read up to the last acknowledged offset, or the high watermark if
	// that is further: everything acknowledged must be below both.
	end := int64(0)
	for _, a := range acked {
		end = max(end, a.offset+1)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	offs, err := adm.ListEndOffsets(lctx, topic)
	cancel()
	if lo, ok := offs.Lookup(topic, 0); err == nil && ok && lo.Err == nil {
		end = max(end, lo.Offset)
	} else {
		b.log.Warn("list end offset; reading up to the last acknowledged offset", "run", res.index, "err", errors.Join(err, lo.Err))
	}
	consumed, malformed, err := readAll(ctx, topic, end, o.recordSize, readTimeout, b.clientOpts(nodes.KafkaAddrs(survivors))...)
	if err != nil {
		return fmt.Errorf("check acknowledged records: %w", err)
	}
	res.delivery = checkDelivery(acked, consumed)
	res.delivery.malformed = malformed
	res.checked = true
	return nil
}

// warmUp waits for the first acknowledgement and then for o.warmup more,
// and checks that the producer is healthy before anything is killed.
func (b *bench) warmUp(ctx context.Context, tr *tracker) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(b.o.startTimeout)
	for {
		pg := tr.progress()
		if pg.acked > 0 {
			break
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("no record acknowledged within %s of starting the producer (%d failed)", b.o.startTimeout, pg.failed)
			if pg.firstErr != nil {
				return fmt.Errorf("%s: %w", msg, pg.firstErr)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the first acknowledgement: %w", ctx.Err())
		case <-tick.C:
		}
	}
	timer := time.NewTimer(b.o.warmup)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("warm up: %w", ctx.Err())
	case <-timer.C:
	}
	pg := tr.progress()
	if pg.failed > 0 {
		return fmt.Errorf("%d records failed before the kill: %w", pg.failed, pg.firstErr)
	}
	// At a low rate acknowledgements are naturally sparse.
	steady := max(500*time.Millisecond, 3*time.Second/time.Duration(b.o.rate))
	if idle := tr.since() - pg.lastAck; idle > steady {
		return fmt.Errorf("acknowledgements stalled before the kill: the last one was %s ago", idle.Round(time.Millisecond))
	}
	return nil
}

// awaitFailover polls the survivors' metadata and the producer's
// acknowledgements until a survivor names a new leader and a record
// produced after the kill is acknowledged, or o.failoverTimeout passes.
func (b *bench) awaitFailover(ctx context.Context, survivors []*nodes.Node, victim int32, tr *tracker, killAt time.Duration, res *runResult) error {
	pr, err := newProber(survivors, b.clientOpts(nil)...)
	if err != nil {
		return err
	}
	defer pr.close()
	deadline := time.Now().Add(b.o.failoverTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := leaderAnswer{node: -1, leader: -1, epoch: -1}
	for i := 0; ; i++ {
		for _, n := range survivors {
			if !n.Running() {
				return fmt.Errorf("node %d exited during the failover: %s", n.ID, n.ExitStatus())
			}
		}
		if res.newLeader < 0 {
			actx, cancel := context.WithTimeout(ctx, probeTimeout)
			last = pr.ask(actx, i, topic, 0)
			cancel()
			if last.err == nil && last.leader >= 0 && last.leader != victim {
				res.newLeader, res.newEpoch = last.leader, last.epoch
				res.newLeaderAfter = tr.since() - killAt
				b.log.Info("new leader", "run", res.index, "node", last.leader, "leader_epoch", last.epoch,
					"asked", last.node, "after", res.newLeaderAfter.Round(time.Millisecond))
			}
		}
		pg := tr.progress()
		if pg.firstPostKillAck >= 0 && !res.failoverMeasured {
			res.failover, res.failoverMeasured = pg.firstPostKillAck-killAt, true
			b.log.Info("first acknowledgement of a record produced after the kill", "run", res.index,
				"after", res.failover.Round(time.Millisecond))
		}
		if res.newLeader >= 0 && res.failoverMeasured {
			return nil
		}
		if time.Now().After(deadline) {
			return failoverError(b.o.failoverTimeout, res, last, pg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the failover: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// failoverError says which half of the failover did not happen in time.
func failoverError(timeout time.Duration, res *runResult, last leaderAnswer, pg progress) error {
	var parts []string
	if res.newLeader < 0 {
		s := fmt.Sprintf("no new leader after %s", timeout)
		switch {
		case last.err != nil:
			s += fmt.Sprintf(" (last answer: %v)", last.err)
		case last.node >= 0:
			s += fmt.Sprintf(" (node %d still names leader %d, leader epoch %d)", last.node, last.leader, last.epoch)
		}
		parts = append(parts, s)
	}
	if !res.failoverMeasured {
		s := fmt.Sprintf("no record produced after the kill was acknowledged within %s (%d acknowledged in all, %d failed",
			timeout, pg.acked, pg.failed)
		if pg.firstErr != nil {
			s += fmt.Sprintf(", first error: %v", pg.firstErr)
		}
		parts = append(parts, s+")")
	}
	return errors.New(strings.Join(parts, "; "))
}

// secs formats a duration as seconds with millisecond precision.
func secs(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// line is the one-line report of a run: a status, then key=value fields for
// whatever was measured, then the error if any.
func (r runResult) line(total int) string {
	var sb strings.Builder
	status := "ok"
	switch {
	case r.err != nil:
		status = "FAILED"
	case r.checked && !r.delivery.ok():
		status = "NOT-EXACTLY-ONCE"
	}
	fmt.Fprintf(&sb, "run %d/%d %s", r.index, total, status)
	if r.killed >= 0 {
		verb := "killed"
		if r.fault == faultStop {
			verb = "stopped"
		}
		fmt.Fprintf(&sb, " %s=%d controller=%d", verb, r.killed, r.controller)
	}
	if r.failoverMeasured {
		fmt.Fprintf(&sb, " failover=%s", secs(r.failover))
	}
	if r.newLeader >= 0 {
		fmt.Fprintf(&sb, " new_leader=%d epoch=%d->%d new_leader_after=%s", r.newLeader, r.oldEpoch, r.newEpoch, secs(r.newLeaderAfter))
	}
	if r.counted {
		fmt.Fprintf(&sb, " max_ack_gap=%s produced=%d acked=%d failed=%d unanswered=%d",
			secs(r.maxAckGap), r.produced, r.acked, r.failed, r.unanswered)
	}
	if r.checked {
		d := r.delivery
		fmt.Fprintf(&sb, " lost=%d duplicated=%d moved=%d malformed=%d stored_unacked=%d",
			len(d.lost), len(d.duplicated), len(d.moved), d.malformed, d.unacked)
		for _, l := range []struct {
			name string
			seqs []int64
		}{{"lost", d.lost}, {"duplicated", d.duplicated}, {"moved", d.moved}} {
			if len(l.seqs) > 0 {
				fmt.Fprintf(&sb, " %s_seqs=%s", l.name, firstSeqs(l.seqs, 10))
			}
		}
	}
	if r.counted && r.firstErr != nil {
		fmt.Fprintf(&sb, " first_error=%q", r.firstErr.Error())
	}
	if r.err != nil {
		fmt.Fprintf(&sb, ": %v", r.err)
	}
	return sb.String()
}

// firstSeqs renders up to n sequence numbers, noting how many more there are.
func firstSeqs(seqs []int64, n int) string {
	parts := make([]string, 0, min(n, len(seqs)))
	for _, s := range seqs[:min(n, len(seqs))] {
		parts = append(parts, fmt.Sprint(s))
	}
	out := strings.Join(parts, ",")
	if len(seqs) > n {
		out += fmt.Sprintf(",...(%d more)", len(seqs)-n)
	}
	return out
}

// summary aggregates the runs.
type summary struct {
	runs, ok, failed int
	violations       int // runs whose check found a lost, duplicated, moved or malformed record
	checked          int // runs whose partition was read back
	failover         spread
	newLeader        spread
	maxAckGap        spread
	lost, duplicated int
	moved, malformed int
}

// summarize aggregates every measurement that was taken, including those of
// runs that failed later.
func summarize(rs []runResult) summary {
	var s summary
	var fo, nl, gap []time.Duration
	for _, r := range rs {
		s.runs++
		if r.err != nil {
			s.failed++
		}
		if r.failoverMeasured {
			fo = append(fo, r.failover)
		}
		if r.newLeader >= 0 {
			nl = append(nl, r.newLeaderAfter)
		}
		if r.counted {
			gap = append(gap, r.maxAckGap)
		}
		if r.checked {
			s.checked++
			d := r.delivery
			s.lost += len(d.lost)
			s.duplicated += len(d.duplicated)
			s.moved += len(d.moved)
			s.malformed += d.malformed
			if !d.ok() {
				s.violations++
			}
		}
		if r.err == nil && (!r.checked || r.delivery.ok()) {
			s.ok++
		}
	}
	s.failover, s.newLeader, s.maxAckGap = spreadOf(fo), spreadOf(nl), spreadOf(gap)
	return s
}

// writeSummary prints the summary block.
func writeSummary(w io.Writer, s summary) {
	fmt.Fprintf(w, "summary: %d runs, %d ok, %d failed, %d not exactly-once\n", s.runs, s.ok, s.failed, s.violations)
	row := func(name string, sp spread, what string) {
		if sp.n == 0 {
			fmt.Fprintf(w, "  %-12s no measurement   (%s)\n", name, what)
			return
		}
		fmt.Fprintf(w, "  %-12s min %s  median %s  max %s  n=%d   (%s)\n",
			name, secs(sp.min), secs(sp.median), secs(sp.max), sp.n, what)
	}
	row("failover", s.failover, "kill to first ack of a record produced after it")
	row("new leader", s.newLeader, "kill to a survivor's Metadata naming another leader")
	row("max ack gap", s.maxAckGap, "longest pause between acks from the kill on")
	fmt.Fprintf(w, "  acknowledged records: lost %d, duplicated %d, moved %d, malformed %d (%d runs checked)\n",
		s.lost, s.duplicated, s.moved, s.malformed, s.checked)
}
