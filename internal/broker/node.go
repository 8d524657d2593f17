// Package broker is one chronik node: it wires the raft metadata node, the
// partition replicas, the controller, the group coordinator and the Kafka
// and admin listeners, and owns their lifetimes.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/quota"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/replication"
	"github.com/chronik-dev/chronik/internal/broker/txn"
	"github.com/chronik-dev/chronik/internal/tlsreload"
	"github.com/prometheus/client_golang/prometheus"
)

// livenessInterval is how often the controller checks broker liveness.
const livenessInterval = 100 * time.Millisecond

// Addrs are the bound listener addresses of a running node.
type Addrs struct {
	Kafka            string // bound Kafka listener
	AdvertiseKafka   string // what clients are told
	Cluster          string // bound raft listener
	AdvertiseCluster string // what peers dial
	Admin            string // bound admin listener, empty when disabled
	// Listeners are every Kafka listener; Kafka and AdvertiseKafka repeat
	// the first PLAINTEXT one (or the first).
	Listeners []ListenerAddr
}

// Node is a running chronik node.
type Node struct {
	cfg    Config
	logger *slog.Logger
	lock   *os.File

	raft       *raftnode.Node
	replicas   *replica.Manager
	controller *controller.Controller
	groups     *group.Coordinator
	txns       *txn.Coordinator   // the transaction coordinator (txn_wiring.go)
	inter      interbrokerClients // requests to other brokers (interbroker_wiring.go)
	kafka      *kafka.Server      // the primary listener's (kafka_listeners.go); also serves replica connections
	listeners  []*kafkaListener   // every Kafka listener, bound by bindListeners
	kafkaTLS   *tlsreload.Reloader
	adminTLS   *tlsreload.Reloader
	backend    *kafka.Backend
	admin      *http.Server
	adminLn    net.Listener
	addrs      Addrs
	metrics    *nodeMetrics   // this node's own registry
	quotas     *quota.Manager // client quotas, enforced by every Kafka listener
	files      fileBudget     // how the open-files limit is spent (limits.go)
	segFiles   *partlog.FileCache

	// fsyncSeconds is the partition logs' fsync histogram, created with
	// the replicas and registered with metrics (newFsyncHistogram).
	fsyncSeconds prometheus.Histogram
	// replTimings break acks=all round trips down (metrics_replication.go),
	// created with the replicas like fsyncSeconds.
	replTimings *replicationTimings
	// raftSaves are the raft store's recent writes, for FsyncLatency.
	raftSaves partlog.FsyncRecord

	reconciled atomic.Bool // the local replicas matched the caught-up metadata once
	registered atomic.Bool
	// incarnation is this process's broker registration, set before
	// registered; replica connections prove it (replication_wiring.go).
	incarnation atomic.Uint64
	started     time.Time

	reconcileMu sync.Mutex            // one reconcile at a time: the loop's, or a request's
	fetchers    *replication.Fetchers // follower fetch loops, set by the reconciler
	// reassignThrottle limits the fetches of replicas a reassignment adds
	// here (--reassignment-throttle; reassign.go).
	reassignThrottle *replication.Throttle
	runCtx           context.Context

	// faults are the faults a chronik_faults build injects (faults_faults.go);
	// an empty struct in other builds.
	faults faults

	// A storage failure (storage_failure.go) stops the node on its own;
	// Close stops it gracefully. Whichever comes first runs, under stopOnce.
	failOnce    sync.Once
	failErr     error // a *StorageError or *RemovedError, set before failed is closed
	failed      chan struct{}
	closingOnce sync.Once
	closing     chan struct{} // closed by Close: the storage watcher stands down
	watchDone   chan struct{} // closed when the storage watcher returned
	stopOnce    sync.Once
	stopped     chan struct{} // closed when Close or the halt is over

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
}

// haltWithin bounds how long Serve waits for a node that stops itself on a
// storage failure: a disk that hangs must not keep the process, and with it
// the sockets peers would otherwise see refused, alive.
const haltWithin = 5 * time.Second

// Serve runs one node until ctx is cancelled, then stops gracefully: stop
// accepting, finish or fail in-flight requests, flush, fsync, close files.
// ready, if not nil, is called once all listeners are bound. When writing to
// the data dir fails the node stops itself without writing more, and Serve
// returns a *StorageError (the command exits with a code of its own); when
// the cluster removed it, a *RemovedError (removed.go).
func Serve(ctx context.Context, cfg Config, ready func(Addrs)) error {
	n, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(n.Addrs())
	}
	select {
	case <-ctx.Done():
	case <-n.Failed():
		select {
		case <-n.Done():
		case <-time.After(haltWithin):
			n.logger.Error("the node did not finish stopping on its own; exiting anyway",
				"waited", haltWithin.String())
		}
		return n.Err()
	}
	n.logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(stopCtx)
}

