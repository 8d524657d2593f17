// Command replication measures what replication costs: produce throughput
// and open-loop produce latency of a single node against three nodes with
// topics of replication factor 3 and min.insync.replicas=2, and how
// throughput holds as the partition count grows.
//
//	go run ./bench/replication [flags]
//
// For each cluster size of --nodes (default 1,3) it starts a fresh cluster
// of `chronik serve` processes (the binary of --chronik, or one built from
// this module) on random loopback ports and drives ONE franz-go producer
// with the client's default settings (acks=all, idempotent, its own linger
// and buffer; --linger tunes the linger, and every row then says so),
// records of --record-size random bytes:
//
//   - max: a closed loop on a topic of --partitions partitions, producing as
//     fast as the client's buffer lets it, for --warmup (not counted) then
//     --duration: MB/s (10^6 bytes), records/s, and CPU per MB: utime+stime
//     of every node process from /proc/<pid>/stat over the measured window
//     divided by the MB acknowledged in it; the benchmark process's own CPU
//     (the producer, getrusage) separately.
//   - latency: an open loop at each --rates percentage of that maximum and
//     each --rate-list absolute rate. Record i is due at t0 + i/rate; the
//     loop hands every due record to the client in a burst and never shifts
//     the schedule, and each latency runs from the record's intended send
//     time to its acknowledgement (HDR histogram, 1 µs .. 2 min, 3
//     significant digits), so a stall, including time blocked in Produce on
//     a full client buffer, counts against every record it delayed
//     (coordinated omission). Records due during the warm-up are not counted.
//   - sweep: max throughput per --sweep-partitions count, each on a new
//     topic of the same cluster; the previous topic is deleted first, so the
//     cluster hosts only the partitions being measured and the disk is freed
//     (a new cluster per count would add start-up time and change nothing
//     measured).
//
// For every run it also scrapes each node's /metrics right before and
// after the measured window and reports, per run, the window's mean of the
// histograms that break an acks=all round trip down (produce request, the
// leader's local-fsync and replicas waits, follower ack, follower copy and
// fsync, fsync pass) and each node's fsyncs per second: "n/a" where a
// series is absent, unobserved or unreadable, never 0.
//
// Before each measurement it calls sync(2), so the page cache's writeback
// of the previous run's data is not charged to the next. Rows print as
// markdown tables (--json: one JSON object per row). Producer errors are
// counted in every row; if any occurred the exit status is 1. The nodes are
// stopped on every exit path, Ctrl-C included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Modes say which measurements run.
const (
	modeAll     = "all"     // max, latency, sweep
	modeLatency = "latency" // max (when --rates needs it) and latency
	modeSweep   = "sweep"   // sweep only
)

type options struct {
	chronik         string
	dir             string
	nodes           []int
	mode            string
	duration        time.Duration
	warmup          time.Duration
	partitions      int
	sweepPartitions []int
	rates           []float64 // percent of the measured maximum
	rateList        []int     // records/s
	recordSize      int
	json            bool
	serveArgs       []string
	linger          *time.Duration // nil: the client's default
	nodeLogLevel    string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("replication", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.chronik, "chronik", "", "chronik binary (default: go build ./cmd/chronik into a temporary directory)")
	fs.StringVar(&o.dir, "dir", "", "keep the nodes' data directories and logs under this directory (default: a temporary directory, removed after)")
	nodesFlag := fs.String("nodes", "1,3", "cluster sizes, comma-separated: a fresh cluster each (topics get replication factor min(3, size), min.insync.replicas min(2, RF))")
	fs.StringVar(&o.mode, "mode", modeAll, "all | latency | sweep")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "time each run produces before it measures")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of the max-throughput and latency topic")
	sweep := fs.String("sweep-partitions", "6,60,300,1000", "partition counts of the throughput sweep, comma-separated")
	rates := fs.String("rates", "10,50,80", "open-loop rates in percent of the measured max, comma-separated (empty: none)")
	rateList := fs.String("rate-list", "", "further open-loop rates in records/s, comma-separated")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes of random value per record")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per row instead of markdown tables")
	fs.Func("serve-arg", "a further `chronik serve` flag for every node (repeatable)", func(s string) error {
		o.serveArgs = append(o.serveArgs, s)
		return nil
	})
	fs.Func("linger", "TUNED: the producer's linger (kgo.ProducerLinger); unset = the client's default", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		o.linger = &d
		return nil
	})
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "the nodes' --log-level")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.nodes, err = parseInts("--nodes", *nodesFlag); err != nil {
		return o, err
	}
	if o.sweepPartitions, err = parseInts("--sweep-partitions", *sweep); err != nil {
		return o, err
	}
	if o.rateList, err = parseInts("--rate-list", *rateList); err != nil {
		return o, err
	}
	if o.rates, err = parsePercents(*rates); err != nil {
		return o, err
	}
	switch {
	case o.mode != modeAll && o.mode != modeLatency && o.mode != modeSweep:
		return o, fmt.Errorf("--mode %q: want all, latency or sweep", o.mode)
	case len(o.nodes) == 0:
		return o, errors.New("--nodes: no cluster size")
	case o.duration <= 0:
		return o, errors.New("--duration must be positive")
	case o.warmup < 0:
		return o, errors.New("--warmup must not be negative")
	case o.partitions < 1:
		return o, errors.New("--partitions must be at least 1")
	case o.recordSize < 1:
		return o, errors.New("--record-size must be at least 1")
	case o.mode != modeLatency && len(o.sweepPartitions) == 0:
		return o, errors.New("--sweep-partitions: no partition count")
	case o.mode == modeLatency && len(o.rates)+len(o.rateList) == 0:
		return o, errors.New("--mode latency needs --rates or --rate-list")
	}
	return o, nil
}

// parseInts parses a comma-separated list of positive integers; "" is an
// empty list.
func parseInts(name, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parsePercents parses --rates: percentages above 0 (above 100 is allowed,
// to overload on purpose).
func parsePercents(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(p > 0) || math.IsInf(p, 0) {
			return nil, fmt.Errorf("--rates: %q is not a percentage above 0", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "replication:", err)
		return 2
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "replication:", err)
		return 1
	}
	return 0
}
