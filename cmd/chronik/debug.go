package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/profiling"
)

// defaultDebugTimeout is how long a node may take beyond the profile's own
// duration: a heap profile of a big node takes a moment to write.
const defaultDebugTimeout = 30 * time.Second

// NewCmdDebug builds the `chronik debug` command group.
func NewCmdDebug(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug <command>",
		Short: "Profile a node: pprof profiles and execution traces",
		Long: `Fetch Go runtime profiles and execution traces from a node's admin API
(/debug/pprof/), to see where its CPU time, memory and waiting go.

They need the admin token (from the profile, or ` + EnvAdminToken + `) or an
admin client certificate, even where the node's reads are open: a profile
shows memory contents and taking one costs CPU. A node started without an
admin token refuses them.`,
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(NewCmdDebugPprof(f, nil), NewCmdDebugTrace(f, nil))
	return cmd
}

// DebugOptions are the inputs of `chronik debug pprof` and `debug trace`.
type DebugOptions struct {
	IO IOStreams
	profiling.Options
}

// debugFlags are the flags both commands share.
type debugFlags struct {
	admins  []string
	profile string
}

func (df *debugFlags) register(f *Factory, cmd *cobra.Command, opts *DebugOptions, secondsUsage string) {
	fl := cmd.Flags()
	fl.StringSliceVar(&df.admins, "admin", []string{client.DefaultURL},
		"admin API base URL of the node to profile; with --node, URLs of any nodes, comma-separated ("+envAdmin+")")
	fl.Int32Var(&opts.Node, "node", 0, "profile this node id, found through --admin")
	fl.IntVar(&opts.Seconds, "seconds", 0, secondsUsage)
	fl.StringVarP(&opts.Path, "output", "o", "", "file to write (refused if it exists, unless --force)")
	fl.BoolVar(&opts.Force, "force", false, "overwrite the output file if it exists")
	fl.DurationVar(&opts.Timeout, "timeout", defaultDebugTimeout, "how long the node may take beyond the profile's duration")
	addProfileFlag(f, cmd, &df.profile)
	addAdminSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("node", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("seconds", cobra.NoFileCompletions)
}

// complete checks the flags, resolves the connection and runs.
func (df *debugFlags) complete(f *Factory, cmd *cobra.Command, opts *DebugOptions, runF func(*DebugOptions) error) error {
	if opts.Path == "" {
		opts.Path = defaultDebugFile(opts.Kind)
	}
	if err := opts.Check(); err != nil {
		return &usageError{err}
	}
	conn, err := resolveConn(f, cmd, ConnFlags{NeedAdmin: true, Admin: df.admins, Profile: df.profile})
	if err != nil {
		return err
	}
	opts.Admins, opts.Security, opts.Token = conn.Admin, conn.AdminSecurity, conn.AdminToken
	if runF != nil {
		return runF(opts)
	}
	return debugRun(cmd.Context(), opts)
}

// defaultDebugFile names the output without -o: cpu.pprof, heap.pprof, trace.out.
func defaultDebugFile(kind string) string {
	if kind == profiling.KindTrace {
		return "trace.out"
	}
	return kind + ".pprof"
}

// NewCmdDebugPprof builds `chronik debug pprof PROFILE`. runF, if not nil,
// replaces the command's run function.
func NewCmdDebugPprof(f *Factory, runF func(*DebugOptions) error) *cobra.Command {
	opts := &DebugOptions{IO: f.IO}
	var df debugFlags
	kinds := client.ProfileKinds()
	cmd := &cobra.Command{
		Use:   "pprof " + strings.Join(kinds, "|"),
		Short: "Write a pprof profile of a node to a file",
		Long: fmt.Sprintf(`Write a pprof profile of one node to a file (-o, default PROFILE.pprof), for
`+"`go tool pprof`"+`:

  cpu           where CPU time goes, sampled for --seconds (default %d)
  heap          live memory by allocation site (a snapshot; with --seconds,
                what changed over that window)
  allocs        all allocations since start (with --seconds: over the window)
  goroutine     every goroutine's stack
  block         where goroutines wait (needs serve --profile-block-rate)
  mutex         contended locks (needs serve --profile-mutex-fraction)
  threadcreate  stacks that created OS threads (snapshot only)

--seconds is at most %d. One CPU profile runs on a node at a time: a second
one is refused until the first ends. The file is written whole or not at all,
and an existing file is refused unless --force.

The node is the first --admin URL, or with --node ID the node of that id,
found through them. Needs the admin token (`+EnvAdminToken+` or the profile's)
or an admin client certificate.`, api.DefaultCPUProfileSeconds, api.MaxProfileSeconds),
		Example: `  chronik debug pprof cpu --seconds 10 -o cpu.pprof
  go tool pprof -top cpu.pprof

  # the follower's heap, node 2 found through node 1's admin API
  chronik debug pprof heap --admin http://h1:9644 --node 2 -o heap-2.pprof`,
		ValidArgs: kinds,
		Args:      usageArgs(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Kind = args[0]
			return df.complete(f, cmd, opts, runF)
		},
	}
	df.register(f, cmd, opts, fmt.Sprintf("cpu: how long to sample (default %d); heap, allocs, goroutine, block, mutex: a delta over this window instead of a snapshot; at most %d",
		api.DefaultCPUProfileSeconds, api.MaxProfileSeconds))
	return cmd
}

// NewCmdDebugTrace builds `chronik debug trace`. runF, if not nil, replaces
// the command's run function.
func NewCmdDebugTrace(f *Factory, runF func(*DebugOptions) error) *cobra.Command {
	opts := &DebugOptions{IO: f.IO}
	var df debugFlags
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Write a runtime execution trace of a node to a file",
		Long: fmt.Sprintf(`Write a Go execution trace of one node to a file (-o, default trace.out), for
`+"`go tool trace`"+`: every goroutine's scheduling, blocking on the network,
syscalls (fsync) and GC, for --seconds (default %d, at most %d). A trace of a
busy node grows by megabytes a second; one runs on a node at a time.

The node is the first --admin URL, or with --node ID the node of that id.
Needs the admin token (`+EnvAdminToken+` or the profile's) or an admin client
certificate.`, api.DefaultTraceSeconds, api.MaxProfileSeconds),
		Example: `  chronik debug trace --seconds 2 -o trace.out
  go tool trace trace.out`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Kind = profiling.KindTrace
			return df.complete(f, cmd, opts, runF)
		},
	}
	df.register(f, cmd, opts, fmt.Sprintf("how long to trace (default %d, at most %d)", api.DefaultTraceSeconds, api.MaxProfileSeconds))
	return cmd
}

func debugRun(ctx context.Context, opts *DebugOptions) error {
	what := opts.Kind + " profile"
	if opts.Kind == profiling.KindTrace {
		what = "execution trace"
	}
	if opts.Seconds > 0 || opts.Kind == "cpu" || opts.Kind == profiling.KindTrace {
		fmt.Fprintf(opts.IO.ErrOut, "taking the %s...\n", what)
	}
	res, err := profiling.Save(ctx, opts.Options)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "wrote the %s of %s to %s (%d bytes)\nopen it with: go tool %s %s\n",
		what, res.URL, res.Path, res.Bytes, res.Tool(), res.Path)
	return nil
}
