package broker_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestListenerInUseFailsBeforeRaft: Start binds every listener before raft
// writes state, so a port in use fails it without leaving raft state behind
// (a retry with a fixed config is a fresh start) and releases the data dir.
func TestListenerInUseFailsBeforeRaft(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tt := range []struct {
		name string
		set  func(*broker.Config)
	}{
		{"kafka listener", func(c *broker.Config) { c.KafkaAddr = taken.Addr().String() }},
		{"admin listener", func(c *broker.Config) { c.AdminAddr = taken.Addr().String() }},
		{"cluster listener", func(c *broker.Config) { c.ClusterAddr = taken.Addr().String() }},
	} {
		cfg := inproc.Config(t)
		bad := cfg
		tt.set(&bad)
		if n, err := broker.Start(context.Background(), bad); err == nil {
			inproc.CloseNode(t, n)
			t.Fatalf("%s: started on a port in use", tt.name)
		} else if !strings.Contains(err.Error(), tt.name) {
			t.Errorf("error %q does not name the %s", err, tt.name)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the failed start left raft state (stat: %v)", tt.name, err)
		}
		inproc.CloseNode(t, inproc.StartNode(t, cfg))
	}
}
