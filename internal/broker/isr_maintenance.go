package broker

import (
	"context"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// isrCheckInterval is how often a leader looks for ISR changes. Shrinks are
// bounded below by replica.lag.time.max.ms anyway; expansion wants to be
// prompt so that a caught-up replica counts again quickly.
const isrCheckInterval = 100 * time.Millisecond

// runISRMaintenance is the leader side of Kafka's AlterPartition: for every
// partition this node leads, it compares the ISR in metadata with what
// follower fetches show, and asks the controller to commit the difference
// as a compare-and-set on the partition epoch.
func (n *Node) runISRMaintenance(ctx context.Context) {
	t := time.NewTicker(isrCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range n.replicas.All() {
			role, isr, ok := p.ISRChange(n.raft.State().Live)
			if !ok {
				continue
			}
			change := state.AlterPartition{
				Topic: p.Topic, Partition: p.Index,
				Leader: role.Self, LeaderEpoch: role.LeaderEpoch, PartitionEpoch: role.PartitionEpoch,
				ISR: isr,
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := n.controller.AlterPartition(pctx, change)
			cancel()
			switch {
			case err == nil:
				n.metrics.isrChanged(role.ISR, isr)
				n.logger.Info("ISR changed", "topic", p.Topic, "partition", p.Index,
					"from", role.ISR, "to", isr, "leader_epoch", role.LeaderEpoch)
			case controller.Code(err) == kerr.InvalidUpdateVersion || controller.Code(err) == kerr.FencedLeaderEpoch:
				// The partition moved on (another change, a new leader); the
				// reconciler brings the new role and the next check decides again.
				n.logger.Debug("ISR change superseded", "topic", p.Topic, "partition", p.Index, "err", err)
			case ctx.Err() == nil:
				n.logger.Warn("ISR change not committed; retrying", "topic", p.Topic, "partition", p.Index,
					"from", role.ISR, "to", isr, "err", err)
			}
		}
	}
}

// controlledShutdown asks the controller to move this broker's leaderships
// and drop it from every ISR before it stops, so producers see at most a
// retriable NOT_LEADER_OR_FOLLOWER. Skipped when there is no quorum to ask.
func (n *Node) controlledShutdown(ctx context.Context) {
	if !n.registered.Load() || n.raft.LeaderID() == 0 {
		return
	}
	// Bounded: a cluster that lost its quorum cannot answer, and the
	// controller fences this broker after the session timeout anyway.
	ctx, cancel := context.WithTimeout(ctx, max(2*n.cfg.RaftElectionTimeout, time.Second))
	defer cancel()
	start := time.Now()
	if err := n.controller.ShutdownBroker(ctx, n.cfg.NodeID); err != nil {
		n.logger.Warn("controlled shutdown not committed; stopping anyway (the controller fences this broker after the session timeout)", "err", err)
		return
	}
	n.logger.Info("controlled shutdown: leaderships moved", "took", time.Since(start).Round(time.Millisecond))
}
