package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// Faults injected into a real in-process cluster, and what `chronik
// doctor` (the same gather, rules and correlation) names as their cause
// while they last, with the partition states `isr describe` shows.

// doctorLook is one gather and everything the cluster commands build from it.
type doctorLook struct {
	view   api.ClusterView
	doctor diagnose.DoctorReport
	rows   []api.PartitionRow
	status diagnose.ClusterStatus
}

func lookAt(ctx context.Context, t *testing.T, urls []string) doctorLook {
	t.Helper()
	httpc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer httpc.CloseIdleConnections()
	v := client.Gather(ctx, httpc, urls, time.Second)
	l := doctorLook{view: v, doctor: diagnose.BuildDoctorReport(v), rows: diagnose.MergePartitions(v)}
	l.status = diagnose.BuildClusterStatus(v, l.doctor.Findings)
	return l
}

// cause is the report's cause with code about node (-1: any node).
func (l doctorLook) cause(code string, node int32) (api.Cause, bool) {
	for _, c := range l.doctor.Causes {
		if c.Code == code && (node < 0 || c.Node != nil && *c.Node == node) {
			return c, true
		}
	}
	return api.Cause{}, false
}

func (l doctorLook) String() string {
	var b strings.Builder
	for _, c := range l.doctor.Causes {
		fmt.Fprintf(&b, "cause %s %s %s: %s; effects %q; findings %v\n", c.Severity, c.Code, nodeText(c.Node), c.Message, c.Effects, c.Findings)
	}
	b.WriteString(findingsText(l.doctor.Findings))
	for _, r := range l.rows {
		fmt.Fprintf(&b, "%s-%d leader %d isr %v %s\n", r.Topic, r.Partition, r.Leader, r.ISR, r.Status)
	}
	return b.String()
}

func nodeText(id *int32) string {
	if id == nil {
		return "-"
	}
	return fmt.Sprint(*id)
}

// adminURLs are the admin URLs of the running nodes.
func adminURLs(c *inproc.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		if n != nil {
			out = append(out, "http://"+n.Addrs().Admin)
		}
	}
	return out
}

// raftLeaderIndex is the index of the node that leads raft (the controller).
func raftLeaderIndex(t *testing.T, c *inproc.Cluster) int {
	t.Helper()
	idx := -1
	testharness.Eventually(t, 10*time.Second, "a raft leader", func() bool {
		l := lookAt(t.Context(), t, adminURLs(c))
		for _, n := range l.view.Nodes {
			if n.Raft != nil && n.Raft.Role == api.RoleLeader {
				idx = int(n.NodeID) - 1
				return true
			}
		}
		return false
	})
	return idx
}

// otherThan is the first node index not in skip.
func otherThan(skip ...int) int {
	for i := range 3 {
		if !slices.Contains(skip, i) {
			return i
		}
	}
	return -1
}

// TestDoctorFaultKilledFollower: a follower is killed (no controlled
// shutdown, its address refuses). doctor names one cause, NODE_DOWN of
// that node, with the fencing and the partition at min ISR under it; the
// partition shows AT_MIN_ISR (its leader answers) and the cluster is not
// healthy.
func TestDoctorFaultKilledFollower(t *testing.T) {
	c, urls := adminCluster(t)
	leader := createRF3(t, c, "orders", nil)
	ctl := raftLeaderIndex(t, c)
	victim := otherThan(int(leader-1), ctl)
	ctx := testharness.Context(t, time.Minute)
	if err := c.Nodes[victim].CrashForTest(ctx); err != nil {
		t.Fatal(err)
	}
	c.Nodes[victim] = nil
	id := int32(victim + 1)

	var l doctorLook
	testharness.Eventually(t, 15*time.Second, fmt.Sprintf("NODE_DOWN of node %d with the partition at min ISR", id), func() bool {
		l = lookAt(ctx, t, urls)
		cause, ok := l.cause(diagnose.CauseNodeDown, id)
		// One fault, one cause: everything else is under it.
		return ok && len(l.doctor.Causes) == 1 && len(l.rows) == 1 && l.rows[0].Status == api.StatusAtMinISR &&
			slices.Contains(cause.Partitions, "orders-0")
	}, l.String)
	cause, _ := l.cause(diagnose.CauseNodeDown, id)
	if len(cause.Findings) != len(l.doctor.Findings) || cause.Started == "" {
		t.Errorf("cause %+v does not group all %d findings or has no start", cause, len(l.doctor.Findings))
	}
	if l.status.Healthy || l.status.Partitions[api.StatusOK] != 0 {
		t.Errorf("cluster status %+v", l.status)
	}
	t.Logf("doctor while node %d is down:\n%s", id, l)
}

