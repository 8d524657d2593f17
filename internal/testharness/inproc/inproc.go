// Package inproc starts chronik nodes inside the test process: one node, or a
// cluster of them on fixed ports so that a node can be stopped and started
// again where it was. Tests that need SIGKILL or SIGSTOP use real processes
// (testharness.Process) instead.
package inproc

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// Bounds on how long a node may take to become ready and to close.
const (
	readyWithin = 20 * time.Second
	closeWithin = 10 * time.Second
)

// Config is a single node on random loopback ports in a temp dir, with
// consumer-group delays cut so that tests rebalance quickly.
func Config(t testing.TB) broker.Config {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.ClusterAddr = "127.0.0.1:0"
	cfg.GroupInitialRebalanceDelay = 0
	cfg.GroupMinSessionTimeout = 100 * time.Millisecond
	cfg.OffsetsTopicPartitions = 3
	cfg.TransactionStatePartitions = 3
	cfg.Logger = testharness.Logger()
	return cfg
}

// StartNode starts a node, waits until it is ready and closes it at the end
// of the test.
func StartNode(t testing.TB, cfg broker.Config) *broker.Node {
	t.Helper()
	n := Launch(t, cfg)
	testharness.Eventually(t, readyWithin, "node ready", n.Ready)
	return n
}

// Launch starts a node without waiting for it to be ready; it is closed at
// the end of the test.
func Launch(t testing.TB, cfg broker.Config) *broker.Node {
	t.Helper()
	n, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start node %d: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { CloseNode(t, n) })
	return n
}

// CloseNode stops a node gracefully; closing twice is harmless.
func CloseNode(t testing.TB, n *broker.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), closeWithin)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close node: %v", err)
	}
}

// Client is a franz-go client seeded with addrs that refreshes metadata
// quickly; it is closed at the end of the test.
func Client(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin is a kadm client over Client.
func Admin(t testing.TB, addrs []string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t, addrs))
}

// NodeClient is Client seeded with node n's Kafka address only.
func NodeClient(t testing.TB, n *broker.Node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return Client(t, []string{n.Addrs().Kafka}, opts...)
}

// NodeAdmin is Admin seeded with node n's Kafka address only.
func NodeAdmin(t testing.TB, n *broker.Node) *kadm.Client {
	t.Helper()
	return Admin(t, []string{n.Addrs().Kafka})
}

// Cluster is size in-process nodes that know each other as initial voters.
type Cluster struct {
	t     testing.TB
	Cfgs  []broker.Config
	Nodes []*broker.Node // nil while a node is stopped
}

// NewCluster prepares size nodes on fixed free ports with quick raft and
// liveness timings; mutate, if not nil, adjusts each node's config. Nothing
// runs until Start or StartAll; every node is closed at the end of the test.
func NewCluster(t testing.TB, size int, mutate func(*broker.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Nodes: make([]*broker.Node, size)}
	clusterAddrs := make([]string, size)
	peers := broker.Peers{}
	for i := range size {
		clusterAddrs[i] = testharness.FreeAddr(t)
		peers[int32(i+1)] = clusterAddrs[i]
	}
	for i := range size {
		cfg := Config(t)
		cfg.NodeID = int32(i + 1)
		cfg.KafkaAddr = testharness.FreeAddr(t)
		cfg.ClusterAddr = clusterAddrs[i]
		cfg.Peers = maps.Clone(peers)
		cfg.RaftTickInterval = 50 * time.Millisecond
		cfg.RaftElectionTimeout = 500 * time.Millisecond
		cfg.BrokerSessionTimeout = time.Second
		if mutate != nil {
			mutate(&cfg)
		}
		c.Cfgs = append(c.Cfgs, cfg)
	}
	t.Cleanup(func() {
		for i := range c.Nodes {
			c.Stop(i)
		}
	})
	return c
}

// Start starts node i (0-based) without waiting for it to be ready.
func (c *Cluster) Start(i int) *broker.Node {
	c.t.Helper()
	n, err := broker.Start(context.Background(), c.Cfgs[i])
	if err != nil {
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	c.Nodes[i] = n
	return n
}

// StartAll starts every node and waits until all are ready and every node
// lists all of them as live brokers: a node is ready once it registered,
// but a loaded machine can leave a peer briefly fenced, and a test that
// then creates a topic with every node as a replica would be refused.
func (c *Cluster) StartAll() {
	c.t.Helper()
	for i := range c.Nodes {
		c.Start(i)
	}
	for i, n := range c.Nodes {
		testharness.Eventually(c.t, readyWithin, fmt.Sprintf("node %d ready", i+1), n.Ready)
	}
	for i, n := range c.Nodes {
		var seen int
		testharness.Eventually(c.t, readyWithin, fmt.Sprintf("node %d to list all %d brokers", i+1, len(c.Nodes)), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			resp, err := testharness.MetadataFrom(ctx, n.Addrs().Kafka)
			if err != nil {
				return false
			}
			seen = len(resp.Brokers)
			return seen == len(c.Nodes)
		}, func() string { return fmt.Sprintf("it lists %d", seen) })
	}
}

// Stop closes node i if it runs.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if c.Nodes[i] != nil {
		CloseNode(c.t, c.Nodes[i])
		c.Nodes[i] = nil
	}
}

// Restart stops node i if it runs, starts it again on the same data dir
// and ports, and waits until it is ready.
func (c *Cluster) Restart(i int) *broker.Node {
	c.t.Helper()
	c.Stop(i)
	n := c.Start(i)
	testharness.Eventually(c.t, readyWithin, fmt.Sprintf("node %d ready after restart", i+1), n.Ready)
	return n
}

// KafkaAddrs are the Kafka addresses of the running nodes.
func (c *Cluster) KafkaAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n != nil {
			out = append(out, n.Addrs().Kafka)
		}
	}
	return out
}

// Client is a client seeded with node i only.
func (c *Cluster) Client(i int, opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	return Client(c.t, []string{c.Nodes[i].Addrs().Kafka}, opts...)
}

// MetadataOf asks node i itself: each node must answer from its own view, so
// the request must not be routed to another broker.
func (c *Cluster) MetadataOf(i int, topics ...string) *kmsg.MetadataResponse {
	c.t.Helper()
	resp, err := testharness.MetadataFrom(testharness.Context(c.t, 5*time.Second), c.Nodes[i].Addrs().Kafka, topics...)
	if err != nil {
		c.t.Fatalf("metadata from node %d: %v", i+1, err)
	}
	return resp
}

// WaitTopic waits until every running node's metadata has the topic with
// its partitions: a client may ask any node, and the others apply a
// committed creation a moment after the one that answered it.
func (c *Cluster) WaitTopic(topic string, partitions int) {
	c.t.Helper()
	testharness.Eventually(c.t, 10*time.Second, "every node knows topic "+topic, func() bool {
		for i, n := range c.Nodes {
			if n == nil {
				continue
			}
			m := c.MetadataOf(i, topic)
			if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != partitions {
				return false
			}
		}
		return true
	})
}
