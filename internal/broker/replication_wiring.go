package broker

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/replication"
)

// The node's side of package replication: it hands the replication runtime
// adapters of its replicas, metadata and controller.

// newFetchers returns the follower fetch loops; the reconciler sets them.
func (n *Node) newFetchers() *replication.Fetchers {
	return replication.NewFetchers(replication.FetchersConfig{
		NodeID: n.cfg.NodeID, Replicas: localReplicas{n.replicas}, Logger: n.logger,
	})
}

// runISRMaintenance runs the leader's ISR checks until ctx ends.
func (n *Node) runISRMaintenance(ctx context.Context) {
	m := &replication.ISRMaintenance{
		Replicas: localReplicas{n.replicas}, Metadata: n.raft, Controller: n.controller,
		Changed: n.metrics.isrChanged, Logger: n.logger,
	}
	m.Run(ctx)
}

// controlledShutdown moves this broker's leaderships away before it stops;
// a broker that never registered has none.
func (n *Node) controlledShutdown(ctx context.Context) {
	if !n.registered.Load() {
		return
	}
	s := &replication.Shutdown{
		NodeID: n.cfg.NodeID, Controller: n.controller, Metadata: n.raft,
		ElectionTimeout: n.cfg.RaftElectionTimeout, Logger: n.logger,
	}
	s.Run(ctx)
}

// fetcherView reports the fetch loop to leader.
func (n *Node) fetcherView(leader int32) *FetcherView {
	st, running := n.fetchers.Status(leader)
	return &FetcherView{Leader: leader, Running: running, LastFetch: st.LastFetch, LastError: st.LastError}
}

// localReplicas is replica.Manager as package replication sees it.
type localReplicas struct{ m *replica.Manager }

func (l localReplicas) Follower(tp replication.TopicPartition) replication.FollowerReplica {
	if p := l.m.Get(tp.Topic, tp.Partition); p != nil {
		return p
	}
	return nil // an untyped nil: a nil *Partition in the interface would not compare equal to nil
}

func (l localReplicas) All() []replication.Hosted {
	all := l.m.All()
	out := make([]replication.Hosted, len(all))
	for i, p := range all {
		out[i] = replication.Hosted{TopicPartition: replication.TopicPartition{Topic: p.Topic, Partition: p.Index}, Replica: p}
	}
	return out
}
