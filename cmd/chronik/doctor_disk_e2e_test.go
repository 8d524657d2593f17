package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// Disk faults injected through a chronik_faults build's /v1/debug/faults,
// and what doctor names while they last.

// injectFaults PUTs a faults body to one node of a chronik_faults build.
// An injected disk error may stop the node before it answers: with
// mayStop, no answer is fine (the caller waits for the node's exit).
func injectFaults(t *testing.T, admin, body string, mayStop bool) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+admin+"/v1/debug/faults", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil && mayStop {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/debug/faults %s: %s", body, resp.Status)
	}
}

func faultsCluster(t *testing.T, extra ...string) *procCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("process test")
	}
	bin, err := testharness.BuildChronikTags(t.TempDir(), "chronik_faults")
	if err != nil {
		t.Fatal(err)
	}
	return &procCluster{ProcCluster: testharness.StartProcCluster(t, bin, 3, extra...), t: t}
}

// TestDoctorOnAFullDisk: a follower's disk fills (every fsync ENOSPC). The
// node stops itself (exit code 74), so its own answers, which would say
// why, are gone: to doctor it is NODE_DOWN, with the partition at min ISR
// under it. (DISK_FULL needs a node that still answers with the error;
// see docs/doctor.md.)
func TestDoctorOnAFullDisk(t *testing.T) {
	c := faultsCluster(t, "--broker-session-timeout", "1s")
	leader := c.createRF3("disk")
	s := startStream(t, c, "disk")
	s.waitAcks(500, 30*time.Second)
	follower := (leader + 1) % 3
	injectFaults(t, c.Procs[follower].Admin, `{"fsync_error":"ENOSPC"}`, true)
	select {
	case <-c.Procs[follower].Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the follower still runs 15 s after its disk filled")
	}
	a := c.adminURL(leader)
	var doc diagnose.DoctorReport
	testharness.EventuallyEvery(t, 15*time.Second, 200*time.Millisecond, fmt.Sprintf("NODE_DOWN of node %d", follower+1), func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{3, 4}, "doctor", "--admin", a, "--timeout", "1s", "-o", "json")
		return len(doc.Causes) > 0 && doc.Causes[0].Code == diagnose.CauseNodeDown && doc.Causes[0].Node != nil &&
			*doc.Causes[0].Node == int32(follower+1) && slices.Contains(doc.Causes[0].Partitions, "disk-0")
	}, func() string { return fmt.Sprintf("%+v", doc.Causes) })
	// NODE_DOWN can come first: the ISR shrinks once the controller fences
	// the node (about the session timeout after its heartbeats stopped).
	var isr diagnose.ISRReport
	testharness.EventuallyEvery(t, 15*time.Second, 200*time.Millisecond, "disk-0 at min ISR", func() bool {
		isr, _ = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a, "--timeout", "1s", "-o", "json")
		return len(isr.Partitions) == 1 && isr.Partitions[0].Status == api.StatusAtMinISR
	}, func() string { return fmt.Sprintf("%+v", isr.Partitions) })
	t.Logf("doctor on a full disk: %s: %s; effects %q", doc.Causes[0].Code, doc.Causes[0].Message, doc.Causes[0].Effects)
}

// TestDoctorOnASlowDisk: every fsync of the partition leader takes 1 s
// under an acks=all stream. The node measures its fsyncs, so doctor names
// DISK_SLOW of the leader with the latency, and the held acks=all under
// it. (Without the measurement, all followers stopping at the same offset
// behind it made it REPLICA_SLOW, disk or network: slowLeaders.)
func TestDoctorOnASlowDisk(t *testing.T) {
	c := faultsCluster(t, "--broker-session-timeout", "10s")
	leader := c.createRF3("slow")
	s := startStream(t, c, "slow")
	s.waitAcks(500, 30*time.Second)
	injectFaults(t, c.Procs[leader].Admin, `{"fsync_delay":"1s"}`, false)
	defer injectFaults(t, c.Procs[leader].Admin, `{}`, false)
	cause := waitDiskSlow(t, c, leader, leader)
	if cause.Severity != api.SeverityCritical {
		t.Errorf("a 1 s fsync is %s, want critical: %s", cause.Severity, cause.Message)
	}
	t.Logf("doctor on a slow leader disk: %s", cause.Message)
}

// TestDoctorOnASlowFollowerDisk: bench/chaos's slow-fsync fault on a
// follower, every fsync 200 ms. The ISR stays full and nothing errs, while
// every acks=all produce waits for the follower's fsyncs: doctor names
// DISK_SLOW of that follower from its measured fsync latency.
func TestDoctorOnASlowFollowerDisk(t *testing.T) {
	c := faultsCluster(t, "--broker-session-timeout", "10s")
	leader := c.createRF3("slowf")
	s := startStream(t, c, "slowf")
	s.waitAcks(500, 30*time.Second)
	follower := (leader + 1) % 3
	injectFaults(t, c.Procs[follower].Admin, `{"fsync_delay":"200ms"}`, false)
	defer injectFaults(t, c.Procs[follower].Admin, `{}`, false)
	cause := waitDiskSlow(t, c, leader, follower)
	if !strings.Contains(cause.Message, fmt.Sprintf("node %d's disk is slow", follower+1)) {
		t.Errorf("message %q", cause.Message)
	}
	if m, _ := cause.Evidence["fsync_median_seconds"].(float64); m < 0.2 || m > 0.5 {
		t.Errorf("median fsync %v s, want 200 ms and a little more", cause.Evidence["fsync_median_seconds"])
	}
	t.Logf("doctor on a slow follower disk: %s; effects %q", cause.Message, cause.Effects)
}

// waitDiskSlow runs doctor through the leader's admin API until it names
// DISK_SLOW of node slow (an index into c.Procs), and returns that cause.
func waitDiskSlow(t *testing.T, c *procCluster, leader, slow int) api.Cause {
	t.Helper()
	a := c.adminURL(leader)
	var doc diagnose.DoctorReport
	var found api.Cause
	testharness.EventuallyEvery(t, 30*time.Second, 500*time.Millisecond, fmt.Sprintf("DISK_SLOW of node %d", slow+1), func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "--timeout", "2s", "-o", "json")
		for _, c := range doc.Causes {
			if c.Code == diagnose.CauseDiskSlow && c.Node != nil && *c.Node == int32(slow+1) {
				found = c
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("causes %+v\nfindings %+v", doc.Causes, doc.Findings) })
	return found
}

func nodeText(id *int32) string {
	if id == nil {
		return "-"
	}
	return fmt.Sprint(*id)
}
