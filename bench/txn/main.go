// Command txn measures transactional produce against idempotent produce on
// real `chronik serve` nodes:
//
//	go run ./bench/txn [flags]
//
// It starts --nodes nodes (the binary of --chronik, or one built from this
// module), creates a topic of --partitions partitions replicated on
// min(3, nodes) nodes for each run, and writes --records records of
// --record-size bytes with franz-go: once idempotent (the client's
// defaults: acks=all, idempotent) and, for each size N of --txn-sizes, in
// transactions of N records (the same defaults plus a transactional id).
// Each transaction produces its N records asynchronously, flushes, and
// commits (EndTxn): the commit latency, EndTxn alone after the flush, goes
// into an HDR histogram. --linger adds a tuned row of each with
// kgo.ProducerLinger. After each run it checks that nothing stays open:
// every partition's last stable offset equals its high watermark and their
// sum is the records written.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	chronik    string
	dir        string
	nodes      int
	partitions int
	records    int
	recordSize int
	txnSizes   []int
	linger     time.Duration
	serveArgs  []string
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("txn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.chronik, "chronik", "", "chronik binary (default: build this module's)")
	fs.StringVar(&o.dir, "dir", "", "parent of the nodes' data directories (default: a temporary directory)")
	fs.IntVar(&o.nodes, "nodes", 3, "nodes in the cluster")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of each run's topic")
	fs.IntVar(&o.records, "records", 200_000, "records per run")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes per record value")
	sizes := fs.String("txn-sizes", "100,1000,10000", "records per transaction, comma-separated: one run each")
	fs.DurationVar(&o.linger, "linger", 0, "> 0: also a tuned run of each kind with kgo.ProducerLinger of this")
	fs.Var((*stringList)(&o.serveArgs), "serve-arg", "a further `chronik serve` flag for every node (repeatable)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--txn-sizes: %q is not a positive count", s)
		}
		o.txnSizes = append(o.txnSizes, n)
	}
	switch {
	case o.nodes < 1:
		return o, errors.New("--nodes must be at least 1")
	case o.partitions < 1:
		return o, errors.New("--partitions must be at least 1")
	case o.records < 1:
		return o, errors.New("--records must be at least 1")
	case o.recordSize < 1:
		return o, errors.New("--record-size must be at least 1")
	case o.linger < 0:
		return o, errors.New("--linger must not be negative")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err == nil {
		err = bench(ctx, o, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "txn:", err)
		return 1
	}
}

