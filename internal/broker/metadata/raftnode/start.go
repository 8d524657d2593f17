package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftstore"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
	"github.com/chronik-dev/chronik/internal/netlimit"
)

// Start opens the raft store in cfg.Dir, starts raft (fresh: with cfg.Peers as voters;
// otherwise from the stored state), the transport and the Ready loop. ctx bounds start-up
// only; Close stops the node.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	return start(ctx, cfg, hooks{})
}

func start(ctx context.Context, cfg Config, h hooks) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start raft node: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start raft node %d: %w", cfg.NodeID, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("start raft node %d: %w", cfg.NodeID, err)
	}
	logger := cfg.Logger.With("node", cfg.NodeID)
	store, err := raftstore.Open(filepath.Join(cfg.Dir, storeFile), logger)
	if err != nil {
		return nil, fmt.Errorf("start raft node %d: %w", cfg.NodeID, err)
	}
	n, err := newNode(ctx, cfg, h, logger, store)
	if err != nil {
		_ = store.Close() // the start-up error matters more
		return nil, fmt.Errorf("start raft node %d: %w", cfg.NodeID, err)
	}
	return n, nil
}

// newNode does everything after the store is open; on error the caller closes the store.
func newNode(ctx context.Context, cfg Config, h hooks, logger *slog.Logger, store *raftstore.Store) (*Node, error) {
	if err := claimStore(store, cfg); err != nil {
		return nil, err
	}
	hs, _, err := store.InitialState()
	if err != nil {
		return nil, err
	}
	snap, err := store.Snapshot()
	if err != nil {
		return nil, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return nil, err
	}
	fresh := raft.IsEmptyHardState(hs) && raft.IsEmptySnap(snap) && last == 0
	if fresh && cfg.JoinContact != "" {
		if cfg, err = joinFirst(ctx, cfg, logger); err != nil {
			return nil, err
		}
	}
	joining := fresh && cfg.Join
	switch {
	case joining:
		if _, ok := cfg.Peers[cfg.NodeID]; ok {
			return nil, fmt.Errorf("joining node %d is already among the members %v", cfg.NodeID, sortedIDs(cfg.Peers))
		}
		if cfg.ClusterToken == "" || len(cfg.Peers) == 0 {
			return nil, errors.New("joining needs the cluster token and the members' addresses")
		}
	case fresh:
		if _, ok := cfg.Peers[cfg.NodeID]; !ok {
			return nil, fmt.Errorf("peers %v do not include this node (%d)", sortedIDs(cfg.Peers), cfg.NodeID)
		}
	}
	token, err := clusterToken(cfg, logger, fresh)
	if err != nil {
		return nil, err
	}

	st := state.New()
	if !raft.IsEmptySnap(snap) {
		if st, err = state.Restore(snap.GetData()); err != nil {
			return nil, fmt.Errorf("restore metadata snapshot %d from %s: %w",
				snap.GetMetadata().GetIndex(), store.Path(), err)
		}
	}
	st.Extend(cfg.Commands)
	st.SetSupportedMetadataVersion(cfg.MaxMetadataVersion)
	snapIndex := snap.GetMetadata().GetIndex()

	n := &Node{
		cfg:             cfg,
		log:             logger.With("component", "raft-node"),
		hooks:           h,
		store:           store,
		disk:            store,
		incarnation:     rand.Uint64(),
		waiters:         make(map[uint64]chan outcome),
		electionTimeout: cfg.TickInterval * time.Duration(cfg.ElectionTicks),
		clock0:          time.Now(),
		confState:       snap.GetMetadata().GetConfState(),
		commit:          hs.GetCommit(),
		startCommit:     hs.GetCommit(),
		peersChecked:    fresh || cfg.Join, // a founder's voters are its peers; a joiner's come from the leader
		snapAttempt:     snapIndex,
		awaitSelf:       joining,
		halted:          make(chan struct{}),
		stop:            make(chan struct{}),
		loopDone:        make(chan struct{}),
	}
	n.noLeaderTimeout = 2 * n.electionTimeout
	if cfg.BeforeSave != nil {
		n.disk = hookedDisk{disk: n.disk, before: cfg.BeforeSave}
	}
	if cfg.OnSave != nil {
		n.disk = timedDisk{disk: n.disk, observe: cfg.OnSave}
	}
	if h.wrapDisk != nil {
		n.disk = h.wrapDisk(n.disk)
	}
	n.token = token
	n.st.Store(st)
	n.dropLog = netlimit.NewLogLimiter(dropLogInterval)
	if n.book, err = readMembers(cfg.Dir); err != nil {
		return nil, err
	}
	voters, err := initialVoters(store, snap, cfg, fresh)
	if err != nil {
		return nil, err
	}
	if len(voters) == 0 {
		// A joiner stopped after storing a hard state but before its first
		// snapshot has no configuration yet: the members it learned when it
		// joined (raft-members.json) may talk to it until the snapshot says.
		for id := range n.book {
			if id != cfg.NodeID {
				voters[id] = true
			}
		}
	}
	n.setVoters(voters)
	n.applied.Store(snapIndex)
	n.snapIndex.Store(snapIndex)
	n.leaderlessSince.Store(n.now())

	rc := &raft.Config{
		ID:                        cfg.NodeID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   store,
		Applied:                   snapIndex, // raft replays what follows into the restored state
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           maxInflightMsgs,
		MaxUncommittedEntriesSize: maxUncommittedEntriesSize,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    raftstore.RaftLogger(logger),
	}
	var peers []raft.Peer
	if fresh && !joining { // a joiner starts empty: the leader sends it a snapshot or the log
		for _, id := range sortedIDs(cfg.Peers) {
			peers = append(peers, raft.Peer{ID: id})
		}
	}
	if n.raft, err = startRaft(rc, peers); err != nil {
		return nil, err
	}

	// Addresses learned from conf changes first; --peers (the operator's word) wins.
	others := make(map[uint64]string, len(cfg.Peers)+len(n.book))
	for id, addr := range n.book {
		if id != cfg.NodeID {
			others[id] = addr
		}
	}
	for id, addr := range cfg.Peers {
		if id != cfg.NodeID {
			others[id] = addr
		}
	}
	n.transport = transport.New(transport.Config{
		NodeID:           cfg.NodeID,
		ClusterID:        token,
		ListenAddr:       cfg.ListenAddr,
		Peers:            others,
		Handler:          n.receive,
		OnUnreachable:    n.raft.ReportUnreachable,
		OnSnapshotStatus: n.reportSnapshot,
		Logger:           cfg.Logger, // the transport adds the node id itself
		Security:         cfg.Security,
		IsMember:         n.isVoter,
	})
	n.transport.Handle(transport.PurposeJoin, n.serveJoin)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := n.transport.Start(runCtx); err != nil {
		cancel()
		n.raft.Stop()
		return nil, err
	}
	n.cancel = cancel

	if joining {
		n.log.Info("raft node joining a running cluster; waiting for the leader to add it", "members", sortedIDs(cfg.Peers))
	} else if fresh {
		n.log.Info("raft node founding a new cluster", "voters", sortedIDs(cfg.Peers), "cluster_token", token)
	} else {
		n.log.Info("raft node restarting from stored state", "snapshot_index", snapIndex,
			"commit", hs.GetCommit(), "term", hs.GetTerm(), "last_index", last)
	}
	go n.run()
	if _, self := cfg.Peers[cfg.NodeID]; self && len(cfg.Peers) == 1 {
		n.bg.Add(1)
		go n.campaignAlone(runCtx)
	}
	if cfg.ClusterID != "" {
		n.bg.Add(1)
		go n.initCluster(runCtx)
	}
	if cfg.VoterTarget > 0 {
		n.bg.Add(1)
		go n.keepVoters(runCtx)
	}
	return n, nil
}

