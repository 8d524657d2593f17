package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/tui"
)

// TUIOptions are the inputs of `chronik tui`.
type TUIOptions struct {
	IO           IOStreams
	Admins       []string // admin base URLs asked first; the others are discovered
	AdminToken   string   // sent with the election, when actions are allowed
	Security     client.Security
	Timeout      time.Duration // per request to a node
	Refresh      time.Duration
	AllowActions bool
	Color        bool
}

// NewCmdTUI builds `chronik tui`.
func NewCmdTUI(f *Factory, runF func(*TUIOptions) error) *cobra.Command {
	opts := &TUIOptions{IO: f.IO}
	var admins []string
	var profile string
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Watch the whole cluster live in the terminal",
		Long: `A live monitor of the cluster: every node's admin API is asked in parallel
every --refresh (each request bounded by --timeout; a node that does not answer
is shown unreachable and never blocks the screen).

Views (number keys 1-5, tab / shift-tab):
  1 Overview    nodes (up, fenced, raft role, term, commit, applied, last
                contact), the controller, partitions by status, findings
  2 Partitions  leader, epoch, replicas, ISR, HW, max lag with its trend
                (↑ ↓ →), status; s sorts, / filters (words match topics,
                status:stalled, leader:N, node:N)
  3 Partition   per replica LEO, lag, last caught up, last fetch, ISR,
                fetcher errors; acks=all waiters; sparklines of the HW and
                each replica's LEO over the last minute
  4 Raft        each node's term, commit, applied, role; the leader's peers
  5 Findings    what ` + "`chronik doctor`" + ` finds; enter opens what it names

r refreshes now, p pauses, ? shows every key, q quits. Read-only unless
--allow-actions, which enables one action: e in the partition view elects
the preferred leader, after a y/n confirmation (with the admin token of
$` + EnvAdminToken + ` or the profile). docs/tui.md has the details.`,
		Example: `  chronik tui
  chronik tui --admin h1:9644 --refresh 5s
  chronik tui --profile prod --allow-actions`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Timeout <= 0 {
				return &usageError{fmt.Errorf("--timeout: must be positive, got %v", opts.Timeout)}
			}
			if opts.Refresh < tui.MinRefresh {
				return &usageError{fmt.Errorf("--refresh: at least %v, got %v", tui.MinRefresh, opts.Refresh)}
			}
			conn, err := resolveConn(f, cmd, ConnFlags{NeedAdmin: true, Admin: admins, Profile: profile})
			if err != nil {
				return err
			}
			opts.Admins, opts.AdminToken, opts.Security = conn.Admin, conn.AdminToken, conn.AdminSecurity
			opts.Color = ColorAllowed(true, os.Getenv)
			if runF != nil {
				return runF(opts)
			}
			if !isTerminal(opts.IO.Out) {
				return errors.New("chronik tui needs a terminal on stdout; for scripts use `chronik cluster status --watch` or `chronik isr describe -o json`")
			}
			return tuiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&admins, "admin", []string{client.DefaultURL},
		"admin API base URLs, comma-separated; the other nodes are found through them ("+envAdmin+")")
	addProfileFlag(f, cmd, &profile)
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultAdminTimeout, "how long to wait for each node")
	cmd.Flags().DurationVar(&opts.Refresh, "refresh", tui.DefaultRefresh, "refresh interval (at least 500ms)")
	cmd.Flags().BoolVar(&opts.AllowActions, "allow-actions", false, "enable the preferred-leader election (key e in the partition view)")
	addAdminSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
	return cmd
}

func tuiRun(ctx context.Context, opts *TUIOptions) error {
	// Keep-alive: the same few nodes are asked every refresh.
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: opts.Security, KeepAlive: true, IdleTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer httpc.CloseIdleConnections()
	topts := tui.Options{
		Source:  tui.NewGatherSource(httpc, opts.Admins, opts.Timeout),
		Refresh: opts.Refresh,
		// A snapshot asks each node once, then the rest of its endpoints in
		// parallel, and may discover more nodes: a few timeouts at most.
		Timeout: 4*opts.Timeout + time.Second,
		Color:   opts.Color,
	}
	if opts.AllowActions {
		topts.Elect = tui.NewAdminElect(httpc, opts.AdminToken, opts.Timeout)
	}
	// bubbletea's defaults handle the real terminal best (it opens the TTY
	// when stdin is a pipe), so only other streams are passed on.
	var progOpts []tea.ProgramOption
	if opts.IO.In != os.Stdin {
		progOpts = append(progOpts, tea.WithInput(opts.IO.In))
	}
	if opts.IO.Out != os.Stdout {
		progOpts = append(progOpts, tea.WithOutput(opts.IO.Out))
	}
	return tui.Run(ctx, topts, progOpts...)
}