// Start brings a node up in steps, each acquiring what the next needs:
// open the data dir, open the replica manager, bind the listeners, start the
// raft metadata node, build the services over it, start the loops. If a step
// fails, abort releases what the earlier ones acquired. Partition logs are
// opened (and recovered) by the reconciler as the metadata says this node
// hosts them. Close stops the node.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := &Node{cfg: cfg, logger: logger, started: time.Now(),
		failed: make(chan struct{}), closing: make(chan struct{}), watchDone: make(chan struct{}), stopped: make(chan struct{})}
	defer func() {
		if err != nil {
			n.abort()
		}
	}()
	n.faults.announce(logger)
	applyProfiling(cfg, logger)
	if err := n.openDataDir(); err != nil {
		return nil, err
	}
	if err := n.openReplicas(); err != nil {
		return nil, err
	}
	if err := n.bindListeners(); err != nil {
		return nil, err
	}
	if err := n.startMetadata(ctx); err != nil {
		return nil, err
	}
	if err := n.startServices(); err != nil {
		return nil, err
	}
	n.startLoops()
	logger.Debug("node started", "node_id", cfg.NodeID, "kafka", n.addrs.Kafka,
		"advertised", n.addrs.AdvertiseKafka, "cluster", n.addrs.Cluster, "admin", n.addrs.Admin,
		"data_dir", cfg.DataDir, "log_flush", cfg.LogFlush)
	return n, nil
}

// openDataDir creates the data directory and locks it.
func (n *Node) openDataDir() (err error) {
	dir := n.cfg.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if n.lock, err = lockDataDir(dir); err != nil {
		return err
	}
	legacy := filepath.Join(dir, "meta", "metadata.json")
	if _, err := os.Stat(legacy); err == nil {
		n.logger.Warn("ignoring meta/metadata.json from an older single-node chronik: metadata now lives in raft; its topics are not imported",
			"file", legacy)
	}
	return nil
}

// openReplicas plans the file-handle budget and creates the replica
// manager over <data dir>/logs, its logs sharing one cache of inactive
// segment files; it opens no partition yet.
func (n *Node) openReplicas() (err error) {
	if err := n.planFiles(); err != nil {
		return err
	}
	n.segFiles = partlog.NewFileCache(n.files.SegmentFiles)
	n.fsyncSeconds = newFsyncHistogram()
	n.replTimings = newReplicationTimings()
	if n.replicas, err = replica.NewManager(replica.ManagerOptions{
		Dir: filepath.Join(n.cfg.DataDir, "logs"), Flush: n.cfg.LogFlush, FlushInterval: n.cfg.LogFlushInterval, Logger: n.logger,
		Files:       n.segFiles,
		OnFailure:   n.storageFailed,
		BeforeFsync: chainHooks(n.faults.beforeFsync(), n.cfg.testBeforeFsync),
		OnFsync:     func(d time.Duration) { n.fsyncSeconds.Observe(d.Seconds()) },
		Observer:    n.replTimings.observer(),
	}); err != nil {
		return fmt.Errorf("open replicas: %w", err)
	}
	return nil
}

// bindListeners binds the Kafka and admin listeners and resolves the
// addresses this node advertises, before raft writes any state, so a port
// in use fails the start cleanly. The servers are built on them later.
func (n *Node) bindListeners() (err error) {
	cfg := n.cfg
	if err := n.loadTLS(); err != nil {
		return err
	}
	if err := n.bindKafkaListeners(); err != nil {
		return err
	}
	if cfg.AdminAddr != "" {
		if n.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		n.addrs.Admin = n.adminLn.Addr().String()
	}
	// The raft transport binds the cluster address itself; this probe only
	// resolves ":0" and the advertised form.
	clusterLn, advertise, err := listenAdvertised("cluster listener", cfg.ClusterAddr, "advertise-cluster-addr", cfg.AdvertiseClusterAddr)
	if err != nil {
		return err
	}
	n.addrs.Cluster, n.addrs.AdvertiseCluster = clusterLn.Addr().String(), advertise
	clusterLn.Close()
	return nil
}

