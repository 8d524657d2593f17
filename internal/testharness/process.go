package testharness

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildChronik builds the chronik binary into dir and returns its path. A
// test binary calls it once (the caller caches the path) and removes dir
// when it ends.
func BuildChronik(dir string) (string, error) {
	return BuildChronikTags(dir)
}

// BuildChronikTags is BuildChronik with build tags, such as chronik_faults
// for a binary that serves fault injection (docs/admin-api.md).
func BuildChronikTags(dir string, tags ...string) (string, error) {
	bin := filepath.Join(dir, "chronik")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	out, err := exec.Command("go", append(args, "github.com/chronik-dev/chronik/cmd/chronik")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build chronik (tags %v): %w\n%s", tags, err, out)
	}
	return bin, nil
}

// Serve describes one `chronik serve` process. Addresses left empty get a
// free loopback port when the process is first launched, and keep it.
type Serve struct {
	Binary  string
	DataDir string
	Kafka   string // listener and advertised address
	Admin   string
	Cluster string
	Args    []string // further flags
}

// Process is a running (or exited) `chronik serve`.
type Process struct {
	Serve
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, valid after done
}

// readyWithin bounds how long a process may take to answer /readyz.
const readyWithin = 30 * time.Second

// Launch starts the process without waiting for it to be ready. It is
// killed at the end of the test; its log is printed if the test failed.
func Launch(t testing.TB, s Serve) *Process {
	t.Helper()
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	for _, a := range []*string{&s.Kafka, &s.Admin, &s.Cluster} {
		if *a == "" {
			*a = FreeAddr(t)
		}
	}
	p := &Process{Serve: s, done: make(chan struct{})}
	p.cmd = exec.Command(s.Binary, "serve", "--data-dir", s.DataDir,
		"--kafka-addr", s.Kafka, "--advertise-kafka-addr", s.Kafka, "--admin-addr", s.Admin,
		"--cluster-addr", s.Cluster, "--log-level", "warn")
	p.cmd.Args = append(p.cmd.Args, s.Args...)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "chronik.log"))
	if err != nil {
		t.Fatal(err)
	}
	p.log = logFile.Name()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot die
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("chronik log (%s):\n%s", p.Kafka, b)
		}
	})
	return p
}

// Start launches the process and waits until it is ready.
func Start(t testing.TB, s Serve) *Process {
	t.Helper()
	p := Launch(t, s)
	p.WaitReady(t)
	return p
}

// WaitReady polls /readyz until the node serves, failing if it exits first.
func (p *Process) WaitReady(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	Eventually(t, readyWithin, "chronik "+p.Admin+" ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("chronik exited before ready: %v", p.err)
		default:
		}
		resp, err := client.Get("http://" + p.Admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to chronik %s: %v", sig, p.Kafka, err)
	}
}

// Kill is kill -9, waiting for the process to be gone. A process that has
// already exited on its own (a removed node) is gone too.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %v to chronik %s: %v", syscall.SIGKILL, p.Kafka, err)
	}
	<-p.done
}

// Stop is SIGTERM, waiting for a graceful exit; it returns the exit status.
func (p *Process) Stop(t testing.TB) error {
	t.Helper()
	if p.Exited() {
		return p.err
	}
	p.Signal(t, syscall.SIGTERM)
	<-p.done
	return p.err
}

// Pause stops the process with SIGSTOP: alive, holding its sockets, silent.
func (p *Process) Pause(t testing.TB) { t.Helper(); p.Signal(t, syscall.SIGSTOP) }

// Resume continues a paused process.
func (p *Process) Resume(t testing.TB) { t.Helper(); p.Signal(t, syscall.SIGCONT) }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited says whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the exit status; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Log is what the process wrote so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// ProcCluster is size `chronik serve` processes that know each other as
// initial voters, on fixed ports and data dirs, so a node can be restarted
// where it was.
type ProcCluster struct {
	Procs []*Process
	Peers string // the --peers value
}

// StartProcCluster launches size nodes with extra flags and waits until all
// are ready.
func StartProcCluster(t testing.TB, binary string, size int, extra ...string) *ProcCluster {
	t.Helper()
	c := LaunchProcCluster(t, binary, size, extra...)
	for _, p := range c.Procs {
		p.WaitReady(t)
	}
	return c
}

// LaunchProcCluster is StartProcCluster without waiting for readiness.
func LaunchProcCluster(t testing.TB, binary string, size int, extra ...string) *ProcCluster {
	t.Helper()
	c := &ProcCluster{}
	specs := make([]Serve, size)
	var peers []string
	for i := range specs {
		specs[i] = Serve{Binary: binary, DataDir: t.TempDir(), Kafka: FreeAddr(t), Admin: FreeAddr(t), Cluster: FreeAddr(t)}
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, specs[i].Cluster))
	}
	c.Peers = strings.Join(peers, ",")
	for i, s := range specs {
		s.Args = append([]string{"--node-id", strconv.Itoa(i + 1), "--peers", c.Peers}, extra...)
		c.Procs = append(c.Procs, Launch(t, s))
	}
	return c
}

// Restart launches node i (0-based) again on its data dir and ports, after
// it exited (Kill or Stop), and waits until it is ready.
func (c *ProcCluster) Restart(t testing.TB, i int) *Process {
	t.Helper()
	if !c.Procs[i].Exited() {
		t.Fatalf("restart node %d: still running", i+1)
	}
	c.Procs[i] = Start(t, c.Procs[i].Serve)
	return c.Procs[i]
}

// StopAll stops every running node gracefully, so their logs are complete.
func (c *ProcCluster) StopAll(t testing.TB) {
	t.Helper()
	for _, p := range c.Procs {
		if !p.Exited() {
			p.Signal(t, syscall.SIGCONT)
			_ = p.Stop(t)
		}
	}
}

// KafkaAddrs are the nodes' Kafka addresses, leaving out the given indexes.
func (c *ProcCluster) KafkaAddrs(except ...int) []string {
	var out []string
	for i, p := range c.Procs {
		if !slices.Contains(except, i) {
			out = append(out, p.Kafka)
		}
	}
	return out
}
