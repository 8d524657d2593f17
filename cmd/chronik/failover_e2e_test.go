package main

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests check what a surviving node's Metadata answer says about a
// partition whose leader died or stopped, with a session timeout longer
// than the tests, so that silence alone never fences anyone here.

// leaderIsNot reports whether p has a leader other than node index gone.
func leaderIsNot(gone int) func(kmsg.MetadataResponseTopicPartition) bool {
	return func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.ErrorCode == 0 && p.Leader > 0 && int(p.Leader-1) != gone
	}
}

// TestKilledLeaderIsNotAdvertised: kill -9 the partition leader. A
// survivor's Metadata stops naming it as the leader without an error (the
// answer that left default clients waiting for their next periodic
// refresh): it answers LEADER_NOT_AVAILABLE, leader -1, once its cluster
// transport's dials to the dead node are refused, and then names a new
// leader, because the controller fences a broker whose address refuses
// connections without waiting out the 60 s session timeout.
func TestKilledLeaderIsNotAdvertised(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "60s")
	leader := c.createRF3("killed")
	survivor := (leader + 1) % 3
	c.Procs[leader].Kill(t)

	p := c.waitPartition(survivor, "killed", 10*time.Second, "LEADER_NOT_AVAILABLE or a new leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		if p.ErrorCode == kerr.LeaderNotAvailable.Code {
			return p.Leader == -1
		}
		return leaderIsNot(leader)(p)
	})
	t.Logf("after the kill node %d answered leader %d, error %d", survivor+1, p.Leader, p.ErrorCode)
	p = c.waitPartition(survivor, "killed", 10*time.Second, "a new leader before the session timeout", leaderIsNot(leader))
	if int(p.Leader-1) == leader || len(p.ISR) != 2 {
		t.Fatalf("new leader %d, ISR %v; want a survivor leading the two survivors", p.Leader, p.ISR)
	}
	// The other survivor agrees.
	c.waitPartition(3-leader-survivor, "killed", 10*time.Second, "the other survivor names the new leader", leaderIsNot(leader))
}

// TestStoppedLeaderKeepsItsSession: SIGSTOP the partition leader. Its
// process still accepts connections, so silence is all the survivors see:
// they keep naming it as the leader, without error, and nobody fences it
// (the session timeout is 60 s). After SIGCONT it still leads.
func TestStoppedLeaderKeepsItsSession(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "60s")
	leader := c.createRF3("stopped")
	survivor := (leader + 1) % 3
	c.Procs[leader].Pause(t)
	// Well beyond what a killed leader takes (transport redials after
	// 50-100 and 100-200 ms, liveness checks every 100 ms).
	until := time.Now().Add(2 * time.Second)
	polls := 0
	for time.Now().Before(until) {
		p, err := c.partition(survivor, "stopped")
		if err != nil {
			t.Fatalf("metadata from node %d: %v", survivor+1, err)
		}
		if p.ErrorCode != 0 || int(p.Leader-1) != leader {
			t.Fatalf("node %d answered leader %d, error %d while leader %d was only stopped", survivor+1, p.Leader, p.ErrorCode, leader+1)
		}
		polls++
		time.Sleep(50 * time.Millisecond) // pacing the polls of a window, not waiting for a condition
	}
	c.Procs[leader].Resume(t)
	p := c.waitPartition(survivor, "stopped", 10*time.Second, "the resumed leader with a full ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.ErrorCode == 0 && len(p.ISR) == 3
	})
	if int(p.Leader-1) != leader {
		t.Fatalf("leader %d after SIGCONT, want %d (it was never fenced)", p.Leader, leader+1)
	}
	t.Logf("%d polls while stopped named leader %d", polls, leader+1)
}
