package broker_test

import (
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

// adminCluster is a three-node cluster whose nodes serve the real admin
// API, with test-only metadata commands enabled.
func adminCluster(t *testing.T) (*inproc.Cluster, []string) {
	t.Helper()
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.AdminAddr = "127.0.0.1:0"
		cfg.AdminHandler = server.HandlerFor(cfg.Logger, "")
		broker.WithTestCommands(cfg)
	})
	c.StartAll()
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, "http://"+n.Addrs().Admin)
	}
	return c, urls
}

// findingsText lists findings one a line, for test failures.
func findingsText(fs []api.Finding) string {
	if len(fs) == 0 {
		return "no findings\n"
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s %s %s: %s; evidence %v; next: %s\n", f.Severity, f.Code, f.Where(), f.Message, f.Evidence, f.NextStep)
	}
	return b.String()
}

func findingOf(rep diagnose.DoctorReport, code, topic string) (api.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Code == code && f.Topic == topic {
			return f, true
		}
	}
	return api.Finding{}, false
}

// TestDoctorReportsBrokenISRs: a partition with an empty ISR and one whose
// leader is outside its ISR (built through a test-only metadata command,
// since the product never creates either) are reported as critical
// ISR_UNINITIALIZED and LEADER_NOT_IN_ISR findings naming the partition,
// by asking only one node's admin API (the others are discovered).
func TestDoctorReportsBrokenISRs(t *testing.T) {
	c, urls := adminCluster(t)
	emptyLeader := createRF3(t, c, "empty-isr", nil)
	outLeader := createRF3(t, c, "outside", nil)
	ctx := testharness.Context(t, 30*time.Second)
	if err := c.Nodes[0].SetPartitionForTest(ctx, "empty-isr", 0, emptyLeader, []int32{}); err != nil {
		t.Fatal(err)
	}
	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != outLeader {
			others = append(others, id)
		}
	}
	if err := c.Nodes[0].SetPartitionForTest(ctx, "outside", 0, outLeader, others); err != nil {
		t.Fatal(err)
	}
	httpc := &http.Client{Transport: &http.Transport{}}
	defer httpc.CloseIdleConnections()
	var rep diagnose.DoctorReport
	testharness.Eventually(t, 10*time.Second, "both findings", func() bool {
		view := client.Gather(ctx, httpc, urls[:1], 3*time.Second)
		if len(view.Nodes) != 3 {
			t.Fatalf("discovered %d nodes from one URL", len(view.Nodes))
		}
		rep = diagnose.BuildDoctorReport(view)
		_, a := findingOf(rep, diagnose.CodeISRUninitialized, "empty-isr")
		_, b := findingOf(rep, diagnose.CodeLeaderNotInISR, "outside")
		return a && b
	}, func() string { return findingsText(rep.Findings) })
	f, _ := findingOf(rep, diagnose.CodeISRUninitialized, "empty-isr")
	if f.Severity != api.SeverityCritical || f.Partition == nil || *f.Partition != 0 || rep.ExitCode != 4 {
		t.Fatalf("finding %+v, exit code %d", f, rep.ExitCode)
	}
	g, _ := findingOf(rep, diagnose.CodeLeaderNotInISR, "outside")
	if g.Severity != api.SeverityCritical || !slices.Contains(g.SeenBy, int32(1)) {
		t.Fatalf("finding %+v", g)
	}
	// isr describe shows both as ISR_UNINITIALIZED.
	for _, r := range diagnose.BuildISRReport(client.Gather(ctx, httpc, urls, 3*time.Second), diagnose.ISRFilter{Topics: []string{"empty-isr", "outside"}}).Partitions {
		if r.Status != api.StatusISRUninitialized {
			t.Errorf("%s-%d: status %s", r.Topic, r.Partition, r.Status)
		}
	}
}

// TestDoctorQuietOnAHealthyClusterUnderLoad: no finding, not even a
// warning, while an acks=all stream runs on a healthy cluster.
func TestDoctorQuietOnAHealthyClusterUnderLoad(t *testing.T) {
	c, urls := adminCluster(t)
	createRF3(t, c, "busy", nil)
	s := startStream(t, c.KafkaAddrs(), "busy")
	testharness.Eventually(t, 20*time.Second, "acks flowing", func() bool { return s.count() >= 2000 })
	httpc := &http.Client{Transport: &http.Transport{}}
	defer httpc.CloseIdleConnections()
	ctx := testharness.Context(t, 30*time.Second)
	for range 5 {
		rep := diagnose.BuildDoctorReport(client.Gather(ctx, httpc, urls, 3*time.Second))
		if len(rep.Findings) != 0 || rep.ExitCode != 0 {
			t.Fatalf("findings on a healthy cluster under load:\n%s", findingsText(rep.Findings))
		}
		before := s.count()
		testharness.Eventually(t, 10*time.Second, "more acks", func() bool { return s.count() > before+200 })
	}
}