// startMetadata starts the raft metadata node. Without peers this node
// founds a one-node cluster of itself.
func (n *Node) startMetadata(ctx context.Context) (err error) {
	cfg, logger := n.cfg, n.logger
	raftPeers := make(map[uint64]string, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		raftPeers[uint64(id)] = addr
	}
	if cfg.Join != "" && len(raftPeers) > 0 {
		return errors.New("--join and --peers exclude each other: a joining node learns the members from the cluster")
	}
	if len(raftPeers) == 0 && cfg.Join == "" {
		raftPeers[uint64(cfg.NodeID)] = n.addrs.AdvertiseCluster
	}
	security, err := cfg.clusterSecurity(logger)
	if err != nil {
		return err
	}
	if security.Mode() == "none" && !loopbackAddr(n.addrs.Cluster) {
		logger.Warn("the cluster listener is reachable from other machines without authentication (--cluster-insecure)",
			"cluster_addr", n.addrs.Cluster)
	}
	if n.raft, err = raftnode.Start(ctx, raftnode.Config{
		NodeID:          uint64(cfg.NodeID),
		Dir:             filepath.Join(cfg.DataDir, "raft"),
		ListenAddr:      n.addrs.Cluster,
		Peers:           raftPeers,
		ClusterToken:    cfg.InitialClusterToken,
		JoinContact:     cfg.Join,
		Advertise:       n.addrs.AdvertiseCluster,
		VoterTarget:     int(cfg.MetadataVoters),
		ClusterID:       newClusterID(),
		TickInterval:    cfg.RaftTickInterval,
		ElectionTicks:   int(cfg.RaftElectionTimeout / cfg.RaftTickInterval),
		HeartbeatTicks:  1,
		SnapshotEntries: uint64(cfg.RaftSnapshotEntries),
		Commands:        cfg.testCommands,
		Logger:          logger,
		Security:        security,
		BeforeSave:      chainHooks(n.faults.beforeSave(), n.cfg.testBeforeSave),
		OnSave:          func(d time.Duration) { n.raftSaves.Add(d, time.Now()) },
	}); err != nil {
		return fmt.Errorf("raft metadata: %w", err)
	}
	return nil
}

