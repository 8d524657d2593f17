package main

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
	"syscall"
	"time"
)

// clusterConfig says how to start the nodes of one run.
type clusterConfig struct {
	bin            string        // chronik binary
	dir            string        // parent of the nodes' data directories and logs
	size           int           // number of nodes
	sessionTimeout time.Duration // --broker-session-timeout; 0 keeps the broker's default
	logLevel       string        // --log-level of every node
}

// node is one `chronik serve` child process.
type node struct {
	id          int32
	kafkaAddr   string
	clusterAddr string
	adminAddr   string
	dataDir     string
	logPath     string // the child's stdout and stderr

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the process's exit status; read only after exited is closed
}

// hasExited reports whether the process has ended.
func (n *node) hasExited() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// exitStatus describes how the process ended; call it only after hasExited.
func (n *node) exitStatus() string {
	if n.waitErr == nil {
		return "exit status 0"
	}
	return n.waitErr.Error()
}

// cluster owns the node processes of one run: whoever starts a cluster must
// call stop, which ends every process and the goroutines that wait for them.
type cluster struct {
	nodes []*node
	log   *slog.Logger
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. All listeners
// stay open until every port is chosen, so the ports differ from each other;
// another program can still take one before a node binds it, which then
// shows as a node failing to start.
func freePorts(n int) ([]int, error) {
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

// startCluster starts cfg.size nodes on free loopback ports, each with its
// data directory and log file under cfg.dir. It does not wait for them to be
// ready. On error every node already started has been stopped.
func startCluster(cfg clusterConfig, log *slog.Logger) (*cluster, error) {
	ports, err := freePorts(3 * cfg.size)
	if err != nil {
		return nil, err
	}
	c := &cluster{log: log}
	peers := make([]string, 0, cfg.size)
	for i := range cfg.size {
		id := int32(i + 1)
		n := &node{
			id:          id,
			kafkaAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i]),
			clusterAddr: "127.0.0.1:" + strconv.Itoa(ports[3*i+1]),
			adminAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i+2]),
			dataDir:     filepath.Join(cfg.dir, fmt.Sprintf("node%d", id)),
			logPath:     filepath.Join(cfg.dir, fmt.Sprintf("node%d.log", id)),
			exited:      make(chan struct{}),
		}
		c.nodes = append(c.nodes, n)
		peers = append(peers, fmt.Sprintf("%d=%s", id, n.clusterAddr))
	}
	for _, n := range c.nodes {
		if err := c.startNode(cfg, n, strings.Join(peers, ",")); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.stop(ctx)
			cancel()
			return nil, err
		}
	}
	return c, nil
}

// startNode starts one node process and the goroutine that waits for it.
func (c *cluster) startNode(cfg clusterConfig, n *node, peers string) error {
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory of node %d: %w", n.id, err)
	}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return fmt.Errorf("create log of node %d: %w", n.id, err)
	}
	// The child writes to the file directly; our descriptor is not needed
	// once it has started.
	defer logFile.Close()

	args := []string{"serve",
		"--node-id", strconv.Itoa(int(n.id)),
		"--data-dir", n.dataDir,
		"--kafka-addr", n.kafkaAddr,
		"--advertise-kafka-addr", n.kafkaAddr,
		"--cluster-addr", n.clusterAddr,
		"--advertise-cluster-addr", n.clusterAddr,
		"--admin-addr", n.adminAddr,
		"--peers", peers,
		"--log-level", cfg.logLevel,
	}
	if cfg.sessionTimeout > 0 {
		args = append(args, "--broker-session-timeout", cfg.sessionTimeout.String())
	}
	// Not exec.CommandContext: the owner decides how each process ends
	// (SIGKILL for the victim, SIGTERM for the rest).
	cmd := exec.Command(cfg.bin, args...)
	cmd.Dir = cfg.dir
	cmd.Env = childEnv(os.Environ())
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", n.id, err)
	}
	n.cmd = cmd
	c.log.Debug("started node", "node", n.id, "pid", cmd.Process.Pid, "kafka", n.kafkaAddr, "admin", n.adminAddr, "log", n.logPath)
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()
	return nil
}

