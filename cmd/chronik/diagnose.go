package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// exitCodeError ends a command with a specific exit code (doctor's 3 and
// 4); err, when set, is printed like any error.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// ClusterViewOptions are the inputs of the commands that read every node's
// admin API: isr describe, cluster status, doctor.
type ClusterViewOptions struct {
	IO     IOStreams
	Admins []string // admin base URLs asked first; the others are discovered
	// Security is how to reach a secured admin API (HTTPS, read token).
	Security client.Security
	Output   string
	Timeout  time.Duration // per request to a node
	IsTTY    bool
	Color    bool
}

func (o *ClusterViewOptions) tableOptions() TableOptions {
	return TableOptions{TTY: o.IsTTY, Color: o.Color}
}

// clusterViewFlags are the flags those commands share.
type clusterViewFlags struct {
	admins  []string
	profile string
}

func (cf *clusterViewFlags) register(f *Factory, cmd *cobra.Command, opts *ClusterViewOptions) {
	cmd.Flags().StringSliceVar(&cf.admins, "admin", []string{client.DefaultURL},
		"admin API base URLs, comma-separated; the other nodes are found through them ("+envAdmin+")")
	addProfileFlag(f, cmd, &cf.profile)
	addOutputFlag(cmd, &opts.Output)
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultAdminTimeout, "how long to wait for each node")
	addAdminSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
}

func (cf *clusterViewFlags) complete(f *Factory, cmd *cobra.Command, opts *ClusterViewOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return &usageError{fmt.Errorf("--timeout: must be positive, got %v", opts.Timeout)}
	}
	conn, err := resolveConn(f, cmd, ConnFlags{NeedAdmin: true, Admin: cf.admins, Profile: cf.profile})
	if err != nil {
		return err
	}
	opts.Admins, opts.Security = conn.Admin, conn.AdminSecurity
	opts.IsTTY = isTerminal(opts.IO.Out)
	opts.Color = ColorAllowed(opts.IsTTY, os.Getenv)
	return nil
}

// gather asks every node; nil error only if at least one node answered.
func gather(ctx context.Context, o *ClusterViewOptions) (api.ClusterView, error) {
	return gatherProgress(ctx, o, nil)
}

// gatherProgress is gather that also hands progress the partial views
// (client.GatherProgress) while slow nodes are still being asked.
func gatherProgress(ctx context.Context, o *ClusterViewOptions, progress func(api.ClusterView)) (api.ClusterView, error) {
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: o.Security})
	if err != nil {
		return api.ClusterView{}, err
	}
	defer httpc.CloseIdleConnections()
	v := client.GatherProgress(ctx, httpc, o.Admins, o.Timeout, progress)
	for _, n := range v.Nodes {
		if n.Reachable() {
			return v, nil
		}
	}
	for _, n := range v.Nodes {
		fmt.Fprintln(o.IO.ErrOut, n.Error)
	}
	return v, fmt.Errorf("no node answered (asked %s); check --admin and that the nodes run", strings.Join(o.Admins, ", "))
}

// reportUnreachable names the nodes that did not answer, on stderr.
func reportUnreachable(w io.Writer, v api.ClusterView) {
	for _, n := range v.Nodes {
		if n.Reachable() {
			continue
		}
		who := n.Admin
		if n.NodeID >= 0 {
			who = fmt.Sprintf("node %d (%s)", n.NodeID, n.Admin)
		}
		fmt.Fprintf(w, "NODE_UNREACHABLE %s: %s\n", who, n.Error)
	}
}

// commandGroup is a command that only holds subcommands: run alone it
// prints its help; an unknown subcommand is a usage error.
func commandGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2, // cobra only defaults it on the root
	}
	cmd.AddCommand(subs...)
	return cmd
}

// NewCmdISR builds the `chronik isr` command group.
func NewCmdISR(f *Factory) *cobra.Command {
	return commandGroup("isr <command>", "Inspect in-sync replicas", NewCmdISRDescribe(f, nil))
}

// ISRDescribeOptions are the inputs of `chronik isr describe`.
type ISRDescribeOptions struct {
	ClusterViewOptions
	Filter  diagnose.ISRFilter
	Verbose bool
}