// claimStore refuses a store that belongs to another node and marks a new one as ours.
func claimStore(store *raftstore.Store, cfg Config) error {
	id, ok, err := store.NodeID()
	if err != nil {
		return err
	}
	if ok && id != cfg.NodeID {
		return fmt.Errorf("raft data in %s belongs to node %d, not node %d", cfg.Dir, id, cfg.NodeID)
	}
	if !ok {
		return store.SetNodeID(cfg.NodeID)
	}
	return nil
}

// clusterToken returns the transport handshake token: derived from the founding peers for a
// new cluster, read back afterwards.
func clusterToken(cfg Config, logger *slog.Logger, fresh bool) (string, error) {
	if !fresh {
		token, ok, err := readToken(cfg.Dir)
		if err != nil || ok {
			return token, err
		}
		logger.Warn("raft state exists but its cluster token is missing; deriving it from --peers (or taking --initial-cluster-token), "+
			"which only matches the other nodes if --peers is the founding member list",
			"file", filepath.Join(cfg.Dir, tokenFile))
	}
	// A new cluster (re)derives the token every time, so a founder restarted with corrected
	// --peers before raft saved anything does not keep a wrong one.
	token := cfg.ClusterToken
	if token == "" {
		token = deriveToken(cfg.Peers)
	}
	if len(token) > maxTokenLen {
		return "", fmt.Errorf("initial cluster token: %d bytes, at most %d", len(token), maxTokenLen)
	}
	if err := writeToken(cfg.Dir, token); err != nil {
		return "", err
	}
	return token, nil
}

