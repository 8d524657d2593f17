package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args    []string
		check   func(o options) bool
		wantErr string
	}{
		{args: nil, check: func(o options) bool {
			return o.records == 200000 && o.duration == 0 && o.idempotent && o.acks == "all" &&
				len(o.brokers) == 1 && o.brokers[0] == "127.0.0.1:9092" && o.linger == 0
		}},
		{args: []string{"--duration", "30s"}, check: func(o options) bool { return o.records == 0 && o.duration == 30*time.Second }},
		{args: []string{"--duration", "30s", "--records", "5"}, check: func(o options) bool { return o.records == 5 && o.duration == 30*time.Second }},
		{args: []string{"--acks", "1"}, check: func(o options) bool { return !o.idempotent }},
		{args: []string{"--acks", "0", "--max-inflight", "5"}, check: func(o options) bool { return !o.idempotent && o.maxInflight == 5 }},
		{args: []string{"--brokers", "a:1, b:2,"}, check: func(o options) bool { return len(o.brokers) == 2 && o.brokers[1] == "b:2" }},
		{args: []string{"--acks", "1", "--idempotent=true"}, wantErr: "--idempotent needs --acks all"},
		{args: []string{"--max-inflight", "5"}, wantErr: "--max-inflight needs --idempotent=false"},
		{args: []string{"--acks", "2"}, wantErr: "--acks: want all, 1 or 0"},
		{args: []string{"--records", "0"}, wantErr: "set --records or --duration"},
		{args: []string{"--compression", "brotli"}, wantErr: "--compression"},
		{args: []string{"--brokers", ""}, wantErr: "--brokers"},
		{args: []string{"--partitions", "0"}, wantErr: "--partitions"},
		{args: []string{"extra"}, wantErr: "unexpected arguments: extra"},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if !tt.check(o) {
			t.Errorf("%v: unexpected options %+v", tt.args, o)
		}
	}
}

func TestRunUsageError(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"--acks", "2"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "Error: --acks") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

func TestSummarizeAndPrint(t *testing.T) {
	o := options{topic: "bench", acks: "all", idempotent: true, recordSize: 1000, linger: 5 * time.Millisecond}
	var st stats
	for i := 1; i <= 1000; i++ {
		st.done(time.Duration(i)*time.Microsecond, nil) // 1µs .. 1ms
	}
	st.done(0, errors.New("boom"))
	r := summarize(o, 1003, 2*time.Second, &st)
	if r.Records != 1000 || r.Failed != 1 || r.Unacked != 2 || r.Bytes != 1_000_000 {
		t.Fatalf("counts: %+v", r)
	}
	if r.MBPerS != 0.5 || r.RecordsPerS != 500 || r.LingerMs != 5 {
		t.Fatalf("rates: MB/s %v records/s %v linger %v", r.MBPerS, r.RecordsPerS, r.LingerMs)
	}
	within := func(got, want float64) bool { return got >= want && got <= want*(1+1.0/subCount) }
	if !within(r.P50Ms, 0.5) || !within(r.P99Ms, 0.99) || !within(r.P999Ms, 0.999) || r.MaxMs != 1 {
		t.Fatalf("latencies: p50 %v p99 %v p999 %v max %v", r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs)
	}

	var text strings.Builder
	if err := printResult(&text, o, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"records     1000 acknowledged, 1 failed, 2 unacknowledged", "throughput  0.50 MB/s  500 records/s", "latency ms  p50 0.50", "max 1.000"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text result lacks %q:\n%s", want, text.String())
		}
	}

	o.json = true
	var line strings.Builder
	if err := printResult(&line, o, r); err != nil {
		t.Fatal(err)
	}
	if strings.Count(line.String(), "\n") != 1 {
		t.Fatalf("want one JSON line, got %q", line.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line.String()), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"records", "bytes", "elapsed_s", "mb_per_s", "records_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, line.String())
		}
	}
}
