// Command chaos is chronik's seeded fault suite: a nemesis that injects
// faults into a three-node cluster of real `chronik serve` processes while an
// idempotent acks=all producer and a consumer run, and a checker that fails
// the run if any guarantee broke.
//
//	go run ./bench/chaos --seed 42 --duration 2m
//
// Faults (--faults, default all): kill -9 of a random node, of a partition
// leader, of the controller, of two nodes at once; SIGSTOP longer than the
// broker session timeout; SIGTERM and restart; a node cut off the network
// and one cluster link cut (a toxiproxy proxy sits on every link); a full
// disk (each data directory is a small tmpfs: needs root, else skipped);
// slow fsync (an injected delay: needs a binary built with -tags
// chronik_faults, which is what this command builds without --chronik).
// Each fault lasts a few seconds, is healed (what was killed restarts), and
// the cluster must be healthy again (`chronik doctor` exit 0: full ISRs, no
// fenced broker) within --settle before the next fault starts. The seed
// fixes the sequence of fault kinds, holds and picks; it is printed first.
//
// The run fails on: an acknowledged record lost, moved or duplicated; two
// records of a partition out of the producer's order; a record the consumer
// read that later vanished; replicas whose bytes differ below the high
// watermark (compared on disk after a graceful stop); a record the producer
// never answered; the cluster not healthy within --settle of a heal; a
// broker left fenced while it runs. Records the client failed (never
// acknowledged) are counted and their errors printed. During each fault it asks
// `chronik doctor` once (--probe-after into the fault) and records whether a
// finding named the faulted node: that score is reported, not enforced.
//
// Output: one line per fault, the stall timeline (when some record waited
// longer than --stall-threshold for its ack), per-kind stall percentiles and
// one JSON summary line per seed. Exit code 1 if a run failed, 2 for a usage
// error.
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

	"github.com/chronik-dev/chronik/bench/internal/nodes"
	"github.com/chronik-dev/chronik/bench/internal/workload"
)

