package nodes

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

var chronikBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodes-test-bin-")
	if err != nil {
		panic(err)
	}
	if chronikBin, err = testharness.BuildChronik(dir); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// answers says whether a Metadata request to addr alone is answered within d.
func answers(t *testing.T, addr string, d time.Duration) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err == nil
}

// TestProxiedCluster: founders with per-link proxies (so different --peers)
// form one cluster; a cut silences a node for clients, a heal restores it; a
// killed node's proxy refuses connections like its own port would, and it
// comes back on restart.
func TestProxiedCluster(t *testing.T) {
	var tmpfs int64
	if os.Geteuid() == 0 {
		tmpfs = 64 << 20
	}
	ctx := testharness.Context(t, 3*time.Minute)
	c, err := Start(ctx, Config{Binary: chronikBin, Dir: t.TempDir(), Size: 3, Proxied: true, TmpfsBytes: tmpfs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := WaitReady(rctx, c.Nodes); err != nil {
		c.WriteTails(os.Stderr, 20)
		t.Fatal(err)
	}
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	if n3.KafkaAddr == n3.listenKafka || !answers(t, n3.KafkaAddr, 5*time.Second) {
		t.Fatalf("node 3 through its proxy %s (own listener %s)", n3.KafkaAddr, n3.listenKafka)
	}

	if err := c.Cut(n3); err != nil {
		t.Fatal(err)
	}
	if answers(t, n3.KafkaAddr, 500*time.Millisecond) {
		t.Fatal("a cut node answered a client")
	}
	if !answers(t, n1.KafkaAddr, 5*time.Second) {
		t.Fatal("cutting node 3 silenced node 1")
	}
	if err := c.Heal(n3); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "node 3 answers after the heal", func() bool {
		return answers(t, n3.KafkaAddr, time.Second)
	})

	if err := c.Kill(ctx, n2); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", n2.KafkaAddr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("a killed node's proxy accepted a connection")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a killed node: %v, want connection refused", err)
	}
	if err := c.Restart(n2); err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(rctx, c.Nodes); err != nil {
		t.Fatal(err)
	}

	if tmpfs == 0 {
		t.Log("not root: the disk-full part needs a tmpfs")
		return
	}
	var st syscall.Statfs_t
	free := func() int64 {
		if err := syscall.Statfs(n1.DataDir, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	if err := c.FillDisk(n1); err != nil {
		t.Fatal(err)
	}
	if f := free(); f > 1<<20 {
		t.Fatalf("%d bytes free after FillDisk", f)
	}
	if err := c.FreeDisk(n1); err != nil {
		t.Fatal(err)
	}
	if f := free(); f < 32<<20 {
		t.Fatalf("%d bytes free after FreeDisk", f)
	}
	if _, err := os.Stat(filepath.Join(n1.DataDir, ballast)); !os.IsNotExist(err) {
		t.Fatalf("ballast left: %v", err)
	}
}
