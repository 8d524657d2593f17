package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

func TestISRReportAndTable(t *testing.T) {
	v := admintest.LoadView(t, "node-down.json")
	rep := diagnose.BuildISRReport(v, diagnose.ISRFilter{})
	if len(rep.Partitions) != 3 || len(rep.Unreachable) != 1 || rep.Unreachable[0].NodeID != 3 {
		t.Fatalf("report %+v", rep)
	}
	if got := diagnose.BuildISRReport(v, diagnose.ISRFilter{UnderMinISR: true}); len(got.Partitions) != 0 {
		t.Errorf("--under-min-isr matched %d", len(got.Partitions))
	}
	if got := diagnose.BuildISRReport(v, diagnose.ISRFilter{AtMinISR: true, Topics: []string{"orders"}}); len(got.Partitions) != 3 {
		t.Errorf("--at-min-isr orders matched %d", len(got.Partitions))
	}
	if got := diagnose.BuildISRReport(v, diagnose.ISRFilter{Topics: []string{"nope"}}); len(got.Partitions) != 0 {
		t.Errorf("unknown topic matched %d", len(got.Partitions))
	}

	var piped strings.Builder
	if err := RenderISRTable(&piped, rep, false, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(piped.String()), "\n")
	if len(lines) != 3 || strings.Contains(piped.String(), "TOPIC") || len(strings.Split(lines[0], "\t")) != 9 {
		t.Fatalf("piped table:\n%s", piped.String())
	}
	var tty strings.Builder
	if err := RenderISRTable(&tty, rep, true, TableOptions{TTY: true, Color: true}); err != nil {
		t.Fatal(err)
	}
	out := tty.String()
	if !strings.Contains(out, "TOPIC") || !strings.Contains(out, "LAST FETCH") || !strings.Contains(out, "▲ AT_MIN_ISR") ||
		!strings.Contains(out, "\x1b[33m") {
		t.Fatalf("tty table:\n%s", out)
	}
	var none strings.Builder
	_ = RenderISRTable(&none, diagnose.ISRReport{}, false, TableOptions{TTY: true})
	if none.String() != "no partitions match\n" {
		t.Errorf("empty tty table %q", none.String())
	}
}

func TestClusterStatusAndDoctorRendering(t *testing.T) {
	v := admintest.LoadView(t, "node-down.json")
	fs := diagnose.Run(v)
	st := diagnose.BuildClusterStatus(v, fs)
	if st.Healthy || st.ControllerID < 0 || len(st.Brokers) != 3 || st.Partitions[api.StatusAtMinISR] != 3 || st.Findings[api.SeverityWarning] == 0 {
		t.Fatalf("status %+v", st)
	}
	var b strings.Builder
	if err := RenderClusterStatus(&b, st, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "NOT HEALTHY") || !strings.Contains(b.String(), "3 AT_MIN_ISR") {
		t.Fatalf("cluster status:\n%s", b.String())
	}

	rep := diagnose.BuildDoctorReport(v)
	// Critical although every finding is a warning: the partitions at min
	// ISR have acks=all producers waiting, one loss from refused writes.
	if rep.ExitCode != 4 || len(rep.Findings) == 0 {
		t.Fatalf("doctor %+v", rep)
	}
	out := RenderFindingsString(rep.Findings)
	if !strings.Contains(out, "WARNING") || !strings.Contains(out, "next: ") || !strings.Contains(out, "evidence: ") {
		t.Fatalf("findings:\n%s", out)
	}
	var piped strings.Builder
	_ = RenderFindings(&piped, rep.Findings, TableOptions{})
	if strings.Count(piped.String(), "\n") != len(rep.Findings) {
		t.Fatalf("piped findings:\n%s", piped.String())
	}
	healthy := diagnose.BuildDoctorReport(admintest.LoadView(t, "healthy.json"))
	if healthy.ExitCode != 0 || RenderFindingsString(healthy.Findings) != "✓ no findings: the cluster looks healthy\n" {
		t.Fatalf("healthy doctor %+v", healthy)
	}
}

