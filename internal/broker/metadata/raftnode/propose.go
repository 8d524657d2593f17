package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Every normal entry is an envelope around a state command:
//
//	version u8 (1) | node id u64 | incarnation u64 | sequence u64 | state command bytes
//
// The request id (node, incarnation, sequence) lets the node that proposed an entry hand
// the result of applying it back to the waiting caller. The command bytes are exactly what
// state.Encode produced. Integers are big-endian.
const (
	envelopeVersion   = 1
	envelopeHeaderLen = 1 + 8 + 8 + 8
)

// requestID identifies one proposal. The incarnation is random per process, so entries
// proposed by an earlier run of this node (replayed after a restart) never match a caller
// of this run.
type requestID struct {
	node, incarnation, seq uint64
}

func encodeEnvelope(id requestID, cmd []byte) []byte {
	b := make([]byte, 0, envelopeHeaderLen+len(cmd))
	b = append(b, envelopeVersion)
	b = binary.BigEndian.AppendUint64(b, id.node)
	b = binary.BigEndian.AppendUint64(b, id.incarnation)
	b = binary.BigEndian.AppendUint64(b, id.seq)
	return append(b, cmd...)
}

func decodeEnvelope(b []byte) (requestID, []byte, error) {
	if len(b) < 1 {
		return requestID{}, nil, errors.New("empty envelope")
	}
	if b[0] != envelopeVersion {
		return requestID{}, nil, fmt.Errorf("envelope version %d not supported (want %d)", b[0], envelopeVersion)
	}
	if len(b) < envelopeHeaderLen {
		return requestID{}, nil, fmt.Errorf("envelope of %d bytes is shorter than its %d-byte header", len(b), envelopeHeaderLen)
	}
	id := requestID{
		node:        binary.BigEndian.Uint64(b[1:9]),
		incarnation: binary.BigEndian.Uint64(b[9:17]),
		seq:         binary.BigEndian.Uint64(b[17:25]),
	}
	return id, b[envelopeHeaderLen:], nil
}

// Propose commits one state command and returns the result of applying it. It returns only
// after this node applied the entry, so State() afterwards reflects it. It works on any node
// (raft forwards to the leader). Errors:
//   - a rejection by the state machine wraps state.ErrRejected;
//   - ErrNoLeader when no leader has been known for longer than twice the election timeout;
//   - ctx's error when ctx ends first: the entry may still commit later;
//   - the fatal error (or ErrClosed) once the node stopped.
//
// A proposal that raft drops silently (its leader lost it) is only noticed through ctx or
// the no-leader check; it is never re-proposed, since it may also have committed.
func (n *Node) Propose(ctx context.Context, typ string, payload any) (state.Result, error) {
	res, err := n.propose(ctx, typ, payload)
	if err != nil {
		return state.Result{}, fmt.Errorf("propose %s: %w", typ, err)
	}
	return res, nil
}

func (n *Node) propose(ctx context.Context, typ string, payload any) (state.Result, error) {
	if err := n.haltError(); err != nil {
		return state.Result{}, err
	}
	if r, ok := payload.(state.RegisterBroker); ok && typ == state.TypeRegisterBroker {
		// The binary, not the caller, knows which metadata versions it supports.
		r.Broker.MinMetadataVersion, r.Broker.MaxMetadataVersion = state.MinMetadataVersion, n.cfg.MaxMetadataVersion
		payload = r
	}
	cmd, err := state.Encode(typ, payload)
	if err != nil {
		return state.Result{}, err
	}
	// A command the state machine cannot decode would stop every node that applies it, and
	// one above the cluster's metadata version must wait for the version to be raised; the
	// leader checks forwarded proposals the same way (checkForwarded). Rejections are left
	// to the real apply, since the state may change before the entry commits.
	if err := checkCommand(n.State(), cmd); err != nil {
		return state.Result{}, err
	}
	id := requestID{node: n.cfg.NodeID, incarnation: n.incarnation, seq: n.seq.Add(1)}
	done := n.addWaiter(id.seq)
	defer n.removeWaiter(id.seq)
	if err := n.submit(ctx, encodeEnvelope(id, cmd)); err != nil {
		return state.Result{}, err
	}
	return n.await(ctx, done)
}

