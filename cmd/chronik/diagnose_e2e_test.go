package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// The operator tools against a live three-process cluster: the real
// binary, asked through one node's admin address.

// runTool runs `chronik args...` and returns stdout, stderr, the exit
// code and how long it took.
func runTool(t *testing.T, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chronikBinary(t), args...)
	cmd.Env = append(cmd.Environ(), "CHRONIK_PROFILE=", "XDG_CONFIG_HOME="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chronik %v: %v", args, err)
	}
	return out.String(), errOut.String(), code, took
}

func toolJSON[T any](t *testing.T, wantCodes []int, args ...string) (T, time.Duration) {
	t.Helper()
	var v T
	out, errOut, code, took := runTool(t, args...)
	if !slices.Contains(wantCodes, code) {
		t.Fatalf("chronik %s: exit %d, want %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCodes, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("chronik %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v, took
}

func (c *procCluster) adminURL(i int) string { return "http://" + c.Procs[i].Admin }

// createTopicRF3 creates a replicated topic with the given configs.
func (c *procCluster) createTopicRF3(topic string, partitions int32, configs map[string]*string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(c.client()).CreateTopic(ctx, partitions, 3, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("create %s: %v", topic, err)
	}
}

func findingFor(rep diagnose.DoctorReport, code string, node int32) (api.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Code == code && (node < 0 || f.Node != nil && *f.Node == node) {
			return f, true
		}
	}
	return api.Finding{}, false
}

// TestToolsWithOneNodeDown: kill -9 one node; every tool still answers
// within 3 s through the others, names the node NODE_UNREACHABLE, and
// isr describe shows its partitions UNDER_REPLICATED with the ISR the
// controller committed (without it).
func TestToolsWithOneNodeDown(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "1s")
	c.createTopicRF3("orders", 3, nil)
	c.Procs[2].Kill(t)
	a := c.adminURL(0)

	var rep diagnose.ISRReport
	// Each look runs the binary.
	testharness.EventuallyEvery(t, 15*time.Second, 100*time.Millisecond, "isr describe showing every partition UNDER_REPLICATED with ISR [1 2]", func() bool {
		var took time.Duration
		rep, took = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a, "-o", "json")
		if took > 3*time.Second {
			t.Errorf("isr describe took %v with a node down", took)
		}
		done := len(rep.Partitions) == 3
		for _, p := range rep.Partitions {
			done = done && p.Status == api.StatusUnderReplicated && slices.Equal(sortedIDs(p.ISR), []int32{1, 2})
		}
		return done
	}, func() string { return fmt.Sprintf("partitions %+v", rep.Partitions) })
	if len(rep.Unreachable) != 1 || rep.Unreachable[0].NodeID != 3 {
		t.Fatalf("unreachable nodes %+v, want node 3", rep.Unreachable)
	}
	_, errOut, _, _ := runTool(t, "isr", "describe", "--admin", a)
	if !strings.Contains(errOut, "NODE_UNREACHABLE node 3") {
		t.Errorf("isr describe's stderr does not name node 3: %q", errOut)
	}

	st, took := toolJSON[diagnose.ClusterStatus](t, []int{0}, "cluster", "status", "--admin", a, "-o", "json")
	if took > 3*time.Second {
		t.Errorf("cluster status took %v", took)
	}
	states := map[int32]string{}
	for _, b := range st.Brokers {
		states[b.ID] = b.State
	}
	if states[1] != "up" || states[2] != "up" || states[3] != "unreachable" || st.Healthy {
		t.Errorf("cluster status brokers %v healthy %v", states, st.Healthy)
	}

	doc, took := toolJSON[diagnose.DoctorReport](t, []int{3}, "doctor", "--admin", a, "-o", "json")
	if took > 3*time.Second {
		t.Errorf("doctor took %v", took)
	}
	if _, ok := findingFor(doc, diagnose.CodeNodeUnreachable, 3); !ok || doc.ExitCode != 3 {
		t.Errorf("doctor findings %+v, exit %d", doc.Findings, doc.ExitCode)
	}
}

