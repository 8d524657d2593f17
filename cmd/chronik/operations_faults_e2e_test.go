package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// isrWatch polls the cluster's metadata for a partition while faults
// happen and remembers any moment its ISR invariants broke: an empty ISR,
// or a leader outside it.
type isrWatch struct {
	mu         sync.Mutex
	violations []string
	polls      int
	stop       chan struct{}
	done       chan struct{}
}

func watchISR(c *procCluster, topic string) *isrWatch {
	w := &isrWatch{stop: make(chan struct{}), done: make(chan struct{})}
	// Nodes keep their address across restarts; a down one just does not
	// answer.
	addrs := c.KafkaAddrs()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			for _, addr := range addrs {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				resp, err := testharness.MetadataFrom(ctx, addr, topic)
				cancel()
				if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					continue // a node going down; another answers
				}
				pt := resp.Topics[0].Partitions[0]
				w.mu.Lock()
				w.polls++
				switch {
				case kerr.ErrorForCode(pt.ErrorCode) != nil:
				case len(pt.ISR) == 0:
					w.violations = append(w.violations, fmt.Sprintf("%s: empty ISR (replicas %v)", addr, pt.Replicas))
				case pt.Leader >= 0 && !slices.Contains(pt.ISR, pt.Leader):
					w.violations = append(w.violations, fmt.Sprintf("%s: leader %d outside ISR %v", addr, pt.Leader, pt.ISR))
				}
				w.mu.Unlock()
			}
		}
	}()
	c.t.Cleanup(w.end)
	return w
}

func (w *isrWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check stops the watch and fails the test on any violation seen.
func (w *isrWatch) check(t *testing.T) {
	t.Helper()
	w.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("ISR invariants broken %d times in %d polls, first: %s", len(w.violations), w.polls, w.violations[0])
	}
	if w.polls == 0 {
		t.Fatal("the ISR watch never got an answer")
	}
	t.Logf("ISR invariants held over %d polls", w.polls)
}

// controllerID is the controller the cluster names now.
func (c *procCluster) controllerID() int32 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := kadm.NewClient(c.client()).BrokerMetadata(ctx)
	if err != nil || md.Controller < 1 {
		c.t.Fatalf("controller: %d, %v", md.Controller, err)
	}
	return md.Controller
}

// createAssigned creates a one-partition topic on exactly these replicas
// (the first the preferred leader).
func (c *procCluster) createAssigned(topic string, replicas ...int32) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, c.client())
	if err == nil && len(resp.Topics) == 1 {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		c.t.Fatalf("create %s on %v: %v", topic, replicas, err)
	}
	c.waitFullISR(10*time.Second, topic)
}

// reassignments is `chronik partition reassignments -o json` through the
// running nodes.
func (c *procCluster) reassignments() []topicadmin.PartitionReassignment {
	c.t.Helper()
	rs, _ := toolJSON[[]topicadmin.PartitionReassignment](c.t, []int{0}, "partition", "reassignments", "-o", "json",
		"--brokers", c.running()[0])
	return rs
}

// isrRow is partition 0 of topic as `chronik isr describe -o json` shows it
// through node id's admin API.
func (c *procCluster) isrRow(id int32, topic string) (diagnose.ISRReport, int) {
	c.t.Helper()
	rep, _ := toolJSON[diagnose.ISRReport](c.t, []int{0, 3, 4}, "isr", "describe", "--admin", "http://"+c.proc(id).Admin,
		"--timeout", "2s", "-o", "json")
	return rep, slices.IndexFunc(rep.Partitions, func(r api.PartitionRow) bool { return r.Topic == topic && r.Partition == 0 })
}

// fillRandom writes n acknowledged, incompressible 1 KiB records to
// partition 0 of topic (so a copy of it takes its size in bytes) and
// returns them by offset.
func (c *procCluster) fillRandom(topic string, n int) map[int64][]byte {
	c.t.Helper()
	cl := c.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := make([]byte, 1024)
		_, _ = rand.Read(v)
		recs[i] = &kgo.Record{Value: v}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		c.t.Fatalf("fill %s: %v", topic, err)
	}
	out := map[int64][]byte{}
	for _, r := range recs {
		out[r.Offset] = r.Value
	}
	return out
}

// holds checks that partition 0 of topic holds exactly the acknowledged
// records, each once at its offset.
func (c *procCluster) holds(topic string, acked map[int64][]byte) {
	c.t.Helper()
	cl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[int64][]byte{}
	for len(got) < len(acked) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("%s: read %d of %d acknowledged records back", topic, len(got), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := got[r.Offset]; dup {
				c.t.Fatalf("%s: offset %d read twice", topic, r.Offset)
			}
			got[r.Offset] = r.Value
		})
	}
	for off, v := range acked {
		if !bytes.Equal(got[off], v) {
			c.t.Fatalf("%s: acknowledged record at offset %d is gone or changed", topic, off)
		}
	}
}

