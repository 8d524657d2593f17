package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// partitionLog is node dataDir's copy of topic-partition: its segments in
// order, concatenated (segment boundaries may differ between replicas; the
// bytes may not).
func partitionLog(t *testing.T, dataDir, topic string, partition int32) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topic, partition), "*.log"))
	if len(files) == 0 {
		t.Fatalf("no segments of %s-%d in %s", topic, partition, dataDir)
	}
	sort.Strings(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// proc is the process of node id (ids are 1-based, in the order the nodes
// were started or joined).
func (c *procCluster) proc(id int32) *testharness.Process { return c.Procs[id-1] }

// join launches node id with --join at the cluster address of a running
// member and adds it to the cluster's processes (so clients, StopAll and
// proc know it).
func (c *procCluster) join(id int32, extra ...string) *testharness.Process {
	c.t.Helper()
	if int(id) != len(c.Procs)+1 {
		c.t.Fatalf("join node %d: the cluster has %d nodes, ids are consecutive", id, len(c.Procs))
	}
	i := slices.IndexFunc(c.Procs, func(p *testharness.Process) bool { return !p.Exited() })
	p := testharness.Launch(c.t, testharness.Serve{Binary: chronikBinary(c.t),
		Args: append([]string{"--node-id", strconv.Itoa(int(id)), "--join", c.Procs[i].Cluster}, extra...)})
	c.Procs = append(c.Procs, p)
	return p
}

// layout is every partition's replicas and ISR of topics, as the cluster
// reports them now.
func (c *procCluster) layout(topics ...string) (map[string]map[int32]kadm.PartitionDetail, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.running()...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kadm.PartitionDetail{}
	for _, topic := range topics {
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
		}
		out[topic] = map[int32]kadm.PartitionDetail{}
		for p, pd := range td.Partitions {
			out[topic][p] = pd
		}
	}
	return out, nil
}

// running are the Kafka addresses of the nodes that have not exited.
func (c *procCluster) running() []string {
	var out []string
	for _, p := range c.Procs {
		if !p.Exited() {
			out = append(out, p.Kafka)
		}
	}
	return out
}

// waitFullISR waits until every partition of topics has all its replicas in
// the ISR, no reassignment pending, and returns that layout.
func (c *procCluster) waitFullISR(within time.Duration, topics ...string) map[string]map[int32]kadm.PartitionDetail {
	c.t.Helper()
	var l map[string]map[int32]kadm.PartitionDetail
	var err error
	var why string
	testharness.Eventually(c.t, within, "every replica in the ISR", func() bool {
		l, err = c.layout(topics...)
		if err != nil {
			why = err.Error()
			return false
		}
		for topic, ps := range l {
			for p, pd := range ps {
				if pd.Err != nil || len(pd.ISR) != len(pd.Replicas) || pd.Leader < 1 {
					why = fmt.Sprintf("%s-%d: leader %d replicas %v ISR %v err %v", topic, p, pd.Leader, pd.Replicas, pd.ISR, pd.Err)
					return false
				}
			}
		}
		return true
	}, func() string { return why })
	return l
}

// sameReplicaLogs checks that every replica of every partition in layout
// holds the same bytes. The caller has stopped the nodes gracefully after
// the writes ended and the ISR was full, so each replica is at the high
// watermark and the comparison is of everything below it.
func (c *procCluster) sameReplicaLogs(layout map[string]map[int32]kadm.PartitionDetail) {
	c.t.Helper()
	compared := 0
	for topic, ps := range layout {
		for p, pd := range ps {
			replicas := slices.Clone(pd.Replicas)
			slices.Sort(replicas)
			want := partitionLog(c.t, c.proc(replicas[0]).DataDir, topic, p)
			for _, r := range replicas[1:] {
				if got := partitionLog(c.t, c.proc(r).DataDir, topic, p); !bytes.Equal(got, want) {
					c.t.Fatalf("%s-%d: node %d's copy differs from node %d's (%d vs %d bytes)", topic, p, r, replicas[0], len(got), len(want))
				}
				compared++
			}
		}
	}
	c.t.Logf("%d replica copies byte-identical to their partition's first replica", compared)
}

// fill writes n acknowledged 1 KiB records to every partition of topic.
func (c *procCluster) fill(topic string, partitions int32, n int) {
	c.t.Helper()
	cl := c.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Partition: p, Value: bytes.Repeat([]byte{byte(i)}, 1024)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		c.t.Fatalf("fill %s: %v", topic, err)
	}
}

// replicaCounts counts the replicas each broker holds in layout.
func replicaCounts(layout map[string]map[int32]kadm.PartitionDetail) map[int32]int {
	n := map[int32]int{}
	for _, ps := range layout {
		for _, pd := range ps {
			for _, r := range pd.Replicas {
				n[r]++
			}
		}
	}
	return n
}

