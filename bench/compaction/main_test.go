package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

func TestParseCleanerOptions(t *testing.T) {
	o, err := parseCleanerOptions([]string{"--mib", "8", "--keys", "50", "--codecs", "zstd, none"}, io.Discard)
	if err != nil || o.mib != 8 || o.keys != 50 || !slices.Equal(o.codecs, []string{"zstd", "none"}) || o.dedupeBytes != 128<<20 {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--mib", "0"},
		{"--keys", "0"},
		{"--value-size", "8"},
		{"--codecs", "gzip"},
		{"--segment-bytes", "1000"},
		{"extra"},
	} {
		if _, err := parseCleanerOptions(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestParseLatencyOptions(t *testing.T) {
	o, err := parseLatencyOptions([]string{"--rate", "500", "--duration", "3s", "--serve-arg=--log-cleaner-io-max-bytes-per-second=1000"}, io.Discard)
	if err != nil || o.rate != 500 || o.duration != 3*time.Second || !slices.Equal(o.serveArgs, []string{"--log-cleaner-io-max-bytes-per-second=1000"}) {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{{"--rate", "0"}, {"--duration", "0s"}, {"--dirty-mib", "0"}} {
		if _, err := parseLatencyOptions(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("no subcommand: exit %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"cleaner", "--mib", "-1"}, &out, &errOut); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// zstdBatch must produce a batch the broker's own validation accepts, with
// the same records.
func TestZstdBatch(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	recs := []batch.Record{{Key: []byte("a"), Value: bytes.Repeat([]byte("x"), 500)}, {Key: []byte("b"), Value: nil}}
	b := zstdBatch(enc, batch.Build(1000, recs))
	h, err := batch.Validate(b)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if h.Compression() != batch.CompressionZstd || len(b) >= 500 {
		t.Fatalf("codec %d, %d bytes", h.Compression(), len(b))
	}
	got, err := batch.Records(b)
	if err != nil || len(got) != 2 || string(got[0].Key) != "a" || len(got[0].Value) != 500 || got[1].Value != nil {
		t.Fatalf("records %+v, %v", got, err)
	}
}

// A small run: the cleaner must leave one record per key, the last.
func TestCleanerSmall(t *testing.T) {
	var out bytes.Buffer
	o, err := parseCleanerOptions([]string{"--mib", "3", "--keys", "500", "--segment-bytes", "1048576", "--dir", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := runCleaner(context.Background(), o, &out, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, codec := range []string{"none", "zstd"} {
		if !strings.Contains(out.String(), codec+" ") || !strings.Contains(out.String(), "500 keys, each once with its last value") {
			t.Fatalf("no %s line:\n%s", codec, out.String())
		}
	}
	t.Log(out.String())
}
