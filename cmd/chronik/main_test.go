package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/config"
)

func TestMain(m *testing.M) {
	// Registered here rather than in a package variable; read by updateCompletions.
	flag.Bool("update", false, "rewrite completions/ from the current command tree (go generate ./cmd/chronik)")
	code := m.Run()
	removeChronikBinary()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe to read while a command still writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a Factory wired to buffers, a fake broker and fake signals.
type testEnv struct {
	f      *Factory
	out    *syncBuffer
	errOut *syncBuffer
	sigs   chan os.Signal
	exits  chan int
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	isolateEnv(t)
	e := &testEnv{
		out:    &syncBuffer{},
		errOut: &syncBuffer{},
		sigs:   make(chan os.Signal, 2),
		exits:  make(chan int, 1),
	}
	e.f = &Factory{
		IO: IOStreams{In: strings.NewReader(""), Out: e.out, ErrOut: e.errOut},
		Serve: func(context.Context, broker.Config, func(broker.Addrs)) error {
			t.Error("Serve called but the test did not expect it")
			return nil
		},
		Signals: func() (<-chan os.Signal, func()) { return e.sigs, func() {} },
		Exit:    func(code int) { e.exits <- code },
	}
	return e
}

// run executes args and returns the exit code, failing the test if the
// command does not finish in time.
func (e *testEnv) run(t *testing.T, args ...string) int {
	t.Helper()
	return e.start(t, args...).wait(t)
}

type running struct{ code chan int }

func (e *testEnv) start(t *testing.T, args ...string) running {
	t.Helper()
	r := running{code: make(chan int, 1)}
	go func() { r.code <- Execute(context.Background(), e.f, args) }()
	return r
}

func (r running) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-r.code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("command did not finish within 10s")
		return -1
	}
}

// isolateEnv blanks every CHRONIK_* variable (empty counts as unset).
func isolateEnv(t *testing.T) {
	t.Helper()
	t.Setenv(config.EnvVar(config.ConfigFlag), "")
	for _, k := range config.Keys() {
		t.Setenv(config.EnvVar(k), "")
	}
}