// childEnv drops CHRONIK_* variables, so a setting in the caller's shell
// (a config file, a log level) cannot change what the benchmark measures.
func childEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "CHRONIK_")
	})
}

// node returns the node with the given id, or nil.
func (c *cluster) node(id int32) *node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// others returns every node but the one with the given id.
func (c *cluster) others(id int32) []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.id != id {
			out = append(out, n)
		}
	}
	return out
}

// kafkaAddrs returns the Kafka addresses of nodes.
func kafkaAddrs(nodes []*node) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.kafkaAddr
	}
	return addrs
}

// waitReady polls every node's /readyz until all answer 200, a node exits,
// or timeout passes.
func (c *cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// No keep-alives: an idle connection would leave a goroutine behind.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	ready := make([]bool, len(c.nodes))
	last := make([]string, len(c.nodes))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		all := true
		for i, n := range c.nodes {
			if ready[i] {
				continue
			}
			if n.hasExited() {
				return fmt.Errorf("node %d exited during start-up: %s", n.id, n.exitStatus())
			}
			ok, why := readyz(ctx, hc, n.adminAddr)
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
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("wait for nodes to be ready: %w", ctx.Err())
			}
			var waiting []string
			for i, n := range c.nodes {
				if !ready[i] {
					why := last[i]
					if why == "" {
						why = "no answer"
					}
					waiting = append(waiting, fmt.Sprintf("node %d (%s)", n.id, why))
				}
			}
			return fmt.Errorf("not ready after %s: %s", timeout, strings.Join(waiting, ", "))
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

// kill sends SIGKILL to a node.
func (c *cluster) kill(n *node) error {
	if err := n.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill node %d: %w", n.id, err)
	}
	return nil
}

// pause sends SIGSTOP to a node: it keeps its sockets open and answers
// nothing, like a machine that hangs.
func (c *cluster) pause(n *node) error {
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP node %d: %w", n.id, err)
	}
	return nil
}

// resume sends SIGCONT to a paused node.
func (c *cluster) resume(n *node) error {
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT node %d: %w", n.id, err)
	}
	return nil
}

// stop sends SIGTERM to every node still running and waits for all of them;
// nodes still running when ctx is done are killed. It returns the ids of the
// nodes it had to kill. After stop no process or goroutine of c is left.
func (c *cluster) stop(ctx context.Context) []int32 {
	for _, n := range c.nodes {
		if n.cmd != nil && !n.hasExited() {
			// An error means the process is already gone; Wait reports it.
			// SIGCONT first: a paused node would not act on SIGTERM.
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var forced []int32
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.exited:
			continue
		case <-ctx.Done():
		}
		if n.hasExited() {
			continue // both were ready and select chose the deadline
		}
		_ = n.cmd.Process.Kill()
		<-n.exited // SIGKILL cannot be ignored, so this returns promptly
		forced = append(forced, n.id)
	}
	return forced
}

// writeTails writes the last lines of every node's log to w, for a run that
// failed: the cause is usually in there.
func (c *cluster) writeTails(w io.Writer, lines int) {
	for _, n := range c.nodes {
		state := "running"
		if n.hasExited() {
			state = n.exitStatus()
		}
		tail, err := tailFile(n.logPath, lines)
		if err != nil {
			fmt.Fprintf(w, "  node %d (%s): %v\n", n.id, state, err)
			continue
		}
		fmt.Fprintf(w, "  node %d (%s), last lines of %s:\n", n.id, state, n.logPath)
		for _, l := range tail {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// tailFile returns the last n lines of a file, reading at most its last 64 KiB.
func tailFile(path string, n int) ([]string, error) {
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