// A paused leader's partition is LEADER_UNREACHABLE in isr describe (its
// own mark and colour, HW -) and in cluster status, which is not healthy.
func TestLeaderUnreachableRendering(t *testing.T) {
	v := admintest.LoadView(t, "leader-paused.json")
	rep := diagnose.BuildISRReport(v, diagnose.ISRFilter{})
	var tty strings.Builder
	if err := RenderISRTable(&tty, rep, false, TableOptions{TTY: true, Color: true}); err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(tty.String(), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "orders" && f[1] == "1" {
			row = l
		}
	}
	if !strings.Contains(row, "2 (unreachable)") || !strings.Contains(row, "\x1b[35m? LEADER_UNREACHABLE") ||
		strings.Contains(row, "OK") || !strings.Contains(row, " - ") {
		t.Errorf("orders-1 row %q in\n%s", row, tty.String())
	}
	if got := diagnose.BuildISRReport(v, diagnose.ISRFilter{Unavailable: true}); len(got.Partitions) != 1 || got.Partitions[0].Partition != 1 {
		t.Errorf("--unavailable matched %+v", got.Partitions)
	}
	st := diagnose.BuildClusterStatus(v, diagnose.Run(v))
	var b strings.Builder
	if err := RenderClusterStatus(&b, st, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); st.Healthy || !strings.Contains(out, "partitions: 2 OK, 1 LEADER_UNREACHABLE") || !strings.Contains(out, "NOT HEALTHY") {
		t.Errorf("cluster status healthy=%v:\n%s", st.Healthy, out)
	}
}

// doctor prints the cause first: one NODE_DOWN for node 3, its effects
// grouped ("3 partitions at min ISR"), one next step, and the codes of the
// six findings under it; -v adds every finding with its evidence.
func TestRenderDoctorCausesFirst(t *testing.T) {
	rep := diagnose.BuildDoctorReport(admintest.LoadView(t, "node-down.json"))
	var b strings.Builder
	if err := RenderDoctor(&b, rep, false, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"CRITICAL  NODE_DOWN  node 3", "3 partitions at min ISR: one more loss refuses acks=all",
		"next: start node 3 again", "findings: AT_MIN_ISR ×3, BROKER_FENCED, NODE_UNREACHABLE, RAFT_FOLLOWER_BEHIND",
		"6 findings under 1 cause;"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "next: ") != 1 || strings.Contains(out, "evidence: ") {
		t.Errorf("one next step and no evidence without -v:\n%s", out)
	}
	b.Reset()
	_ = RenderDoctor(&b, rep, true, TableOptions{TTY: true})
	if out := b.String(); strings.Count(out, "next: ") != 1+len(rep.Findings) || !strings.Contains(out, "FINDINGS (6)") {
		t.Errorf("-v:\n%s", out)
	}
	var piped strings.Builder
	_ = RenderDoctor(&piped, rep, false, TableOptions{})
	if lines := strings.Split(strings.TrimSpace(piped.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "critical\tNODE_DOWN\tnode 3\t") {
		t.Errorf("piped:\n%s", piped.String())
	}
	piped.Reset()
	_ = RenderDoctor(&piped, rep, true, TableOptions{})
	if n := strings.Count(piped.String(), "\n"); n != 1+1+len(rep.Findings) {
		t.Errorf("piped -v has %d lines:\n%s", n, piped.String())
	}
}

// cluster status shows a RACK column only when some broker has a rack, and
// a dash for one without.
func TestClusterStatusRackColumn(t *testing.T) {
	v := admintest.LoadView(t, "healthy.json")
	render := func() string {
		var b strings.Builder
		if err := RenderClusterStatus(&b, diagnose.BuildClusterStatus(v, nil), TableOptions{TTY: true}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if out := render(); strings.Contains(out, "RACK") {
		t.Fatalf("RACK column without racks:\n%s", out)
	}
	for i := range v.Nodes {
		if v.Nodes[i].Brokers == nil {
			continue
		}
		for j := range v.Nodes[i].Brokers.Brokers {
			if b := &v.Nodes[i].Brokers.Brokers[j]; b.ID != 3 {
				b.Rack = fmt.Sprintf("rack-%d", b.ID)
			}
		}
	}
	out := render()
	lines := strings.Split(out, "\n")
	if f := strings.Fields(lines[0]); len(f) < 5 || f[4] != "RACK" {
		t.Fatalf("header %q", lines[0])
	}
	for _, l := range lines[1:4] {
		f := strings.Fields(l)
		want := map[string]string{"1": "rack-1", "2": "rack-2", "3": "-"}[f[0]]
		if !slices.Contains(f, want) {
			t.Errorf("broker row %q lacks rack %q", l, want)
		}
	}
}
