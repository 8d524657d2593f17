package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// controllerOf is the running node that is the raft leader now.
func controllerOf(t *testing.T, c *inproc.Cluster) *broker.Node {
	t.Helper()
	var ctrl *broker.Node
	testharness.Eventually(t, 15*time.Second, "a controller", func() bool {
		for _, n := range c.Nodes {
			if n != nil && n.RaftStatus().Role == "leader" {
				ctrl = n
				return true
			}
		}
		return false
	})
	return ctrl
}

// removeNode asks the controller, whichever it is, for req until the
// removal is done, as `chronik cluster remove-node --wait` does, and
// returns every phase seen.
func removeNode(t *testing.T, c *inproc.Cluster, req broker.RemoveNodeRequest, within time.Duration) []string {
	t.Helper()
	var phases []string
	var last error
	testharness.Eventually(t, within, fmt.Sprintf("node %d removed", req.ID), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := controllerOf(t, c).RemoveNode(ctx, req)
		if last = err; err != nil {
			var nc *broker.NotControllerError
			if !errors.As(err, &nc) {
				t.Logf("remove node %d: %v (raft %+v)", req.ID, err, controllerOf(t, c).RaftStatus())
			}
			return false
		}
		if len(phases) == 0 || phases[len(phases)-1] != st.Phase {
			phases = append(phases, st.Phase)
		}
		return st.Phase == broker.RemovalDone
	}, func() string { return fmt.Sprintf("phases %v, last error %v", phases, last) })
	return phases
}

// waitRemovedStop waits until node id stopped on its removal.
func waitRemovedStop(t *testing.T, c *inproc.Cluster, id int32) {
	t.Helper()
	n := c.Nodes[id-1]
	testharness.Eventually(t, 15*time.Second, fmt.Sprintf("node %d stops after its removal", id), func() bool {
		select {
		case <-n.Done():
			return true
		default:
			return false
		}
	})
	var re *broker.RemovedError
	if err := n.Err(); !errors.As(err, &re) || re.NodeID != id {
		t.Fatalf("node %d: Err() = %v, want a *RemovedError", id, err)
	}
	c.Stop(int(id - 1))
}

func checkUnregistered(t *testing.T, c *inproc.Cluster, id int32) {
	t.Helper()
	_, _, brokers := controllerOf(t, c).Brokers()
	for _, b := range brokers {
		if b.ID == id {
			t.Fatalf("broker %d still registered: %+v", id, brokers)
		}
	}
	if st := controllerOf(t, c).RaftStatus(); slices.Contains(st.Voters, uint64(id)) || slices.Contains(st.Learners, uint64(id)) {
		t.Fatalf("node %d still in raft: voters %v learners %v", id, st.Voters, st.Learners)
	}
}

// TestRemoveNodeWithData decommissions a replica of a partition under an
// acks=all producer: its replica moves to the broker that had none, it
// leaves raft and the broker list and stops, no acknowledged record is lost,
// and the new replica holds the same bytes as the one that stayed.
func TestRemoveNodeWithData(t *testing.T) {
	c := inproc.NewCluster(t, 4, nil)
	c.StartAll()
	createAssigned(t, c, "dec", 2, 3)
	adm := inproc.Admin(t, c.KafkaAddrs())
	s := startStream(t, c.KafkaAddrs(), "dec")
	testharness.Eventually(t, 20*time.Second, "300 acks", func() bool { return s.count() >= 300 })

	gone := int32(2)
	if controllerOf(t, c).NodeID() == gone {
		gone = 3 // the controller's own removal is TestRemoveControllerNode's
	}
	phases := removeNode(t, c, broker.RemoveNodeRequest{ID: gone}, 60*time.Second)
	if phases[0] != broker.RemovalMoving {
		t.Fatalf("phases %v: the first call must start moving data", phases)
	}
	waitRemovedStop(t, c, gone)
	checkUnregistered(t, c, gone)
	stay := int32(5) - gone // 3 when 2 left, 2 when 3 left
	p := partitionOf(t, c, "dec")
	if slices.Contains(p.Replicas, gone) || len(p.Replicas) != 2 || !slices.Contains(p.Replicas, stay) {
		t.Fatalf("replicas %v after removing %d", p.Replicas, gone)
	}
	newReplica := p.Replicas[0] + p.Replicas[1] - stay
	waitReplicas(t, c, adm, "dec", 30*time.Second, p.Replicas...)
	before := s.count()
	testharness.Eventually(t, 15*time.Second, "acks after the removal", func() bool { return s.count() >= before+300 })
	s.finish()
	waitEndCovers(t, c, "dec", s.acked)
	checkExactlyOnce(t, c.KafkaAddrs(), "dec", s.acked)
	sameLogs(t, c, "dec", stay, newReplica)
}

