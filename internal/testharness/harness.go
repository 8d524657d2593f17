// Package testharness is what every test package shares: one way to wait for
// a condition (Eventually), free loopback ports, bounded contexts, a test
// logger, a count of open file descriptors (OpenFDs), and real `chronik
// serve` processes that a test can kill, pause, continue and restart. It
// imports nothing of the broker, so any package's tests can use it;
// in-process nodes live in testharness/inproc.
package testharness

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pollEvery is how often Eventually looks again: short against the waits it
// replaces, long enough not to spin a core.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond until it holds, failing the test if within passes
// first. what names the condition; each detail is called only on failure and
// appended to the message (the state that explains why it never held).
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	EventuallyEvery(t, within, pollEvery, what, cond, detail...)
}

// EventuallyEvery is Eventually pausing every between looks, for a condition
// that is expensive to check (each look runs a process, such as the chronik
// CLI or tmux): looking every few milliseconds would load the machine whose
// timing the test measures.
func EventuallyEvery(t testing.TB, within, every time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, f := range detail {
				b.WriteString("; ")
				b.WriteString(f())
			}
			t.Fatalf("timed out after %v waiting for %s%s", within, what, b.String())
		}
		time.Sleep(every)
	}
}

// Context is a context cancelled after d or at the end of the test.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Ports below the kernel's ephemeral range (32768-60999): the outgoing
// connections of tests running meanwhile cannot take one between the check
// here and the bind by the node that uses it later.
const (
	portLow   = 20000
	portRange = 12000
)

// handedOut remembers every port FreePort returned in this test binary, so
// two nodes of one test (or of parallel tests) never get the same port
// although nothing holds it between the check and the bind. It is the
// harness's one piece of process-wide state, and only tests link it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
	// lockFile holds claimPort's locks, one byte per port; nil until the
	// first claim.
	lockFile *os.File
}{ports: map[int]bool{}}

// FreePort finds a loopback port that is free now, for a listener that binds
// it later (and again after a restart). It never returns the same port twice
// in one test binary, nor one another test binary running now was given
// (claimPort).
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := portLow + rand.IntN(portRange)
		if handedOut.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		ln.Close()
		handedOut.ports[port] = true // taken either way: this binary or another has it
		if !claimPort(port) {
			continue
		}
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// FreeAddr is FreePort as a 127.0.0.1:port address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// DebugEnv, when set to anything, turns test logs up to debug.
const DebugEnv = "CHRONIK_TEST_DEBUG"

// Logger logs warnings and errors to stderr, everything with DebugEnv set.
func Logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv(DebugEnv) != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// MetadataFrom sends one Metadata request to the broker at addr itself.
func MetadataFrom(ctx context.Context, addr string, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// A seed broker's id is negative until the client learned the real one.
	kresp, err := cl.Broker(-2147483648).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return kresp.(*kmsg.MetadataResponse), nil
}
