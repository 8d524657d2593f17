package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

type cleanerOptions struct {
	mib          int
	keys         int
	valueSize    int
	perBatch     int
	codecs       []string
	dedupeBytes  int64
	segmentBytes int64
	dir          string
	seed         uint64
	cpuProfile   string
}

func parseCleanerOptions(args []string, stderr io.Writer) (cleanerOptions, error) {
	fs := flag.NewFlagSet("compaction cleaner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o cleanerOptions
	var codecs string
	fs.IntVar(&o.mib, "mib", 256, "MiB of records written (uncompressed size) before cleaning")
	fs.IntVar(&o.keys, "keys", 100_000, "distinct keys; every record overwrites one drawn uniformly")
	fs.IntVar(&o.valueSize, "value-size", 100, "record value size in bytes (at least 16)")
	fs.IntVar(&o.perBatch, "records-per-batch", 100, "records per batch")
	fs.StringVar(&codecs, "codecs", "none,zstd", "comma-separated codecs to run: none, zstd")
	fs.Int64Var(&o.dedupeBytes, "dedupe-buffer", 128<<20, "offset map size in bytes (Kafka's log.cleaner.dedupe.buffer.size default)")
	fs.Int64Var(&o.segmentBytes, "segment-bytes", 64<<20, "segment size in bytes")
	fs.StringVar(&o.dir, "dir", "", "parent of the logs (default: a temporary directory, removed after)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the key and value generator")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the cleaning passes (not the writes) to this file")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	for _, c := range strings.Split(codecs, ",") {
		switch c = strings.TrimSpace(c); c {
		case "none", "zstd":
			o.codecs = append(o.codecs, c)
		default:
			return o, usagef("--codecs: unknown codec %q (want none or zstd)", c)
		}
	}
	switch {
	case o.mib < 1:
		return o, usagef("--mib must be at least 1, got %d", o.mib)
	case o.keys < 1:
		return o, usagef("--keys must be at least 1, got %d", o.keys)
	case o.valueSize < 16:
		return o, usagef("--value-size must be at least 16, got %d", o.valueSize)
	case o.perBatch < 1:
		return o, usagef("--records-per-batch must be at least 1, got %d", o.perBatch)
	case o.dedupeBytes < 1<<10:
		return o, usagef("--dedupe-buffer must be at least 1024 bytes, got %d", o.dedupeBytes)
	case o.segmentBytes < 1<<20:
		return o, usagef("--segment-bytes must be at least 1 MiB, got %d", o.segmentBytes)
	}
	return o, nil
}

// cleanerResult is one codec's run.
type cleanerResult struct {
	Codec          string
	Records        int64
	LiveKeys       int
	LogBytesBefore int64 // on disk, every segment
	DirtyBytes     int64 // what the cleaner had to clean: every inactive segment
	LogBytesAfter  int64
	SegmentsBefore int
	SegmentsAfter  int
	Passes         int
	BytesRead      int64
	BytesWritten   int64
	RecordsRemoved int64
	Took           time.Duration
}

// MiBPerSec is the rate at which the dirty log was cleaned, in bytes on
// disk (compressed when the batches are).
func (r cleanerResult) MiBPerSec() float64 {
	return float64(r.DirtyBytes) / (1 << 20) / r.Took.Seconds()
}

// RecordsPerSec is the rate in records of the dirty log.
func (r cleanerResult) RecordsPerSec() float64 { return float64(r.Records) / r.Took.Seconds() }

