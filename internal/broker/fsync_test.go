package broker_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestDoctorFaultSlowFollowerDisk: every fsync of one follower takes
// 200 ms under an acks=all stream (bench/chaos's slow-fsync fault). The
// ISR stays full and nothing fails; the node's measured fsync latency is
// what shows it: doctor names DISK_SLOW of that follower while the delay
// lasts, and nothing once the disk is fast again. The node's fsync
// histogram counts the slow passes.
func TestDoctorFaultSlowFollowerDisk(t *testing.T) {
	var delay [3]atomic.Int64
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		id := cfg.NodeID
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminHandler = server.HandlerFor(cfg.Logger, "")
		broker.SetBeforeFsyncForTest(cfg, func() error {
			time.Sleep(time.Duration(delay[id-1].Load()))
			return nil
		})
	})
	c.StartAll()
	urls := adminURLs(c)
	leader := createRF3(t, c, "slowf", nil)
	s := startStream(t, c.KafkaAddrs(), "slowf")
	defer s.finish()
	testharness.Eventually(t, 20*time.Second, "200 acks", func() bool { return s.count() >= 200 })

	follower := int(leader) % 3 // the index of the node after the leader
	id := int32(follower + 1)
	delay[follower].Store(int64(200 * time.Millisecond))
	ctx := testharness.Context(t, time.Minute)
	var l doctorLook
	testharness.Eventually(t, 20*time.Second, fmt.Sprintf("DISK_SLOW of node %d", id), func() bool {
		l = lookAt(ctx, t, urls)
		_, ok := l.cause(diagnose.CauseDiskSlow, id)
		return ok
	}, l.String)
	cause, _ := l.cause(diagnose.CauseDiskSlow, id)
	if m, _ := cause.Evidence["fsync_median_seconds"].(float64); m < 0.2 {
		t.Errorf("median fsync %v s under a 200 ms delay", cause.Evidence["fsync_median_seconds"])
	}
	if !strings.Contains(cause.Message, fmt.Sprintf("node %d's disk is slow", id)) {
		t.Errorf("message %q", cause.Message)
	}
	for _, n := range l.view.Nodes {
		if n.NodeID != id && n.Node != nil && n.Node.Fsync != nil && n.Node.Fsync.MedianSeconds >= 0.2 {
			t.Errorf("node %d without a delay reports %+v", n.NodeID, *n.Node.Fsync)
		}
	}
	raftTimed := false
	for _, n := range l.view.Nodes {
		if n.Node == nil || n.Node.Fsync == nil || n.Node.RaftFsync == nil {
			t.Fatalf("node %d reports no fsync latency: %+v", n.NodeID, n.Node)
		}
		raftTimed = raftTimed || n.Node.RaftFsync.Passes > 0
	}
	if !raftTimed {
		t.Error("no node timed a raft store write, seconds after the topic was created")
	}
	t.Logf("doctor while node %d's fsyncs take 200 ms:\n%s", id, l)

	rec := httptest.NewRecorder()
	c.Nodes[follower].MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "chronik_log_fsync_duration_seconds_count") ||
		strings.Contains(body, `chronik_log_fsync_duration_seconds_bucket{le="+Inf"} 0`) {
		t.Errorf("no fsync histogram, or an empty one:\n%s", grepLines(body, "chronik_log_fsync"))
	}

	// The disk recovers: fast passes push the slow ones out.
	delay[follower].Store(0)
	testharness.Eventually(t, 40*time.Second, "no DISK_SLOW once fsyncs are fast", func() bool {
		l = lookAt(ctx, t, urls)
		_, ok := l.cause(diagnose.CauseDiskSlow, -1)
		return !ok
	}, l.String)
}

// grepLines are the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
