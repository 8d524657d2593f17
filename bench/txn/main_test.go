package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"--txn-sizes", "10, 500", "--linger", "5ms", "--nodes", "1", "--serve-arg=--log-flush=never"}, io.Discard)
	if err != nil || !slices.Equal(o.txnSizes, []int{10, 500}) || o.linger != 5*time.Millisecond || o.nodes != 1 ||
		o.records != 200_000 || !slices.Equal(o.serveArgs, []string{"--log-flush=never"}) {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--txn-sizes", "0"},
		{"--txn-sizes", "ten"},
		{"--nodes", "0"},
		{"--records", "0"},
		{"--linger", "-1ms"},
		{"extra"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestPrintRow(t *testing.T) {
	var b bytes.Buffer
	printRow(&b, result{kind: "idempotent", records: 2048, elapsed: 2 * time.Second}, 0, 1024)
	h := hdrhistogram.New(1, 60_000_000, 3)
	for _, us := range []int64{1000, 2000, 3000} {
		_ = h.RecordValue(us)
	}
	printRow(&b, result{kind: "transactions of 100", records: 300, elapsed: time.Second, commits: h, flushes: h}, 5*time.Millisecond, 1024)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || lines[0] != "| idempotent | default | 1024 | 1.0 | - | - | - | - | - |" ||
		!strings.HasPrefix(lines[1], "| transactions of 100 | 5ms | 300 | 0.3 | 3 | 2.00 | 2.00 | 3.00 | 3.00 |") {
		t.Fatalf("%q", lines)
	}
}
