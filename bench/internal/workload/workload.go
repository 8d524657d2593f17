// Package workload runs the benchmarks' producers: one idempotent acks=all
// producer per supported client, paced at a fixed rate, reporting the
// outcome of every record with the time it was handed to the client and the
// time the client reported it.
//
// franz-go runs in this process. librdkafka (through the confluent-kafka
// Python package, which bundles it) and kafka-python run as a python3 child
// process executing a driver script embedded from drivers/. A driver paces
// itself by elapsed time, keeps at most MaxInFlight records unanswered (the
// default of franz-go's MaxBufferedRecords, so no client queues more than
// the others; librdkafka alone would queue up to 100,000), and writes one
// line per event to stdout, flushed as soon as the client has reported it:
//
//	R                                          ready: the client exists, pacing starts
//	A <seq> <partition> <offset> <sent-ns>     record seq acknowledged at offset
//	E <seq> <sent-ns> <message>                record seq failed; message runs to the end of the line
//	D <sent>                                   stopped: sent records handed to the client, every outcome printed
//	F <message>                                fatal (missing module, bad setting); the driver exits non-zero
//
// Fields are separated by one space; <sent-ns> is the Unix time in
// nanoseconds at which the record was handed to the client. The driver
// stops when its stdin is closed. The Go side stamps Done when it reads a
// line, so a gap between acknowledgements includes the pipe, as it would
// include a callback in an application.
package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Client names a Kafka client library.
type Client string

// The supported clients.
const (
	FranzGo     Client = "franz-go"
	Librdkafka  Client = "librdkafka"
	KafkaPython Client = "kafka-python"
)

// Clients returns every supported client, franz-go first.
func Clients() []Client { return []Client{FranzGo, Librdkafka, KafkaPython} }

// MaxInFlight bounds the records handed to a client and not yet answered:
// franz-go's default MaxBufferedRecords, which makes its Produce block; the
// drivers stop handing records at the same count and catch up afterwards.
const MaxInFlight = 10_000

// eventsBuffer is the capacity of Events: seconds of acknowledgements at
// the benchmarks' rates, so a reader that drains it never slows the client.
const eventsBuffer = 1 << 16

// ProducerConfig describes a producer.
type ProducerConfig struct {
	Client     Client
	Brokers    []string
	Topic      string
	Rate       int // records per second, paced by elapsed time
	RecordSize int
	// Tuned: franz-go MetadataMinAge 100ms + retry backoff 100ms; librdkafka
	// retry.backoff.ms = retry.backoff.max.ms = 100 and
	// topic.metadata.refresh.fast.interval.ms = 100; kafka-python
	// retry_backoff_ms 100 and reconnect_backoff_max_ms 100. false = the
	// client's own defaults plus only what correctness needs: acks=all,
	// idempotence, unlimited retries, DeliveryTimeout.
	Tuned           bool
	DeliveryTimeout time.Duration
	Stderr          io.Writer    // the client's own log (warnings and errors) / driver stderr; nil discards it
	Logger          *slog.Logger // nil discards
}

// Ack is the outcome of one record. Keys are the decimal Seq; values
// RecordSize random bytes.
type Ack struct {
	Seq       int64
	Partition int32
	Offset    int64     // -1 when Err != ""
	Sent      time.Time // handed to the client
	Done      time.Time // the client reported the outcome
	Err       string
}

// Producer is a running producer. Its owner must call Stop.
type Producer interface {
	// Events delivers every outcome once, in the order reported; it is
	// closed after Stop returns. It is buffered generously and the reader
	// must drain it.
	Events() <-chan Ack
	// Stop stops handing records, waits (bounded by ctx) for outstanding
	// outcomes, then closes Events. It returns how many records were
	// handed to the client.
	Stop(ctx context.Context) (sent int64, err error)
}

