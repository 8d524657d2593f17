package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/replication"
)

// The node's side of package replication: it hands the replication runtime
// adapters of its replicas, metadata and controller.

// newFetchers returns the follower fetch loops; the reconciler sets them.
// They fetch over the cluster listener (dialReplica).
func (n *Node) newFetchers() *replication.Fetchers {
	return replication.NewFetchers(replication.FetchersConfig{
		NodeID: n.cfg.NodeID, Replicas: localReplicas{n.replicas}, Dial: n.dialReplica, Logger: n.logger,
		Throttle: n.reassignThrottle, OnApply: n.replTimings.onApply(),
	})
}

// dialReplica opens a follower's fetch connection to leader: an
// authenticated cluster connection (transport.PurposeReplica) on which this
// broker proves the incarnation it registered with (replication's
// preamble). Before this broker's registration is committed there is none
// to prove, and it does not dial.
func (n *Node) dialReplica(ctx context.Context, leader int32) (net.Conn, error) {
	if !n.registered.Load() {
		return nil, errors.New("dial leader for replica fetches: this broker is not registered yet")
	}
	return dialReplicaAs(ctx, n.raft, leader, n.incarnation.Load())
}

// dialReplicaAs dials leader through the cluster transport of raft and
// sends incarnation in the preamble.
func dialReplicaAs(ctx context.Context, raft *raftnode.Node, leader int32, incarnation uint64) (net.Conn, error) {
	if leader <= 0 {
		return nil, fmt.Errorf("dial leader for replica fetches: invalid node id %d", leader)
	}
	// The transport bounds the dial and handshake by its own DialTimeout.
	// It gets a context that is never cancelled: its dialConn, when the
	// context ends during the handshake, can race its interrupt callback
	// with the failed dial's cleanup (a nil connection dereferenced, seen
	// under -race when kgo cancels a dial). ctx still bounds the preamble.
	c, err := raft.DialConn(context.WithoutCancel(ctx), uint64(leader), transport.PurposeReplica)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(replication.PreambleTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	interrupt := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	err = replication.OpenReplicaConn(c, incarnation, deadline)
	if !interrupt() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("replica connection to node %d: %w", leader, err)
	}
	return c, nil
}

// serveReplicaFetches serves replica connections from now on; the Kafka
// server must exist. Connections that came earlier were refused by the
// transport, and their fetch loops dial again.
func (n *Node) serveReplicaFetches() {
	n.raft.HandleConn(transport.PurposeReplica, n.serveReplicaConn)
}

// serveReplicaConn is the cluster transport's handler for replica
// connections (transport.PurposeReplica): peer is the dialing broker as the
// transport authenticated it. The follower's preamble must name peer's
// current incarnation; then the Kafka server serves the connection with
// peer recorded as its replica, the only place a Fetch's replica id counts.
func (n *Node) serveReplicaConn(ctx context.Context, peer uint64, c net.Conn) {
	if peer == 0 || peer > math.MaxInt32 {
		n.logger.Warn("replica connection refused: node id outside the broker id range", "peer", peer)
		return
	}
	id := int32(peer)
	inc, err := replication.AcceptReplicaConn(c, time.Now().Add(replication.PreambleTimeout), func(inc uint64) bool {
		return n.backend.CurrentIncarnation(id, inc)
	})
	if err != nil {
		// An authenticated member, whose fetch loop backs off (up to a
		// second) between tries: this cannot flood the log.
		n.logger.Warn("replica connection refused", "peer", id, "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	if err := n.kafka.ServeConn(ctx, c, kafka.ReplicaPeer{ID: id, Incarnation: inc}); err != nil {
		n.logger.Debug("replica connection not served", "peer", id, "err", err)
	}
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