// nodeAdmin runs a chronik command that mutates through the admin API of
// node id and fails the test unless it exits 0.
func (c *procCluster) nodeAdmin(id int32, args ...string) {
	c.t.Helper()
	out, errOut, code, took := runTool(c.t, append(args, "--admin", "http://"+c.proc(id).Admin)...)
	if code != 0 {
		c.t.Fatalf("chronik %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	c.t.Logf("chronik %s (%v):\n%s%s", strings.Join(args, " "), took.Round(time.Millisecond), errOut, out)
}

// waitRaft waits until node id reports exactly these voters and learners.
func (c *procCluster) waitRaft(id int32, voters, learners []uint64) {
	c.t.Helper()
	var last api.RaftStatus
	testharness.Eventually(c.t, 30*time.Second, fmt.Sprintf("voters %v and learners %v", voters, learners), func() bool {
		st, err := raftOf(c.t, c.proc(id))
		last = st
		return err == nil && slices.Equal(st.Voters, voters) && slices.Equal(st.Learners, learners)
	}, func() string { return fmt.Sprintf("voters %v learners %v", last.Voters, last.Learners) })
}

// chronikCLI runs the real binary against the cluster's running nodes and
// fails the test unless it exits 0.
func (c *procCluster) chronikCLI(args ...string) string {
	c.t.Helper()
	out, err := runChronik(c.t, append(args, "--brokers", strings.Join(c.running(), ","))...)
	if err != nil {
		c.t.Fatalf("chronik %v: %v\n%s", args, err, out)
	}
	return out
}

// The acceptance test of growing, shrinking and healing a cluster on real
// processes, under a continuous idempotent acks=all stream to an RF-3
// topic: three nodes grow to five with --join (the joiners stay raft
// learners at the default voter target 3), `chronik cluster rebalance`
// spreads the replicas of a ten-partition topic onto them, a node is killed
// with -9 in the middle of the stream and comes back; `cluster remove-node`
// decommissions two voters (learners are promoted: the voters stay at 3);
// last a node is killed with -9 for good and `cluster replace-node` hands
// its replicas and raft seat to a freshly joined node. At the end every
// acknowledged record is in the log exactly once at its offset, and every
// replica of every partition is byte-identical.
func TestGrowRebalanceShrinkHealUnderAcksAllStream(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "2s")
	c.createRF3("stream")
	c.createTopicRF3("spread", 10, nil)
	c.fill("spread", 10, 50)
	s := startStream(t, c, "stream")
	s.waitAcks(500, 30*time.Second)

	for _, id := range []int32{4, 5} {
		c.join(id, "--broker-session-timeout", "2s").WaitReady(t)
	}
	c.waitMembers(30*time.Second, []uint64{1, 2, 3}, []uint64{4, 5})
	s.waitAcks(s.count()+500, 30*time.Second)

	out := c.chronikCLI("cluster", "rebalance", "--batch", "4")
	t.Logf("cluster rebalance:\n%s", out)
	l := c.waitFullISR(60*time.Second, "stream", "spread")
	counts := replicaCounts(l)
	lo, hi := 1<<30, 0
	for id := int32(1); id <= 5; id++ {
		lo, hi = min(lo, counts[id]), max(hi, counts[id])
	}
	if lo == 0 || hi-lo > 1 {
		t.Fatalf("after rebalance, replicas per broker %v: want every broker within one of the others", counts)
	}
	s.waitAcks(s.count()+500, 30*time.Second)

	// A broker that holds replicas since the rebalance dies mid-stream and
	// returns: it catches up and every partition's ISR is full again.
	c.proc(4).Kill(t)
	s.waitAcks(s.count()+1000, 30*time.Second)
	c.Procs[3] = testharness.Start(t, c.proc(4).Serve)
	c.waitMembers(30*time.Second, []uint64{1, 2, 3}, []uint64{4, 5})
	s.waitAcks(s.count()+500, 30*time.Second)

	// Shrink: decommission the two voters that do not lead raft (the
	// leader is asked, and stays). Their replicas move first; caught-up
	// learners are promoted so the voters stay at the target.
	st, err := raftOf(t, c.proc(1))
	if err != nil || st.LeaderID == 0 {
		t.Fatalf("raft status: %+v, %v", st, err)
	}
	leader := int32(st.LeaderID)
	var removed []int32
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			removed = append(removed, id)
		}
	}
	for _, id := range removed {
		c.nodeAdmin(leader, "cluster", "remove-node", strconv.Itoa(int(id)), "--wait")
		// The machine is retired. (That a removed node also stops on its
		// own is remove_node_e2e_test.go's subject.)
		c.proc(id).Kill(t) // it may have exited on its own already
	}
	voters := []uint64{uint64(leader), 4, 5}
	slices.Sort(voters)
	c.waitRaft(leader, voters, nil)
	s.waitAcks(s.count()+500, 30*time.Second)

	// Heal: node 4's machine dies for good; node 6 joins and replace-node
	// moves node 4's replicas and raft seat to it.
	c.join(6).WaitReady(t)
	c.waitRaft(leader, voters, []uint64{6})
	c.proc(4).Kill(t)
	c.nodeAdmin(leader, "cluster", "replace-node", "4", "6", "--wait")
	voters = []uint64{uint64(leader), 5, 6}
	slices.Sort(voters)
	c.waitRaft(leader, voters, nil)
	s.waitAcks(s.count()+500, 30*time.Second)

	s.finish()
	s.verify(c)
	l = c.waitFullISR(60*time.Second, "stream", "spread")
	for topic, ps := range l {
		for p, pd := range ps {
			if slices.ContainsFunc(pd.Replicas, func(id int32) bool { return id == 4 || slices.Contains(removed, id) }) {
				t.Fatalf("%s-%d still has replicas %v on a removed node", topic, p, pd.Replicas)
			}
		}
	}
	c.StopAll(t)
	c.sameReplicaLogs(l)
}