// startServices builds what answers requests, over the metadata and the
// replicas: the controller, the group coordinator, the Kafka backend and
// server (on the bound listener), the metrics and the admin HTTP server.
// Nothing is served until startLoops.
func (n *Node) startServices() (err error) {
	cfg, logger := n.cfg, n.logger
	n.newInterbroker()
	n.controller = controller.New(controller.Options{
		NodeID:                     cfg.NodeID,
		Defaults:                   cfg.topicDefaults(),
		DefaultPartitions:          cfg.DefaultPartitions,
		DefaultReplication:         int16(min(cfg.DefaultReplicationFactor, 1<<15-1)),
		OffsetsTopicPartitions:     cfg.OffsetsTopicPartitions,
		TransactionStatePartitions: cfg.TransactionStatePartitions,
		Limits:                     n.partitionLimits(),
		Logger:                     logger,
		Applied:                    n.reconcileNow,
	}, n.raft)
	n.groups = group.New(group.Config{
		OffsetsPartitions:     cfg.OffsetsTopicPartitions,
		InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
		MinSessionTimeout:     cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     cfg.GroupMaxSessionTimeout,
		Logger:                logger,
		Owns:                  n.coordinates,
	}, &offsetsLog{replicas: n.replicas, controller: n.controller, verifier: n.txnVerifier()})
	n.txns = n.newTxnCoordinator()
	authorizer, err := cfg.newAuthorizer()
	if err != nil {
		return err
	}
	n.backend = kafka.NewBackend(kafka.BackendConfig{
		NodeID:                 cfg.NodeID,
		AutoCreateTopics:       cfg.AutoCreateTopics,
		BrokerConfigs:          cfg.brokerConfigEntries(),
		FetchMaxBytes:          cfg.FetchMaxBytes,
		PartitionFetchMaxBytes: cfg.PartitionFetchMaxBytes,
		FetchSessionSlots:      int(cfg.FetchSessionSlots),
		// A session can usefully hold only partitions led here.
		FetchSessionMaxPartitions: int(cfg.MaxPartitionsPerBroker),
		PeerReach:                 n.peerReach,
		GoneLeaderWait:            goneLeaderWait(cfg),
		SASL:                      cfg.saslConfig(logger),
		Authorizer:                authorizer,
		Meta:                      n.raft,
		Replicas:                  n.replicas,
		Controller:                n.controller,
		Groups:                    n.groups,
		Txn:                       n.txns,
		TxnVerifier:               n.txnVerifier(),
		OnTxnMarker:               n.onTxnMarker,
		Logger:                    logger,
	})
	if n.metrics, err = newNodeMetrics(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	n.quotas = quota.New(quota.Config{State: n.raft.State, WindowNum: int(cfg.QuotaWindowNum), WindowSize: cfg.QuotaWindowSize})
	if err := n.metrics.register(n.quotas.Collectors()...); err != nil {
		return err
	}
	n.reassignThrottle = replication.NewThrottle(cfg.ReassignmentThrottle)
	if err := n.metrics.register(n.fetchSessionMetrics()...); err != nil {
		return err
	}
	if err := n.metrics.register(n.reassignmentMetrics()...); err != nil {
		return err
	}
	n.newKafkaServers()
	n.metrics.preloadAPIs(n.kafka)
	if err := n.metrics.registerNode(n); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if n.adminLn != nil {
		handler := n.healthHandler()
		if cfg.AdminHandler != nil {
			handler = cfg.AdminHandler(n)
		}
		n.admin = newAdminServer(cfg, handler, logger)
		n.adminLn = newLimitListener(n.adminLn, int(cfg.MaxConnections), int(cfg.MaxConnectionsPerIP), logger)
		if tc := n.adminTLSConfig(); tc != nil {
			// net/http runs each handshake on the connection's goroutine.
			n.adminLn = tls.NewListener(n.adminLn, tc)
		}
	}
	return nil
}

// Admin HTTP limits that have no flag of their own (docs/security.md).
const (
	// adminReadHeaderTimeout bounds the headers of an admin request: they
	// are small, and a client that cannot send them in 5 s is not a client.
	adminReadHeaderTimeout = 5 * time.Second
	// adminHandlerTime is the longest an admin handler works before it
	// writes: a mutation waits up to 10 s for its raft commit (the admin
	// server's MutationTimeout), plus margin. It is added to
	// --connection-write-timeout for the admin server's WriteTimeout, which
	// net/http counts from the end of the request headers.
	adminHandlerTime = 15 * time.Second
	// adminMaxHeaderBytes: admin requests carry a bearer token and little
	// else; net/http's 1 MiB default is far more than any needs.
	adminMaxHeaderBytes = 64 << 10
)

// newAdminServer is the admin HTTP server: every phase of a connection
// bounded in time (the request bodies' size is bounded by the handlers that
// read them, admin/server's maxRequestBytes).
func newAdminServer(cfg Config, handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(adminReadHeaderTimeout, cfg.RequestReadTimeout),
		ReadTimeout:       cfg.RequestReadTimeout,
		WriteTimeout:      cfg.ConnectionWriteTimeout + adminHandlerTime,
		IdleTimeout:       cfg.ConnectionsMaxIdle,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}

// startLoops starts the goroutines the node owns, under one context that
// Close cancels: the Kafka and admin servers and the background loops.
func (n *Node) startLoops() {
	cfg, logger := n.cfg, n.logger
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel, n.runCtx = cancel, runCtx
	n.fetchers = n.newFetchers()
	n.serveReplicaFetches()
	n.serveKafka(runCtx)
	n.spawn(func() { n.replicas.RunRetention(runCtx, cfg.RetentionCheckInterval) })
	n.spawn(func() { n.replicas.RunHighWatermarkCheckpoints(runCtx, replica.DefaultHighWatermarkCheckpointInterval) })
	n.spawn(func() { n.replicas.RunCleaner(runCtx, cfg.cleanerOptions()) })
	n.spawn(func() { n.runReconciler(runCtx) })
	n.spawn(func() { n.register(runCtx) })
	n.spawn(func() { n.watchUnregistered(runCtx) })
	go n.watchStorage() // not spawned: it may stop the node, which waits for those
	n.spawn(func() {
		n.controller.RunLiveness(runCtx, n.activity, n.refusedDials, livenessInterval, cfg.BrokerSessionTimeout)
	})
	n.spawn(func() { n.runISRMaintenance(runCtx) })
	n.spawn(func() { n.runReassignments(runCtx) })
	n.spawn(func() {
		n.controller.RunLeaderRebalance(runCtx, func() bool { return n.raft.Status().Role == "leader" }, cfg.LeaderRebalanceInterval)
	})
	if n.admin != nil {
		n.spawn(func() {
			if err := n.admin.Serve(n.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("admin listener stopped", "err", err)
			}
		})
	}
}

// spawn runs fn on a goroutine the node owns; Close waits for it.
func (n *Node) spawn(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Addrs returns the node's bound addresses.
func (n *Node) Addrs() Addrs { return n.addrs }

// Ready reports whether the node serves: raft caught up with a leader, the
// cluster id committed, the local replicas match the metadata, and this
// broker is registered.
func (n *Node) Ready() bool {
	return n.raft.Ready() && n.raft.State().ClusterID != "" && n.reconciled.Load() && n.registered.Load()
}

// NodeID is this node's id.
func (n *Node) NodeID() int32 { return n.cfg.NodeID }

// Uptime is how long the node has been running.
func (n *Node) Uptime() time.Duration { return time.Since(n.started) }

// RaftStatus is this node's view of the raft metadata quorum.
func (n *Node) RaftStatus() raftnode.Status { return n.raft.Status() }

// ControllerID is the raft leader as this node knows it, -1 if none.
func (n *Node) ControllerID() int32 {
	if id := n.raft.LeaderID(); id != 0 {
		return int32(id)
	}
	return -1
}

// Fenced reports whether the metadata says the controller fenced this broker.
func (n *Node) Fenced() bool {
	b, ok := n.raft.State().Brokers[n.cfg.NodeID]
	return ok && b.Fenced
}

// register records this broker in the metadata with a fresh incarnation.
func (n *Node) register(ctx context.Context) {
	var inc [8]byte
	_, _ = rand.Read(inc[:])
	b := state.Broker{
		ID:          n.cfg.NodeID,
		KafkaAddr:   n.addrs.AdvertiseKafka,
		Listeners:   n.endpoints(),
		ClusterAddr: n.addrs.AdvertiseCluster,
		AdminAddr:   n.advertisedAdmin(),
		Rack:        n.cfg.Rack,
		Incarnation: binary.BigEndian.Uint64(inc[:]),
	}
	if err := n.controller.Register(ctx, b, 200*time.Millisecond); err == nil {
		n.incarnation.Store(b.Incarnation)
		n.registered.Store(true)
	}
}

// activity is what the liveness check needs from raft: the leader, whether
// this node is it, and when each voter was last heard from.
func (n *Node) activity() (int32, bool, map[int32]time.Time) {
	st := n.raft.Status()
	leader := int32(n.raft.LeaderID())
	if st.Role != "leader" {
		return leader, false, nil
	}
	contact := make(map[int32]time.Time, len(st.Progress))
	for id, p := range st.Progress {
		contact[int32(id)] = p.LastContact
	}
	return leader, true, contact
}

// goneLeaderWait bounds how long Metadata holds an answer for a partition
// whose leader is gone (kafka.BackendConfig.GoneLeaderWait): long enough
// for an election after the controller died (up to two election timeouts)
// and the next liveness check fencing the dead leader.
func goneLeaderWait(cfg Config) time.Duration {
	return 2*cfg.RaftElectionTimeout + 2*livenessInterval
}

// refusedDials is how many dials in a row broker id's cluster address
// refused: evidence that its process is gone (liveness, Metadata).
func (n *Node) refusedDials(id int32) int {
	if id <= 0 {
		return 0
	}
	return n.raft.PeerRefusedDials(uint64(id))
}

// peerReach is how this node's cluster connection to broker id stands, for
// Metadata's answers about partitions that broker leads.
func (n *Node) peerReach(id int32) kafka.PeerReach {
	if id <= 0 {
		return kafka.PeerReach{Connected: true}
	}
	r := n.raft.PeerReach(uint64(id))
	return kafka.PeerReach{Connected: r.Connected, DownSince: r.DownSince, RefusedDials: r.RefusedDials}
}

// coordinates reports whether this node leads the group's partition of
// __consumer_offsets.
func (n *Node) coordinates(groupID string) bool {
	t, ok := n.raft.State().Topics[controller.OffsetsTopic]
	if !ok || len(t.Partitions) == 0 {
		return false
	}
	p := n.replicas.Get(controller.OffsetsTopic, group.PartitionFor(groupID, int32(len(t.Partitions))))
	return p != nil && p.IsLeader()
}

// Close stops the node gracefully: no new connections or requests, in-flight
// requests finish until ctx expires, then every log is flushed, fsynced and
// closed and the raft node stops. After the node stopped itself on a
// storage failure, Close waits for that stop to finish and returns nil
// (Err tells the failure).
func (n *Node) Close(ctx context.Context) error {
	n.closingOnce.Do(func() { close(n.closing) })
	n.stopOnce.Do(func() {
		n.closeErr = n.close(ctx)
		close(n.stopped)
	})
	<-n.watchDone
	return n.closeErr
}

// chainHooks runs the fsync hooks of a chronik_faults build (fault) and of
// a test (test) one after the other; nil when neither is set, as in
// production.
func chainHooks(fault, test func() error) func() error {
	switch {
	case fault == nil:
		return test
	case test == nil:
		return fault
	}
	return func() error {
		if err := fault(); err != nil {
			return err
		}
		return test()
	}
}

func (n *Node) close(ctx context.Context) error {
	n.controlledShutdown(ctx)
	n.reconciled.Store(false)
	// Waiting requests answer now: long polls with what they have, group
	// joins with COORDINATOR_NOT_AVAILABLE, so clients move on.
	n.backend.Stop()
	n.groups.Close()
	n.txns.Close() // before the clients its marker writes use
	// Requests to peers in flight fail now (markers are retried by the
	// next coordinator, produces by their clients).
	n.closeInterbroker()
	var errs []error
	if err := n.shutdownKafka(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop kafka listeners: %w", err))
	}
	if n.admin != nil {
		if err := n.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop admin listener: %w", err))
		}
	}
	n.cancel()
	n.wg.Wait()
	n.fetchers.Stop()
	if err := n.raft.Close(); err != nil {
		errs = append(errs, fmt.Errorf("stop raft: %w", err))
	}
	if err := n.replicas.Close(); err != nil {
		errs = append(errs, err)
	}
	if n.lock != nil {
		n.lock.Close()
	}
	n.logger.Info("stopped")
	return errors.Join(errs...)
}

// abort releases what a failed Start had acquired.
func (n *Node) abort() {
	if n.adminLn != nil {
		n.adminLn.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = n.shutdownKafka(ctx) // closes the bound listeners too
	if n.groups != nil {
		n.groups.Close()
	}
	if n.txns != nil {
		n.txns.Close()
	}
	n.closeInterbroker()
	if n.raft != nil {
		_ = n.raft.Close()
	}
	if n.replicas != nil {
		_ = n.replicas.Close()
	}
	if n.lock != nil {
		n.lock.Close()
	}
}

func (n *Node) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"node_id\":%d}\n", n.cfg.NodeID)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !n.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"status\":\"not ready\",\"node_id\":%d}\n", n.cfg.NodeID)
			return
		}
		fmt.Fprintf(w, "{\"status\":\"ready\",\"node_id\":%d}\n", n.cfg.NodeID)
	})
	return mux
}

