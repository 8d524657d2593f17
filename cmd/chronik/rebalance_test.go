package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/rebalance"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// samplePlan: three partitions of rf 2 all on brokers 1 and 2 (rack a),
// broker 3 (rack b) empty: every partition needs a replica in rack b, so
// broker 3 takes three and rack a keeps three.
func samplePlan(t *testing.T) rebalance.Plan {
	t.Helper()
	brokers := []rebalance.Broker{{ID: 1, Rack: "a", Live: true}, {ID: 2, Rack: "a", Live: true}, {ID: 3, Rack: "b", Live: true}}
	var parts []rebalance.Partition
	for p := int32(0); p < 3; p++ {
		rs := []int32{1 + p%2, 2 - p%2}
		parts = append(parts, rebalance.Partition{Topic: "orders", Partition: p, Replicas: rs, Leader: rs[0], ISR: rs})
	}
	plan, err := rebalance.Compute(brokers, parts, rebalance.Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestRenderRebalancePlan(t *testing.T) {
	plan := samplePlan(t)
	var b strings.Builder
	if err := RenderRebalancePlan(&b, plan, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	want := `PARTITION  FROM  TO   COPIES
orders/0   1,2   3,1  1
orders/1   2,1   2,3  1
orders/2   1,2   1,3  1

BROKER  RACK  STATE  REPLICAS  PREFERRED LEADERS
1       a     up     3 → 2     2 → 1
2       a     up     3 → 1     1 → 1
3       b     up     0 → 3     0 → 1

3 partitions move, 3 replicas copied, in 2 batches of at most 2
racks: every partition's replicas are spread over racks
`
	if b.String() != want {
		t.Errorf("terminal plan:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := RenderRebalancePlan(&b, plan, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "orders/0\t1,2\t3,1\t1\norders/1\t2,1\t2,3\t1\norders/2\t1,2\t1,3\t1\n"; b.String() != want {
		t.Errorf("piped plan %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := RenderRebalancePlan(&b, rebalance.Plan{}, TableOptions{TTY: true}); err != nil || b.String() != "the cluster is balanced: nothing to move\n" {
		t.Errorf("empty plan: %q %v", b.String(), err)
	}
}

func TestClusterRebalanceOptions(t *testing.T) {
	var got *ClusterRebalanceOptions
	for _, c := range []struct {
		args      []string
		wantCode  int
		dry       bool
		batch     int
		timeout   time.Duration
		errSubstr string
	}{
		{args: []string{"cluster", "rebalance"}, batch: rebalance.DefaultBatchSize, timeout: time.Hour},
		{args: []string{"cluster", "rebalance", "--dry-run", "--batch", "3", "--timeout", "5s"}, dry: true, batch: 3, timeout: 5 * time.Second},
		{args: []string{"cluster", "rebalance", "--batch", "0"}, wantCode: exitUsage, errSubstr: "--batch: must be at least 1"},
		{args: []string{"cluster", "rebalance", "extra"}, wantCode: exitUsage},
	} {
		got = nil
		e, _ := newConnTestEnv(t)
		cmd := NewCmdClusterRebalance(e.f, func(o *ClusterRebalanceOptions) error { got = o; return nil })
		cmd.SetArgs(c.args[2:])
		cmd.SetOut(e.out)
		cmd.SetErr(e.errOut)
		err := cmd.Execute()
		if c.wantCode != exitOK {
			if err == nil || !strings.Contains(err.Error(), c.errSubstr) {
				t.Errorf("%v: err %v, want one containing %q", c.args, err, c.errSubstr)
			}
			continue
		}
		if err != nil || got == nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.DryRun != c.dry || got.Batch != c.batch || got.Timeout != c.timeout {
			t.Errorf("%v: dry %v batch %d timeout %v", c.args, got.DryRun, got.Batch, got.Timeout)
		}
	}
}

// TestClusterRebalanceE2E: a three-node cluster with racks, a topic whose
// replicas all sit on brokers 1 and 2; --dry-run prints a plan that evens
// them out over the three racks and changes nothing.
func TestClusterRebalanceE2E(t *testing.T) {
	racks := map[int32]string{1: "rack-a", 2: "rack-b", 3: "rack-c"}
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.Rack = racks[cfg.NodeID]
		cfg.OffsetsTopicPartitions = 1
	})
	c.StartAll()
	ctx := testharness.Context(t, 60*time.Second)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "skewed", -1, -1
	for p := int32(0); p < 6; p++ {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{1 + p%2, 2 - p%2}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, c.Client(0))
	if err != nil || len(resp.Topics) != 1 || kerr.ErrorForCode(resp.Topics[0].ErrorCode) != nil {
		t.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitTopic("skewed", 6) // the CLI may ask any node
	before := c.MetadataOf(0, "skewed")

	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		e, _ := newConnTestEnv(t)
		t.Setenv(EnvBrokers, strings.Join(c.KafkaAddrs(), ","))
		if code := e.run(t, args...); code != wantCode {
			t.Fatalf("%v: exit code %d, want %d; stderr:\n%s", args, code, wantCode, e.errOut.String())
		}
		return e.out.String(), e.errOut.String()
	}
	out, _ := run(exitOK, "cluster", "rebalance", "--dry-run", "-o", "json")
	var plan rebalance.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if !plan.RackAware || plan.ReplicasMoved != 4 || plan.RackViolations != 0 {
		t.Fatalf("plan: rack aware %v, %d replicas moved, %d violations: %s", plan.RackAware, plan.ReplicasMoved, plan.RackViolations, out)
	}
	for _, b := range plan.BeforeAfter {
		if b.ReplicasAfter != 4 || b.LeadersAfter != 2 {
			t.Fatalf("broker %d ends with %d replicas, %d preferred leaderships: %s", b.Broker, b.ReplicasAfter, b.LeadersAfter, out)
		}
	}
	out, _ = run(exitOK, "cluster", "rebalance", "--dry-run")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != len(plan.Moves) || !strings.HasPrefix(lines[0], "skewed/") {
		t.Fatalf("piped dry run printed %q for %d moves", out, len(plan.Moves))
	}
	after := c.MetadataOf(0, "skewed")
	for i, p := range after.Topics[0].Partitions {
		if !slices.Equal(p.Replicas, before.Topics[0].Partitions[i].Replicas) {
			t.Fatalf("--dry-run changed partition %d: %v -> %v", i, before.Topics[0].Partitions[i].Replicas, p.Replicas)
		}
	}

	// Applied, with data to copy: every partition ends on its planned
	// replicas, led by its preferred leader, with every record readable.
	cl := c.Client(0, kgo.DefaultProduceTopic("skewed"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perPartition = 50
	for p := int32(0); p < 6; p++ {
		for i := 0; i < perPartition; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	e, _ := newConnTestEnv(t)
	t.Setenv(EnvBrokers, strings.Join(c.KafkaAddrs(), ","))
	r := e.start(t, "cluster", "rebalance", "--batch", "2")
	select {
	case code := <-r.code:
		if code != exitOK {
			t.Fatalf("rebalance: exit code %d; stderr:\n%s", code, e.errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("rebalance did not finish; stderr so far:\n%s", e.errOut.String())
	}
	if progress := e.errOut.String(); !strings.Contains(progress, "batch 2/2: reassigning") || !strings.Contains(progress, "rebalanced: ") {
		t.Errorf("progress on stderr: %q", progress)
	}
	want := map[int32][]int32{}
	for _, m := range plan.Moves {
		want[m.Partition] = m.To
	}
	testharness.Eventually(t, 10*time.Second, "preferred leaders lead the planned replicas", func() bool {
		md := c.MetadataOf(0, "skewed")
		for _, p := range md.Topics[0].Partitions {
			to, moved := want[p.Partition]
			if !moved {
				to = before.Topics[0].Partitions[p.Partition].Replicas
			}
			if !slices.Equal(p.Replicas, to) || p.Leader != to[0] || len(p.ISR) != len(to) {
				return false
			}
		}
		return true
	})
	out, _ = run(exitOK, "cluster", "rebalance", "--dry-run", "-o", "json")
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Moves) != 0 {
		t.Fatalf("after the rebalance the plan still moves: %v %s", err, out)
	}
	consumer := c.Client(1, kgo.ConsumeTopics("skewed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 6*perPartition {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records after the rebalance", got, 6*perPartition)
		}
		got += fs.NumRecords()
	}

	// A reassignment that cannot finish (its new replica's broker is
	// down) makes the layout transitional: no plan is made from it.
	c.Stop(2)
	var p0 []int32
	for _, p := range c.MetadataOf(0, "skewed").Topics[0].Partitions {
		if !slices.Contains(p.Replicas, 3) {
			p0 = append([]int32{p.Partition}, p.Replicas...)
			break
		}
	}
	if p0 == nil {
		t.Fatal("no partition without broker 3")
	}
	var areq kadm.AlterPartitionAssignmentsReq
	areq.Assign("skewed", p0[0], append(slices.Clone(p0[1:]), 3))
	ares, err := inproc.NodeAdmin(t, c.Nodes[0]).AlterPartitionAssignments(ctx, areq)
	if err == nil {
		err = ares.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	_, stderr := run(exitError, "cluster", "rebalance", "--dry-run")
	if !strings.Contains(stderr, "1 partition reassignment is in progress (first: skewed/") || !strings.Contains(stderr, "adding [3]") {
		t.Errorf("dry run during a reassignment: stderr %q", stderr)
	}
}

// TestClusterRebalanceSecured: on a node with SASL listeners and ACLs, a
// super user plans over SASL_SSL with a profile; a user without ACLs is
// refused with the cluster authorization error, before any plan.
func TestClusterRebalanceSecured(t *testing.T) {
	sn := startSecuredNode(t)
	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	plain := []string{"--brokers", sn.plain}
	cli.run(exitOK, "admin-pw\n", append([]string{"user", "create", "admin"}, plain...)...)
	cli.run(exitOK, "alice-pw\n", append([]string{"user", "create", "alice"}, plain...)...)
	cli.run(exitOK, "", append([]string{"topic", "create", "orders", "--partitions", "2"}, plain...)...)
	dir := t.TempDir()
	for _, u := range []string{"admin", "alice"} {
		pw := writeFile(t, dir, u+".pass", u+"-pw\n")
		cli.run(exitOK, "", "profile", "create", u, "--brokers", sn.saslSSL, "--tls-ca-file", sn.ca,
			"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", u, "--sasl-password-file", pw)
	}
	var plan rebalance.Plan
	cli.json(&plan, "cluster", "rebalance", "--dry-run", "--profile", "admin")
	if len(plan.Moves) != 0 || len(plan.BeforeAfter) != 1 || plan.BeforeAfter[0].ReplicasBefore != 2 {
		t.Errorf("plan of one node over SASL_SSL: %+v", plan)
	}
	_, stderr := cli.run(exitError, "", "cluster", "rebalance", "--dry-run", "--profile", "alice")
	if !strings.Contains(stderr, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("alice without ACLs: stderr %q", stderr)
	}
}
