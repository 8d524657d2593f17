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
	isr, _ := toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a, "--timeout", "1s", "-o", "json")
	if len(isr.Partitions) != 1 || isr.Partitions[0].Status != api.StatusAtMinISR {
		t.Errorf("partitions %+v", isr.Partitions)
	}
	t.Logf("doctor on a full disk: %s: %s; effects %q", doc.Causes[0].Code, doc.Causes[0].Message, doc.Causes[0].Effects)
}

// TestDoctorOnASlowDisk: every fsync of the partition leader takes 1 s
// under an acks=all stream. Its followers can have only what it wrote, so
// all of them stop at the same offset behind it while acks=all produces
// wait: doctor names REPLICA_SLOW of the leader (disk or network), not
// one of the followers. (A follower's slow fsync is not on the acks path
// at 300 ms and shows nothing; docs/doctor.md.)
func TestDoctorOnASlowDisk(t *testing.T) {
	c := faultsCluster(t, "--broker-session-timeout", "10s")
	leader := c.createRF3("slow")
	s := startStream(t, c, "slow")
	s.waitAcks(500, 30*time.Second)
	injectFaults(t, c.Procs[leader].Admin, `{"fsync_delay":"1s"}`, false)
	defer injectFaults(t, c.Procs[leader].Admin, `{}`, false)
	a := c.adminURL(leader)
	var doc diagnose.DoctorReport
	testharness.EventuallyEvery(t, 20*time.Second, 500*time.Millisecond, fmt.Sprintf("REPLICA_SLOW of leader %d", leader+1), func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "--timeout", "2s", "-o", "json")
		for _, c := range doc.Causes {
			if c.Code == diagnose.CauseReplicaSlow && c.Node != nil && *c.Node == int32(leader+1) && slices.Contains(c.Partitions, "slow-0") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("causes %+v\nfindings %+v", doc.Causes, doc.Findings) })
	t.Logf("doctor on a slow leader disk: %s", doc.Causes[0].Message)
}

func nodeText(id *int32) string {
	if id == nil {
		return "-"
	}
	return fmt.Sprint(*id)
}
