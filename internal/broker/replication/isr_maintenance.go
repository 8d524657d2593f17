package replication

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// isrCheckInterval is how often a leader looks for ISR changes. Shrinks are
// bounded below by replica.lag.time.max.ms anyway; expansion wants to be
// prompt so that a caught-up replica counts again quickly.
const isrCheckInterval = 100 * time.Millisecond

// ISRMaintenance is the leader side of Kafka's AlterPartition: for every
// partition this node leads, it compares the ISR in metadata with what
// follower fetches show, and asks the controller to commit the difference
// as a compare-and-set on the partition epoch.
type ISRMaintenance struct {
	Replicas   Replicas
	Metadata   Metadata // which brokers are live (fenced ones never join an ISR)
	Controller Controller
	// Changed, if set, is told of every committed change (metrics).
	Changed func(before, after []int32)
	Logger  *slog.Logger
}

// Run checks every isrCheckInterval until ctx ends.
func (m *ISRMaintenance) Run(ctx context.Context) {
	t := time.NewTicker(isrCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.check(ctx)
	}
}

// check looks at every local replica once and commits the ISR changes due.
func (m *ISRMaintenance) check(ctx context.Context) {
	logger := m.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, h := range m.Replicas.All() {
		role, isr, ok := h.Replica.ISRChange(m.Metadata.State().Live)
		if !ok {
			continue
		}
		change := state.AlterPartition{
			Topic: h.Topic, Partition: h.Partition,
			Leader: role.Self, LeaderEpoch: role.LeaderEpoch, PartitionEpoch: role.PartitionEpoch,
			ISR: isr,
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := m.Controller.AlterPartition(pctx, change)
		cancel()
		switch {
		case err == nil:
			if m.Changed != nil {
				m.Changed(role.ISR, isr)
			}
			logger.Info("ISR changed", "topic", h.Topic, "partition", h.Partition,
				"from", role.ISR, "to", isr, "leader_epoch", role.LeaderEpoch)
		case controller.Code(err) == kerr.InvalidUpdateVersion || controller.Code(err) == kerr.FencedLeaderEpoch:
			// The partition moved on (another change, a new leader); the
			// reconciler brings the new role and the next check decides again.
			logger.Debug("ISR change superseded", "topic", h.Topic, "partition", h.Partition, "err", err)
		case ctx.Err() == nil:
			logger.Warn("ISR change not committed; retrying", "topic", h.Topic, "partition", h.Partition,
				"from", role.ISR, "to", isr, "err", err)
		}
	}
}

// Shutdown is a broker's controlled shutdown.
type Shutdown struct {
	NodeID     int32
	Controller Controller
	Metadata   Metadata // whether there is a controller to ask
	// ElectionTimeout is the raft election timeout: the wait for the
	// controller is twice that, at least a second.
	ElectionTimeout time.Duration
	Logger          *slog.Logger
}

// Run asks the controller to move this broker's leaderships and drop it from
// every ISR before it stops, so producers see at most a retriable
// NOT_LEADER_OR_FOLLOWER. Skipped when there is no quorum to ask (the
// caller skips it for a broker that never registered).
func (s *Shutdown) Run(ctx context.Context) {
	if s.Metadata.LeaderID() == 0 {
		return
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Bounded: a cluster that lost its quorum cannot answer, and the
	// controller fences this broker after the session timeout anyway.
	ctx, cancel := context.WithTimeout(ctx, max(2*s.ElectionTimeout, time.Second))
	defer cancel()
	start := time.Now()
	if err := s.Controller.ShutdownBroker(ctx, s.NodeID); err != nil {
		logger.Warn("controlled shutdown not committed; stopping anyway (the controller fences this broker after the session timeout)", "err", err)
		return
	}
	logger.Info("controlled shutdown: leaderships moved", "took", time.Since(start).Round(time.Millisecond))
}
