package replica

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// A partition whose directory the file system refuses (here: a file is in
// its way) is a storage failure the owner hears of, as a failed write of an
// open log is; a partition that opens fine reports nothing.
func TestManagerReportsPartitionsItCannotCreate(t *testing.T) {
	root := t.TempDir()
	var mu sync.Mutex
	var reported []error
	m, err := NewManager(ManagerOptions{Dir: root, Flush: partlog.FlushAlways, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnFailure: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	role := map[int32]Role{0: {Leader: true, LeaderID: 1, Replicas: []int32{1}, ISR: []int32{1}, Self: 1}}
	if err := m.ApplyTopic("fine", [16]byte{1}, checkpointTestConfig, role); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partitionDir(root, "blocked", 0), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = m.ApplyTopic("blocked", [16]byte{2}, checkpointTestConfig, role)
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("apply over a file: %v, want ENOTDIR", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !errors.Is(reported[0], syscall.ENOTDIR) {
		t.Fatalf("reported %v, want the one ENOTDIR", reported)
	}
}
