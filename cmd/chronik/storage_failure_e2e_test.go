package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestDiskFailureStopsLeaderWithExitCode74 runs three processes of a
// chronik_faults build and makes the partition leader's disk fail (every
// fsync ENOSPC, through PUT /v1/debug/faults) during an idempotent acks=all
// stream: the leader logs the storage failure and exits with code 74, a
// survivor leads within seconds, the stream goes on; the node restarted on
// a working disk rejoins the ISR, and every acknowledged record is there
// exactly once, in order.
func TestDiskFailureStopsLeaderWithExitCode74(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	bin, err := testharness.BuildChronikTags(t.TempDir(), "chronik_faults")
	if err != nil {
		t.Fatal(err)
	}
	c := &procCluster{ProcCluster: testharness.StartProcCluster(t, bin, 3, "--broker-session-timeout", "1s"), t: t}
	leader := c.createRF3("disk")
	s := startStream(t, c, "disk")
	s.waitAcks(1000, 30*time.Second)

	failing := c.Procs[leader]
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+failing.Admin+"/v1/debug/faults",
		strings.NewReader(`{"fsync_error":"ENOSPC"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/debug/faults: %s", resp.Status)
	}
	injected := time.Now()
	select {
	case <-failing.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the leader still runs 15 s after its disk failed")
	}
	exited := time.Since(injected)
	var ee *exec.ExitError
	if !errors.As(failing.Err(), &ee) || ee.ExitCode() != exitStorage {
		t.Fatalf("exit status %v, want exit code %d", failing.Err(), exitStorage)
	}
	log := failing.Log()
	for _, want := range []string{"storage failure: this node stops now", "no space left on device", "Error: serve: storage failure in data dir"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	survivor := (leader + 1) % 3
	p := c.waitPartition(survivor, "disk", 5*time.Second, "a new leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.Leader > 0 && int(p.Leader-1) != leader
	})
	before := s.count()
	s.waitAcks(before+1000, 30*time.Second)
	first, _ := s.firstAckAfter(injected)
	t.Logf("leader %d exited %v after its disk failed; node %d leads (ISR %v); first acknowledgement %v after the failure",
		leader+1, exited.Round(time.Millisecond), p.Leader, p.ISR, first.Sub(injected).Round(time.Millisecond))

	c.Restart(t, leader) // a fresh process: no faults, as after replacing the disk
	c.waitPartition(survivor, "disk", 30*time.Second, "the restarted node back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	s.finish()
	s.verify(c)
}