func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestToolsSeeAPausedFollower: SIGSTOP a follower (session timeout longer
// than the test, so only the lag rule acts); within the lag time plus one
// refresh, isr describe --stalled and doctor name the follower, its
// partition and its lag; after SIGCONT both clear.
func TestToolsSeeAPausedFollower(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "60s", "--replica-lag-time-max", "2s")
	leader := c.createRF3("lagging")
	s := startStream(t, c, "lagging")
	s.waitAcks(500, 30*time.Second)
	follower := (leader + 1) % 3
	a := c.adminURL(leader)
	c.Procs[follower].Pause(t)
	paused := time.Now()
	defer c.Procs[follower].Resume(t)

	var rep diagnose.ISRReport
	// Each look runs the binary.
	testharness.EventuallyEvery(t, 10*time.Second, 200*time.Millisecond, fmt.Sprintf("isr describe --stalled naming follower %d", follower+1), func() bool {
		// --timeout 2s: the paused node never answers, so each call waits that long.
		rep, _ = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--stalled", "--admin", a, "--timeout", "2s", "-o", "json")
		return len(rep.Partitions) == 1 && slices.Equal(rep.Partitions[0].Stalled, []int32{int32(follower + 1)})
	}, func() string { return fmt.Sprintf("report %+v", rep) })
	t.Logf("STALLED shown %v after SIGSTOP (lag time 2s)", time.Since(paused).Round(time.Millisecond))
	p := rep.Partitions[0]
	if p.Topic != "lagging" || p.Status != api.StatusStalled {
		t.Errorf("stalled row %+v", p)
	}
	doc, _ := toolJSON[diagnose.DoctorReport](t, []int{3, 4}, "doctor", "--admin", a, "-o", "json")
	f, ok := findingFor(doc, diagnose.CodeFollowerStalled, int32(follower+1))
	if !ok || f.Topic != "lagging" || f.Partition == nil || f.Evidence["lag"] == nil {
		t.Fatalf("doctor has no FOLLOWER_STALLED naming node %d, the partition and its lag: %+v", follower+1, doc.Findings)
	}
	// The cause first (the paused node), then with -v every finding.
	out, _, _, _ := runTool(t, "doctor", "-v", "--admin", a, "--timeout", "2s")
	// (warning, or critical once the ISR shrinks to min under the acks=all stream)
	if first, _, _ := strings.Cut(out, "\n"); !strings.Contains(first, fmt.Sprintf("\tNODE_UNREACHABLE\tnode %d\t", follower+1)) ||
		!strings.Contains(out, "FOLLOWER_STALLED") || !strings.Contains(out, "lagging-0") {
		t.Errorf("doctor's table does not show the paused follower's cause and stall:\n%s", out)
	}

	c.Procs[follower].Resume(t)
	resumed := time.Now()
	testharness.EventuallyEvery(t, 20*time.Second, 200*time.Millisecond, "no stalled follower after SIGCONT", func() bool {
		rep, _ = toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--stalled", "--admin", a, "-o", "json")
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "-o", "json")
		_, still := findingFor(doc, diagnose.CodeFollowerStalled, -1)
		return len(rep.Partitions) == 0 && !still
	}, func() string { return fmt.Sprintf("still stalled: %+v %+v", rep.Partitions, doc.Findings) })
	t.Logf("cleared %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
}

// TestDoctorSeesAcksAllWaiting: with a follower paused and a long lag time
// (so it stays in the ISR), acks=all produces wait; doctor reports
// ACKS_ALL_WAITING with their count and the oldest one's age.
func TestDoctorSeesAcksAllWaiting(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "60s", "--replica-lag-time-max", "30s")
	leader := c.createRF3("waiting")
	follower := (leader + 1) % 3
	c.Procs[follower].Pause(t)
	defer c.Procs[follower].Resume(t)

	// Not idempotent: InitProducerId could go to the paused node and hang.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Procs[leader].Kafka), kgo.DefaultProduceTopic("waiting"),
		kgo.ProduceRequestTimeout(20*time.Second), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 5)
	for i := range 5 {
		cl.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, func(_ *kgo.Record, err error) { produced <- err })
	}
	a := c.adminURL(leader)
	var doc diagnose.DoctorReport
	// Each look runs the binary.
	testharness.EventuallyEvery(t, 15*time.Second, 200*time.Millisecond, "an ACKS_ALL_WAITING finding", func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "--timeout", "2s", "-o", "json")
		if f, ok := findingFor(doc, diagnose.CodeAcksAllWaiting, -1); ok {
			count, _ := f.Evidence["acks_all_waiting"].(float64)
			oldest, _ := f.Evidence["acks_all_oldest_wait_seconds"].(float64)
			if f.Topic != "waiting" || count < 1 || oldest <= 1 {
				t.Fatalf("ACKS_ALL_WAITING %+v", f)
			}
			t.Logf("ACKS_ALL_WAITING: %v waiting, oldest %.1fs", count, oldest)
			// The waiters' cause is the paused follower they wait for.
			i := slices.IndexFunc(doc.Findings, func(g api.Finding) bool { return g.Code == diagnose.CodeAcksAllWaiting })
			for _, c := range doc.Causes {
				if slices.Contains(c.Findings, i) {
					if c.Code != diagnose.CauseNodeUnreachable || c.Node == nil || *c.Node != int32(follower+1) {
						t.Fatalf("ACKS_ALL_WAITING is under %s %v, want NODE_UNREACHABLE of paused node %d: %+v", c.Code, c.Node, follower+1, doc.Causes)
					}
					return true
				}
			}
			t.Fatalf("ACKS_ALL_WAITING under no cause: %+v", doc.Causes)
			return true
		}
		select {
		case err := <-produced:
			t.Fatalf("an acks=all produce finished with a follower paused: %v", err)
		default:
		}
		return false
	}, func() string {
		out, _, _, _ := runTool(t, "isr", "describe", "-v", "--admin", a, "--timeout", "1s")
		return fmt.Sprintf("findings %+v\n%s", doc.Findings, out)
	})
	// The partition as isr describe shows it meanwhile: its leader's
	// numbers, the waiting produces, the paused replica unreachable.
	isr, _ := toolJSON[diagnose.ISRReport](t, []int{0}, "isr", "describe", "--admin", a, "--timeout", "2s", "-o", "json")
	if len(isr.Partitions) != 1 || isr.Partitions[0].AcksAllWaiting < 1 || isr.Partitions[0].HighWatermark < 0 ||
		!slices.Contains(isr.Partitions[0].Unreachable, int32(follower+1)) {
		t.Errorf("partition while acks=all waits: %+v", isr.Partitions)
	} else {
		t.Logf("partition while acks=all waits: status %s, %d waiting, unreachable %v", isr.Partitions[0].Status,
			isr.Partitions[0].AcksAllWaiting, isr.Partitions[0].Unreachable)
	}
}
