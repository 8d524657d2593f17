// Command loadgen produces records to any Kafka-compatible broker and reports
// throughput and per-record produce latency.
//
//	go run ./bench/loadgen --brokers 127.0.0.1:9092 --topic bench --acks all --records 200000
//
// Latency is the time from the Produce call to the record's acknowledgement
// (its promise); with --acks 0 nothing is acknowledged and it only measures
// until the request is written. It includes the wait in the client's buffer,
// which holds at most --max-buffered records (default 1000, about one full
// batch of 1 KiB records): a bounded queue, so the numbers describe the
// broker rather than the load generator.
//
// The result goes to stdout as a block of text, or as one JSON line with
// --json; progress notes go to stderr. Exit code 1 if any record failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	brokers         []string
	topic           string
	partitions      int
	replication     int
	recordSize      int
	acks            string
	records         int64 // 0 = no limit (then duration must be set)
	duration        time.Duration
	idempotent      bool
	linger          time.Duration
	maxInflight     int // 0 = the client's default
	maxBuffered     int
	compression     string
	deliveryTimeout time.Duration
	json            bool
}

// parseOptions parses and checks args; errors are usage errors.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "bench", "topic to produce to (created with replication factor 1 if missing)")
	fs.IntVar(&o.partitions, "partitions", 1, "partitions when creating the topic")
	fs.IntVar(&o.replication, "replication-factor", 1, "replication factor when creating the topic")
	fs.IntVar(&o.recordSize, "record-size", 1024, "record value size in bytes")
	fs.StringVar(&o.acks, "acks", "all", "required acks: all, 1 or 0")
	fs.Int64Var(&o.records, "records", 200000, "records to produce (0 = until --duration)")
	fs.DurationVar(&o.duration, "duration", 0, "produce for this long instead of a record count")
	fs.BoolVar(&o.idempotent, "idempotent", true, "idempotent producer (needs --acks all; off by default for other acks)")
	fs.DurationVar(&o.linger, "linger", 0, "how long a partition waits to fill a batch")
	fs.IntVar(&o.maxInflight, "max-inflight", 0, "produce requests in flight per broker (needs --idempotent=false; 0 = client default)")
	fs.IntVar(&o.maxBuffered, "max-buffered", 1000, "records buffered in the client at most; Produce blocks beyond this, so latency includes at most this queue")
	fs.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&o.deliveryTimeout, "delivery-timeout", 30*time.Second, "fail a record not acknowledged within this long")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	if len(o.brokers) == 0 {
		return o, errors.New("--brokers: need at least one broker")
	}
	if o.topic == "" {
		return o, errors.New("--topic: must not be empty")
	}
	if o.replication < 1 {
		return o, fmt.Errorf("--replication-factor: must be >= 1, got %d", o.replication)
	}
	if o.partitions < 1 {
		return o, fmt.Errorf("--partitions: must be >= 1, got %d", o.partitions)
	}
	if o.recordSize < 0 {
		return o, fmt.Errorf("--record-size: must be >= 0, got %d", o.recordSize)
	}
	if _, err := parseAcks(o.acks); err != nil {
		return o, err
	}
	if _, err := parseCompression(o.compression); err != nil {
		return o, err
	}
	// --duration alone means "for that long", not "200000 records or that long".
	if set["duration"] && !set["records"] {
		o.records = 0
	}
	if o.records < 0 || o.duration < 0 {
		return o, errors.New("--records and --duration must not be negative")
	}
	if o.records == 0 && o.duration == 0 {
		return o, errors.New("set --records or --duration")
	}
	if o.acks != "all" && o.idempotent {
		if set["idempotent"] {
			return o, fmt.Errorf("--idempotent needs --acks all, got --acks %s", o.acks)
		}
		o.idempotent = false
	}
	if o.maxInflight < 0 {
		return o, fmt.Errorf("--max-inflight: must be >= 0, got %d", o.maxInflight)
	}
	if o.maxInflight > 0 && o.idempotent {
		return o, errors.New("--max-inflight needs --idempotent=false (the idempotent producer uses the client's fixed limit)")
	}
	if o.maxBuffered < 1 {
		return o, fmt.Errorf("--max-buffered: must be >= 1, got %d", o.maxBuffered)
	}
	if o.deliveryTimeout <= 0 {
		return o, errors.New("--delivery-timeout: must be > 0")
	}
	return o, nil
}