// TestDoctorFaultQuorumLost: the controller and one more voter are killed.
// The survivor knows no raft leader: doctor names RAFT_QUORUM_LOST with the
// two silent voters, and every partition they led is LEADER_UNREACHABLE.
func TestDoctorFaultQuorumLost(t *testing.T) {
	c, urls := adminCluster(t)
	for _, topic := range []string{"a", "b", "c"} {
		createRF3(t, c, topic, nil)
	}
	ctl := raftLeaderIndex(t, c)
	other := otherThan(ctl)
	survivor := otherThan(ctl, other)
	ctx := testharness.Context(t, time.Minute)
	for _, i := range []int{ctl, other} {
		if err := c.Nodes[i].CrashForTest(ctx); err != nil {
			t.Fatal(err)
		}
		c.Nodes[i] = nil
	}
	silent := []int32{int32(min(ctl, other) + 1), int32(max(ctl, other) + 1)}

	var l doctorLook
	testharness.Eventually(t, 15*time.Second, fmt.Sprintf("RAFT_QUORUM_LOST naming voters %v", silent), func() bool {
		l = lookAt(ctx, t, urls)
		cause, ok := l.cause(diagnose.CauseRaftQuorumLost, -1)
		return ok && slices.Equal(cause.Nodes, silent)
	}, l.String)
	if l.doctor.Causes[0].Code != diagnose.CauseRaftQuorumLost || l.doctor.ExitCode != 4 {
		t.Errorf("quorum loss is not the first cause, or exit %d:\n%s", l.doctor.ExitCode, l)
	}
	if len(l.rows) != 3 {
		t.Fatalf("rows:\n%s", l)
	}
	for _, r := range l.rows {
		if r.Leader != int32(survivor+1) && r.Status != api.StatusLeaderUnreachable {
			t.Errorf("%s-%d led by silent node %d shows %s", r.Topic, r.Partition, r.Leader, r.Status)
		}
	}
	if l.status.Healthy {
		t.Error("healthy without a quorum")
	}
	t.Logf("doctor without a quorum:\n%s", l)
}

// TestDoctorFaultISRUninitialized: an empty ISR (built with the test-only
// metadata command; the product never makes one) is its own cause, with
// the partition's other findings under it, and the partition shows
// ISR_UNINITIALIZED.
func TestDoctorFaultISRUninitialized(t *testing.T) {
	c, urls := adminCluster(t)
	leader := createRF3(t, c, "empty-isr", nil)
	ctx := testharness.Context(t, time.Minute)
	if err := c.Nodes[0].SetPartitionForTest(ctx, "empty-isr", 0, leader, []int32{}); err != nil {
		t.Fatal(err)
	}
	var l doctorLook
	testharness.Eventually(t, 10*time.Second, "an ISR_UNINITIALIZED cause", func() bool {
		l = lookAt(ctx, t, urls)
		_, ok := l.cause(diagnose.CauseISRUninitialized, -1)
		return ok && len(l.rows) == 1 && l.rows[0].Status == api.StatusISRUninitialized
	}, l.String)
	cause, _ := l.cause(diagnose.CauseISRUninitialized, -1)
	if len(l.doctor.Causes) != 1 || !slices.Equal(cause.Partitions, []string{"empty-isr-0"}) || cause.Severity != api.SeverityCritical {
		t.Errorf("causes:\n%s", l)
	}
}