// TestRemoveControllerNode removes the raft leader: it hands leadership to
// another voter first, the new controller finishes, and the old one stops.
func TestRemoveControllerNode(t *testing.T) {
	c := inproc.NewCluster(t, 4, nil)
	c.StartAll()
	ctrl := controllerOf(t, c).NodeID()
	others := slices.DeleteFunc([]int32{1, 2, 3, 4}, func(id int32) bool { return id == ctrl })
	createAssigned(t, c, "ctl", ctrl, others[0])
	phases := removeNode(t, c, broker.RemoveNodeRequest{ID: ctrl}, 60*time.Second)
	if !slices.Contains(phases, broker.RemovalControllerMoved) {
		t.Fatalf("phases %v: the controller must hand over leadership", phases)
	}
	waitRemovedStop(t, c, ctrl)
	checkUnregistered(t, c, ctrl)
	if p := partitionOf(t, c, "ctl"); slices.Contains(p.Replicas, ctrl) || len(p.Replicas) != 2 {
		t.Fatalf("replicas %v after removing %d", p.Replicas, ctrl)
	}
}

// TestRemoveNodeResumesAfterControllerLoss: the controller dies right after
// starting the moves; asked again, the new controller finishes the removal.
func TestRemoveNodeResumesAfterControllerLoss(t *testing.T) {
	c := inproc.NewCluster(t, 4, func(cfg *broker.Config) { cfg.ReassignmentThrottle = 64 << 10 })
	c.StartAll()
	ctrl := controllerOf(t, c)
	ids := slices.DeleteFunc([]int32{1, 2, 3, 4}, func(id int32) bool { return id == ctrl.NodeID() })
	gone, stay := ids[0], ids[1]
	createAssigned(t, c, "res", gone, stay)
	produceBytes(t, c, "res", 512<<10) // the throttled copy takes seconds: the controller dies mid-way
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := ctrl.RemoveNode(ctx, broker.RemoveNodeRequest{ID: gone})
	if err != nil || st.Phase != broker.RemovalMoving || len(st.Started) != 1 {
		t.Fatalf("first call: %+v, %v; want one move started", st, err)
	}
	c.Stop(int(ctrl.NodeID() - 1))
	removeNode(t, c, broker.RemoveNodeRequest{ID: gone}, 90*time.Second)
	// With a voter already down, node 2 leaves raft before the broker list
	// (stopping first would cost the quorum), so it may not hear of it.
	c.Stop(int(gone - 1))
	checkUnregistered(t, c, gone)
	p := partitionOf(t, c, "res")
	if slices.Contains(p.Replicas, gone) || !slices.Contains(p.Replicas, stay) {
		t.Fatalf("replicas %v", p.Replicas)
	}
}

// TestRemoveNodeRefusals: unknown node, too few brokers for the replication
// factor, a dead node without force; each changes nothing.
func TestRemoveNodeRefusals(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	createAssigned(t, c, "rf3", 1, 2, 3)
	ctrl := controllerOf(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ctrl.RemoveNode(ctx, broker.RemoveNodeRequest{ID: 9}); !errors.Is(err, broker.ErrUnknownNode) {
		t.Fatalf("unknown node: %v", err)
	}
	other := ctrl.NodeID()%3 + 1
	if _, err := ctrl.RemoveNode(ctx, broker.RemoveNodeRequest{ID: other}); err == nil ||
		!errors.Is(err, controller.ErrRemovalRefused) {
		t.Fatalf("removal under the replication factor: %v", err)
	}
	follower := c.Nodes[other-1]
	if _, err := follower.RemoveNode(ctx, broker.RemoveNodeRequest{ID: other}); !errors.As(err, new(*broker.NotControllerError)) {
		t.Fatalf("asked of a follower: %v", err)
	}
	if p := partitionOf(t, c, "rf3"); len(p.Replicas) != 3 {
		t.Fatalf("a refusal changed the replicas: %v", p.Replicas)
	}
	if st := ctrl.RaftStatus(); len(st.Voters) != 3 {
		t.Fatalf("a refusal changed raft: %v", st.Voters)
	}
}

// waitEndCovers waits until the partition's leader (leadership just moved)
// answers ListOffsets with a high watermark past every acknowledged offset.
func waitEndCovers(t *testing.T, c *inproc.Cluster, topic string, acked map[uint64]int64) {
	t.Helper()
	var last int64
	for _, off := range acked {
		last = max(last, off)
	}
	var got string
	adm := inproc.Admin(t, c.KafkaAddrs())
	testharness.Eventually(t, 15*time.Second, fmt.Sprintf("%s's end offset past %d", topic, last), func() bool {
		ends, err := adm.ListEndOffsets(testharness.Context(t, 5*time.Second), topic)
		if err != nil {
			got = err.Error()
			return false
		}
		end, _ := ends.Lookup(topic, 0)
		got = fmt.Sprintf("end %d err %v", end.Offset, end.Err)
		return end.Err == nil && end.Offset > last
	}, func() string { return got })
}