// A throttled move of a partition, [o1 ctl] to [o1 o2], where the broker
// leaving it (the source) is also the controller, while an acks=all stream
// runs on another topic. The target is killed with -9 the moment the move
// starts, and restarted; mid-copy the controller-and-source is killed with
// -9. The tools say where the move stands at each step (partition
// reassignments, isr describe with the copy's bytes left, doctor after),
// a new controller completes it, the moving partition's ISR is never empty
// nor without its leader, and nothing acknowledged is lost; at the end
// every replica is byte-identical.
func TestMoveSurvivesTargetAndControllerKills(t *testing.T) {
	c := startProcCluster(t, "--broker-session-timeout", "2s", "--reassignment-throttle", "65536")
	ctl := c.controllerID()
	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != ctl {
			others = append(others, id)
		}
	}
	o1, o2 := others[0], others[1]
	c.createAssigned("moving", o1, ctl)
	acked := c.fillRandom("moving", 512) // 512 KiB: several seconds to copy at 64 KiB/s
	c.createRF3("stream")
	s := startStream(t, c, "stream")
	s.waitAcks(300, 30*time.Second)
	w := watchISR(c, "moving")

	out, errOut, code, _ := runTool(t, "partition", "move", "moving/0", "--replicas", fmt.Sprintf("%d,%d", o1, o2),
		"--brokers", c.running()[0])
	if code != 0 {
		t.Fatalf("partition move: exit %d\n%s%s", code, out, errOut)
	}
	// The target dies before it could copy much: the move waits for it.
	c.proc(o2).Kill(t)
	rs := c.reassignments()
	if len(rs) != 1 || !slices.Equal(rs[0].Adding, []int32{o2}) || !slices.Equal(rs[0].Removing, []int32{ctl}) {
		t.Fatalf("with the target down, partition reassignments should list the move adding %d and removing %d: %+v", o2, ctl, rs)
	}
	rep, i := c.isrRow(o1, "moving")
	if i < 0 || !slices.Equal(rep.Partitions[i].AddingReplicas, []int32{o2}) || slices.Contains(rep.Partitions[i].ISR, o2) {
		t.Fatalf("isr describe with the target down: %+v", rep.Partitions)
	}

	// Back, it copies (throttled) and isr describe shows the bytes left.
	c.Procs[o2-1] = testharness.Start(t, c.proc(o2).Serve)
	var why string
	testharness.EventuallyEvery(t, 10*time.Second, 100*time.Millisecond, "isr describe showing the copy in progress", func() bool {
		rep, i := c.isrRow(o1, "moving")
		if i < 0 {
			why = "no row"
			return false
		}
		r := rep.Partitions[i]
		why = fmt.Sprintf("%+v", r)
		j := slices.IndexFunc(r.ReplicaStates, func(rs api.ReplicaState) bool { return rs.ID == o2 })
		return slices.Equal(r.AddingReplicas, []int32{o2}) && j >= 0 && r.ReplicaStates[j].Adding &&
			r.ReplicaStates[j].BytesLeft != nil && *r.ReplicaStates[j].BytesLeft > 0
	}, func() string { return why })

	// The controller, which is also the source, dies mid-copy: a new
	// controller completes the move once the target has caught up.
	c.proc(ctl).Kill(t)
	testharness.Eventually(t, 60*time.Second, "the move completed by the new controller", func() bool {
		rs = c.reassignments()
		return len(rs) == 0
	}, func() string { return fmt.Sprintf("still in progress: %+v", rs) })
	l := c.waitFullISR(30*time.Second, "moving")
	if got := l["moving"][0].Replicas; !slices.Equal(sorted(got), sorted([]int32{o1, o2})) {
		t.Fatalf("after the move: replicas %v, want %d,%d", got, o1, o2)
	}
	if newCtl := c.controllerID(); newCtl == ctl {
		t.Fatalf("controller still %d after it was killed", ctl)
	}
	doc, _ := toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", "http://"+c.proc(o1).Admin,
		"--timeout", "2s", "-o", "json")
	if f, ok := findingFor(doc, diagnose.CodeReassignmentStalled, -1); ok {
		t.Fatalf("doctor after the move: %+v", f)
	}
	w.check(t)

	c.Restart(t, int(ctl-1))
	s.waitAcks(s.count()+300, 30*time.Second)
	s.finish()
	s.verify(c)
	c.holds("moving", acked)
	l = c.waitFullISR(30*time.Second, "moving", "stream")
	c.StopAll(t)
	c.sameReplicaLogs(l)
}

// Node 4 joining is killed with -9 as soon as the raft leader has added
// it as a learner. While it is down and the metadata moves on, doctor
// names it RAFT_LEARNER_BEHIND and the raft status still lists it as a
// learner; restarted on its data dir, it catches up, becomes ready and
// doctor no longer names it.
func TestJoinerKilledMidCatchUp(t *testing.T) {
	c := startProcCluster(t)
	// Many metadata entries for the joiner to catch up on.
	adm := kadm.NewClient(c.client())
	ctx := testharness.Context(t, 30*time.Second)
	for i := range 40 {
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, "t"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	n4 := c.join(4)
	c.waitMembers(20*time.Second, []uint64{1, 2, 3}, []uint64{4})
	n4.Kill(t)
	for i := range 5 {
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, "after"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	a := "http://" + c.proc(1).Admin
	var doc diagnose.DoctorReport
	testharness.EventuallyEvery(t, 20*time.Second, 500*time.Millisecond, "doctor naming the learner behind", func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "--timeout", "2s", "-o", "json")
		_, ok := findingFor(doc, diagnose.CodeRaftLearnerBehind, 4)
		return ok
	}, func() string { return fmt.Sprintf("%+v", doc.Findings) })
	c.waitMembers(time.Second, []uint64{1, 2, 3}, []uint64{4})

	c.Procs[3] = testharness.Start(t, n4.Serve)
	testharness.EventuallyEvery(t, 20*time.Second, 500*time.Millisecond, "doctor without the learner behind", func() bool {
		doc, _ = toolJSON[diagnose.DoctorReport](t, []int{0, 3, 4}, "doctor", "--admin", a, "--timeout", "2s", "-o", "json")
		_, ok := findingFor(doc, diagnose.CodeRaftLearnerBehind, -1)
		return !ok
	}, func() string { return fmt.Sprintf("%+v", doc.Findings) })
	st, err := raftOf(t, c.proc(4))
	if err != nil || st.Commit == 0 || !slices.Equal(st.Learners, []uint64{4}) {
		t.Fatalf("node 4 after restart: %+v, %v", st, err)
	}
}

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
