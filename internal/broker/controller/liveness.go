package controller

import (
	"context"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/meta/state"
)

// Activity is what the raft leader knows of the voters: whether this node
// leads, and which brokers it heard from recently (raft heartbeat responses
// arrive every tick, so a live node is always recently active).
type Activity func() (leader bool, heard map[int32]bool)

// RunLiveness fences brokers the leader has not heard from for
// sessionTimeout and unfences them when they are heard again. It runs on
// every node and acts only while the node leads; a new leader gives every
// broker a full session timeout of grace before fencing it.
func (c *Controller) RunLiveness(ctx context.Context, activity Activity, interval, sessionTimeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastSeen map[int32]time.Time // nil while not leading
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		leader, heard := activity()
		if !leader {
			lastSeen = nil
			continue
		}
		now := time.Now()
		s := c.meta.State()
		if lastSeen == nil {
			lastSeen = map[int32]time.Time{}
			for id := range s.Brokers {
				lastSeen[id] = now
			}
		}
		for id, b := range s.Brokers {
			alive := id == c.opts.NodeID || heard[id]
			if alive {
				lastSeen[id] = now
			} else if _, ok := lastSeen[id]; !ok {
				lastSeen[id] = now // registered while we lead: grace from now
			}
			silent := now.Sub(lastSeen[id])
			switch {
			case !b.Fenced && silent > sessionTimeout:
				c.opts.Logger.Warn("fencing broker: no heartbeat within the session timeout",
					"broker", id, "silent", silent.Round(time.Millisecond), "session_timeout", sessionTimeout)
				c.setFenced(ctx, id, true, interval)
			case b.Fenced && alive:
				c.opts.Logger.Info("unfencing broker: heartbeats resumed", "broker", id)
				c.setFenced(ctx, id, false, interval)
			}
		}
	}
}

func (c *Controller) setFenced(ctx context.Context, id int32, fenced bool, timeout time.Duration) {
	typ := state.TypeUnfenceBroker
	if fenced {
		typ = state.TypeFenceBroker
	}
	pctx, cancel := context.WithTimeout(ctx, 4*timeout)
	defer cancel()
	if _, err := c.meta.Propose(pctx, typ, state.FenceBroker{ID: id}); err != nil && ctx.Err() == nil {
		c.opts.Logger.Warn("liveness change not committed; retrying on the next check", "broker", id, "fenced", fenced, "err", err)
	}
}

// Register records this broker (addresses and a fresh incarnation) in the
// metadata, retrying until it is committed or ctx ends.
func (c *Controller) Register(ctx context.Context, b state.Broker, retry time.Duration) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*retry)
		_, err := c.meta.Propose(pctx, state.TypeRegisterBroker, state.RegisterBroker{Broker: b})
		cancel()
		if err == nil {
			c.opts.Logger.Info("broker registered", "broker", b.ID, "kafka", b.KafkaAddr, "cluster", b.ClusterAddr)
			return nil
		}
		c.opts.Logger.Debug("broker registration not committed yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
