package raftnode

import (
	"context"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// v2Payload stands for a command that a newer release adds at metadata version 2.
type v2Payload struct {
	N int64 `json:"n"`
}

func (v2Payload) MetadataVersion() int { return 2 }

const typeV2 = "test_v2"

func v2Commands() state.Commands {
	return state.Commands{typeV2: state.Handle(func(s *state.State, p v2Payload) error {
		s.NextProducerID += p.N
		return nil
	})}
}

func registerSelf(t *testing.T, n *Node) {
	t.Helper()
	id := int32(n.cfg.NodeID)
	mustPropose(t, n, state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{
		ID: id, KafkaAddr: "127.0.0.1:9092", ClusterAddr: n.cfg.ListenAddr, Incarnation: uint64(testharness.FreePort(t)),
	}})
}

// A rolling upgrade: nodes 1 and 2 run a binary that knows metadata version 2, node 3 an
// older one. Nothing of version 2 is proposed until the version is raised, the version is
// raised only once node 3 runs the new binary too, and a node that is downgraded afterwards
// stops at the first version 2 entry with an error that says so.
func TestMetadataVersionGate(t *testing.T) {
	t.Parallel()
	maxMV := map[uint64]int{1: 2, 2: 2, 3: 1}
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.ClusterID = "" // no InitCluster: the cluster stays at version 1 until raised
		cfg.MaxMetadataVersion = maxMV[cfg.NodeID]
		if maxMV[cfg.NodeID] >= 2 {
			cfg.Commands = v2Commands()
		}
	})
	c.startAll()
	c.waitHealthy()
	for id := uint64(1); id <= 3; id++ {
		registerSelf(t, c.nodes[id])
	}
	ctx := testharness.Context(t, testWait)
	n1 := c.nodes[1]

	if _, err := n1.Propose(ctx, typeV2, v2Payload{N: 1}); err == nil || !strings.Contains(err.Error(), "needs metadata version 2, the cluster runs 1") {
		t.Fatalf("version 2 command at version 1: %v", err)
	}
	if err := n1.SetMetadataVersion(ctx, 2); err == nil || !strings.Contains(err.Error(), "broker 3 supports metadata versions up to 1") {
		t.Fatalf("raise with an old broker: %v", err)
	}
	if err := c.nodes[3].SetMetadataVersion(ctx, 2); err == nil || !strings.Contains(err.Error(), "this node supports up to 1") {
		t.Fatalf("raise from the old node: %v", err)
	}

	// Node 3 is upgraded; once it registered again the version can be raised.
	c.stop(3)
	maxMV[3] = 2
	registerSelf(t, c.start(3))
	if err := n1.SetMetadataVersion(ctx, 2); err != nil {
		t.Fatal(err)
	}
	before := n1.State().NextProducerID
	testharness.Eventually(t, testWait, "node 3 applied the new version", func() bool {
		return c.nodes[3].State().ActiveMetadataVersion() == 2
	})
	mustPropose(t, c.nodes[3], typeV2, v2Payload{N: 7})
	c.waitConverged()
	for _, n := range c.running() {
		if got := n.State(); got.ActiveMetadataVersion() != 2 || got.NextProducerID != before+7 {
			t.Fatalf("node %d: version %d, next producer id %d", n.cfg.NodeID, got.ActiveMetadataVersion(), got.NextProducerID)
		}
	}

	// Downgraded, node 3 replays the log and stops at the version 2 entry.
	c.stop(3)
	maxMV[3] = 1
	n3 := c.start(3)
	testharness.Eventually(t, testWait, "the downgraded node stopped", func() bool { return n3.Status().Err != "" })
	if err := n3.Status().Err; !strings.Contains(err, `command "test_v2" needs metadata version 2, this binary supports up to 1`) {
		t.Fatalf("status error %q", err)
	}
	// The others carry on, under a leader of their own: a proposal forwarded to the stopped
	// node while it still counted as leader would be lost (Propose never re-proposes).
	testharness.Eventually(t, testWait, "nodes 1 and 2 to follow one of them", func() bool {
		l1, l2 := n1.Status().Lead, c.nodes[2].Status().Lead
		return l1 == l2 && (l1 == 1 || l1 == 2)
	})
	allocate(t, n1, 1)
	if _, err := c.nodes[2].Propose(context.Background(), state.TypeAllocateProducerID, state.AllocateProducerIDs{Count: 1}); err != nil {
		t.Fatal(err)
	}
}
