package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/client"
)

// envAdmin lists admin URLs when --admin is not given.
const envAdmin = EnvAdmin

// defaultAdminTimeout bounds each node's answer: long enough for a busy
// node, short enough that one dead node does not stall the whole report.
const defaultAdminTimeout = 3 * time.Second

// NewCmdRaft builds the `chronik raft` command group.
func NewCmdRaft(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft <command>",
		Short: "Inspect the raft metadata quorum",
		Long: `Inspect the raft metadata quorum through the nodes' admin APIs.

Every number comes from the node that owns it: each listed node is asked for
its own view, and the views are shown side by side.`,
		// Runnable, so an unknown subcommand is a usage error rather than help.
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2, // cobra only defaults it on the root
	}
	cmd.AddCommand(NewCmdRaftStatus(f, nil))
	return cmd
}

// RaftStatusOptions are the inputs of `chronik raft status`.
type RaftStatusOptions struct {
	IO     IOStreams
	Admins []string // admin base URLs, normalized, in the order given
	// Security is how to reach a secured admin API (HTTPS, read token).
	Security client.Security
	Output   string        // OutputTable, OutputJSON or OutputYAML
	Timeout  time.Duration // for each node's answer
	IsTTY    bool          // stdout is a terminal: aligned tables with headers
	// NoColor is set by NO_COLOR. Nothing is coloured yet; whatever adds
	// colour must check it.
	NoColor bool
}

// NewCmdRaftStatus builds `chronik raft status`. runF, if not nil, replaces
// the command's run function (tests use it to inspect the parsed options).
func NewCmdRaftStatus(f *Factory, runF func(*RaftStatusOptions) error) *cobra.Command {
	opts := &RaftStatusOptions{IO: f.IO}
	var adminFlag []string
	var profile string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's view of the raft quorum",
		Long: `Ask every node in --admin for its raft status, in parallel, and show one row
per node: NODE, ROLE, TERM, LEADER, COMMIT, APPLIED, SNAPSHOT, VOTERS,
LEARNERS. Then the leader's view of its peers: ID, MEMBER (voter or learner),
MATCH, LAG (committed entries it lacks), NEXT, STATE, ACTIVE, CONNECTED,
LAST CONTACT.

A node that does not answer gets ROLE "unreachable" (NODE is its admin URL)
and the reason on stderr. On a terminal the tables are aligned with headers;
otherwise rows are tab-separated without headers, and a blank line separates
node rows from peer rows.

-o json and -o yaml print a list with one entry per node, in --admin order:
{"admin": URL, "node_id": N, "data": {...}} for a node that answered,
{"admin": URL, "error": "..."} for one that did not. docs/admin-api.md
describes every field.

--admin defaults to $CHRONIK_ADMIN (comma-separated), then the profile's admin
URLs (see ` + "`chronik profile`" + `), then ` + client.DefaultURL + `.

Exit codes: 0 every node answered, 1 some node did not, 2 bad flags.`,
		Example: `  # a three-node cluster
  chronik raft status --admin http://h1:9644,http://h2:9644,http://h3:9644

  # the same, for a script
  CHRONIK_ADMIN=h1:9644,h2:9644,h3:9644 chronik raft status -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(OutputFormats(), opts.Output) {
				return &usageError{fmt.Errorf("--output: want one of %s, got %q",
					strings.Join(OutputFormats(), ", "), opts.Output)}
			}
			if opts.Timeout <= 0 {
				return &usageError{fmt.Errorf("--timeout: must be positive, got %v", opts.Timeout)}
			}
			conn, err := resolveConn(f, cmd, ConnFlags{NeedAdmin: true, Admin: adminFlag, Profile: profile})
			if err != nil {
				return err
			}
			opts.Admins, opts.Security = conn.Admin, conn.AdminSecurity
			opts.IsTTY = isTerminal(opts.IO.Out)
			opts.NoColor = os.Getenv("NO_COLOR") != ""
			if runF != nil {
				return runF(opts)
			}
			return raftStatusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&adminFlag, "admin", []string{client.DefaultURL},
		"admin API base URLs of the nodes to ask, comma-separated ("+envAdmin+")")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", OutputTable,
		"output format: "+strings.Join(OutputFormats(), ", "))
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultAdminTimeout, "how long to wait for each node")
	addProfileFlag(f, cmd, &profile)
	addAdminSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(OutputFormats(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
	return cmd
}

// isTerminal reports whether w is a character device, which is what a
// terminal looks like without a terminal library.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func raftStatusRun(ctx context.Context, opts *RaftStatusOptions) error {
	// One request per node: keep-alive would only leave idle connections
	// (and their goroutines) behind.
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: opts.Security})
	if err != nil {
		return err
	}
	defer httpc.CloseIdleConnections()

	results := client.FanOut(ctx, httpc, opts.Admins, opts.Timeout, (*client.Client).Raft)
	switch opts.Output {
	case OutputJSON:
		err = WriteJSON(opts.IO.Out, results)
	case OutputYAML:
		err = WriteYAML(opts.IO.Out, results)
	default:
		err = RenderRaftTable(opts.IO.Out, results, opts.IsTTY)
	}
	if err != nil {
		return err
	}
	failed, err := client.ReportFailures(opts.IO.ErrOut, results)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("no answer from %d of %d nodes", failed, len(results))
	}
	return nil
}
