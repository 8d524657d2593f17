package workload

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	code := func() int {
		defer removeChronikBinary()
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func TestParseLine(t *testing.T) {
	sent := time.Unix(0, 1764000000123456789)
	good := []struct {
		line string
		want driverLine
	}{
		{"R", driverLine{kind: lineReady}},
		{"A 7 0 12 1764000000123456789", driverLine{kind: lineAck, ack: Ack{Seq: 7, Partition: 0, Offset: 12, Sent: sent}}},
		{"E 8 1764000000123456789 KafkaError{code=_MSG_TIMED_OUT, val=-192}", driverLine{kind: lineErr,
			ack: Ack{Seq: 8, Partition: -1, Offset: -1, Sent: sent, Err: "KafkaError{code=_MSG_TIMED_OUT, val=-192}"}}},
		{"E 9 1764000000123456789 two  spaces kept", driverLine{kind: lineErr,
			ack: Ack{Seq: 9, Partition: -1, Offset: -1, Sent: sent, Err: "two  spaces kept"}}},
		{"D 4000", driverLine{kind: lineDone, sent: 4000}},
		{"D 0", driverLine{kind: lineDone}},
		{"F python module kafka not found: pip install kafka-python", driverLine{kind: lineFatal, text: "python module kafka not found: pip install kafka-python"}},
	}
	for _, tt := range good {
		got, err := parseLine(tt.line)
		if err != nil {
			t.Errorf("parseLine(%q): %v", tt.line, err)
			continue
		}
		if got.kind != tt.want.kind || got.sent != tt.want.sent || got.text != tt.want.text ||
			got.ack.Seq != tt.want.ack.Seq || got.ack.Partition != tt.want.ack.Partition ||
			got.ack.Offset != tt.want.ack.Offset || got.ack.Err != tt.want.ack.Err || !got.ack.Sent.Equal(tt.want.ack.Sent) {
			t.Errorf("parseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}

	bad := []struct{ line, want string }{
		{"", "want R, A, E, D or F first"},
		{" ", "want R, A, E, D or F first"},
		{"Traceback (most recent call last):", "want R, A, E, D or F first"},
		{"X 1 2", "want R, A, E, D or F first"},
		{"R extra", "R takes no fields"},
		{"A 1 0 5", "want A <seq> <partition> <offset> <sent-ns>"},
		{"A 1 0 5 6 7", "want A <seq> <partition> <offset> <sent-ns>"},
		{"A one 0 5 6", "invalid syntax"},
		{"A 1 99999999999 5 6", "out of range"},
		{"A -1 0 5 6", "negative"},
		{"A 1 0 -5 6", "negative"},
		{"A 1  5 6", "want A"},
		{"E 1 2", "want E <seq> <sent-ns> <message>"},
		{"E 1 2 ", "want E <seq> <sent-ns> <message>"},
		{"E x 2 boom", "invalid syntax"},
		{"D", "want D <sent>"},
		{"D -3", "want D <sent>"},
		{"D 3 4", "want D <sent>"},
		{"F", "want F <message>"},
		{"\x00\xff\xfe A", "want R, A, E, D or F first"},
		{strings.Repeat("A 1 ", 100), "..."},
	}
	for _, tt := range bad {
		_, err := parseLine(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "driver line ") {
			t.Errorf("parseLine(%q) = %v, want an error with %q", tt.line, err, tt.want)
		}
	}
}

// FuzzParseLine checks that no input panics and that every accepted line
// has a known kind.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"R", "A 1 0 2 3", "E 1 2 x", "D 5", "F y", "A", "E 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseLine(s)
		if err == nil && !strings.ContainsRune("RAEDF", rune(l.kind)) {
			t.Fatalf("accepted %q as kind %q", s, l.kind)
		}
	})
}

func TestDueRecords(t *testing.T) {
	tests := []struct {
		rate    int
		elapsed time.Duration
		want    int64
	}{
		{2000, 0, 0},
		{2000, -time.Second, 0},
		{2000, time.Second, 2000},
		{2000, 1500 * time.Millisecond, 3000},
		{2000, 999 * time.Microsecond, 0},
		{1, 999 * time.Millisecond, 0},
		{1, time.Second, 1},
		{1_000_000, 24 * time.Hour, 86_400_000_000},
	}
	for _, tt := range tests {
		if got := dueRecords(tt.rate, tt.elapsed); got != tt.want {
			t.Errorf("dueRecords(%d, %v) = %d, want %d", tt.rate, tt.elapsed, got, tt.want)
		}
	}
}

func TestParseClient(t *testing.T) {
	for _, c := range Clients() {
		if got, err := ParseClient(string(c)); err != nil || got != c {
			t.Errorf("ParseClient(%q) = %q, %v", c, got, err)
		}
	}
	if _, err := ParseClient("sarama"); err == nil || !strings.Contains(err.Error(), "franz-go, librdkafka or kafka-python") {
		t.Errorf("ParseClient(sarama): %v", err)
	}
}

func TestStartProducerRejectsBadConfig(t *testing.T) {
	ok := ProducerConfig{Client: FranzGo, Brokers: []string{"127.0.0.1:1"}, Topic: "t", Rate: 1, DeliveryTimeout: time.Second}
	for _, tt := range []struct {
		edit func(*ProducerConfig)
		want string
	}{
		{func(c *ProducerConfig) { c.Brokers = nil }, "no brokers"},
		{func(c *ProducerConfig) { c.Topic = "" }, "no topic"},
		{func(c *ProducerConfig) { c.Rate = 0 }, "rate"},
		{func(c *ProducerConfig) { c.RecordSize = -1 }, "record size"},
		{func(c *ProducerConfig) { c.DeliveryTimeout = 0 }, "delivery timeout"},
		{func(c *ProducerConfig) { c.Client = "sarama" }, `unknown client "sarama"`},
	} {
		cfg := ok
		tt.edit(&cfg)
		if p, err := StartProducer(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			if p != nil {
				_, _ = p.Stop(context.Background())
			}
			t.Errorf("%+v: error %v, want %q", cfg, err, tt.want)
		}
	}
}

// TestDriverMissingModule hides the installed modules (python3 -S) and
// expects the driver's own explanation.
func TestDriverMissingModule(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	for client, want := range map[Client]string{
		Librdkafka:  "pip install confluent-kafka",
		KafkaPython: "pip install kafka-python",
	} {
		cfg := ProducerConfig{Client: client, Brokers: []string{"127.0.0.1:1"}, Topic: "t", Rate: 1,
			DeliveryTimeout: time.Second, Stderr: io.Discard, Logger: slog.New(slog.DiscardHandler)}
		p, err := startDriver(context.Background(), cfg, "-S")
		if err == nil {
			_, _ = p.Stop(context.Background())
			t.Fatalf("%s: started without its module", client)
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), string(client)) {
			t.Errorf("%s: error %q, want it to name the client and say %q", client, err, want)
		}
	}
}