// NewCmdISRDescribe builds `chronik isr describe [TOPIC...]`.
func NewCmdISRDescribe(f *Factory, runF func(*ISRDescribeOptions) error) *cobra.Command {
	opts := &ISRDescribeOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	var cf clusterViewFlags
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Show every partition's leader, ISR, lag and status",
		Long: `Ask every node's admin API and show, per partition: LEADER, EPOCH, REPLICAS,
ISR, HW (high watermark), MAX LAG (the largest follower lag the leader reports, in
offsets) and STATUS:

  OK                 every replica in sync
  UNDER_REPLICATED   ISR smaller than the replica set
  AT_MIN_ISR         ISR exactly min.insync.replicas: one more loss refuses acks=all
  UNDER_MIN_ISR      ISR below min.insync.replicas: acks=all is refused
  STALLED            a replica has not caught up for longer than replica.lag.time.max.ms
  ISR_UNINITIALIZED  empty ISR, or the leader is not in it
  LEADER_UNREACHABLE the leader's node did not answer: HW and lag unknown (HW -)
  OFFLINE            no leader

The numbers come from each partition's leader (its own answer), so they are
the truth, not configuration. -v adds one row per replica: LEO, LAG, when it
last caught up, when it last fetched, and whether it is in the ISR.

Filters select partitions matching any of them. Nodes that do not answer are
named on stderr (NODE_UNREACHABLE) and their replicas shown from the others'
view. Exit codes: 0, 1 when no node answered, 2 bad flags.`,
		Example: `  chronik isr describe
  chronik isr describe orders payments -v
  chronik isr describe --under-replicated --stalled -o json`,
		ValidArgsFunction: completeTopicsFromAdmin(f, &cf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.complete(f, cmd, &opts.ClusterViewOptions); err != nil {
				return err
			}
			opts.Filter.Topics = args
			if opts.Filter.Node < 0 {
				return &usageError{fmt.Errorf("--node: a node id is positive, got %d", opts.Filter.Node)}
			}
			if runF != nil {
				return runF(opts)
			}
			return isrDescribeRun(cmd.Context(), opts)
		},
	}
	cf.register(f, cmd, &opts.ClusterViewOptions)
	fl := cmd.Flags()
	fl.BoolVar(&opts.Filter.UnderReplicated, "under-replicated", false, "partitions whose ISR is smaller than their replica set")
	fl.BoolVar(&opts.Filter.UnderMinISR, "under-min-isr", false, "partitions whose ISR is below min.insync.replicas")
	fl.BoolVar(&opts.Filter.AtMinISR, "at-min-isr", false, "partitions whose ISR is exactly min.insync.replicas")
	fl.BoolVar(&opts.Filter.Unavailable, "unavailable", false, "partitions without a leader, or whose leader does not answer")
	fl.BoolVar(&opts.Filter.Stalled, "stalled", false, "partitions with a replica not caught up for longer than the lag time")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "one row per replica: LEO, lag, last caught up, last fetch")
	fl.Int32Var(&opts.Filter.Node, "node", 0, "only partitions with a replica on this node id")
	_ = cmd.RegisterFlagCompletionFunc("node", completeNodeIDs(f, &cf))
	return cmd
}

// completeFromView completes from a quick look at the cluster (one second
// per node); nothing when no node answers.
func completeFromView(f *Factory, cf *clusterViewFlags, list func(api.ClusterView) []cobra.Completion) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		opts := &ClusterViewOptions{IO: IOStreams{Out: io.Discard, ErrOut: io.Discard}, Output: OutputTable, Timeout: time.Second}
		if cf.complete(f, cmd, opts) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		v, err := gather(cmd.Context(), opts)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return list(v), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNodeIDs completes node ids from the registered brokers.
func completeNodeIDs(f *Factory, cf *clusterViewFlags) cobra.CompletionFunc {
	return completeFromView(f, cf, func(v api.ClusterView) []cobra.Completion {
		list := v.BrokerList()
		if list == nil {
			return nil
		}
		var out []cobra.Completion
		for _, b := range list.Brokers {
			out = append(out, cobra.CompletionWithDesc(strconv.Itoa(int(b.ID)), b.KafkaAddr))
		}
		return out
	})
}

