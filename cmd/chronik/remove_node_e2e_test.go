package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// removeTool runs the chronik command against the first running node's admin API and
// returns stdout, stderr and the exit code.
func (c *procCluster) removeTool(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := ""
	for _, p := range c.Procs { // any node that runs: the command finds the controller
		if !p.Exited() {
			admin = p.Admin
			break
		}
	}
	cmd := exec.CommandContext(ctx, chronikBinary(c.t), append(args, "--admin", "http://"+admin)...)
	cmd.Env = append(cmd.Environ(), "CHRONIK_PROFILE=", "XDG_CONFIG_HOME="+c.t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("chronik %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// exitsRemoved waits until p exits with the code of a removed node.
func exitsRemoved(t *testing.T, p *testharness.Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the removed node still runs:\n%s", p.Log())
	}
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != exitRemoved {
		t.Fatalf("removed node exited with %v, want code %d", err, exitRemoved)
	}
	if !strings.Contains(p.Log(), "this node was removed from the cluster") {
		t.Fatalf("no removal line in the log:\n%s", p.Log())
	}
}

// A live node is decommissioned under an acks=all stream: its replica moves
// to the joined node 4, which becomes a voter in its place; node 2 exits
// with code 77; nothing acknowledged is lost.
func TestRemoveLiveNodeUnderAcksAllStream(t *testing.T) {
	c := startProcCluster(t)
	c.createRF3("stream")
	s := startStream(t, c, "stream")
	s.waitAcks(300, 30*time.Second)
	n4 := c.joiner(4)
	n4.WaitReady(t)
	c.waitMembers(20*time.Second, []uint64{1, 2, 3}, []uint64{4})

	out, errOut, code := c.removeTool("cluster", "remove-node", "2", "--wait")
	if code != 0 || !strings.Contains(out, "node 2 removed from the cluster") || !strings.Contains(errOut, "node 2: 1 partition to move") {
		t.Fatalf("remove-node: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	exitsRemoved(t, c.Procs[1])
	c.waitMembers(20*time.Second, []uint64{1, 3, 4}, nil)
	s.waitAcks(s.count()+300, 30*time.Second)
	s.finish()
	s.verify(c)

	// Asked again, the node is unknown: nothing changes.
	if _, errOut, code := c.removeTool("cluster", "remove-node", "2"); code == 0 || !strings.Contains(errOut, "neither a registered broker nor a raft member") {
		t.Fatalf("second remove-node: code %d, stderr:\n%s", code, errOut)
	}
}

// Node 3 is killed -9 (its disk died); replace-node moves its replicas to the
// joined node 4, which copies from the survivors and takes its raft seat.
func TestReplaceKilledNode(t *testing.T) {
	c := startProcCluster(t)
	c.createRF3("stream")
	s := startStream(t, c, "stream")
	s.waitAcks(300, 30*time.Second)
	n4 := c.joiner(4)
	n4.WaitReady(t)
	c.Procs[2].Kill(t)

	out, errOut, code := c.removeTool("cluster", "replace-node", "3", "4", "--wait")
	if code != 0 || !strings.Contains(out, "node 3 removed from the cluster") || !strings.Contains(errOut, "to node 4") {
		t.Fatalf("replace-node: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	c.waitMembers(20*time.Second, []uint64{1, 2, 4}, nil)
	s.waitAcks(s.count()+300, 30*time.Second)
	s.finish()
	s.verify(c)
}

// A dead node is refused without --force, and removed with it, the
// warning saying nothing is copied from it.
func TestRemoveDeadNodeForce(t *testing.T) {
	c := startProcCluster(t)
	c.createRF3("t")
	n4 := c.joiner(4)
	n4.WaitReady(t)
	c.Procs[2].Kill(t)
	// Until the controller fences it, node 3 counts as live (and its
	// removal would just go ahead, copying from the survivors).
	testharness.Eventually(t, 20*time.Second, "node 3 fenced", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		md, err := kadm.NewClient(c.client()).BrokerMetadata(ctx)
		return err == nil && !slices.ContainsFunc(md.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == 3 })
	})
	if _, errOut, code := c.removeTool("cluster", "remove-node", "3"); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("remove-node of a dead node without --force: code %d, stderr:\n%s", code, errOut)
	}

	out, errOut, code := c.removeTool("cluster", "remove-node", "3", "--force", "--wait")
	if code != 0 || !strings.Contains(out, "node 3 removed") || !strings.Contains(errOut, "warning: node 3 is down") {
		t.Fatalf("remove-node --force: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	c.waitMembers(20*time.Second, []uint64{1, 2, 4}, nil)
}

// The controller is killed with -9 in the middle of a throttled
// replace-node; run again, the command finds the new controller, which
// finishes the move and removes the node.
func TestReplaceNodeResumesAfterControllerKill(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "2s", "--reassignment-throttle", "65536")
	n4 := c.joiner(4, "--broker-session-timeout", "2s", "--reassignment-throttle", "65536")
	n4.WaitReady(t)
	n5 := c.joiner(5, "--broker-session-timeout", "2s", "--reassignment-throttle", "65536")
	n5.WaitReady(t)
	ctl := c.controllerID()
	o1 := ctl%3 + 1
	c.createAssigned("dec", o1, 4)
	acked := c.fillRandom("dec", 512) // 512 KiB: seconds to copy at 64 KiB/s

	out, errOut, code := c.removeTool("cluster", "replace-node", "4", "5")
	if code != 0 || !strings.Contains(errOut, "node 4: 1 partition to move to node 5") {
		t.Fatalf("first replace-node: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	c.proc(ctl).Kill(t)
	out, errOut, code = c.removeTool("cluster", "replace-node", "4", "5", "--wait")
	if code != 0 || !strings.Contains(out, "node 4 removed from the cluster") {
		t.Fatalf("replace-node after the controller died: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	exitsRemoved(t, n4)
	l := c.waitFullISR(30*time.Second, "dec")
	if got := l["dec"][0].Replicas; !slices.Equal(sorted(got), sorted([]int32{o1, 5})) {
		t.Fatalf("after the replacement: replicas %v, want %d,5", got, o1)
	}
	c.holds("dec", acked)
}