// startRaft turns raft's start-up panics (bad config, unreadable storage) into errors.
func startRaft(rc *raft.Config, peers []raft.Peer) (n raft.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("start raft: %v", r)
		}
	}()
	if len(peers) > 0 {
		return raft.StartNode(rc, peers), nil
	}
	return raft.RestartNode(rc), nil
}

// receive is the transport's Handler: every inbound message goes to raft, after a forwarded
// proposal passed checkForwarded.
func (n *Node) receive(ctx context.Context, m *raftpb.Message) error {
	if m.GetType() == raftpb.MsgProp {
		if err := n.checkForwarded(m); err != nil {
			n.dropLog.Log(n.log, slog.LevelWarn, "dropped a forwarded proposal that could not be applied", fmt.Sprint(m.GetFrom()),
				"from", m.GetFrom(), "entries", len(m.GetEntries()), "error", err)
			return nil
		}
		// A proposal a follower forwarded waits inside raft while this node
		// knows no leader. It must not hold up the connection: the votes
		// behind it on the same stream are what elects a leader. Dropped, it
		// is retried by its proposer, which waits for the commit anyway.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.TickInterval)
		defer cancel()
	}
	err := n.raft.Step(ctx, m)
	switch {
	case err == nil, errors.Is(err, raft.ErrStopped):
		return nil // a stopped node drops messages; closing the connection would only make noise
	case m.GetType() == raftpb.MsgProp && (errors.Is(err, raft.ErrProposalDropped) || errors.Is(err, context.DeadlineExceeded)):
		n.log.Debug("dropped a forwarded proposal", "from", m.GetFrom(), "err", err)
		return nil
	}
	return fmt.Errorf("step %s: %w", m.GetType(), err)
}

func (n *Node) reportSnapshot(peer uint64, failed bool) {
	status := raft.SnapshotFinish
	if failed {
		status = raft.SnapshotFailure
	}
	n.raft.ReportSnapshot(peer, status)
}

// campaignAlone spares a lone voter the randomized election timeout: it asks
// raft to campaign every tick until a leader is known. Raft refuses until the
// founding configuration is applied; pre-vote keeps this harmless if the
// stored state says there are other voters.
func (n *Node) campaignAlone(ctx context.Context) {
	defer n.bg.Done()
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	for range n.cfg.ElectionTicks {
		// One tick first: the founding configuration is applied by then.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.LeaderID() != 0 {
			return
		}
		if err := n.raft.Campaign(ctx); err != nil {
			return
		}
	}
}

// joinFirst asks the cluster at cfg.JoinContact to add this node and turns the answer into a
// joiner's configuration: the members' addresses as Peers, the cluster's token, Join set.
// The addresses are stored at once, so a restart before the first snapshot knows them.
func joinFirst(ctx context.Context, cfg Config, logger *slog.Logger) (Config, error) {
	if cfg.Advertise == "" {
		return cfg, errors.New("joining needs this node's advertised cluster address")
	}
	logger.Info("asking the cluster to add this node", "join", cfg.JoinContact, "advertise", cfg.Advertise)
	j, err := join(ctx, JoinConfig{NodeID: cfg.NodeID, Advertise: cfg.Advertise, Contact: cfg.JoinContact,
		Security: cfg.Security}, logger)
	if err != nil {
		return cfg, err
	}
	if err := writeMembers(cfg.Dir, j.members); err != nil {
		return cfg, err
	}
	cfg.Peers = map[uint64]string{}
	for id, addr := range j.members {
		if id != cfg.NodeID {
			cfg.Peers[id] = addr
		}
	}
	cfg.ClusterToken, cfg.Join = j.token, true
	return cfg, nil
}