func isrDescribeRun(ctx context.Context, opts *ISRDescribeOptions) error {
	v, err := gather(ctx, &opts.ClusterViewOptions)
	if err != nil {
		return err
	}
	rep := diagnose.BuildISRReport(v, opts.Filter)
	if err := writeOutput(opts.IO, opts.Output, rep, func() error {
		return RenderISRTable(opts.IO.Out, rep, opts.Verbose, opts.tableOptions())
	}); err != nil {
		return err
	}
	reportUnreachable(opts.IO.ErrOut, v)
	return nil
}

// completeTopicsFromAdmin completes topic names from the nodes' partitions.
func completeTopicsFromAdmin(f *Factory, cf *clusterViewFlags) cobra.CompletionFunc {
	return completeFromView(f, cf, func(v api.ClusterView) []cobra.Completion {
		var out []cobra.Completion
		for _, r := range diagnose.MergePartitions(v) { // sorted by topic
			if len(out) == 0 || out[len(out)-1] != r.Topic {
				out = append(out, r.Topic)
			}
		}
		return out
	})
}

// NewCmdCluster builds the `chronik cluster` command group.
func NewCmdCluster(f *Factory) *cobra.Command {
	return commandGroup("cluster <command>", "Inspect the cluster as a whole", NewCmdClusterStatus(f, nil),
		NewCmdClusterRebalance(f, nil), NewCmdClusterRemoveNode(f, nil), NewCmdClusterReplaceNode(f, nil))
}

// ClusterStatusOptions are the inputs of `chronik cluster status`.
type ClusterStatusOptions struct {
	ClusterViewOptions
	Watch           bool
	Interval        time.Duration
	ExitWhenHealthy bool
}

// NewCmdClusterStatus builds `chronik cluster status`.
func NewCmdClusterStatus(f *Factory, runF func(*ClusterStatusOptions) error) *cobra.Command {
	opts := &ClusterStatusOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	var cf clusterViewFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show brokers, the controller and a health summary",
		Long: `Ask every node's admin API and show each broker (up, fenced, shut_down or
unreachable), the controller, partitions counted by status and findings counted
by severity (` + "`chronik doctor`" + ` lists them).

--watch refreshes every --interval; --exit-when-healthy watches until the
cluster is healthy (every node answered, no partition's leader silent, no
warning or critical finding) and exits 0 then. On a terminal a watch shows
what it has as soon as the first nodes answer, the others marked waiting and
the summary marked partial, and completes the picture when the rest answer or
time out, so a paused node never blanks the screen for --timeout.
Exit codes: 0, 1 when no node answered, 2 bad flags.`,
		Example: `  chronik cluster status
  chronik cluster status --watch
  chronik cluster status --exit-when-healthy --timeout 2s   # in a script, after a rolling restart`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cf.complete(f, cmd, &opts.ClusterViewOptions); err != nil {
				return err
			}
			if opts.Interval < 500*time.Millisecond {
				return &usageError{fmt.Errorf("--interval: at least 500ms, got %v", opts.Interval)}
			}
			if runF != nil {
				return runF(opts)
			}
			return clusterStatusRun(cmd.Context(), opts)
		},
	}
	cf.register(f, cmd, &opts.ClusterViewOptions)
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "refresh interval with --watch")
	cmd.Flags().BoolVar(&opts.ExitWhenHealthy, "exit-when-healthy", false, "watch until healthy, then exit 0")
	return cmd
}

func clusterStatusRun(ctx context.Context, opts *ClusterStatusOptions) error {
	watch := opts.Watch || opts.ExitWhenHealthy
	live := watch && opts.IsTTY && opts.Output == OutputTable // redrawn in place
	drawn := false
	redraw := func(st diagnose.ClusterStatus) error {
		if drawn {
			fmt.Fprint(opts.IO.Out, "\x1b[H\x1b[2J")
		}
		drawn = true
		return RenderClusterStatus(opts.IO.Out, st, opts.tableOptions())
	}
	// On a live screen, what the first nodes answered is shown at once;
	// nodes silent in the last complete view stay shown silent meanwhile.
	var progress func(api.ClusterView)
	var last api.ClusterView
	if live {
		progress = func(v api.ClusterView) {
			v = client.CarrySilent(v, last)
			if err := redraw(diagnose.BuildClusterStatus(v, diagnose.Run(v))); err != nil {
				slog.Debug("draw a partial cluster status", "err", err)
			}
		}
	}
	for {
		v, gerr := gatherProgress(ctx, &opts.ClusterViewOptions, progress)
		if gerr != nil && !watch {
			return gerr
		}
		last = v
		st := diagnose.BuildClusterStatus(v, diagnose.Run(v))
		if live {
			if err := redraw(st); err != nil {
				return err
			}
			reportUnreachable(opts.IO.ErrOut, v)
			if opts.ExitWhenHealthy && st.Healthy && gerr == nil {
				return nil
			}
			if !waitInterval(ctx, opts.Interval) {
				return watchEnd(ctx)
			}
			continue
		}
		if err := writeOutput(opts.IO, opts.Output, st, func() error {
			return RenderClusterStatus(opts.IO.Out, st, opts.tableOptions())
		}); err != nil {
			return err
		}
		reportUnreachable(opts.IO.ErrOut, v)
		if !watch || (opts.ExitWhenHealthy && st.Healthy && gerr == nil) {
			return nil
		}
		if !waitInterval(ctx, opts.Interval) {
			return watchEnd(ctx)
		}
	}
}

