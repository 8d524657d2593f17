// Package raftnode runs the metadata raft node: an etcd raft.Node (go.etcd.io/raft/v3) on a
// durable raftstore.Store, talking to its peers through the cluster transport, applying
// committed commands to the metadata state machine (package state).
//
// # Ready loop
//
// One goroutine owns the raft node. For every Ready, in this order:
//
//  1. Save HardState, Entries and Snapshot in one fsynced raftstore.Save, BEFORE any message
//     leaves: a vote or an append acknowledged over the network is on disk.
//  2. If the Ready carries a snapshot (sent by the leader), replace the state machine with it.
//  3. Hand rd.Messages to the transport, which never blocks.
//  4. Apply rd.CommittedEntries in order: normal entries carry a request-id envelope around a
//     state command (state.Apply), conf changes go to raft (ApplyConfChange) and their ConfState
//     is recorded for snapshots. The new State is published (copy-on-write) and only then are
//     the waiting proposers answered, so a proposer that returns sees its change in State().
//  5. Every SnapshotEntries applied entries, snapshot the state into the store and compact the
//     log, keeping SnapshotCatchUpEntries entries for followers that are a little behind.
//  6. Advance.
//
// The state machine lives in memory. On start it is restored from the store's snapshot and
// raft.Config.Applied is set to that snapshot's index, so raft replays exactly the committed
// entries after it: nothing is applied twice in a process, and the state after a restart
// equals the state before.
//
// A Save error (disk full), a failed snapshot or compaction write, or an entry this binary
// cannot decode is fatal for the node as a voter: the loop logs the reason at ERROR and stops
// without sending or advancing, raft and the transport are stopped, Status reports the error,
// Propose returns it and Done is closed (Err wraps ErrStorage for the write failures, so the
// broker stops its process, as Kafka halts a broker whose metadata log dir failed). The last
// State stays readable. The package never panics or exits on its own; raft itself still panics (through
// raftstore.RaftLogger) on invariant violations inside its goroutine, such as a read error
// from the store.
//
// # Who is heard
//
// The transport hears only current members, voters and learners (the ConfState, as of the
// last applied conf change or snapshot; see membership.go for joining and leaving) under the identity their connection proved (Config.Security), and every raft
// message must come from that identity. A proposal forwarded by a follower (MsgProp) is
// checked entry by entry before raft.Step, as the local proposer checks its own: a normal
// entry whose envelope names its sender, holding a command this binary decodes, of a metadata
// version the cluster has activated, that the state machine's dry run does not refuse as
// undecodable. Anything else is dropped with a rate-limited log line, so no byte sequence
// from outside puts an entry in the log that some node cannot apply.
//
// # Cluster token
//
// The transport handshake carries a cluster token so that nodes of different clusters refuse
// each other. It is not a credential: it is derived from --peers, which are not secret. A new cluster derives it from its sorted founding Peers, so all founders agree
// without talking (or takes Config.ClusterToken, --initial-cluster-token, when the founders'
// --peers differ); it is stored in Dir/raft-cluster-token and reused on every restart (the
// --peers flag is ignored for membership once raft state exists). Config.ClusterID is the
// user-visible cluster id: once caught up, a node whose state has none proposes
// state.InitCluster with it, and the first committed one wins.
package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftstore"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
	"github.com/chronik-dev/chronik/internal/broker/notify"
	"github.com/chronik-dev/chronik/internal/netlimit"
)

// Defaults for zero Config fields.
const (
	DefaultTickInterval           = 100 * time.Millisecond
	DefaultElectionTicks          = 10
	DefaultHeartbeatTicks         = 1
	DefaultSnapshotEntries        = 10000
	DefaultSnapshotCatchUpEntries = 100
)

// Raft flow-control limits. Metadata commands are small; these only bound memory.
const (
	maxSizePerMsg             = 1 << 20
	maxInflightMsgs           = 256
	maxUncommittedEntriesSize = 64 << 20
)

// storeFile is the raft store's file name inside Config.Dir.
const storeFile = "raft.db"

// ErrNoLeader is returned by Propose when the cluster has had no leader for longer than
// election can take (twice the election timeout): the proposal cannot commit now.
var ErrNoLeader = errors.New("no raft leader")

// ErrClosed is returned by calls on a closed Node.
var ErrClosed = errors.New("raft node closed")

// ErrStorage is wrapped by the error a node halts with when writing to its raft store
// failed (disk full, I/O error): the node cannot go on as a voter, and the process hosting
// it should stop (see Done).
var ErrStorage = errors.New("raft store write failed")

