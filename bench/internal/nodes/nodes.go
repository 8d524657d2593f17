// Package nodes runs a cluster of real `chronik serve` processes for the
// benchmarks: start, kill -9, SIGTERM, SIGSTOP/SIGCONT and restart a node on
// its data directory and ports; optionally with a TCP proxy (toxiproxy, as a
// library) on every link, so a test can cut one node or one link off the
// network, and with each data directory on its own small tmpfs, so a test can
// fill a node's disk.
//
// Whoever calls Start owns the cluster and must call Close, which ends every
// process, proxy and goroutine and unmounts what it mounted; Stop before it
// stops the nodes gracefully and keeps their data readable.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says how to start the nodes.
type Config struct {
	Binary   string   // chronik binary
	Dir      string   // parent of the nodes' data directories and logs
	Size     int      // number of nodes
	LogLevel string   // --log-level of every node ("" = warn)
	Args     []string // further serve flags, the same for every node
	// Proxied puts a TCP proxy in front of every node's Kafka listener
	// (clients are told the proxy's address) and on every ordered pair of
	// nodes' cluster links (node i dials node j through its own proxy), so
	// Cut and CutLink can silence them.
	Proxied bool
	// TmpfsBytes > 0 mounts a tmpfs of that size on each node's data
	// directory (needs root), so FillDisk can fill it.
	TmpfsBytes int64
	Logger     *slog.Logger
}

// Node is one `chronik serve` process slot: its addresses and data stay the
// same across restarts.
type Node struct {
	ID          int32
	KafkaAddr   string // the address clients are given (the proxy's when proxied)
	ClusterAddr string // the node's own cluster listener
	AdminAddr   string
	DataDir     string
	LogPath     string // the process's stdout and stderr, appended across restarts

	listenKafka string // the node's own Kafka listener
	peers       string // its --peers value

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the current process has been waited for
	waitErr error         // valid after exited is closed
	paused  bool
}

// Cluster owns the nodes of one run.
type Cluster struct {
	Nodes   []*Node
	cfg     Config
	log     *slog.Logger
	net     *network // nil unless cfg.Proxied
	token   string   // --initial-cluster-token of a proxied cluster
	mounted []string
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. All listeners
// stay open until every port is chosen, so the ports differ from each other;
// another program can still take one before a node binds it, which then
// shows as a node failing to start.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Start starts cfg.Size nodes on free loopback ports, each with its data
// directory and log file under cfg.Dir. It does not wait for them to be
// ready (WaitReady does). On error everything already started is stopped.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c = &Cluster{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	ports, err := FreePorts(3 * cfg.Size)
	if err != nil {
		return c, err
	}
	for i := range cfg.Size {
		id := int32(i + 1)
		n := &Node{
			ID:          id,
			listenKafka: loopback(ports[3*i]),
			ClusterAddr: loopback(ports[3*i+1]),
			AdminAddr:   loopback(ports[3*i+2]),
			DataDir:     filepath.Join(cfg.Dir, fmt.Sprintf("node%d", id)),
			LogPath:     filepath.Join(cfg.Dir, fmt.Sprintf("node%d.log", id)),
		}
		n.KafkaAddr = n.listenKafka
		c.Nodes = append(c.Nodes, n)
		if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
			return c, fmt.Errorf("create data directory of node %d: %w", id, err)
		}
		if cfg.TmpfsBytes > 0 {
			if err := mountTmpfs(n.DataDir, cfg.TmpfsBytes); err != nil {
				return c, fmt.Errorf("node %d: %w", id, err)
			}
			c.mounted = append(c.mounted, n.DataDir)
		}
	}
	if cfg.Proxied {
		if c.net, err = startNetwork(c.Nodes); err != nil {
			return c, err
		}
		c.token = fmt.Sprintf("chronik-bench-%d", ports[0])
	}
	for _, n := range c.Nodes {
		var peers []string
		for _, m := range c.Nodes {
			addr := m.ClusterAddr
			if c.net != nil && m != n {
				addr = c.net.linkAddr(n.ID, m.ID)
			}
			peers = append(peers, fmt.Sprintf("%d=%s", m.ID, addr))
		}
		n.peers = strings.Join(peers, ",")
		if err := c.launch(n); err != nil {
			return c, err
		}
	}
	return c, nil
}