// waitInterval waits d; false when ctx ended first.
func waitInterval(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchEnd is how a watch ends when its context does: Ctrl-C is success.
func watchEnd(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}

// DoctorOptions are the inputs of `chronik doctor`.
type DoctorOptions struct {
	ClusterViewOptions
	Verbose bool
}

// NewCmdDoctor builds `chronik doctor`.
func NewCmdDoctor(f *Factory, runF func(*DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	var cf clusterViewFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Find what is wrong with the cluster and say what to do",
		Long: `Ask every node's admin API and evaluate the diagnosis rules over all the
answers, then group their findings under the root causes that explain them.
One fault shows as many findings (a paused node: its partitions at min ISR,
fenced, a raft voter behind, unreachable); doctor prints the cause first (what
happened, where, since when), its effects, and one next step. -v also prints
every finding with the numbers behind it; -o json has both (causes[] and
findings[]).

Causes: NODE_DOWN, NODE_UNREACHABLE, NODE_PARTITIONED, RAFT_QUORUM_LOST,
DISK_FULL, FOLLOWER_FETCH_ERRORS, REPLICA_SLOW, ISR_UNINITIALIZED,
LEADER_NOT_IN_ISR, ACKS_ALL_STUCK, or a finding's code when no fault above
explains it. Finding codes: NODE_UNREACHABLE, RAFT_NO_LEADER,
RAFT_FOLLOWER_BEHIND, RAFT_STOPPED, BROKER_FENCED, NO_LEADER,
LEADER_UNREACHABLE, ISR_UNINITIALIZED, LEADER_NOT_IN_ISR, UNDER_MIN_ISR,
AT_MIN_ISR, UNDER_REPLICATED, FOLLOWER_STALLED, FOLLOWER_FETCH_FAILING,
REPLICA_NOT_RUNNING, ACKS_ALL_WAITING, METADATA_DIVERGED, SLOW_FSYNC, the log
cleaner's LOG_CLEANER_STOPPED and LOG_CLEANER_BEHIND, and the security
posture: SECURITY_PLAINTEXT_LISTENER, SECURITY_OPEN_ACCESS, CERT_EXPIRING
(docs/admin-api.md and docs/doctor.md explain each).

Exit codes, so scripts can gate on it: 0 healthy (no finding, or only info),
3 warnings, 4 something critical, 1 no node answered, 2 bad flags.`,
		Example: `  chronik doctor
  chronik doctor -v
  chronik doctor -o json | jq '.causes[] | {code, node, started, next_step}'
  chronik doctor --admin h1:9644 && echo healthy`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cf.complete(f, cmd, &opts.ClusterViewOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(cmd.Context(), opts)
		},
	}
	cf.register(f, cmd, &opts.ClusterViewOptions)
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "also every finding, with its evidence")
	return cmd
}

func doctorRun(ctx context.Context, opts *DoctorOptions) error {
	v, err := gather(ctx, &opts.ClusterViewOptions)
	if err != nil {
		return err
	}
	rep := diagnose.BuildDoctorReport(v)
	if err := writeOutput(opts.IO, opts.Output, rep, func() error {
		return RenderDoctor(opts.IO.Out, rep, opts.Verbose, opts.tableOptions())
	}); err != nil {
		return err
	}
	if rep.ExitCode != 0 {
		return &exitCodeError{code: rep.ExitCode}
	}
	return nil
}
