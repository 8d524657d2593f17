package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil || !slices.Equal(o.nodes, []int{1, 3}) || o.mode != modeAll || o.duration != 15*time.Second ||
		o.warmup != 3*time.Second || o.partitions != 6 || !slices.Equal(o.sweepPartitions, []int{6, 60, 300, 1000}) ||
		!slices.Equal(o.rates, []float64{10, 50, 80}) || o.rateList != nil || o.recordSize != 1024 || o.linger != nil || o.json {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseOptions([]string{"--nodes", "3", "--mode", "latency", "--rates", "", "--rate-list", "1000, 20000",
		"--linger", "0s", "--serve-arg=--log-flush=never", "--serve-arg", "--x=1", "--warmup", "0s", "--json"}, io.Discard)
	if err != nil || !slices.Equal(o.nodes, []int{3}) || o.rates != nil || !slices.Equal(o.rateList, []int{1000, 20000}) ||
		o.linger == nil || *o.linger != 0 || !slices.Equal(o.serveArgs, []string{"--log-flush=never", "--x=1"}) || o.warmup != 0 || !o.json {
		t.Fatalf("%+v %v", o, err)
	}
	if o.linger == nil || producerLabel(o.linger) != "TUNED linger 0s" || producerLabel(nil) != "defaults" {
		t.Fatalf("labels %q %q", producerLabel(o.linger), producerLabel(nil))
	}
	for _, args := range [][]string{
		{"--nodes", "0"},
		{"--nodes", ""},
		{"--nodes", "1,x"},
		{"--mode", "fast"},
		{"--duration", "0s"},
		{"--warmup", "-1s"},
		{"--partitions", "0"},
		{"--record-size", "0"},
		{"--sweep-partitions", "6,-1"},
		{"--sweep-partitions", ""},
		{"--rates", "50,0"},
		{"--rates", "NaN"},
		{"--rates", "Inf"},
		{"--rate-list", "1.5"},
		{"--mode", "latency", "--rates", ""},
		{"--linger", "-1ms"},
		{"--linger", "soon"},
		{"extra"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if code := run(context.Background(), []string{"--nodes", "0"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// fakeClock moves only when the loop sleeps or the test says so.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// A 100 ms stall in send (the client's buffer full) must be charged to every
// record it delayed, from each one's intended time, and must not move the
// schedule: the held-back records go out in one burst.
func TestOpenLoopStallCountsForEveryDelayedRecord(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	t0 := clk.now
	const rate, stallAt = 1000, 200
	const stall = 100 * time.Millisecond
	end := t0.Add(time.Second)
	rec := newRecorder(clk, t0, end)
	var intended, sentAt []time.Time
	loop := &openLoop{sched: schedule{t0: t0, rate: rate}, clock: clk, send: func(at time.Time) {
		sentAt = append(sentAt, clk.Now())
		intended = append(intended, at)
		if len(intended)-1 == stallAt {
			clk.now = clk.now.Add(stall) // blocked in Produce
		}
		rec.ack(at, nil) // acknowledged the moment it was handed over
	}}
	n, err := loop.run(context.Background(), end)
	if err != nil || n != rate || len(intended) != rate {
		t.Fatalf("sent %d (%d), err %v; want %d", n, len(intended), err, rate)
	}
	for i, at := range intended {
		if want := t0.Add(time.Duration(i) * time.Millisecond); !at.Equal(want) {
			t.Fatalf("record %d due at %v, want %v: the schedule moved", i, at.Sub(t0), want.Sub(t0))
		}
	}
	// The records due during the stall went out together when it ended.
	for i := stallAt + 1; i < stallAt+100; i++ {
		if !sentAt[i].Equal(t0.Add(300 * time.Millisecond)) {
			t.Fatalf("record %d sent at %v, want 300ms (a burst after the stall)", i, sentAt[i].Sub(t0))
		}
	}
	h := rec.hist
	if h.TotalCount() != rate {
		t.Fatalf("%d latencies recorded, want %d", h.TotalCount(), rate)
	}
	// Records 200..299 waited 100, 99, .. 1 ms; the rest nothing.
	var slow int64
	for _, b := range h.Distribution() {
		if b.From >= 900 { // ≥ 0.9 ms, allowing for bucket width
			slow += b.Count
		}
	}
	if slow != 100 {
		t.Fatalf("%d records charged ≥ 1 ms, want 100 (a coordinated-omission-prone loop charges only 1)", slow)
	}
	if got := time.Duration(h.Max()) * time.Microsecond; got < 99*time.Millisecond || got > 101*time.Millisecond {
		t.Fatalf("max %v, want 100ms", got)
	}
	if p := h.ValueAtQuantile(95); p < 49_000 || p > 51_000 {
		t.Fatalf("p95 %d µs, want ~50 ms (the 95th percentile falls halfway through the delayed records)", p)
	}
	if rec.inWindow != rate {
		t.Fatalf("%d acknowledgements in the window, want %d", rec.inWindow, rate)
	}
}

// Records due before the warm-up ends are not measured, but their errors
// are counted.
func TestRecorderWarmup(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	from := clk.now.Add(time.Second)
	rec := newRecorder(clk, from, from.Add(time.Second))
	clk.now = from.Add(10 * time.Millisecond)
	rec.ack(from.Add(-time.Millisecond), nil) // due in the warm-up: not measured
	rec.ack(from, nil)
	rec.ack(from, io.ErrUnexpectedEOF)
	n, first := rec.errs.get()
	if rec.hist.TotalCount() != 1 || rec.inWindow != 2 || n != 1 || first != io.ErrUnexpectedEOF.Error() {
		t.Fatalf("measured %d, in window %d, errors %d %q", rec.hist.TotalCount(), rec.inWindow, n, first)
	}
	if got := rec.hist.Max(); got < 9_990 || got > 10_010 {
		t.Fatalf("latency %d µs, want 10 ms", got)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and ')' in it: fields count from the last ')'.
	line := "4242 (chr (x) ) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 158 0 0 20 0 12 0 123456 1234567 890 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	u, s, err := parseStat([]byte(line))
	if err != nil || u != 731 || s != 158 {
		t.Fatalf("utime %d stime %d err %v, want 731 158", u, s, err)
	}
	for _, bad := range []string{"", "4242 no parens S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 158 0 0"} {
		if _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := ticks(250, 100); got != 2500*time.Millisecond {
		t.Fatalf("250 ticks at 100 Hz = %v", got)
	}
	// This process's own entry parses and the tick rate is plausible.
	hz, note := clockTicks()
	if hz <= 0 {
		t.Fatalf("clock ticks %d (%s)", hz, note)
	}
	if _, err := procCPU(os.Getpid(), hz); err != nil {
		t.Fatal(err)
	}
}

func TestReportMarksErrorsAndTuning(t *testing.T) {
	var b strings.Builder
	rp := &report{w: &b}
	_ = rp.add(row{Kind: kindMax, Nodes: 3, RF: 3, MinISR: 2, Partitions: 6, Producer: "TUNED linger 5ms", MBPerSec: 100, RecordsPerSec: 97656, Errors: 2, FirstErr: "x|y"})
	_ = rp.add(row{Kind: kindLatency, Nodes: 1, RF: 1, MinISR: 1, Partitions: 6, Producer: "defaults", Target: "80% of max", TargetRate: 1000, Achieved: 900, Saturated: true})
	rp.tables("setup")
	out := b.String()
	for _, want := range []string{"| 3 | 3 / 2 | 6 | TUNED linger 5ms | 100.0 | 97,656 |", "**2** (x/y)", "900 **saturated**", "| defaults | 80% of max | 1,000 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	_ = rp.add(row{Kind: kindSweep, Nodes: 3, RF: 3, MinISR: 2, Partitions: 6, Errors: 2, SameRunAs: "the max run above"})
	if rp.errors() != 2 {
		t.Errorf("errors %d", rp.errors())
	}
}

// A tiny real run on one node: every kind of row, sane numbers, no errors.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chronik node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	bin, err := nodes.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built chronik in %v", time.Since(start).Round(time.Millisecond))
	var out, errOut strings.Builder
	code := run(ctx, []string{"--chronik", bin, "--dir", t.TempDir(), "--nodes", "1", "--partitions", "1",
		"--sweep-partitions", "1,2", "--rates", "", "--rate-list", "200", "--duration", "1s", "--warmup", "0s", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	t.Logf("measured after %v", time.Since(start).Round(time.Millisecond))
	var rows []row
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want max, latency and two sweep rows:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if r.Errors != 0 || r.Nodes != 1 || r.RF != 1 || r.Producer != "defaults" {
			t.Errorf("row %+v", r)
		}
		// Where the time went: data flowed through the leader's produce
		// path and its fsyncs; one node has no follower to wait for.
		b := r.breakdown
		if b.BreakdownErrors != "" || !positive(b.ProduceRequestMs) || !positive(b.LocalFsyncWaitMs) || !positive(b.FsyncPassMs) ||
			b.ReplicasWaitMs == nil || *b.ReplicasWaitMs < 0 || len(b.FsyncsPerSecByNode) != 1 || !positive(b.FsyncsPerSecByNode[0]) ||
			b.FollowerAckMs != nil || b.FollowerCopyMs != nil || b.FollowerFsyncMs != nil ||
			*b.LocalFsyncWaitMs > *b.ProduceRequestMs {
			t.Errorf("%s row breakdown %+v, fsyncs/s %v", r.Kind, b, derefs(b.FsyncsPerSecByNode))
		}
		switch r.Kind {
		case kindMax, kindSweep:
			if r.MBPerSec <= 0 || r.RecordsPerSec <= 0 || r.NodeCPUMsPerMB <= 0 || r.ProducerCPUMsPerMB <= 0 || r.Seconds < 0.9 {
				t.Errorf("throughput row %+v", r)
			}
		case kindLatency:
			// Every record due in the 1 s window (no warm-up) is measured.
			if r.TargetRate != 200 || r.Measured != 200 || r.Achieved <= 0 || r.Achieved > 400 ||
				r.P50Ms <= 0 || r.P50Ms > r.P99Ms || r.P99Ms > r.MaxMs {
				t.Errorf("latency row %+v", r)
			}
		}
	}
	if rows[0].Kind != kindMax || rows[1].Kind != kindLatency || rows[2].Kind != kindSweep || rows[2].SameRunAs == "" ||
		rows[3].Kind != kindSweep || rows[3].Partitions != 2 {
		t.Errorf("rows %+v", rows)
	}

	// Records the broker refuses (larger than its 1 MB limit) are counted,
	// shown, and fail the run.
	out.Reset()
	errOut.Reset()
	code = run(ctx, []string{"--chronik", bin, "--dir", t.TempDir(), "--nodes", "1", "--mode", "latency",
		"--rates", "", "--rate-list", "50", "--duration", "200ms", "--warmup", "0s", "--record-size", "1100000"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "| **10** (MESSAGE_TOO_LARGE") || !strings.Contains(errOut.String(), "10 records failed") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	// The markdown breakdown: nothing was appended, so nothing waited for
	// an fsync, and one node has no followers: n/a, not zeros.
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "| 1 node, latency absolute (50 rec/s), ") {
			line = l
		}
	}
	cells := strings.Split(strings.Trim(line, "| "), " | ")
	if !strings.Contains(out.String(), breakdownHeader) || len(cells) != 9 || cells[2] != "n/a" || cells[3] != "n/a" ||
		cells[4] != "n/a" || cells[5] != "n/a" || cells[6] != "n/a" || cells[8] == "n/a" {
		t.Errorf("breakdown line %q (cells %q) in\n%s", line, cells, out.String())
	}
}

func positive(v *float64) bool { return v != nil && *v > 0 }