func parseAcks(s string) (kgo.Acks, error) {
	switch s {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("--acks: want all, 1 or 0, got %q", s)
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression: want none, gzip, snappy, lz4 or zstd, got %q", s)
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

	// The first Ctrl-C stops producing and reports what was acknowledged;
	// after it the default handler is back, so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	res, err := bench(ctx, o, stop, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	if err := printResult(stdout, o, res); err != nil {
		fmt.Fprintf(stderr, "Error: write result: %v\n", err)
		return 1
	}
	if res.Failed > 0 || res.Unacked > 0 {
		msg := fmt.Sprintf("%d records failed, %d unacknowledged", res.Failed, res.Unacked)
		if res.firstErr != nil {
			msg += fmt.Sprintf("; first error: %v", res.firstErr)
		}
		fmt.Fprintf(stderr, "Error: %s\n", msg)
		return 1
	}
	return 0
}

// result is one run's outcome; its JSON form is the --json line.
type result struct {
	Topic       string  `json:"topic"`
	Acks        string  `json:"acks"`
	Idempotent  bool    `json:"idempotent"`
	RecordSize  int     `json:"record_size"`
	LingerMs    float64 `json:"linger_ms"`
	Records     int64   `json:"records"` // acknowledged
	Failed      int64   `json:"failed"`
	Unacked     int64   `json:"unacked"` // neither acknowledged nor failed when the run ended
	Bytes       int64   `json:"bytes"`   // value bytes acknowledged
	ElapsedS    float64 `json:"elapsed_s"`
	MBPerS      float64 `json:"mb_per_s"` // 10^6 bytes per second
	RecordsPerS float64 `json:"records_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`

	firstErr error
}

// stats collects promise outcomes; kgo may call promises from more than one goroutine.
type stats struct {
	mu       sync.Mutex
	hist     histogram
	acked    int64
	failed   int64
	firstErr error
}

func (s *stats) done(latency time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.acked++
	s.hist.record(int64(latency))
}

// bench creates the topic if needed, produces, waits for every outstanding
// record (bounded by the delivery timeout) and summarises.
func bench(ctx context.Context, o options, stopSignals func(), stderr io.Writer) (result, error) {
	acks, _ := parseAcks(o.acks)
	codec, _ := parseCompression(o.compression)
	kopts := []kgo.Opt{
		kgo.SeedBrokers(o.brokers...),
		kgo.DefaultProduceTopic(o.topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(o.linger),
		kgo.MaxBufferedRecords(o.maxBuffered),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(o.deliveryTimeout),
	}
	if !o.idempotent {
		kopts = append(kopts, kgo.DisableIdempotentWrite())
		if o.maxInflight > 0 {
			kopts = append(kopts, kgo.MaxProduceRequestsInflightPerBroker(o.maxInflight))
		}
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return result{}, fmt.Errorf("create client: %w", err)
	}
	defer cl.Close()

	if err := ensureTopic(ctx, kadm.NewClient(cl), o, stderr); err != nil {
		return result{}, err
	}

	value := make([]byte, o.recordSize)
	fillRandom(value)

	// Records already handed to the client finish even after Ctrl-C: they are
	// part of the measurement. Only the loop below watches ctx.
	produceCtx := context.WithoutCancel(ctx)
	var st stats
	var sent int64
	start := time.Now()
	var deadline time.Time
	if o.duration > 0 {
		deadline = start.Add(o.duration)
	}
	for o.records == 0 || sent < o.records {
		if ctx.Err() != nil {
			stopSignals()
			fmt.Fprintln(stderr, "interrupted: waiting for outstanding records, Ctrl-C again to quit")
			break
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			break
		}
		begin := time.Now()
		// The value is shared: the client only reads it.
		cl.Produce(produceCtx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			st.done(time.Since(begin), err)
		})
		sent++
	}

	// Flush is bounded: a record outstanding past its delivery timeout is a
	// broker that stopped answering, and the report should say so, not hang.
	flushCtx, cancel := context.WithTimeout(produceCtx, o.deliveryTimeout+10*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		fmt.Fprintf(stderr, "flush: %v\n", err)
	}
	elapsed := time.Since(start)

	st.mu.Lock()
	defer st.mu.Unlock()
	return summarize(o, sent, elapsed, &st), nil
}

