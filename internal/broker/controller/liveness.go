package controller

import (
	"context"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Activity is what raft tells liveness: the current raft leader (0 if
// unknown), whether this node is it, and, on the leader, when a message from
// each other voter last arrived (raft heartbeats and their answers flow
// every tick, so a live node is heard from several times a second).
type Activity func() (leaderID int32, leading bool, lastContact map[int32]time.Time)

// Refusals is what the cluster transport tells liveness: how many dials in
// a row broker id's cluster address refused (connection refused: nothing
// listens there, so its process is gone). Silence alone, a timeout or a
// stopped process that still accepts connections count 0.
type Refusals func(id int32) int

// RefusedDialsToFence is how many refused dials in a row (with the broker
// also silent; see RunLiveness) fence a broker before its session timeout.
// The transport redials after 0, 50-100 and 100-200 ms, so two refusals
// come about 50-100 ms after a connection to a killed process breaks; two,
// not one, so a single refusal while a restarting node rebinds is not
// enough.
const RefusedDialsToFence = 2

// refusedMinSilence is how long a broker whose dials are refused must also
// have been silent before it is fenced early: several heartbeat intervals,
// so a broker that is still heard (over its own connection to us) is never
// fenced for an address we cannot reach.
func refusedMinSilence(interval time.Duration) time.Duration { return 2 * interval }

// RunLiveness fences brokers the leader has not heard from for
// sessionTimeout and unfences them when they are heard again. It runs on
// every node and acts only while the node leads; a new leader gives every
// broker a full session timeout of grace before fencing it, except the
// previous raft leader: it sent to this node every heartbeat, so its last
// contact is known, and a leader that died is fenced as soon as its session
// expired (a dead raft leader is the common case of a dead controller).
// A broker that shut down (controlled shutdown) stays fenced until it
// registers again. The leader counts itself as heard: a node fenced while
// cut off that then wins an election unfences itself.
//
// A broker whose process is known to be gone is fenced sooner: when
// refused (nil: never) reports RefusedDialsToFence refused dials in a row
// and the broker has been silent for two checks, it is fenced without
// waiting out the session timeout. A broker that is merely silent (stopped,
// slow, cut off: dials time out) keeps the full session timeout.
func (c *Controller) RunLiveness(ctx context.Context, activity Activity, refused Refusals, interval, sessionTimeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var leadingSince time.Time // zero while not leading
	var prevLeader int32       // the raft leader before this node took over
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		leaderID, leading, contact := activity()
		if !leading {
			leadingSince = time.Time{}
			if leaderID != 0 {
				prevLeader = leaderID
			}
			continue
		}
		now := time.Now()
		if leadingSince.IsZero() {
			leadingSince = now
		}
		s := c.meta.State()
		for id, b := range s.Brokers {
			last := contact[id]
			// Raft keeps no contact time for the leader itself, yet a node
			// that leads is alive by construction: it must unfence itself
			// when an earlier controller fenced it while it was cut off.
			self := id == c.opts.NodeID
			if self {
				last = now
			}
			if last.Before(leadingSince) && (id != prevLeader || last.IsZero()) {
				last = leadingSince // grace for a new leader
			}
			silent := now.Sub(last)
			switch {
			case !b.Fenced && silent > sessionTimeout:
				c.opts.Logger.Warn("fencing broker: no heartbeat within the session timeout",
					"broker", id, "silent", silent.Round(time.Millisecond), "session_timeout", sessionTimeout)
				c.setFenced(ctx, id, true, interval)
			case !b.Fenced && !self && refused != nil && silent > refusedMinSilence(interval) && refused(id) >= RefusedDialsToFence:
				c.opts.Logger.Warn("fencing broker: its cluster address refuses connections (process gone)",
					"broker", id, "silent", silent.Round(time.Millisecond), "refused_dials", refused(id))
				c.setFenced(ctx, id, true, interval)
			case b.Fenced && !b.ShutDown && (self || heardWithin(contact[id], now, 2*interval)):
				c.opts.Logger.Info("unfencing broker: heartbeats resumed", "broker", id)
				c.setFenced(ctx, id, false, interval)
			}
		}
	}
}

// heardWithin reports whether a broker was really heard (not merely given a
// new leader's grace) within d before now.
func heardWithin(at, now time.Time, d time.Duration) bool {
	return !at.IsZero() && now.Sub(at) <= d
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