// result is one run's measurements.
type result struct {
	kind    string
	elapsed time.Duration
	records int
	commits *hdrhistogram.Histogram // µs; nil for idempotent runs
	flushes *hdrhistogram.Histogram // µs: a transaction's produce and flush, before its commit
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	parent := o.dir
	if parent == "" {
		d, err := os.MkdirTemp("", "chronik-bench-txn-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		parent = d
	}
	bin := o.chronik
	if bin == "" {
		log.Info("building chronik")
		if bin, err = nodes.Build(ctx, parent); err != nil {
			return err
		}
	}
	c, err := nodes.Start(ctx, nodes.Config{Binary: bin, Dir: parent, Size: o.nodes, Args: o.serveArgs, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	defer func() {
		if err != nil {
			c.WriteTails(stderr, 30)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = nodes.WaitReady(rctx, c.Nodes)
	cancel()
	if err != nil {
		return err
	}
	brokers := nodes.KafkaAddrs(c.Nodes)
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)

	lingers := []time.Duration{0}
	if o.linger > 0 {
		lingers = append(lingers, o.linger)
	}
	value := make([]byte, o.recordSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	fmt.Fprintf(stdout, "%d nodes, %d partitions RF %d, %d records of %d B per run\n\n", o.nodes, o.partitions, min(3, o.nodes), o.records, o.recordSize)
	fmt.Fprintln(stdout, "| producer | linger | records/s | MiB/s | transactions | produce+flush p50 ms | commit p50 ms | commit p99 ms | commit max ms |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|")
	runNo := 0
	for _, linger := range lingers {
		for _, txnSize := range append([]int{0}, o.txnSizes...) {
			runNo++
			topic := fmt.Sprintf("bench-txn-%d", runNo)
			resp, err := adm.CreateTopic(ctx, int32(o.partitions), int16(min(3, o.nodes)), nil, topic)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				return fmt.Errorf("create %s: %w", topic, err)
			}
			r, err := produce(ctx, brokers, topic, txnSize, linger, o.records, value)
			if err != nil {
				return fmt.Errorf("%s: %w", topic, err)
			}
			// The coordinator writes the markers after answering EndTxn (as
			// Kafka's does): the last ones may still be on their way.
			deadline := time.Now().Add(10 * time.Second)
			for err = checkStable(ctx, adm, topic, o.records); err != nil && time.Now().Before(deadline); err = checkStable(ctx, adm, topic, o.records) {
				time.Sleep(50 * time.Millisecond) // polling the offsets, bounded by the deadline
			}
			if err != nil {
				return err
			}
			printRow(stdout, r, linger, o.recordSize)
		}
	}
	return nil
}

// produce writes records to topic: idempotent when txnSize is 0, else in
// transactions of txnSize records.
func produce(ctx context.Context, brokers []string, topic string, txnSize int, linger time.Duration, records int, value []byte) (result, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic)}
	r := result{kind: "idempotent", records: records}
	if txnSize > 0 {
		opts = append(opts, kgo.TransactionalID("bench-"+topic))
		r.kind = fmt.Sprintf("transactions of %d", txnSize)
		r.commits = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		r.flushes = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	}
	if linger > 0 {
		opts = append(opts, kgo.ProducerLinger(linger))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return r, err
	}
	defer cl.Close()

	var mu sync.Mutex
	var firstErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	chunk := records
	if txnSize > 0 {
		chunk = txnSize
	}
	start := time.Now()
	for done := 0; done < records; {
		n := min(chunk, records-done)
		tb := time.Now()
		if txnSize > 0 {
			if err := cl.BeginTransaction(); err != nil {
				return r, fmt.Errorf("begin: %w", err)
			}
		}
		for range n {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		if err := cl.Flush(ctx); err != nil {
			return r, fmt.Errorf("flush: %w", err)
		}
		mu.Lock()
		err := firstErr
		mu.Unlock()
		if err != nil {
			return r, fmt.Errorf("produce: %w", err)
		}
		if txnSize > 0 {
			_ = r.flushes.RecordValue(max(1, time.Since(tb).Microseconds()))
			t0 := time.Now()
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return r, fmt.Errorf("commit: %w", err)
			}
			_ = r.commits.RecordValue(max(1, time.Since(t0).Microseconds()))
		}
		done += n
	}
	r.elapsed = time.Since(start)
	return r, nil
}

// checkStable: no transaction open on topic and every record written is
// below its last stable offsets.
func checkStable(ctx context.Context, adm *kadm.Client, topic string, records int) error {
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return fmt.Errorf("%s: last stable offsets: %w", topic, err)
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = end.Error()
	}
	if err != nil {
		return fmt.Errorf("%s: end offsets: %w", topic, err)
	}
	var sumStable, sumEnd int64
	stable.Each(func(o kadm.ListedOffset) { sumStable += o.Offset })
	end.Each(func(o kadm.ListedOffset) { sumEnd += o.Offset })
	// End offsets count the markers too (one per partition per transaction).
	if sumStable != sumEnd || sumEnd < int64(records) {
		return fmt.Errorf("%s: last stable offsets sum %d, high watermarks %d, %d records written", topic, sumStable, sumEnd, records)
	}
	return nil
}

func printRow(w io.Writer, r result, linger time.Duration, recordSize int) {
	secs := r.elapsed.Seconds()
	lingerCol := "default"
	if linger > 0 {
		lingerCol = linger.String()
	}
	rate := float64(r.records) / secs
	mib := rate * float64(recordSize) / (1 << 20)
	if r.commits == nil {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | - | - | - | - | - |\n", r.kind, lingerCol, rate, mib)
		return
	}
	msOf := func(us int64) float64 { return float64(us) / 1000 }
	fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %d | %.2f | %.2f | %.2f | %.2f |\n", r.kind, lingerCol, rate, mib, r.commits.TotalCount(),
		msOf(r.flushes.ValueAtQuantile(50)), msOf(r.commits.ValueAtQuantile(50)), msOf(r.commits.ValueAtQuantile(99)), msOf(r.commits.Max()))
}