// Config configures a Node.
type Config struct {
	// NodeID is this node's raft id; not zero.
	NodeID uint64
	// Dir is the raft data directory; raft.db lives here.
	Dir string
	// ListenAddr is the cluster listener (":9093"; "127.0.0.1:0" in tests).
	ListenAddr string
	// Peers maps the initial voters, INCLUDING this node, to their cluster addresses; one
	// entry is a single-node cluster. It founds the cluster on the first start only; once raft
	// state exists the voters come from it, and Peers only supplies the peers' addresses.
	Peers map[uint64]string
	// ClusterToken, when set, is the founding nodes' handshake token instead of one derived
	// from Peers: founders that reach each other at different addresses (through NAT, a
	// proxy, per-node host names) cannot derive the same one. Used on the first start only.
	ClusterToken string
	// ClusterID is proposed through state.InitCluster until the state has a cluster id; the
	// first committed wins. Empty: never proposed. The transport handshake uses the cluster
	// token instead (see the package doc).
	ClusterID string
	// TickInterval is raft's logical clock; default 100ms.
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks; default 10 (about 1s).
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks; default 1.
	HeartbeatTicks int
	// SnapshotEntries: snapshot and compact every N applied entries; default 10000.
	SnapshotEntries uint64
	// SnapshotCatchUpEntries is how many entries compaction keeps behind a snapshot, so a
	// follower that is only a little behind catches up from the log instead of a full
	// snapshot; default 100.
	SnapshotCatchUpEntries uint64
	// Logger receives the node's, raft's, the store's and the transport's logs; nil discards.
	Logger *slog.Logger
	// Commands are command types the state machine applies besides the built-in ones
	// (state.State.Extend). The product sets none; tests add commands that build states the
	// product never creates (statetest). Every voter must have the same.
	Commands state.Commands
	// Security authenticates cluster connections (transport.Security): mutual TLS, a shared
	// secret, or nothing. Whatever it is, only current voters are heard (see the package doc).
	Security transport.Security
	// MaxMetadataVersion is the newest metadata version this node applies and proposes;
	// default state.MaxMetadataVersion. Tests lower or raise it to play an older or newer
	// binary.
	MaxMetadataVersion int
	// BeforeSave, when set, runs before every write of raft state to the store (the Ready
	// loop's fsynced commit); an error fails the write as a failing disk would. Fault-injection
	// builds (chronik_faults) delay it to play a slow disk, tests fail it; nil in production.
	BeforeSave func() error
	// OnSave, when set, is told how long each write of raft state that had
	// something to write took (BeforeSave included), on the Ready loop: a
	// node reports its raft store's fsync latency with it. It must not
	// block.
	OnSave func(time.Duration)
	// Join starts a node with no raft state as a joiner instead of a founder: Peers are the
	// current members' addresses (this node not among them), ClusterToken is the cluster's
	// token, and the node waits for the leader to add it (AddLearner). Ignored once raft
	// state exists.
	Join bool
	// JoinContact, on a node with no raft state, is any member's cluster address (--join):
	// Start first asks the cluster to add this node (authenticated with Security), at the
	// address Advertise, and takes the members' addresses and the token from the answer;
	// then it starts as with Join. Ignored once raft state exists.
	JoinContact string
	Advertise   string
	// VoterTarget is how many voters the leader keeps by promoting caught-up learners
	// (--metadata-voters); 0 never promotes.
	VoterTarget int
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = DefaultSnapshotCatchUpEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxMetadataVersion <= 0 {
		c.MaxMetadataVersion = state.MaxMetadataVersion
	}
	c.Peers = maps.Clone(c.Peers) // the caller may reuse its map
	return c
}