// lockDataDir takes an exclusive lock so two processes never share a data dir.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another chronik process: %w", dir, err)
	}
	return f, nil
}

// listenAdvertised binds addr and resolves what others are told to dial
// (advertise, flag advertiseFlag); name says which listener failed.
func listenAdvertised(name, addr, advertiseFlag, advertise string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	adv, err := advertised(advertiseFlag, advertise, ln.Addr())
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	return ln, adv, nil
}

// advertised resolves what others are told to connect to: the configured
// address, or localhost with the bound port.
func advertised(flag, configured string, bound net.Addr) (string, error) {
	port := bound.(*net.TCPAddr).Port
	if configured == "" {
		return net.JoinHostPort("localhost", strconv.Itoa(port)), nil
	}
	host, portStr, err := net.SplitHostPort(configured)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", flag, configured, err)
	}
	p, err := strconv.Atoi(portStr)
	if err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("%s %q: bad port", flag, configured)
	}
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, portStr), nil
}

// LogEndOffset is the log end of a partition replica on this node, if it
// runs one (what the admin API reports per replica).
func (n *Node) LogEndOffset(topic string, partition int32) (int64, bool) {
	p := n.replicas.Get(topic, partition)
	if p == nil {
		return 0, false
	}
	return p.LogEndOffset(), true
}

// advertisedAdmin is the admin address other nodes and tools are told: the
// bound one, with an unspecified host (0.0.0.0, ::) replaced by the host
// clients reach this node's Kafka listener at.
func (n *Node) advertisedAdmin() string {
	if n.addrs.Admin == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(n.addrs.Admin)
	if err != nil {
		return n.addrs.Admin
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if khost, _, err := net.SplitHostPort(n.addrs.AdvertiseKafka); err == nil {
			host = khost
		}
	}
	return net.JoinHostPort(host, port)
}