// TestDoctorFaultCutFromController: all cluster traffic goes through
// proxies (each node's own address, and each node's way to each peer), so
// one node's cluster links can be cut both ways while it runs and answers
// its admin API (and Kafka clients). Its heartbeats stop reaching the
// controller, which fences it: doctor names NODE_PARTITIONED for it, not
// a down node, and the partition is at min ISR without it, for as long as
// the cut lasts; after healing, no cause is left.
func TestDoctorFaultCutFromController(t *testing.T) {
	const n = 3
	in := make([]string, n)    // where peers reach node i (its advertised address)
	out := make([][]string, n) // out[i][j]: where node i reaches node j
	for i := range n {
		in[i] = testharness.FreeAddr(t)
		out[i] = make([]string, n)
		for j := range n {
			if j != i {
				out[i][j] = testharness.FreeAddr(t)
			}
		}
	}
	c := inproc.NewCluster(t, n, func(cfg *broker.Config) {
		i := int(cfg.NodeID - 1)
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminHandler = server.HandlerFor(cfg.Logger, "")
		cfg.AdvertiseClusterAddr = in[i]
		cfg.InitialClusterToken = "doctor-cut-test" // the nodes' --peers differ
		for id := range cfg.Peers {
			if j := int(id - 1); j == i {
				cfg.Peers[id] = in[i]
			} else {
				cfg.Peers[id] = out[i][j]
			}
		}
	})
	inProxy := make([]*testharness.Proxy, n)
	outProxy := make([][]*testharness.Proxy, n)
	for i := range n {
		inProxy[i] = testharness.StartProxy(t, in[i], c.Cfgs[i].ClusterAddr)
		outProxy[i] = make([]*testharness.Proxy, n)
		for j := range n {
			if j != i {
				outProxy[i][j] = testharness.StartProxy(t, out[i][j], in[j])
			}
		}
	}
	c.StartAll()
	urls := adminURLs(c)
	createRF3(t, c, "orders", nil)
	ctl := raftLeaderIndex(t, c)
	cut := otherThan(ctl)
	id := int32(cut + 1)
	ctx := testharness.Context(t, time.Minute)
	links := []*testharness.Proxy{inProxy[cut]}
	for j, p := range outProxy[cut] {
		if j != cut {
			links = append(links, p)
		}
	}
	for _, p := range links {
		p.Cut()
	}
	cutAt := time.Now()

	var l doctorLook
	testharness.Eventually(t, 20*time.Second, fmt.Sprintf("NODE_PARTITIONED of node %d, the partition at min ISR without it", id), func() bool {
		l = lookAt(ctx, t, urls)
		_, ok := l.cause(diagnose.CauseNodePartitioned, id)
		return ok && len(l.rows) == 1 && l.rows[0].Status == api.StatusAtMinISR && !slices.Contains(l.rows[0].ISR, id)
	}, l.String)
	t.Logf("NODE_PARTITIONED after %v", time.Since(cutAt).Round(time.Millisecond))
	// It lasts: later looks say the same.
	for range 3 {
		l = lookAt(ctx, t, urls)
		if _, ok := l.cause(diagnose.CauseNodePartitioned, id); !ok {
			t.Fatalf("the cut is still there but doctor no longer names it:\n%s", l)
		}
		for _, n := range l.view.Nodes {
			if !n.Reachable() {
				t.Errorf("node %d did not answer: %s", n.NodeID, n.Error)
			}
		}
		if _, down := l.cause(diagnose.CauseNodeDown, id); down {
			t.Errorf("a running node named down:\n%s", l)
		}
		if l.status.Healthy || l.rows[0].Status == api.StatusOK {
			t.Errorf("healthy or OK with a node cut off:\n%s", l)
		}
	}
	t.Logf("doctor with node %d cut off from the controller:\n%s", id, l)

	for _, p := range links {
		p.Heal()
	}
	testharness.Eventually(t, 30*time.Second, "no cause after the cut heals", func() bool {
		l = lookAt(ctx, t, urls)
		return len(l.doctor.Causes) == 0
	}, l.String)
}
