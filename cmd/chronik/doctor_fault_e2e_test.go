package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestDoctorNamesAPausedLeader: SIGSTOP the node leading a partition (not
// the controller; the broker session is long, so nothing fails over while
// the test looks). Within a second or two, and while it lasts: isr
// describe shows the partitions it leads LEADER_UNREACHABLE with no HW,
// never OK; cluster status is not healthy; doctor names one cause,
// NODE_UNREACHABLE of that node, with the LEADER_UNREACHABLE findings
// under it, and exits 4. After SIGCONT it all clears.
func TestDoctorNamesAPausedLeader(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "30s")
	c.createTopicRF3("orders", 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
	a0 := c.adminURL(0)
	var isr diagnose.ISRReport
	testharness.EventuallyEvery(t, 10*time.Second, 200*time.Millisecond, "three partitions OK", func() bool {
		isr, _ = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a0, "-o", "json")
		ok := len(isr.Partitions) == 3
		for _, p := range isr.Partitions {
			ok = ok && p.Status == api.StatusOK
		}
		return ok
	}, func() string { return fmt.Sprintf("%+v", isr.Partitions) })
	st, _ := toolJSON[diagnose.ClusterStatus](t, []int{0}, "cluster", "status", "--admin", a0, "-o", "json")
	victim := int32(-1)
	var led []string
	for _, p := range isr.Partitions {
		if p.Leader != st.ControllerID && (victim < 0 || p.Leader == victim) {
			victim = p.Leader
			led = append(led, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
		}
	}
	if victim < 0 {
		t.Fatalf("the controller %d leads every partition: %+v", st.ControllerID, isr.Partitions)
	}
	other := 0
	if victim == 1 {
		other = 1
	}
	a := c.adminURL(other)
	c.Procs[victim-1].Pause(t)
	paused := time.Now()
	defer c.Procs[victim-1].Resume(t)

	testharness.EventuallyEvery(t, 10*time.Second, 100*time.Millisecond, fmt.Sprintf("partitions %v LEADER_UNREACHABLE", led), func() bool {
		isr, _ = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a, "--timeout", "1s", "-o", "json")
		n := 0
		for _, p := range isr.Partitions {
			if p.Leader == victim {
				if p.Status == api.StatusOK {
					t.Fatalf("%s-%d led by paused node %d shown OK", p.Topic, p.Partition, victim)
				}
				if p.Status == api.StatusLeaderUnreachable && p.HighWatermark == -1 {
					n++
				}
			}
		}
		return n == len(led)
	}, func() string { return fmt.Sprintf("%+v", isr.Partitions) })
	t.Logf("LEADER_UNREACHABLE shown %v after SIGSTOP", time.Since(paused).Round(time.Millisecond))

	st, _ = toolJSON[diagnose.ClusterStatus](t, []int{0}, "cluster", "status", "--admin", a, "--timeout", "1s", "-o", "json")
	if st.Healthy || st.Partitions[api.StatusLeaderUnreachable] != len(led) {
		t.Errorf("cluster status with node %d paused: healthy %v partitions %v", victim, st.Healthy, st.Partitions)
	}
	doc, _ := toolJSON[diagnose.DoctorReport](t, []int{4}, "doctor", "--admin", a, "--timeout", "1s", "-o", "json")
	if len(doc.Causes) == 0 {
		t.Fatalf("no cause: %+v", doc)
	}
	cause := doc.Causes[0]
	if cause.Code != diagnose.CauseNodeUnreachable || cause.Node == nil || *cause.Node != victim || cause.Severity != api.SeverityCritical {
		t.Fatalf("first cause %+v, want NODE_UNREACHABLE of node %d", cause, victim)
	}
	for _, p := range led {
		if !slices.Contains(cause.Partitions, p) {
			t.Errorf("cause's partitions %v lack %s", cause.Partitions, p)
		}
	}
	under := 0
	for _, i := range cause.Findings {
		if doc.Findings[i].Code == diagnose.CodeLeaderUnreachable {
			under++
		}
	}
	if under != len(led) {
		t.Errorf("%d LEADER_UNREACHABLE findings under the cause, want %d: %+v", under, len(led), doc)
	}
	// Piped: the cause's row first; -v adds every finding's row after it.
	out, _, code, took := runTool(t, "doctor", "-v", "--admin", a, "--timeout", "1s")
	lines := strings.Split(out, "\n")
	if code != 4 || !strings.HasPrefix(lines[0], fmt.Sprintf("critical\tNODE_UNREACHABLE\tnode %d\t", victim)) ||
		!strings.Contains(lines[0], "kill -CONT") || strings.Count(out, "LEADER_UNREACHABLE") != len(led) {
		t.Errorf("doctor -v exit %d:\n%s", code, out)
	}
	t.Logf("chronik doctor, %v after SIGSTOP of node %d (took %v):\n%s", time.Since(paused).Round(100*time.Millisecond), victim, took.Round(10*time.Millisecond), out)

	c.Procs[victim-1].Resume(t)
	testharness.EventuallyEvery(t, 20*time.Second, 200*time.Millisecond, "doctor clear after SIGCONT", func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "-o", "json")
		return doc.ExitCode == 0 && len(doc.Causes) == 0
	}, func() string { return fmt.Sprintf("%+v", doc.Causes) })
}
