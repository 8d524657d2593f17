package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a controllable Options.Now.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(1_700_000_000_000)
	return c
}

func (c *clock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }
func (c *clock) Millis() int64           { return c.ms.Load() }

// logBuffer collects what the log logs, so tests can check warnings.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type opt func(*Options)

func withClock(c *clock) opt      { return func(o *Options) { o.Now = c.Now } }
func withFlush(p FlushPolicy) opt { return func(o *Options) { o.Flush = p } }
func withLogger(w io.Writer) opt {
	return func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(w, nil)) }
}
func withDebugLogger(w io.Writer) opt {
	return func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}
func withInterval(d time.Duration) opt {
	return func(o *Options) { o.FlushInterval = d }
}

// open opens a log in dir and closes it when the test ends.
func open(t testing.TB, dir string, cfg Config, opts ...opt) *Log {
	t.Helper()
	o := Options{Dir: dir, Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	l, err := Open(o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// mkBatch builds a batch of n records whose values say tag and index,
// with timestamps ts, ts+1, ...
func mkBatch(ts int64, n int, tag string) []byte {
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{
			Timestamp: ts + int64(i),
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     []byte(fmt.Sprintf("%s-%d-%s", tag, i, bytes.Repeat([]byte("x"), 40))),
		}
	}
	return batch.Build(ts, recs)
}

// appended records a batch as the log stored it.
type appended struct {
	h batch.Header
	b []byte
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) appended {
	t.Helper()
	res, err := l.Append(b, epoch)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	h, err := batch.Check(b)
	if err != nil {
		t.Fatalf("appended batch no longer checks: %v", err)
	}
	if h.BaseOffset != res.BaseOffset || h.LastOffset() != res.LastOffset {
		t.Fatalf("append result %+v, batch says %d-%d", res, h.BaseOffset, h.LastOffset())
	}
	return appended{h: h, b: append([]byte(nil), b...)}
}

// readAll reads the whole log with Read, checking that batches are whole,
// valid and contiguous.
func readAll(t testing.TB, l *Log) []byte {
	t.Helper()
	var out []byte
	next := l.LogStartOffset()
	end := l.LogEndOffset()
	for next < end {
		chunk, err := l.Read(next, 700, end, true)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		if len(chunk) == 0 {
			t.Fatalf("read at %d below end %d returned nothing", next, end)
		}
		parts, err := batch.Split(chunk)
		if err != nil {
			t.Fatalf("read at %d returned partial batches: %v", next, err)
		}
		for _, p := range parts {
			h, err := batch.Check(p)
			if err != nil {
				t.Fatalf("read at %d: %v", next, err)
			}
			if h.BaseOffset != next {
				t.Fatalf("batch at %d, expected %d", h.BaseOffset, next)
			}
			next = h.LastOffset() + 1
		}
		out = append(out, chunk...)
	}
	return out
}

func concat(as []appended) []byte {
	var out []byte
	for _, a := range as {
		out = append(out, a.b...)
	}
	return out
}

// lastSegmentFile is the path of the newest .log file in dir.
func lastSegmentFile(t testing.TB, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	return m[len(m)-1]
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func isOutOfRange(err error) bool { return errors.Is(err, ErrOffsetOutOfRange) }
