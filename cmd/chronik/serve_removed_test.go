package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
)

// A node the cluster removed exits with code 77, told apart from a crash
// (1) and a storage failure (74), and the error is printed once.
func TestServeRemovedExitCode(t *testing.T) {
	e := newTestEnv(t)
	e.f.Serve = func(context.Context, broker.Config, func(broker.Addrs)) error {
		return &broker.RemovedError{NodeID: 3, DataDir: "/data", Err: fmt.Errorf("raft node 3 stopped: %w", raftnode.ErrRemoved)}
	}
	code := e.run(t, "serve", "--data-dir", t.TempDir())
	if code != exitRemoved {
		t.Fatalf("exit code %d, want %d", code, exitRemoved)
	}
	if stderr := e.errOut.String(); strings.Count(stderr, "removed from the raft membership") != 1 ||
		!strings.Contains(stderr, "Error: serve: node 3 was removed from the cluster") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}
