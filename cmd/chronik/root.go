package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/version"
)

// Exit codes of the chronik command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitStorage: `chronik serve` stopped itself because writing to its
	// data dir failed (disk full, I/O error). 74 is EX_IOERR of sysexits.h,
	// so supervisors and operators can tell it from a crash or a bad flag.
	exitStorage = 74
	// exitRemoved: `chronik serve` stopped because the cluster removed
	// this node (cluster remove-node or replace-node). 77 is EX_NOPERM:
	// the node is no longer a member, and restarting it will not help.
	exitRemoved = 77
)

// IOStreams are the standard streams a command uses; tests replace them with buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Factory is what commands take from the outside world, so tests can swap
// each piece: streams, the broker, signals, process exit.
type Factory struct {
	IO IOStreams
	// Serve runs a node until its context is cancelled (broker.Serve).
	Serve func(ctx context.Context, cfg broker.Config, ready func(broker.Addrs)) error
	// Signals delivers SIGINT and SIGTERM until stop is called.
	Signals func() (sigs <-chan os.Signal, stop func())
	// Exit ends the process immediately (the second signal during shutdown).
	Exit func(code int)
	// ConfigPath locates the connection profiles file. Nil means no
	// profiles at all, which keeps tests away from the user's own file.
	ConfigPath func() (string, error)
}

// newFactory returns the production Factory.
func newFactory() *Factory {
	return &Factory{
		IO:    IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Serve: broker.Serve,
		Signals: func() (<-chan os.Signal, func()) {
			// Buffered for two: the graceful request and the impatient one.
			c := make(chan os.Signal, 2)
			signal.Notify(c, os.Interrupt, syscall.SIGTERM)
			return c, func() { signal.Stop(c) }
		},
		Exit: os.Exit,
		ConfigPath: func() (string, error) {
			return DefaultConfigPath(os.Getenv)
		},
	}
}

// run is main without os.Exit, so the deferred work in commands still runs.
func run() int {
	return Execute(context.Background(), newFactory(), os.Args[1:])
}

// Execute runs the command line args and returns the process exit code.
// Errors are printed once, to f.IO.ErrOut, as "Error: ...".
func Execute(ctx context.Context, f *Factory, args []string) int {
	root := NewCmdRoot(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) && ec.err == nil {
		return ec.code // the command said everything already (doctor's 3 and 4)
	}
	fmt.Fprintf(f.IO.ErrOut, "Error: %v\n", err)
	if errors.As(err, &ec) {
		return ec.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitError
}

// usageError marks bad flags or arguments, which exit with code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageArgs turns an argument validator's error into a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// NewCmdRoot builds the chronik command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "chronik <command>",
		Short: "Chronik is a Kafka-compatible streaming broker",
		Long: `Chronik is a Kafka-compatible streaming broker.

Run a single-node cluster with no flags at all, then point any Kafka client at
localhost:9092:

  chronik serve`,
		Version:       version.String(),
		SilenceUsage:  true, // errors are not usage mistakes; usage errors say how to get help
		SilenceErrors: true, // Execute prints the error exactly once
		// Runnable, so unknown commands reach Args and become usage errors.
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})
	// Our own completion command replaces cobra's default, so its output is
	// the same as the committed files in completions/.
	root.CompletionOptions.DisableDefaultCmd = true

	root.AddCommand(
		NewCmdServe(f, nil),
		NewCmdVersion(f, nil),
		NewCmdRaft(f),
		NewCmdTopic(f),
		NewCmdUser(f),
		NewCmdACL(f),
		NewCmdQuota(f),
		NewCmdTxn(f),
		NewCmdPartition(f),
		NewCmdISR(f),
		NewCmdCluster(f),
		NewCmdDoctor(f, nil),
		NewCmdTUI(f, nil),
		NewCmdProfile(f),
		NewCmdCert(f),
		NewCmdDebug(f),
		NewCmdCompletion(f),
		NewCmdMan(f),
	)
	return root
}

// unknownCommand rejects arguments to the root, suggesting a near command.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return errors.New(msg)
}