// launch starts n's process and the goroutine that waits for it.
func (c *Cluster) launch(n *Node) error {
	logFile, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log of node %d: %w", n.ID, err)
	}
	// The child writes to the file directly; our descriptor is not needed
	// once it has started.
	defer logFile.Close()
	args := []string{"serve",
		"--node-id", strconv.Itoa(int(n.ID)),
		"--data-dir", n.DataDir,
		"--kafka-addr", n.listenKafka,
		"--advertise-kafka-addr", n.KafkaAddr,
		"--cluster-addr", n.ClusterAddr,
		"--advertise-cluster-addr", n.ClusterAddr,
		"--admin-addr", n.AdminAddr,
		"--peers", n.peers,
		"--log-level", c.cfg.LogLevel,
	}
	if c.net != nil {
		// Each node reaches the others through its own proxies, so their
		// --peers differ and cannot give the founders one derived token.
		args = append(args, "--initial-cluster-token", c.token)
	}
	args = append(args, c.cfg.Args...)
	// Not exec.CommandContext: the owner decides how each process ends.
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Dir = c.cfg.Dir
	cmd.Env = childEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", n.ID, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.paused = cmd, exited, false
	n.mu.Unlock()
	c.log.Debug("started node", "node", n.ID, "pid", cmd.Process.Pid, "kafka", n.KafkaAddr, "admin", n.AdminAddr)
	if c.net != nil {
		if err := c.net.up(n.ID); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
	}
	go func() {
		err := cmd.Wait()
		if c.net != nil {
			c.net.down(n.ID)
		}
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// childEnv drops CHRONIK_* variables, so a setting in the caller's shell
// (a config file, a log level) cannot change what is measured.
func childEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "CHRONIK_")
	})
}

// Node returns the node with the given id, or nil.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Others returns every node but the one with the given id.
func (c *Cluster) Others(id int32) []*Node {
	return slices.DeleteFunc(slices.Clone(c.Nodes), func(n *Node) bool { return n.ID == id })
}

// KafkaAddrs returns the Kafka addresses clients should use.
func KafkaAddrs(ns []*Node) []string {
	addrs := make([]string, len(ns))
	for i, n := range ns {
		addrs[i] = n.KafkaAddr
	}
	return addrs
}

// AdminURLs returns the nodes' admin API base URLs.
func AdminURLs(ns []*Node) []string {
	urls := make([]string, len(ns))
	for i, n := range ns {
		urls[i] = "http://" + n.AdminAddr
	}
	return urls
}

// Pid returns the process id of the node's current process, 0 if it was
// never started (for reading its /proc/<pid>/stat).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Exited is closed when the node's current process has ended.
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

// Running reports whether the node's process is alive (paused counts).
func (n *Node) Running() bool {
	select {
	case <-n.Exited():
		return false
	default:
		return true
	}
}

// Paused reports whether the node was paused and not resumed.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// ExitStatus describes how the last process ended ("running" if it has not).
func (n *Node) ExitStatus() string {
	if n.Running() {
		return "running"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.waitErr == nil {
		return "exit status 0"
	}
	return n.waitErr.Error()
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || !n.Running() {
		return fmt.Errorf("signal %v to node %d: not running", sig, n.ID)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to node %d: %w", sig, n.ID, err)
	}
	return nil
}

// Kill is kill -9; it returns once the process is gone.
//
// The node's proxies close first: the kernel closes a killed process's
// listeners the moment it dies, but a proxy that is still up would accept a
// dial and then hang up when its upstream refuses, and franz-go takes a
// connection closed during its ApiVersions handshake for a TLS mismatch and
// fails the records waiting on it, which a client dialing the node itself
// never sees.
func (c *Cluster) Kill(ctx context.Context, n *Node) error {
	if !n.Running() {
		return fmt.Errorf("kill node %d: not running", n.ID)
	}
	if c.net != nil {
		c.net.down(n.ID)
	}
	_ = n.signal(syscall.SIGCONT) // a paused process dies only once continued
	if err := n.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return n.wait(ctx)
}

// Term sends SIGTERM and waits (bounded by ctx) for the process to end.
// Once the node's own Kafka listener refuses dials its proxies close too
// (see Kill), polled every refusedPoll.
func (c *Cluster) Term(ctx context.Context, n *Node) error {
	if err := n.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if c.net == nil {
		return n.wait(ctx)
	}
	tick := time.NewTicker(refusedPoll)
	defer tick.Stop()
	for {
		select {
		case <-n.Exited():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait for node %d to exit: %w", n.ID, ctx.Err())
		case <-tick.C:
			if refuses(n.listenKafka) {
				c.net.down(n.ID)
			}
		}
	}
}

// refusedPoll is how often Term checks whether a stopping node's listener
// is closed.
const refusedPoll = 10 * time.Millisecond

// refuses says whether a dial to addr is refused (nothing listens there).
func refuses(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, refusedPoll)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (n *Node) wait(ctx context.Context) error {
	select {
	case <-n.Exited():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for node %d to exit: %w", n.ID, ctx.Err())
	}
}

// Pause stops the process with SIGSTOP: alive, holding its sockets, silent.
func (c *Cluster) Pause(n *Node) error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	return nil
}

