package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// debugNode runs a node whose admin API serves the profiling routes behind
// token.
func debugNode(t *testing.T, token string) string {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.AdminToken = token
	cfg.AdminHandler = server.HandlerFor(nil, token)
	return "http://" + inproc.StartNode(t, cfg).Addrs().Admin
}

// partFiles lists temporary downloads left in dir.
func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDebugPprofWritesAndRefusesToOverwrite(t *testing.T) {
	const token = "debug-t0ken"
	admin := debugNode(t, token)
	dir := t.TempDir()
	heap := filepath.Join(dir, "heap.pprof")

	e := newTestEnv(t)
	t.Setenv(EnvAdminToken, token)
	if code := e.run(t, "debug", "pprof", "heap", "--admin", admin, "-o", heap); code != exitOK {
		t.Fatalf("debug pprof heap: exit %d: %s", code, e.errOut.String())
	}
	b, err := os.ReadFile(heap)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("heap.pprof: %v, %d bytes, want gzip data", err, len(b))
	}
	if out := e.out.String(); !strings.Contains(out, heap) || !strings.Contains(out, "go tool pprof "+heap) {
		t.Errorf("output does not say where it wrote and how to open it:\n%s", out)
	}

	// An existing file is kept, and nothing is asked of the node.
	if err := os.WriteFile(heap, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = newTestEnv(t)
	t.Setenv(EnvAdminToken, token)
	if code := e.run(t, "debug", "pprof", "heap", "--admin", admin, "-o", heap); code != exitError {
		t.Fatalf("overwrite without --force: exit %d, want %d", code, exitError)
	}
	if got, _ := os.ReadFile(heap); string(got) != "keep me" || !strings.Contains(e.errOut.String(), "--force") {
		t.Fatalf("overwrite without --force: file %q, stderr %q", got, e.errOut.String())
	}
	e = newTestEnv(t)
	t.Setenv(EnvAdminToken, token)
	if code := e.run(t, "debug", "pprof", "heap", "--admin", admin, "-o", heap, "--force"); code != exitOK {
		t.Fatalf("--force: exit %d: %s", code, e.errOut.String())
	}
	if got, _ := os.ReadFile(heap); !bytes.HasPrefix(got, []byte{0x1f, 0x8b}) {
		t.Fatalf("--force did not replace the file: %q", got[:min(len(got), 16)])
	}

	// The node found by id, through its own brokers list; a CPU profile.
	cpu := filepath.Join(dir, "cpu.pprof")
	e = newTestEnv(t)
	t.Setenv(EnvAdminToken, token)
	if code := e.run(t, "debug", "pprof", "cpu", "--seconds", "1", "--admin", admin, "--node", "1", "-o", cpu); code != exitOK {
		t.Fatalf("debug pprof cpu --node 1: exit %d: %s", code, e.errOut.String())
	}
	if b, err := os.ReadFile(cpu); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("cpu.pprof: %v %q", err, b[:min(len(b), 16)])
	}

	trace := filepath.Join(dir, "trace.out")
	e = newTestEnv(t)
	t.Setenv(EnvAdminToken, token)
	if code := e.run(t, "debug", "trace", "--seconds", "1", "--admin", admin, "-o", trace); code != exitOK {
		t.Fatalf("debug trace: exit %d: %s", code, e.errOut.String())
	}
	if b, err := os.ReadFile(trace); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Fatalf("trace.out: %v %q", err, b[:min(len(b), 16)])
	}
	if !strings.Contains(e.out.String(), "go tool trace "+trace) {
		t.Errorf("trace output does not say how to open it:\n%s", e.out.String())
	}

	// Without the token: refused, and no file, whole or partial.
	refused := filepath.Join(dir, "refused.pprof")
	e = newTestEnv(t)
	if code := e.run(t, "debug", "pprof", "heap", "--admin", admin, "-o", refused); code != exitError {
		t.Fatalf("without the token: exit %d, want %d", code, exitError)
	}
	if !strings.Contains(e.errOut.String(), "admin token") {
		t.Errorf("without the token, stderr does not name the admin token: %s", e.errOut.String())
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("a refused profile left %s (%v)", refused, err)
	}
	if p := partFiles(t, dir); len(p) > 0 {
		t.Errorf("temporary files left behind: %v", p)
	}
}

func TestDebugUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"debug", "pprof"},                                   // no profile
		{"debug", "pprof", "nosuch"},                         // unknown profile
		{"debug", "pprof", "cpu", "heap"},                    // two
		{"debug", "pprof", "cpu", "--seconds", "61"},         // over the cap
		{"debug", "pprof", "cpu", "--seconds", "-1"},         // negative
		{"debug", "pprof", "threadcreate", "--seconds", "1"}, // snapshot only
		{"debug", "trace", "--seconds", "0x"},                // not a number
		{"debug", "trace", "extra"},                          // no args
		{"debug", "trace", "--timeout", "0s"},                // no time
	} {
		e := newTestEnv(t)
		if code := e.run(t, append(args, "-o", filepath.Join(dir, "x"))...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, e.errOut.String())
		}
	}
	if p, _ := filepath.Glob(filepath.Join(dir, "*")); len(p) > 0 {
		t.Errorf("usage errors wrote files: %v", p)
	}
}
