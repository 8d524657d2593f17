package broker

import (
	"context"
	"errors"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/replication"
)

// runReconciler keeps the replicas running here equal to what the metadata
// says this node hosts. It is level-triggered: it runs on start-up, after
// every metadata change (including a snapshot install), and again after a
// failure.
func (n *Node) runReconciler(ctx context.Context) {
	coordinated := map[int32]bool{}     // offsets partitions whose groups are loaded here
	txnCoordinated := map[int32]int32{} // transaction state partitions loaded here, at their epoch
	for {
		changed := n.raft.Changed()
		caughtUp := n.raft.Ready()
		if err := n.reconcile(caughtUp); err != nil {
			n.logger.Error("reconcile partitions with metadata", "err", err)
		} else if caughtUp {
			// Group offsets and transaction state replay from the
			// partitions opened above.
			groups := n.syncCoordination(ctx, coordinated)
			txns := n.syncTxnCoordination(ctx, txnCoordinated)
			n.reconciled.Store(groups && txns)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Second):
			// Retries failures, and notices raft catching up.
		}
	}
}

// syncCoordination makes the group coordinator serve exactly the groups of
// the __consumer_offsets partitions this node leads: it loads a partition's
// groups when leadership arrives and drops them when it leaves, so the
// coordinator moves with the partition. It reports whether every led
// partition is loaded.
func (n *Node) syncCoordination(ctx context.Context, coordinated map[int32]bool) bool {
	led := map[int32]bool{}
	for _, p := range n.replicas.Partitions(controller.OffsetsTopic) {
		if p.IsLeader() {
			led[p.Index] = true
		}
	}
	for p := range coordinated {
		if !led[p] {
			n.groups.UnloadPartition(p)
			delete(coordinated, p)
			n.logger.Info("stopped coordinating the groups of an offsets partition", "partition", p)
		}
	}
	ok := true
	for p := range led {
		if coordinated[p] {
			continue
		}
		if err := n.groups.LoadPartition(ctx, p); err != nil {
			if !errors.Is(err, group.ErrSuperseded) && ctx.Err() == nil {
				n.logger.Error("load consumer group offsets; retrying", "partition", p, "err", err)
			}
			ok = false
			continue
		}
		coordinated[p] = true
		n.logger.Info("coordinating the groups of an offsets partition", "partition", p)
	}
	return ok
}

// reconcileNow brings the local replicas up to the metadata this node has
// applied, before a metadata request returns to its client.
func (n *Node) reconcileNow() {
	if err := n.reconcile(n.raft.Ready()); err != nil {
		n.logger.Error("reconcile partitions with metadata", "err", err)
	}
}

// reconcile opens, updates and (once caught up, so a stale view never
// deletes data) removes local replicas to match the metadata.
func (n *Node) reconcile(caughtUp bool) error {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	s := n.raft.State()
	self := n.cfg.NodeID
	var firstErr error
	follow := map[int32]map[replication.TopicPartition]bool{}
	addrs := map[int32]string{}
	hosted := s.HostedBy(self)
	for name, t := range s.Topics {
		roles := map[int32]replica.Role{}
		for _, i := range hosted[name] {
			p := t.Partitions[i]
			roles[i] = replica.Role{
				Leader: p.Leader == self, LeaderID: p.Leader, LeaderEpoch: p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch, Replicas: p.Replicas, ISR: p.ISR, Self: self,
			}
			if b, ok := s.Brokers[p.Leader]; ok && p.Leader != self {
				if follow[p.Leader] == nil {
					follow[p.Leader] = map[replication.TopicPartition]bool{}
				}
				follow[p.Leader][replication.TopicPartition{Topic: name, Partition: i}] = true
				addrs[p.Leader] = b.KafkaAddr
			}
		}
		if len(roles) == 0 && len(n.replicas.Partitions(name)) == 0 {
			continue
		}
		cfg, err := n.controller.EffectiveConfig(t)
		if err != nil {
			n.logger.Warn("topic has an invalid config; using broker defaults", "topic", name, "err", err)
			cfg = n.controller.Defaults()
		}
		if err := n.replicas.ApplyTopic(name, t.ID, cfg, roles); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	n.fetchers.SetThrottled(throttledHere(s, self))
	n.fetchers.Set(n.runCtx, follow, addrs)
	if !caughtUp {
		return firstErr
	}
	for _, name := range n.replicas.Topics() {
		if _, ok := s.Topics[name]; !ok {
			n.logger.Info("deleting partitions of a deleted topic", "topic", name)
			if err := n.replicas.RemoveTopic(name); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if err := n.replicas.RemoveStrays(func(name string) bool { _, ok := s.Topics[name]; return ok }); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}