// Resume continues a paused process.
func (c *Cluster) Resume(n *Node) error {
	if err := n.signal(syscall.SIGCONT); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	return nil
}

// Restart starts the node again on its data directory and ports after its
// process ended. It does not wait for readiness.
func (c *Cluster) Restart(n *Node) error {
	if n.Running() {
		return fmt.Errorf("restart node %d: still running", n.ID)
	}
	return c.launch(n)
}

// WaitReady polls the given nodes' /readyz until all answer 200, a node
// exits, or ctx ends.
func WaitReady(ctx context.Context, ns []*Node) error {
	// No keep-alives: an idle connection would leave a goroutine behind.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	ready := make([]bool, len(ns))
	last := make([]string, len(ns))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		all := true
		for i, n := range ns {
			if ready[i] {
				continue
			}
			if !n.Running() {
				return fmt.Errorf("node %d exited while starting: %s", n.ID, n.ExitStatus())
			}
			ok, why := readyz(ctx, hc, n.AdminAddr)
			ready[i] = ok
			if ctx.Err() == nil {
				// A request cut short by the deadline says nothing about the node.
				last[i] = why
			}
			all = all && ok
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for i, n := range ns {
				if !ready[i] {
					why := last[i]
					if why == "" {
						why = "no answer"
					}
					waiting = append(waiting, fmt.Sprintf("node %d (%s)", n.ID, why))
				}
			}
			return fmt.Errorf("nodes not ready: %s: %w", strings.Join(waiting, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// readyz asks one admin listener whether its node is ready; when it is not,
// the string says why.
func readyz(ctx context.Context, hc *http.Client, adminAddr string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/readyz", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "GET /readyz: " + resp.Status
	}
	return true, ""
}

// Stop sends SIGTERM to every node still running and waits for all of them;
// nodes still running when ctx is done are killed. It returns the ids of the
// nodes it had to kill. Data directories stay readable until Close.
func (c *Cluster) Stop(ctx context.Context) (forced []int32) {
	if c.net != nil {
		c.net.healAll() // a node cut off may wait on a peer while stopping
	}
	for _, n := range c.Nodes {
		if n.Running() {
			_ = n.signal(syscall.SIGCONT)
			_ = n.signal(syscall.SIGTERM)
		}
	}
	for _, n := range c.Nodes {
		if !n.started() || n.wait(ctx) == nil {
			continue
		}
		_ = n.signal(syscall.SIGKILL)
		<-n.Exited() // SIGKILL cannot be ignored, so this returns promptly
		forced = append(forced, n.ID)
	}
	return forced
}

// Close stops what Stop left running (killing the nodes at once), stops the
// proxies and unmounts the tmpfs mounts. After Close no process or goroutine
// of c is left.
func (c *Cluster) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Stop(ctx)
	if c.net != nil {
		c.net.stop()
		c.net = nil
	}
	for _, dir := range c.mounted {
		if err := unmount(dir); err != nil {
			c.log.Warn("unmount tmpfs", "dir", dir, "err", err)
		}
	}
	c.mounted = nil
}

func (n *Node) started() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// WriteTails writes the last lines of every node's log to w, for a run that
// failed: the cause is usually in there.
func (c *Cluster) WriteTails(w io.Writer, lines int) {
	for _, n := range c.Nodes {
		tail, err := TailFile(n.LogPath, lines)
		if err != nil {
			fmt.Fprintf(w, "  node %d (%s): %v\n", n.ID, n.ExitStatus(), err)
			continue
		}
		fmt.Fprintf(w, "  node %d (%s), last lines of %s:\n", n.ID, n.ExitStatus(), n.LogPath)
		for _, l := range tail {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// TailFile returns the last n lines of a file, reading at most its last 64 KiB.
func TailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	const window = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat log: %w", err)
	}
	off := max(st.Size()-window, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read log: %w", err)
	}
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return nil, nil
	}
	all := strings.Split(text, "\n")
	if off > 0 && len(all) > 1 {
		all = all[1:] // the first line is probably cut
	}
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all, nil
}

// ChronikPackage is the command Build builds.
const ChronikPackage = "github.com/chronik-dev/chronik/cmd/chronik"

// Build builds chronik into dir with the given build tags and returns the
// binary's path. It runs `go build` in the current directory, so the
// caller must be inside the repository.
func Build(ctx context.Context, dir string, tags ...string) (string, error) {
	bin := filepath.Join(dir, "chronik")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	out, err := exec.CommandContext(ctx, "go", append(args, ChronikPackage)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s (run from inside the chronik repository, or give --chronik): %w\n%s", strings.Join(append(args, ChronikPackage), " "), err, out)
	}
	return bin, nil
}