// StartProducer starts a producer of cfg.Client. ctx bounds its life: when
// ctx ends, records not yet answered fail (franz-go) or the driver process
// is killed. For a driver client, StartProducer returns once the driver
// has created its client, or its error (such as a missing Python module).
func StartProducer(ctx context.Context, cfg ProducerConfig) (Producer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("workload: no brokers")
	case cfg.Topic == "":
		return nil, errors.New("workload: no topic")
	case cfg.Rate < 1:
		return nil, fmt.Errorf("workload: rate must be >= 1, got %d", cfg.Rate)
	case cfg.RecordSize < 0:
		return nil, fmt.Errorf("workload: record size must be >= 0, got %d", cfg.RecordSize)
	case cfg.DeliveryTimeout <= 0:
		return nil, errors.New("workload: delivery timeout must be > 0")
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.Client {
	case FranzGo:
		return startFranz(ctx, cfg)
	case Librdkafka, KafkaPython:
		return startDriver(ctx, cfg)
	default:
		return nil, fmt.Errorf("workload: unknown client %q (want franz-go, librdkafka or kafka-python)", cfg.Client)
	}
}

// ParseClient parses a client name.
func ParseClient(s string) (Client, error) {
	for _, c := range Clients() {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown client %q (want franz-go, librdkafka or kafka-python)", s)
}

// dueRecords is how many records a producer pacing at rate records per
// second should have sent after elapsed.
func dueRecords(rate int, elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	return int64(elapsed) / int64(time.Millisecond) * int64(rate) / 1000
}

// lineKind is the first field of a driver line.
type lineKind byte

const (
	lineReady lineKind = 'R'
	lineAck   lineKind = 'A'
	lineErr   lineKind = 'E'
	lineDone  lineKind = 'D'
	lineFatal lineKind = 'F'
)

// driverLine is one parsed line of a driver's stdout.
type driverLine struct {
	kind lineKind
	ack  Ack    // A and E; Done is left to the reader
	sent int64  // D
	text string // F
}

// parseLine parses one line of the protocol in the package comment.
func parseLine(line string) (driverLine, error) {
	bad := func(why string) (driverLine, error) {
		const show = 80
		if len(line) > show {
			line = line[:show] + "..."
		}
		return driverLine{}, fmt.Errorf("driver line %q: %s", line, why)
	}
	kind, rest, _ := strings.Cut(line, " ")
	if len(kind) != 1 {
		return bad("want R, A, E, D or F first")
	}
	l := driverLine{kind: lineKind(kind[0])}
	switch l.kind {
	case lineReady:
		if rest != "" {
			return bad("R takes no fields")
		}
	case lineAck:
		f := strings.Split(rest, " ")
		if len(f) != 4 {
			return bad("want A <seq> <partition> <offset> <sent-ns>")
		}
		seq, err1 := strconv.ParseInt(f[0], 10, 64)
		part, err2 := strconv.ParseInt(f[1], 10, 32)
		off, err3 := strconv.ParseInt(f[2], 10, 64)
		sent, err4 := strconv.ParseInt(f[3], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return bad("want A <seq> <partition> <offset> <sent-ns>: " + err.Error())
		}
		if seq < 0 || off < 0 {
			return bad("negative seq or offset")
		}
		l.ack = Ack{Seq: seq, Partition: int32(part), Offset: off, Sent: time.Unix(0, sent)}
	case lineErr:
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 || f[2] == "" {
			return bad("want E <seq> <sent-ns> <message>")
		}
		seq, err1 := strconv.ParseInt(f[0], 10, 64)
		sent, err2 := strconv.ParseInt(f[1], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return bad("want E <seq> <sent-ns> <message>: " + err.Error())
		}
		if seq < 0 {
			return bad("negative seq")
		}
		l.ack = Ack{Seq: seq, Partition: -1, Offset: -1, Sent: time.Unix(0, sent), Err: f[2]}
	case lineDone:
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n < 0 {
			return bad("want D <sent>")
		}
		l.sent = n
	case lineFatal:
		if rest == "" {
			return bad("want F <message>")
		}
		l.text = rest
	default:
		return bad("want R, A, E, D or F first")
	}
	return l, nil
}