// SetMetadataVersion raises the cluster's active metadata version to v (state.SetMetadataVersion).
// This node refuses a version its own binary does not support; the state machine refuses it
// unless every registered broker supports it.
func (n *Node) SetMetadataVersion(ctx context.Context, v int) error {
	if v > n.cfg.MaxMetadataVersion {
		return fmt.Errorf("set metadata version %d: this node supports up to %d", v, n.cfg.MaxMetadataVersion)
	}
	_, err := n.Propose(ctx, state.TypeSetMetadataVersion, state.SetMetadataVersion{Version: v})
	return err
}

// submit hands the entry to raft. raft.Node holds proposals while it knows no leader, so the
// wait is bounded by the no-leader timeout.
func (n *Node) submit(ctx context.Context, data []byte) error {
	wait := n.noLeaderTimeout - n.leaderlessFor()
	if wait <= 0 {
		return ErrNoLeader
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := n.raft.Propose(pctx, data)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrStopped):
		if herr := n.haltError(); herr != nil {
			return herr
		}
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case pctx.Err() != nil:
		return ErrNoLeader
	default:
		return err // e.g. raft.ErrProposalDropped during a leader transfer
	}
}

// await waits for the apply loop to answer, for ctx, for the node to stop, or for the
// cluster to have been leaderless too long.
func (n *Node) await(ctx context.Context, done <-chan outcome) (state.Result, error) {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case out := <-done:
			return out.res, out.err
		case <-ctx.Done():
			return answered(done, ctx.Err())
		case <-n.halted:
			return answered(done, n.haltError())
		case <-ticker.C:
			if n.leaderlessFor() > n.noLeaderTimeout {
				return answered(done, ErrNoLeader)
			}
		}
	}
}

// answered prefers an answer that arrived together with another reason to stop waiting.
func answered(done <-chan outcome, err error) (state.Result, error) {
	select {
	case out := <-done:
		return out.res, out.err
	default:
		return state.Result{}, err
	}
}

func (n *Node) addWaiter(seq uint64) <-chan outcome {
	ch := make(chan outcome, 1) // the apply loop never blocks on a caller
	n.waitMu.Lock()
	n.waiters[seq] = ch
	n.waitMu.Unlock()
	return ch
}

func (n *Node) removeWaiter(seq uint64) {
	n.waitMu.Lock()
	delete(n.waiters, seq)
	n.waitMu.Unlock()
}

// reply answers this process's proposers; callers that gave up are gone from the map.
func (n *Node) reply(replies []delivery) {
	if len(replies) == 0 {
		return
	}
	n.waitMu.Lock()
	defer n.waitMu.Unlock()
	for _, r := range replies {
		if ch, ok := n.waiters[r.seq]; ok {
			ch <- r.out
			delete(n.waiters, r.seq)
		}
	}
}

// initCluster proposes Config.ClusterID once the node has caught up and the state still has
// no cluster id. Every founder does; the state keeps the first committed one.
func (n *Node) initCluster(ctx context.Context) {
	defer n.bg.Done()
	for {
		wake := n.events.Wait()
		if n.State().ClusterID != "" {
			return
		}
		if n.Ready() {
			pctx, cancel := context.WithTimeout(ctx, 2*n.noLeaderTimeout)
			_, err := n.Propose(pctx, state.TypeInitCluster, state.InitCluster{
				ClusterID: n.cfg.ClusterID, MetadataVersion: n.cfg.MaxMetadataVersion,
			})
			cancel()
			if err == nil || ctx.Err() != nil || n.isHalted() {
				return
			}
			n.log.Warn("propose cluster id failed; retrying", "cluster_id", n.cfg.ClusterID, "error", err)
			if !sleepCtx(ctx, n.electionTimeout) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// sleepCtx waits for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