func runCleaner(ctx context.Context, o cleanerOptions, stdout, stderr io.Writer) error {
	parent := o.dir
	if parent == "" {
		d, err := os.MkdirTemp("", "chronik-bench-compaction-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		parent = d
	}
	fmt.Fprintf(stdout, "%d MiB of %d-byte values over %d keys, %d records per batch, segments of %d MiB, offset map %d MiB\n",
		o.mib, o.valueSize, o.keys, o.perBatch, o.segmentBytes>>20, o.dedupeBytes>>20)
	for _, codec := range o.codecs {
		dir, err := os.MkdirTemp(parent, codec+"-")
		if err != nil {
			return err
		}
		r, err := cleanOnce(ctx, o, codec, dir)
		_ = os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("codec %s: %w", codec, err)
		}
		fmt.Fprintf(stdout, "%-5s %9d records  %8.1f MiB dirty -> %7.1f MiB (%d -> %d segments)  %d passes  %6.2fs  %7.1f MiB/s %6.2fM records/s cleaned  read %.1f MiB, wrote %.1f MiB, removed %d records; %d keys, each once with its last value\n",
			r.Codec, r.Records, mib(r.DirtyBytes), mib(r.LogBytesAfter), r.SegmentsBefore, r.SegmentsAfter, r.Passes,
			r.Took.Seconds(), r.MiBPerSec(), r.RecordsPerSec()/1e6, mib(r.BytesRead), mib(r.BytesWritten), r.RecordsRemoved, r.LiveKeys)
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// benchClock is the log's clock: the benchmark moves it past segment.ms to
// roll the last segment, so everything written becomes cleanable at once.
type benchClock struct{ ms atomic.Int64 }

func (c *benchClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

const benchSegmentMs = int64(time.Hour / time.Millisecond)

// cleanOnce writes the data with one codec and cleans it until nothing is
// left, then checks that one record per key (its last) survived.
func cleanOnce(ctx context.Context, o cleanerOptions, codec, dir string) (cleanerResult, error) {
	res := cleanerResult{Codec: codec}
	clock := &benchClock{}
	clock.ms.Store(time.Now().UnixMilli())
	l, err := partlog.Open(partlog.Options{
		Dir:    dir,
		Config: partlog.Config{SegmentBytes: o.segmentBytes, SegmentMs: benchSegmentMs, Cleanup: partlog.CleanupCompact},
		Flush:  partlog.FlushAlways,
		Logger: slog.New(slog.DiscardHandler),
		Now:    clock.now,
	})
	if err != nil {
		return res, err
	}
	defer l.Close()

	last, err := fill(l, o, codec, clock)
	if err != nil {
		return res, err
	}
	res.LiveKeys = len(last)
	// Roll: the active segment is never cleaned, so move the clock past
	// segment.ms and append one batch of another key; it opens a segment
	// of its own and everything before it is cleanable.
	clock.ms.Add(benchSegmentMs + 1)
	roll := batch.Build(clock.ms.Load(), []batch.Record{{Key: []byte("roll"), Value: []byte("roll"), Timestamp: clock.ms.Load()}})
	if _, err := l.Append(roll, 0); err != nil {
		return res, fmt.Errorf("append the rolling batch: %w", err)
	}
	leo := l.LogEndOffset()
	if err := l.Sync(ctx, leo); err != nil {
		return res, err
	}
	res.Records = leo - 1
	res.LogBytesBefore, res.SegmentsBefore = l.Size(), l.SegmentCount()
	res.DirtyBytes = l.CleanerState(leo).DirtyBytes

	m := partlog.NewOffsetMap(o.dedupeBytes)
	if o.cpuProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%s", o.cpuProfile, codec))
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r, err := l.Compact(ctx, partlog.CompactOptions{UpTo: leo, Map: m})
		if errors.Is(err, partlog.ErrNothingToClean) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("pass %d: %w", res.Passes+1, err)
		}
		res.Passes++
		res.BytesRead += r.BytesRead
		res.BytesWritten += r.BytesWritten
		res.RecordsRemoved += r.RecordsRemoved
	}
	res.Took = time.Since(start)
	if res.Passes == 0 {
		return res, errors.New("the cleaner found nothing to clean")
	}
	res.LogBytesAfter, res.SegmentsAfter = l.Size(), l.SegmentCount()
	return res, verifyCleaned(l, last, leo-1)
}

// fill appends o.mib MiB of records (counted uncompressed) and returns the
// last sequence number written per key.
func fill(l *partlog.Log, o cleanerOptions, codec string, clock *benchClock) (map[string]uint64, error) {
	var enc *zstd.Encoder
	if codec == "zstd" {
		var err error
		if enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
			return nil, err
		}
		defer enc.Close()
	}
	rng := rand.New(rand.NewPCG(o.seed, 0))
	last := make(map[string]uint64, o.keys)
	recs := make([]batch.Record, o.perBatch)
	payload := make([]byte, (o.valueSize-8+1)/2)
	var seq uint64
	for written := int64(0); written < int64(o.mib)<<20; {
		ts := clock.ms.Load()
		for i := range recs {
			key := fmt.Appendf(nil, "key-%09d", rng.IntN(o.keys))
			// The value: the sequence number (to check which one survived)
			// and hex of random bytes, which compresses about 2:1 like text.
			v := binary.BigEndian.AppendUint64(make([]byte, 0, o.valueSize), seq)
			for j := range payload {
				payload[j] = byte(rng.Uint32())
			}
			v = hex.AppendEncode(v, payload)[:o.valueSize]
			recs[i] = batch.Record{Key: key, Value: v, Timestamp: ts}
			last[string(key)] = seq
			seq++
			written += int64(len(key) + len(v))
		}
		b := batch.Build(ts, recs)
		if enc != nil {
			b = zstdBatch(enc, b)
		}
		if _, err := l.Append(b, 0); err != nil {
			return nil, fmt.Errorf("append: %w", err)
		}
	}
	return last, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zstdBatch re-encodes an uncompressed batch with its records section
// compressed by zstd, as a producer with compression.type=zstd sends it.
func zstdBatch(enc *zstd.Encoder, b []byte) []byte {
	const (
		offLength     = 8
		offCRC        = 17
		offAttributes = 21
		codecZstd     = 4
	)
	out := append(make([]byte, 0, len(b)), b[:batch.HeaderSize]...)
	out = enc.EncodeAll(b[batch.HeaderSize:], out)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-12))
	be.PutUint16(out[offAttributes:], be.Uint16(out[offAttributes:])|codecZstd)
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

// verifyCleaned reads the log and checks that below end every key of last
// appears exactly once, with its last sequence number, and nothing else
// does; offsets must increase.
func verifyCleaned(l *partlog.Log, last map[string]uint64, end int64) error {
	seen := make(map[string]bool, len(last))
	prev := int64(-1)
	err := l.ScanBatches(0, func(h batch.Header, b []byte) error {
		if h.BaseOffset >= end {
			return nil
		}
		recs, err := batch.Records(b)
		if err != nil {
			return fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
		}
		for _, r := range recs {
			if r.Offset <= prev {
				return fmt.Errorf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			k := string(r.Key)
			want, ok := last[k]
			switch {
			case !ok:
				return fmt.Errorf("offset %d: key %q was never written", r.Offset, k)
			case seen[k]:
				return fmt.Errorf("offset %d: key %q twice after cleaning", r.Offset, k)
			case len(r.Value) < 8 || binary.BigEndian.Uint64(r.Value) != want:
				return fmt.Errorf("offset %d: key %q kept an old value, not its last (sequence %d)", r.Offset, k, want)
			}
			seen[k] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check the cleaned log: %w", err)
	}
	if len(seen) != len(last) {
		return fmt.Errorf("check the cleaned log: %d of %d keys left", len(seen), len(last))
	}
	return nil
}
