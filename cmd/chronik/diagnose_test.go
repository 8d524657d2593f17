package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// root builds the tree with the cluster commands' run functions replaced.
func diagnoseRoot(e *testEnv, isr func(*ISRDescribeOptions) error, status func(*ClusterStatusOptions) error, doctor func(*DoctorOptions) error) *cobra.Command {
	root := NewCmdRoot(e.f)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "isr", "cluster", "doctor":
			root.RemoveCommand(c)
		}
	}
	isrCmd := &cobra.Command{Use: "isr"}
	isrCmd.AddCommand(NewCmdISRDescribe(e.f, isr))
	clusterCmd := &cobra.Command{Use: "cluster"}
	clusterCmd.AddCommand(NewCmdClusterStatus(e.f, status))
	root.AddCommand(isrCmd, clusterCmd, NewCmdDoctor(e.f, doctor))
	return root
}

func TestClusterCommandsParseFlags(t *testing.T) {
	e := newTestEnv(t)
	var isr *ISRDescribeOptions
	var st *ClusterStatusOptions
	root := diagnoseRoot(e, func(o *ISRDescribeOptions) error { isr = o; return nil },
		func(o *ClusterStatusOptions) error { st = o; return nil }, nil)
	root.SetArgs([]string{"isr", "describe", "orders", "pay", "--under-replicated", "--stalled", "-v", "--node", "3",
		"--admin", "h1:9644,http://h2:9644/", "--timeout", "2s", "-o", "json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	want := diagnose.ISRFilter{Topics: []string{"orders", "pay"}, Node: 3, UnderReplicated: true, Stalled: true}
	if isr.Filter.Node != want.Node || !isr.Filter.UnderReplicated || !isr.Filter.Stalled || isr.Filter.AtMinISR ||
		strings.Join(isr.Filter.Topics, ",") != "orders,pay" || !isr.Verbose || isr.Timeout != 2*time.Second ||
		isr.Output != OutputJSON || strings.Join(isr.Admins, ",") != "http://h1:9644,http://h2:9644" {
		t.Fatalf("isr describe options %+v", isr)
	}
	root.SetArgs([]string{"cluster", "status", "--exit-when-healthy", "--interval", "1s"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !st.ExitWhenHealthy || st.Interval != time.Second || st.Admins[0] != client.DefaultURL {
		t.Fatalf("cluster status options %+v", st)
	}
}

func TestClusterCommandsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"isr", "describe", "-o", "xml"},
		{"isr", "describe", "--timeout", "0s"},
		{"isr", "describe", "--node", "-1"},
		{"isr", "describe", "--admin", "ftp://h:1"},
		{"cluster", "status", "--interval", "100ms"},
		{"cluster", "status", "extra"},
		{"doctor", "--output", "csv"},
		{"doctor", "--nope"},
	} {
		e := newTestEnv(t)
		if code := e.run(t, args...); code != exitUsage {
			t.Errorf("chronik %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), code, exitUsage, e.errOut.String())
		}
		if n := strings.Count(e.errOut.String(), "Error:"); n != 1 {
			t.Errorf("chronik %s: %d error lines: %q", strings.Join(args, " "), n, e.errOut.String())
		}
	}
}

func TestDoctorWithNoNodeAnswering(t *testing.T) {
	e := newTestEnv(t)
	code := e.run(t, "doctor", "--admin", "http://127.0.0.1:1", "--timeout", "1s")
	if code != exitError || !strings.Contains(e.errOut.String(), "no node answered") ||
		!strings.Contains(e.errOut.String(), "connection refused") {
		t.Fatalf("exit %d, stderr %q", code, e.errOut.String())
	}
}
