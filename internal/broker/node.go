// Package broker is one chronik node: it wires the metadata store, the
// partition replicas, the controller, the group coordinator and the Kafka
// and admin listeners, and owns their lifetimes.
package broker

import (
	"context"
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
	plog "github.com/chronik-dev/chronik/internal/broker/log"
	"github.com/chronik-dev/chronik/internal/broker/meta"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// Addrs are the bound listener addresses of a running node.
type Addrs struct {
	Kafka          string // bound Kafka listener
	AdvertiseKafka string // what clients are told
	Admin          string // bound admin listener, empty when disabled
}

// Node is a running chronik node.
type Node struct {
	cfg    Config
	logger *slog.Logger
	lock   *os.File

	store      *meta.Store
	replicas   *replica.Manager
	controller *controller.Controller
	groups     *group.Coordinator
	kafka      *kafka.Server
	backend    *kafka.Backend
	admin      *http.Server
	adminLn    net.Listener
	addrs      Addrs
	ready      atomic.Bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Serve runs one node until ctx is cancelled, then stops gracefully: stop
// accepting, finish or fail in-flight requests, flush, fsync, close files.
// ready, if not nil, is called once all listeners are bound.
func Serve(ctx context.Context, cfg Config, ready func(Addrs)) error {
	n, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(n.Addrs())
	}
	<-ctx.Done()
	n.logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(stopCtx)
}

// Start opens the data directory (recovering every partition log), binds the
// listeners and starts serving. Close stops it.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := &Node{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			n.abort()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if n.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.store, err = meta.Open(filepath.Join(cfg.DataDir, "meta")); err != nil {
		return nil, err
	}
	flush := map[FlushPolicy]plog.FlushPolicy{FlushAlways: plog.FlushAlways, FlushInterval: plog.FlushInterval, FlushNever: plog.FlushNever}[cfg.LogFlush]
	if n.replicas, err = replica.NewManager(replica.ManagerOptions{
		Dir: filepath.Join(cfg.DataDir, "logs"), Flush: flush, FlushInterval: cfg.LogFlushInterval, Logger: logger,
	}); err != nil {
		return nil, err
	}
	n.controller = controller.New(controller.Options{
		NodeID:                 cfg.NodeID,
		Defaults:               cfg.topicDefaults(),
		DefaultPartitions:      cfg.DefaultPartitions,
		OffsetsTopicPartitions: cfg.OffsetsTopicPartitions,
		Logger:                 logger,
	}, n.store, n.replicas)
	start := time.Now()
	if err := n.controller.Reconcile(); err != nil {
		return nil, fmt.Errorf("recover partitions: %w", err)
	}
	logger.Info("partitions recovered", "topics", len(n.store.Topics()), "took", time.Since(start).Round(time.Millisecond))

	n.groups = group.New(group.Config{
		OffsetsPartitions:     cfg.OffsetsTopicPartitions,
		InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
		MinSessionTimeout:     cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     cfg.GroupMaxSessionTimeout,
		Logger:                logger,
	}, &offsetsLog{store: n.store, replicas: n.replicas, controller: n.controller})
	if err := n.groups.Load(ctx); err != nil {
		return nil, fmt.Errorf("load consumer group offsets: %w", err)
	}

	backend := &kafka.Backend{
		NodeID:           cfg.NodeID,
		AutoCreateTopics: cfg.AutoCreateTopics,
		BrokerConfigs:    cfg.brokerConfigEntries(),
		Store:            n.store,
		Replicas:         n.replicas,
		Controller:       n.controller,
		Groups:           n.groups,
		Logger:           logger,
	}
	n.backend = backend
	n.kafka = kafka.NewServer(kafka.ServerConfig{
		Addr: cfg.KafkaAddr, MaxRequestBytes: cfg.MaxRequestBytes, Logger: logger,
	}, backend.APIs())
	if err := n.kafka.Listen(); err != nil {
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	n.addrs.Kafka = n.kafka.Addr().String()
	host, port, err := advertised(cfg.AdvertiseKafkaAddr, n.kafka.Addr())
	if err != nil {
		return nil, err
	}
	backend.Host, backend.Port = host, port
	n.addrs.AdvertiseKafka = net.JoinHostPort(host, strconv.Itoa(int(port)))

	if cfg.AdminAddr != "" {
		if n.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		n.addrs.Admin = n.adminLn.Addr().String()
		n.admin = &http.Server{Handler: n.healthHandler(), ReadHeaderTimeout: 5 * time.Second}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.kafka.Serve(runCtx); err != nil {
			logger.Error("kafka listener stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.replicas.RunRetention(runCtx, cfg.RetentionCheckInterval)
	}()
	if n.admin != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.admin.Serve(n.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("admin listener stopped", "err", err)
			}
		}()
	}
	n.ready.Store(true)
	// The command logs the addresses for operators; this line is for library users.
	logger.Debug("node started", "node_id", cfg.NodeID, "kafka", n.addrs.Kafka,
		"advertised", n.addrs.AdvertiseKafka, "admin", n.addrs.Admin, "data_dir", cfg.DataDir, "log_flush", cfg.LogFlush)
	return n, nil
}

// Addrs returns the node's bound addresses.
func (n *Node) Addrs() Addrs { return n.addrs }

// Close stops the node gracefully: no new connections or requests, in-flight
// requests finish until ctx expires, then every log is flushed, fsynced and
// closed.
func (n *Node) Close(ctx context.Context) error {
	n.ready.Store(false)
	// Waiting requests answer now: long polls with what they have, group
	// joins with COORDINATOR_NOT_AVAILABLE, so clients move on.
	n.backend.Stop()
	n.groups.Close()
	var errs []error
	if err := n.kafka.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop kafka listener: %w", err))
	}
	if n.admin != nil {
		if err := n.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop admin listener: %w", err))
		}
	}
	n.cancel()
	n.wg.Wait()
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
	if n.kafka != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = n.kafka.Shutdown(ctx)
	}
	if n.groups != nil {
		n.groups.Close()
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
		if !n.ready.Load() {
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

// advertised resolves what clients are told to connect to: the configured
// address, or localhost with the bound port.
func advertised(configured string, bound net.Addr) (string, int32, error) {
	if configured == "" {
		return "localhost", int32(bound.(*net.TCPAddr).Port), nil
	}
	host, portStr, err := net.SplitHostPort(configured)
	if err != nil {
		return "", 0, fmt.Errorf("advertise-kafka-addr %q: %w", configured, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("advertise-kafka-addr %q: bad port", configured)
	}
	if host == "" {
		host = "localhost"
	}
	return host, int32(port), nil
}