const (
	topic       = "chaos"
	clusterSize = 3
	minISR      = 2
	faultsTag   = "chronik_faults"
	tailLines   = 12
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	chronik        string
	seed           uint64
	seeds          int
	duration       time.Duration
	rounds         int
	kinds          []kind
	client         workload.Client
	rate           int
	recordSize     int
	partitions     int
	warmup         time.Duration
	settle         time.Duration
	quiet          time.Duration
	probeAfter     time.Duration
	stallThreshold time.Duration
	tmpfsBytes     int64
	proxies        bool
	nodeLogLevel   string
	keep           bool
	verbose        bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var faults, client string
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.chronik, "chronik", "", "chronik binary to run (default: go build -tags "+faultsTag+" "+nodes.ChronikPackage+" into a temporary directory)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the fault schedule (0: pick one and print it)")
	fs.IntVar(&o.seeds, "seeds", 1, "runs, with seeds seed, seed+1, ...; each on a fresh cluster")
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "how long faults are injected in each run")
	fs.IntVar(&o.rounds, "rounds", 0, "instead of --duration: this many rounds, each every fault kind once in a seeded order (CI's short schedule)")
	fs.StringVar(&faults, "faults", "all", "fault kinds, comma-separated: all or "+kindList(allKinds))
	fs.StringVar(&client, "client", string(workload.FranzGo), "producer client, with its default settings: "+clientList())
	fs.IntVar(&o.rate, "records-per-sec", 500, "records produced per second")
	fs.IntVar(&o.recordSize, "record-size", 256, "record value size in bytes")
	fs.IntVar(&o.partitions, "partitions", 3, "partitions of the topic (replication factor 3, min.insync.replicas 2)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "steady production before the first fault")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "limit for the cluster to be healthy after a heal")
	fs.DurationVar(&o.quiet, "quiet", 6*time.Second, "steady production between a fault's recovery and the next fault (franz-go refreshes metadata at most every 5 s by default: with less, a fault's stall measures the wait for the client's next refresh)")
	fs.DurationVar(&o.probeAfter, "probe-after", 2*time.Second, "when, into each fault, chronik doctor is asked")
	fs.DurationVar(&o.stallThreshold, "stall-threshold", 500*time.Millisecond, "a record waiting longer than this for its ack is a stall in the timeline")
	fs.Int64Var(&o.tmpfsBytes, "tmpfs-bytes", 256<<20, "size of each node's tmpfs data directory for the disk-full fault")
	fs.BoolVar(&o.proxies, "proxies", true, "put a TCP proxy on every link (needed by cut and cut-link); without, clients and peers reach the nodes directly")
	fs.StringVar(&o.nodeLogLevel, "node-log-level", "warn", "--log-level of the nodes")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's data directories and node logs (tmpfs contents are lost at unmount)")
	fs.BoolVar(&o.verbose, "verbose", false, "log progress in more detail")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	kinds, err := parseKinds(faults)
	if err != nil {
		return o, err
	}
	o.kinds = kinds
	o.client = workload.Client(client)
	if !slices.Contains(workload.Clients(), o.client) {
		return o, fmt.Errorf("--client %q: want one of %s", client, clientList())
	}
	switch {
	case o.rounds < 0:
		return o, errors.New("--rounds must not be negative")
	case o.seeds < 1:
		return o, errors.New("--seeds must be at least 1")
	case o.duration <= 0:
		return o, errors.New("--duration must be positive")
	case o.rate <= 0 || o.recordSize <= 0 || o.partitions <= 0:
		return o, errors.New("--records-per-sec, --record-size and --partitions must be positive")
	case o.settle <= 0 || o.probeAfter <= 0 || o.quiet < 0:
		return o, errors.New("--settle and --probe-after must be positive, --quiet not negative")
	}
	for _, k := range o.kinds {
		if holdRange[k][0] <= o.probeAfter {
			return o, fmt.Errorf("--probe-after %s: must be shorter than the shortest %s fault (%s)", o.probeAfter, k, holdRange[k][0])
		}
	}
	return o, nil
}

// reproduce is the command line that draws the same schedule.
func (o options) reproduce(seed uint64) string {
	length := "--duration " + o.duration.String()
	if o.rounds > 0 {
		length = fmt.Sprintf("--rounds %d", o.rounds)
	}
	return fmt.Sprintf("--seed %d %s --faults %s --client %s --quiet %s", seed, length, kindList(o.kinds), o.client, o.quiet)
}

func kindList(ks []kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

func clientList() string {
	var s []string
	for _, c := range workload.Clients() {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

func parseKinds(s string) ([]kind, error) {
	if s == "all" {
		return slices.Clone(allKinds), nil
	}
	var out []kind
	for _, f := range strings.Split(s, ",") {
		k := kind(strings.TrimSpace(f))
		if !slices.Contains(allKinds, k) {
			return nil, fmt.Errorf("--faults: unknown fault %q (want all or %s)", k, kindList(allKinds))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "chaos:", err)
		}
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())%1_000_000 + 1
	}
	bin := o.chronik
	if bin == "" {
		dir, err := os.MkdirTemp("", "chronik-chaos-bin-")
		if err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if bin, err = nodes.Build(ctx, dir, faultsTag); err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 1
		}
	}
	failed := 0
	var results []*runResult
	for i := range o.seeds {
		seed := o.seed + uint64(i)
		fmt.Fprintf(stdout, "seed %d (reproduce: %s)\n", seed, o.reproduce(seed))
		r := (&suite{o: o, bin: bin, log: log, stdout: stdout, stderr: stderr}).run(ctx, seed)
		r.report(stdout, o)
		results = append(results, r)
		if !r.ok() {
			failed++
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(results) > 1 {
		writeAggregate(stdout, results)
	}
	if failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}