// pythonModules names each driver client's Python module and its package.
var pythonModules = map[Client][2]string{
	Librdkafka:  {"confluent_kafka", "confluent-kafka"},
	KafkaPython: {"kafka", "kafka-python"},
}

// skipWithoutClient skips the test if c's Python module is not installed.
func skipWithoutClient(t *testing.T, c Client) {
	t.Helper()
	mod, ok := pythonModules[c]
	if !ok {
		return // in-process
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("%s needs python3, not installed", c)
	}
	if out, err := exec.Command("python3", "-c", "import "+mod[0]).CombinedOutput(); err != nil {
		t.Skipf("python module %s missing (pip install %s): %v: %s", mod[0], mod[1], err, out)
	}
}

var buildOnce struct {
	dir, bin string
	err      error
	done     bool
}

func removeChronikBinary() {
	if buildOnce.dir != "" {
		_ = os.RemoveAll(buildOnce.dir)
	}
}

// binaryEnv names a prebuilt chronik binary to use instead of building
// one, for when the checkout does not build (others' work in progress) or
// to save the build.
const binaryEnv = "WORKLOAD_TEST_CHRONIK"

// chronikBinary builds chronik once per test binary; tests run one at a
// time here (no t.Parallel), so no lock is needed.
func chronikBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(binaryEnv); bin != "" {
		return bin
	}
	if !buildOnce.done {
		buildOnce.done = true
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "workload-chronik-")
		if buildOnce.err == nil {
			buildOnce.bin, buildOnce.err = testharness.BuildChronik(buildOnce.dir)
		}
	}
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// TestProducerAgainstChronik runs each client's producer against one real
// node for a few hundred records, defaults and tuned, and reads them back.
func TestProducerAgainstChronik(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	for _, c := range Clients() {
		t.Run(string(c), func(t *testing.T) {
			skipWithoutClient(t, c)
			node := testharness.Start(t, testharness.Serve{Binary: chronikBinary(t)})
			for _, tuned := range []bool{false, true} {
				topic := "workload-" + strconv.FormatBool(tuned)
				produceAndCheck(t, c, node.Kafka, topic, tuned)
			}
		})
	}
}

