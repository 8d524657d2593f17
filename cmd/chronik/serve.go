package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/config"
	"github.com/chronik-dev/chronik/internal/version"
)

// ServeOptions are the inputs of `chronik serve`.
type ServeOptions struct {
	IO     IOStreams
	Config broker.Config // loaded and validated, Logger set

	Serve   func(ctx context.Context, cfg broker.Config, ready func(broker.Addrs)) error
	Signals func() (<-chan os.Signal, func())
	Exit    func(code int)
}

// NewCmdServe builds `chronik serve`. runF, if not nil, replaces the
// command's run function (tests use it to inspect the loaded config).
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO, Serve: f.Serve, Signals: f.Signals, Exit: f.Exit}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a chronik node",
		Long: `Run a chronik node until SIGINT or SIGTERM, then stop gracefully.
A second signal during shutdown exits at once. SIGHUP re-reads the TLS
certificate files (they are also re-read when they change). When writing to the data dir
fails (disk full, I/O error) the node stops itself, so that its partitions'
leadership moves to other nodes, and exits with code 74. A node the cluster
removed (its raft membership ended) stops and exits with code 77.

Every flag can also be set with a CHRONIK_* environment variable (--data-dir is
CHRONIK_DATA_DIR) or as a key in the --config file (data-dir: /var/lib/chronik).
Precedence: flag, then environment, then file, then the default.`,
		Example: `  # single-node cluster with defaults (data in ./chronik-data, Kafka on :9092)
  chronik serve

  # settings from a file, one of them overridden from the environment
  CHRONIK_LOG_LEVEL=debug chronik serve --config /etc/chronik/chronik.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), opts.IO.ErrOut)
			if err != nil {
				return err
			}
			cfg.AdminHandler = server.HandlerFor(cfg.Logger, cfg.AdminToken)
			opts.Config = cfg
			if runF != nil {
				return runF(opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SortFlags = false // keep the order config lists them in: most used first
	config.AddFlags(cmd.Flags())
	for _, key := range config.Keys() {
		if choices := config.Choices(key); choices != nil {
			_ = cmd.RegisterFlagCompletionFunc(key, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	_ = cmd.MarkFlagFilename(config.ConfigFlag, "yaml", "yml", "json", "toml")
	_ = cmd.MarkFlagDirname("data-dir")
	return cmd
}

// serveRun runs the node until the first signal, which cancels its context;
// a second signal, while the node is still stopping, exits at once.
func serveRun(ctx context.Context, opts *ServeOptions) error {
	log := opts.Config.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	sigs, stopSignals := opts.Signals()
	defer stopSignals()

	// The watcher is owned by this function: done stops it, wg waits for it.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-sigs:
			log.Info("shutting down; send the signal again to exit immediately", "signal", sig.String())
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			log.Error("second signal, exiting without a clean shutdown", "signal", sig.String())
			opts.Exit(exitError)
		case <-done:
		}
	}()
	defer func() {
		close(done)
		wg.Wait()
	}()

	cfg := opts.Config
	log.Info("starting chronik",
		"version", version.Get().Version,
		"node_id", cfg.NodeID,
		"data_dir", cfg.DataDir,
		"log_flush", cfg.LogFlush.String())
	err := opts.Serve(ctx, cfg, func(a broker.Addrs) {
		admin := a.Admin
		if admin == "" {
			admin = "disabled"
		}
		log.Info("chronik serving", "kafka", a.Kafka, "advertised", a.AdvertiseKafka, "admin", admin, "listeners", a.ListenersString())
	})
	if se := (*broker.StorageError)(nil); errors.As(err, &se) {
		// The node has logged what failed and what to do; the exit code
		// tells a supervisor that restarting on the same disk will not help.
		return &exitCodeError{code: exitStorage, err: fmt.Errorf("serve: %w", err)}
	}
	if re := (*broker.RemovedError)(nil); errors.As(err, &re) {
		// The node has logged its removal; a supervisor must not restart it.
		return &exitCodeError{code: exitRemoved, err: fmt.Errorf("serve: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("chronik stopped")
	return nil
}