func (c Config) validate() error {
	switch {
	case c.NodeID == 0:
		return errors.New("node id must not be zero")
	case c.Dir == "":
		return errors.New("raft data dir is empty")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("election ticks (%d) must exceed heartbeat ticks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	}
	for id, addr := range c.Peers {
		if id == 0 {
			return fmt.Errorf("peer id 0 (%s) is not a valid raft id", addr)
		}
		if addr == "" {
			return fmt.Errorf("peer %d has no address", id)
		}
	}
	return nil
}

// disk is the part of the store the Ready loop writes through. Tests wrap it to inject
// failures; raft reads the store directly.
type disk interface {
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error)
	Compact(index uint64) error
}

// hooks let tests observe and break the loop; all nil in production.
type hooks struct {
	wrapDisk          func(disk) disk
	onApply           func(index uint64)
	onInstallSnapshot func(index uint64)
}

// Node is a running raft member. Its methods are safe for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	hooks hooks

	store     *raftstore.Store
	disk      disk
	raft      raft.Node
	transport *transport.Transport

	// incarnation tells this process's request ids from those of earlier runs of the same
	// node, whose entries raft may replay.
	incarnation uint64
	seq         atomic.Uint64
	waitMu      sync.Mutex
	waiters     map[uint64]chan outcome

	electionTimeout time.Duration
	// noLeaderTimeout is how long a proposal waits for a leader: a randomized election
	// timeout is at most twice the configured one.
	noLeaderTimeout time.Duration
	clock0          time.Time // monotonic base for leaderlessSince

	// Published by the loop, read anywhere.
	st              atomic.Pointer[state.State]
	voters          atomic.Pointer[map[uint64]bool] // current voters (incoming and outgoing)
	dropLog         *netlimit.LogLimiter            // refused forwarded proposals
	applied         atomic.Uint64
	snapIndex       atomic.Uint64
	lead            atomic.Uint64
	leaderlessSince atomic.Int64 // nanoseconds since clock0, plus one; 0 while a leader is known
	caughtUp        atomic.Bool
	changed         notify.Notifier // State replaced
	events          notify.Notifier // applied, leader, readiness or halt changed

	// Owned by the loop goroutine (set up by Start before it runs).
	confState    *raftpb.ConfState
	commit       uint64
	startCommit  uint64
	readyTarget  uint64
	targetSet    bool
	peersChecked bool
	awaitSelf    bool // a joiner not yet in the configuration it applied; see afterApply
	snapAttempt  uint64
	snapNow      bool // snapshot after this Ready whatever SnapshotEntries says (a member was added)

	token  string // the transport's cluster token, handed to joiners
	bookMu sync.Mutex
	book   map[uint64]string // cluster address of every member added by a conf change (membersFile)

	haltOnce sync.Once
	halted   chan struct{} // closed by a fatal error or Close
	mu       sync.Mutex    // guards haltErr and final
	haltErr  error
	final    Status // what Status reports once halted

	cancel    context.CancelFunc // ends background goroutines and the transport
	bg        sync.WaitGroup
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Close stops the Ready loop, the transport and raft, and closes the store. It does not
// snapshot or flush anything first: every Save is already fsynced, so Close is equivalent to
// kill -9 for what survives. Close is idempotent and works after a fatal error.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.stop)
		<-n.loopDone
		n.halt(ErrClosed) // no-op after a fatal error
		n.cancel()
		n.bg.Wait()
		// The transport goes first: its handlers step into raft, which is still running.
		_ = n.transport.Close() // always nil
		n.raft.Stop()
		n.closeErr = n.store.Close()
		n.log.Info("raft node closed")
	})
	return n.closeErr
}

// State returns the latest applied metadata. It is shared and immutable: never modify it
// (Clone it to derive a changed copy).
func (n *Node) State() *state.State { return n.st.Load() }

// Changed returns a channel that is closed the next time State changes.
func (n *Node) Changed() <-chan struct{} { return n.changed.Wait() }

// Applied returns the index of the last entry applied to State.
func (n *Node) Applied() uint64 { return n.applied.Load() }

// WaitApplied waits until State reflects the entry at index. It fails when ctx ends or the
// node stops first.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		wake := n.events.Wait()
		if n.applied.Load() >= index {
			return nil
		}
		select {
		case <-n.halted:
			return fmt.Errorf("wait for applied index %d: %w", index, n.haltError())
		case <-ctx.Done():
			return fmt.Errorf("wait for applied index %d: %w", index, ctx.Err())
		case <-wake:
		}
	}
}

// LeaderID returns the current leader's id, 0 when none is known.
func (n *Node) LeaderID() uint64 {
	if n.isHalted() {
		return 0
	}
	return n.lead.Load()
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.LeaderID() == n.cfg.NodeID }

// Ready reports whether the node has joined: a leader is known, and this node has applied
// everything committed when it first learned of a leader (at least what it had committed
// before the restart). Once caught up, Ready follows the leader's presence.
func (n *Node) Ready() bool {
	return n.caughtUp.Load() && n.LeaderID() != 0
}

// halt records why the node stopped and wakes everybody waiting on it. The first call wins.
func (n *Node) halt(err error) {
	n.haltOnce.Do(func() {
		final := n.buildStatus(n.raft.Status()) // raft is still running here
		final.Role, final.Lead, final.Progress, final.Ready, final.Err = roleStopped, 0, nil, false, err.Error()
		n.mu.Lock()
		n.haltErr, n.final = err, final
		n.mu.Unlock()
		close(n.halted)
		n.events.Notify()
	})
}

func (n *Node) isHalted() bool {
	select {
	case <-n.halted:
		return true
	default:
		return false
	}
}

// Done is closed when the node has stopped: by Close, or on its own after a fatal error
// (Err says which).
func (n *Node) Done() <-chan struct{} { return n.halted }

// Err is why the node stopped: nil while it runs, ErrClosed after Close, and otherwise the
// fatal error, which wraps ErrStorage when writing to the raft store failed.
func (n *Node) Err() error { return n.haltError() }

// haltError is the reason the node stopped (nil while it runs).
func (n *Node) haltError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.haltErr
}

// now is a monotonic clock reading for leaderlessSince; never 0.
func (n *Node) now() int64 { return int64(time.Since(n.clock0)) + 1 }

// leaderlessFor is how long no leader has been known.
func (n *Node) leaderlessFor() time.Duration {
	since := n.leaderlessSince.Load()
	if since == 0 {
		return 0
	}
	return time.Duration(n.now() - since)
}