// summarize turns the collected stats into a result.
func summarize(o options, sent int64, elapsed time.Duration, st *stats) result {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	secs := elapsed.Seconds()
	r := result{
		Topic:      o.topic,
		Acks:       o.acks,
		Idempotent: o.idempotent,
		RecordSize: o.recordSize,
		LingerMs:   float64(o.linger) / float64(time.Millisecond),
		Records:    st.acked,
		Failed:     st.failed,
		Unacked:    sent - st.acked - st.failed,
		Bytes:      st.acked * int64(o.recordSize),
		ElapsedS:   secs,
		P50Ms:      ms(st.hist.quantile(0.50)),
		P99Ms:      ms(st.hist.quantile(0.99)),
		P999Ms:     ms(st.hist.quantile(0.999)),
		MaxMs:      ms(st.hist.max),
		firstErr:   st.firstErr,
	}
	if secs > 0 {
		r.MBPerS = float64(r.Bytes) / 1e6 / secs
		r.RecordsPerS = float64(r.Records) / secs
	}
	return r
}

// ensureTopic creates the topic with replication factor 1 unless it exists,
// then waits until every partition has a leader.
func ensureTopic(ctx context.Context, adm *kadm.Client, o options, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := adm.CreateTopic(ctx, int32(o.partitions), int16(o.replication), nil, o.topic)
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "created topic %s with %d partitions\n", o.topic, o.partitions)
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return fmt.Errorf("create topic %s: %w", o.topic, err)
	}

	// Creation is acknowledged before every broker's metadata shows the
	// partitions; producing earlier would measure that wait, not the broker.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		topics, err := adm.ListTopics(ctx, o.topic)
		if err == nil && topics.Has(o.topic) {
			td := topics[o.topic]
			ready := td.Err == nil && len(td.Partitions) > 0
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 {
					ready = false
				}
			}
			if ready {
				if len(td.Partitions) != o.partitions {
					fmt.Fprintf(stderr, "topic %s exists with %d partitions (not --partitions %d)\n", o.topic, len(td.Partitions), o.partitions)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topic %s to have leaders: %w", o.topic, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// fillRandom fills b with pseudo-random bytes, so compression (if any) and
// the broker see realistic, non-repeating payloads.
func fillRandom(b []byte) {
	r := rand.NewChaCha8([32]byte{'c', 'h', 'r', 'o', 'n', 'i', 'k'})
	_, _ = r.Read(b) // never fails
}

// printResult writes the result as a text block or one JSON line.
func printResult(w io.Writer, o options, r result) error {
	if o.json {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "topic       %s  acks=%s  idempotent=%t  record-size=%d  linger=%s\n",
		r.Topic, r.Acks, r.Idempotent, r.RecordSize, o.linger)
	fmt.Fprintf(&sb, "records     %d acknowledged, %d failed, %d unacknowledged\n", r.Records, r.Failed, r.Unacked)
	fmt.Fprintf(&sb, "bytes       %d\n", r.Bytes)
	fmt.Fprintf(&sb, "elapsed     %.3fs\n", r.ElapsedS)
	fmt.Fprintf(&sb, "throughput  %.2f MB/s  %.0f records/s\n", r.MBPerS, r.RecordsPerS)
	fmt.Fprintf(&sb, "latency ms  p50 %.3f  p99 %.3f  p999 %.3f  max %.3f\n", r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs)
	_, err := io.WriteString(w, sb.String())
	return err
}