func produceAndCheck(t *testing.T, c Client, broker, topic string, tuned bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}

	const want = 300
	var stderr lockedWriter
	p, err := StartProducer(ctx, ProducerConfig{
		Client: c, Brokers: []string{broker}, Topic: topic, Rate: 1000, RecordSize: 100,
		Tuned: tuned, DeliveryTimeout: 30 * time.Second, Stderr: &stderr,
		Logger: testharness.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var acks []Ack
	deadline := time.After(30 * time.Second)
	for len(acks) < want {
		select {
		case a := <-p.Events():
			acks = append(acks, a)
		case <-deadline:
			_, _ = p.Stop(ctx)
			t.Fatalf("%d outcomes within 30s, want %d; client log:\n%s", len(acks), want, stderr.String())
		}
	}
	stopped := make(chan struct{})
	var sent int64
	var stopErr error
	go func() {
		defer close(stopped)
		sent, stopErr = p.Stop(ctx)
	}()
	for a := range p.Events() { // closed once Stop is done
		acks = append(acks, a)
	}
	<-stopped
	if stopErr != nil {
		t.Fatalf("Stop: %v; client log:\n%s", stopErr, stderr.String())
	}
	if sent != int64(len(acks)) {
		t.Errorf("sent %d, %d outcomes", sent, len(acks))
	}
	seqAt := map[int64]int64{}
	for _, a := range acks {
		if a.Err != "" || a.Offset < 0 || a.Partition != 0 {
			t.Fatalf("outcome %+v, want an acknowledgement on partition 0", a)
		}
		if a.Sent.IsZero() || a.Done.Before(a.Sent) || a.Done.Sub(a.Sent) > 30*time.Second {
			t.Errorf("outcome %+v: Sent and Done out of order", a)
		}
		if prev, dup := seqAt[a.Offset]; dup {
			t.Fatalf("offset %d acknowledged for seqs %d and %d", a.Offset, prev, a.Seq)
		}
		seqAt[a.Offset] = a.Seq
	}
	for s := range sent {
		found := false
		for _, a := range acks { // a few hundred: quadratic is fine
			if a.Seq == s {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("seq %d never reported", s)
		}
	}

	// Read back: the key at each acknowledged offset is its seq.
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	read := 0
	for read < len(acks) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d: %v", read, len(acks), err)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			read++
			if want, ok := seqAt[r.Offset]; !ok || string(r.Key) != strconv.FormatInt(want, 10) || len(r.Value) != 100 {
				t.Errorf("offset %d: key %q, %d value bytes; acknowledged seq %d (%t)", r.Offset, r.Key, len(r.Value), want, ok)
			}
		})
	}
}

// lockedWriter collects the client's log, written from the client's
// goroutines or the driver's stderr copier, for the test to show.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStopGivesUpAtDeadline: with no broker to answer, Stop returns once
// its context ends, says why, and closes Events; the driver is killed.
func TestStopGivesUpAtDeadline(t *testing.T) {
	for _, c := range []Client{FranzGo, Librdkafka} { // kafka-python cannot start without a broker
		t.Run(string(c), func(t *testing.T) {
			skipWithoutClient(t, c)
			p, err := StartProducer(context.Background(), ProducerConfig{
				Client: c, Brokers: []string{testharness.FreeAddr(t)}, Topic: "t", Rate: 1000, RecordSize: 10,
				DeliveryTimeout: time.Minute, Logger: testharness.Logger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			// Let it hand over some records that nobody will answer.
			time.Sleep(300 * time.Millisecond) // produce for a while: the workload, not a wait for a condition
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = p.Stop(ctx)
			if err == nil || !strings.Contains(err.Error(), "wait for outstanding records") || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop: %v, want the deadline", err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Stop took %v after its deadline of 500ms", took)
			}
			for a := range p.Events() { // must be closed
				if a.Err == "" {
					t.Errorf("acknowledged without a broker: %+v", a)
				}
			}
		})
	}
}

// TestCancelKillsDriver: canceling StartProducer's context ends the
// driver at once; Stop then reports it and closes Events.
func TestCancelKillsDriver(t *testing.T) {
	skipWithoutClient(t, Librdkafka)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := StartProducer(ctx, ProducerConfig{
		Client: Librdkafka, Brokers: []string{testharness.FreeAddr(t)}, Topic: "t", Rate: 100, RecordSize: 10,
		DeliveryTimeout: time.Minute, Logger: testharness.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	dp := p.(*driverProducer)
	cancel()
	select {
	case <-dp.readerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("driver still running 10s after its context was canceled")
	}
	if _, err := p.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "without reporting its end") {
		t.Errorf("Stop after cancel: %v", err)
	}
	for range p.Events() {
	}
}
