package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

var chronikBin string

// fakeNodeEnv makes the test binary act as a `chronik serve` stand-in, so
// the process handling can be tested with real processes but without a
// cluster. (Not CHRONIK_*: childEnv would drop it.)
const fakeNodeEnv = "NODES_TEST_FAKE_NODE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeNodeEnv); mode != "" {
		os.Exit(fakeNode(mode, os.Args[1:]))
	}
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

// fakeNode prints its arguments and serves /readyz on its --admin-addr like
// a node would. Modes: ready (200 until SIGTERM), unready (503), exit (fails
// at once with status 3) and stubborn (200, ignores SIGTERM).
func fakeNode(mode string, args []string) int {
	fmt.Fprintf(os.Stderr, "fake node args: %s\n", strings.Join(args, " "))
	if mode == "exit" {
		fmt.Fprintln(os.Stderr, "fake node: cannot start")
		return 3
	}
	var addr string
	for i, a := range args {
		if a == "--admin-addr" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	status := http.StatusOK
	if mode == "unready" {
		status = http.StatusServiceUnavailable
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(ln) }()
	for range sigs {
		if mode != "stubborn" {
			_ = srv.Close()
			return 0
		}
		fmt.Fprintln(os.Stderr, "fake node: ignoring SIGTERM")
	}
	return 0
}

// startFake starts size fake nodes in mode, unproxied, with args as the
// further serve flags; the cluster is closed when the test ends.
func startFake(t *testing.T, mode string, size int, args ...string) *Cluster {
	t.Helper()
	t.Setenv(fakeNodeEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(context.Background(), Config{Binary: exe, Dir: t.TempDir(), Size: size, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startReadyFake is startFake, then waits for the nodes to be ready; the
// context it returns ends with the test, after at most 30 s.
func startReadyFake(t *testing.T, mode string, size int, args ...string) (*Cluster, context.Context) {
	t.Helper()
	c := startFake(t, mode, size, args...)
	mustBeReady(t, c)
	return c, testharness.Context(t, 30*time.Second)
}

// mustBeReady fails the test unless c's nodes are ready within 10 s.
func mustBeReady(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitReady(ctx, c.Nodes); err != nil {
		t.Fatal(err)
	}
}

func waitExited(t *testing.T, n *Node) {
	t.Helper()
	select {
	case <-n.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("node %d still running", n.ID)
	}
}

// TestFakeClusterLifecycle: an unproxied cluster gets the flags a member
// needs (and Args, and no cluster token), Kill ends one node, Stop ends the
// others cleanly with SIGTERM.
func TestFakeClusterLifecycle(t *testing.T) {
	c, ctx := startReadyFake(t, "ready", 3, "--broker-session-timeout", "1.5s")

	victim := c.Node(2)
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if victim.Running() || !strings.Contains(victim.ExitStatus(), "killed") {
		t.Errorf("victim after Kill: running %t, %q, want killed", victim.Running(), victim.ExitStatus())
	}
	if ids := []int32{c.Others(2)[0].ID, c.Others(2)[1].ID}; !slices.Equal(ids, []int32{1, 3}) {
		t.Errorf("Others(2) = %v", ids)
	}
	if c.Node(4) != nil {
		t.Error("Node(4) of a 3-node cluster is not nil")
	}
	if got := KafkaAddrs(c.Nodes); !slices.Equal(got, []string{c.Nodes[0].KafkaAddr, c.Nodes[1].KafkaAddr, c.Nodes[2].KafkaAddr}) {
		t.Errorf("KafkaAddrs = %v", got)
	}

	if forced := c.Stop(ctx); len(forced) != 0 {
		t.Errorf("Stop had to kill %v", forced)
	}
	for _, n := range c.Nodes {
		if n.Running() {
			t.Fatalf("node %d still running after Stop", n.ID)
		}
		if n.ID != 2 && n.ExitStatus() != "exit status 0" {
			t.Errorf("node %d: %s, want a clean exit after SIGTERM", n.ID, n.ExitStatus())
		}
	}

	n1 := c.Node(1)
	log, err := os.ReadFile(n1.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"serve --node-id 1 ",
		"--kafka-addr " + n1.KafkaAddr + " --advertise-kafka-addr " + n1.KafkaAddr,
		"--peers 1=" + n1.ClusterAddr + ",2=" + c.Node(2).ClusterAddr + ",3=" + c.Node(3).ClusterAddr,
		"--log-level warn --broker-session-timeout 1.5s",
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("node 1 args lack %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), "--initial-cluster-token") {
		t.Errorf("an unproxied node got a cluster token:\n%s", log)
	}
}

// TestPausedNode: a paused node does not answer, answers again after
// Resume, and Stop ends a node that is still paused cleanly.
func TestPausedNode(t *testing.T) {
	c, ctx := startReadyFake(t, "ready", 2)
	n := c.Node(1)
	if err := c.Pause(n); err != nil {
		t.Fatal(err)
	}
	if !n.Paused() || !n.Running() {
		t.Errorf("after Pause: paused %t, running %t", n.Paused(), n.Running())
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 200 * time.Millisecond}
	// The signal is delivered asynchronously: look until it has stopped.
	testharness.Eventually(t, 5*time.Second, "a paused node stops answering /readyz", func() bool {
		ok, _ := readyz(ctx, hc, n.AdminAddr)
		return !ok
	})
	if err := c.Resume(n); err != nil {
		t.Fatal(err)
	}
	mustBeReady(t, c) // after Resume
	if err := c.Pause(n); err != nil {
		t.Fatal(err)
	}
	if forced := c.Stop(ctx); len(forced) != 0 {
		t.Errorf("Stop had to kill %v", forced)
	}
	if got := n.ExitStatus(); got != "exit status 0" {
		t.Errorf("paused node: %s, want a clean exit after SIGCONT and SIGTERM", got)
	}
}

// TestWaitReadyNodeExits: a node that exits while starting fails WaitReady
// at once with its exit status, and WriteTails shows why.
func TestWaitReadyNodeExits(t *testing.T) {
	c := startFake(t, "exit", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := WaitReady(ctx, c.Nodes)
	if err == nil || !strings.Contains(err.Error(), "exited while starting: exit status 3") || ctx.Err() != nil {
		t.Fatalf("WaitReady: %v, want an exit while starting before the deadline", err)
	}
	for _, n := range c.Nodes {
		waitExited(t, n)
	}
	var sb strings.Builder
	c.WriteTails(&sb, 5)
	if !strings.Contains(sb.String(), "fake node: cannot start") || !strings.Contains(sb.String(), "node 2 (exit status 3)") {
		t.Errorf("tails:\n%s", sb.String())
	}
}

// TestWaitReadyNotReady: at the deadline WaitReady says which node is not
// ready and what it last answered.
func TestWaitReadyNotReady(t *testing.T) {
	c := startFake(t, "unready", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := WaitReady(ctx, c.Nodes)
	if err == nil || !strings.Contains(err.Error(), "node 1 (GET /readyz: 503") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady: %v, want not ready with the reason and the deadline", err)
	}
}

// TestStopKillsStubbornNodes: nodes that ignore SIGTERM are killed when
// Stop's context ends, and Stop names them.
func TestStopKillsStubbornNodes(t *testing.T) {
	c, ctx := startReadyFake(t, "stubborn", 2)
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if forced := c.Stop(sctx); !slices.Equal(forced, []int32{1, 2}) {
		t.Errorf("forced %v, want [1 2]", forced)
	}
	for _, n := range c.Nodes {
		if n.Running() {
			t.Errorf("node %d still running", n.ID)
		}
	}
}

// TestStartMissingBinary: Start fails with the node it could not start and
// leaves nothing running.
func TestStartMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Config{Binary: filepath.Join(t.TempDir(), "no-such-chronik"), Dir: t.TempDir(), Size: 3})
	if err == nil || !strings.HasPrefix(err.Error(), "start node 1: ") {
		t.Fatalf("Start: %v, want start node 1 to fail", err)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(9)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: want 9 distinct positive ports", ports)
		}
		seen[p] = true
	}
}

func TestChildEnv(t *testing.T) {
	env := []string{"PATH=/bin", "CHRONIK_CONFIG=x.yaml", "HOME=/root", "CHRONIK_LOG_LEVEL=debug"}
	got := childEnv(env)
	if !slices.Equal(got, []string{"PATH=/bin", "HOME=/root"}) {
		t.Errorf("childEnv = %v", got)
	}
	if len(env) != 4 || env[1] != "CHRONIK_CONFIG=x.yaml" {
		t.Errorf("childEnv changed its input: %v", env)
	}
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.log")
	if err := os.WriteFile(small, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := TailFile(small, 2); err != nil || !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("tail small = %q, %v", got, err)
	}
	if got, err := TailFile(small, 10); err != nil || len(got) != 4 {
		t.Errorf("tail small, more lines than the file = %q, %v", got, err)
	}

	empty := filepath.Join(dir, "empty.log")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := TailFile(empty, 3); err != nil || len(got) != 0 {
		t.Errorf("tail empty = %q, %v", got, err)
	}

	// Larger than the window: the cut first line is dropped, the end is intact.
	big := filepath.Join(dir, "big.log")
	var sb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	if err := os.WriteFile(big, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := TailFile(big, 3)
	if err != nil || !slices.Equal(got, []string{"line 19997", "line 19998", "line 19999"}) {
		t.Errorf("tail big = %q, %v", got, err)
	}
	if _, err := TailFile(filepath.Join(dir, "missing.log"), 3); err == nil {
		t.Error("tail of a missing file: no error")
	}
}
