package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
)

// removePoll is how often `remove-node --wait` asks again while replicas move.
const removePoll = time.Second

// defaultRemoveTimeout bounds a --wait removal: copying replicas takes as
// long as the data and the throttle make it.
const defaultRemoveTimeout = 24 * time.Hour

// ClusterRemoveNodeOptions are the inputs of `chronik cluster remove-node`
// and `replace-node`.
type ClusterRemoveNodeOptions struct {
	ClusterViewOptions
	Token   string
	Request api.RemoveNodeRequest
	Wait    bool
	WaitFor time.Duration
}

// NewCmdClusterRemoveNode builds `chronik cluster remove-node ID`.
func NewCmdClusterRemoveNode(f *Factory, runF func(*ClusterRemoveNodeOptions) error) *cobra.Command {
	opts := &ClusterRemoveNodeOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	var cf *clusterViewFlags
	cmd := &cobra.Command{
		Use:   "remove-node ID",
		Short: "Decommission a node: move its replicas away, then remove it from raft and the broker list",
		Long: `Remove node ID from the cluster in three steps, on the controller:

  1. move every replica the node hosts to other live brokers (one reassignment
     per partition, in the same place of the replica list, racks honoured;
     throttled by serve --reassignment-throttle; the new replica joins the
     ISR before the old one leaves, so no partition has fewer in-sync
     replicas than it must);
  2. take it out of raft (the controller hands leadership to another voter
     first when it is the node; a caught-up learner is promoted to keep
     --metadata-voters);
  3. unregister the broker. The removed node's process stops (exit code 77)
     and its data dir can be wiped.

Refused, changing nothing, when the node is unknown, a partition would be left
under its replication factor (fewer live brokers than it needs), or the raft
quorum would be at risk. Each run continues where the last stopped (after a
crash of this command or of the controller). Without --wait one run starts the
moves and prints where the removal stands; run it again once they finished.

--force removes a node that is down for good: nothing is read from it, its
replicas are rebuilt on other brokers from the surviving in-sync replicas. A
partition whose only in-sync replica was that node has no copy anywhere else
and is refused even with --force (bring the node back, or delete the topic).
Needs the admin token (--admin-token in a profile, or ` + EnvAdminToken + `).`,
		Example: `  chronik cluster remove-node 4 --wait
  chronik cluster remove-node 3 --force --wait`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := nodeIDArg("ID", args[0])
			if err != nil {
				return err
			}
			opts.Request.NodeID = id
			return completeRemoveNode(f, cmd, cf, opts, runF)
		},
	}
	cf = registerRemoveNodeFlags(f, cmd, opts)
	cmd.Flags().BoolVar(&opts.Request.Force, "force", false, "remove a node that is down for good, rebuilding its replicas from the other in-sync replicas")
	return cmd
}

// NewCmdClusterReplaceNode builds `chronik cluster replace-node OLD NEW`.
func NewCmdClusterReplaceNode(f *Factory, runF func(*ClusterRemoveNodeOptions) error) *cobra.Command {
	opts := &ClusterRemoveNodeOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	var cf *clusterViewFlags
	cmd := &cobra.Command{
		Use:   "replace-node OLD NEW",
		Short: "Move every replica of node OLD to node NEW, then remove OLD",
		Long: `Replace node OLD with node NEW, a live broker that joined the cluster (serve
--join): every replica of OLD is reassigned to NEW in the same place of the
replica list (NEW is added and catches up before OLD leaves, so no partition
has fewer in-sync replicas than it must), then OLD leaves raft and the broker
list as with remove-node. OLD may be down (a dead disk, the usual case): NEW
copies from the surviving in-sync replicas. Refused, changing nothing, when
NEW is not a live registered broker or already hosts one of OLD's partitions,
or a partition's only in-sync replica was OLD while it is down.`,
		Example: `  chronik cluster replace-node 3 5 --wait`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := nodeIDArg("OLD", args[0])
			if err != nil {
				return err
			}
			repl, err := nodeIDArg("NEW", args[1])
			if err != nil {
				return err
			}
			if repl == old {
				return &usageError{fmt.Errorf("OLD and NEW are both %d", old)}
			}
			opts.Request.NodeID, opts.Request.ReplaceWith = old, repl
			return completeRemoveNode(f, cmd, cf, opts, runF)
		},
	}
	cf = registerRemoveNodeFlags(f, cmd, opts)
	return cmd
}

func nodeIDArg(name, s string) (int32, error) {
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 1 {
		return 0, &usageError{fmt.Errorf("%s: want a positive node id, got %q", name, s)}
	}
	return int32(id), nil
}

func registerRemoveNodeFlags(f *Factory, cmd *cobra.Command, opts *ClusterRemoveNodeOptions) *clusterViewFlags {
	cf := &clusterViewFlags{}
	cf.register(f, cmd, &opts.ClusterViewOptions)
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait until the node is removed, printing progress")
	cmd.Flags().DurationVar(&opts.WaitFor, "wait-timeout", defaultRemoveTimeout, "how long --wait may take")
	return cf
}

func completeRemoveNode(f *Factory, cmd *cobra.Command, cf *clusterViewFlags, opts *ClusterRemoveNodeOptions, runF func(*ClusterRemoveNodeOptions) error) error {
	if opts.WaitFor <= 0 {
		return &usageError{fmt.Errorf("--wait-timeout: must be positive, got %v", opts.WaitFor)}
	}
	if err := cf.complete(f, cmd, &opts.ClusterViewOptions); err != nil {
		return err
	}
	conn, err := resolveConn(f, cmd, ConnFlags{NeedAdmin: true, Admin: cf.admins, Profile: cf.profile})
	if err != nil {
		return err
	}
	opts.Token = conn.AdminToken
	if runF != nil {
		return runF(opts)
	}
	return clusterRemoveNodeRun(cmd.Context(), opts)
}

func clusterRemoveNodeRun(ctx context.Context, opts *ClusterRemoveNodeOptions) error {
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: opts.Security})
	if err != nil {
		return err
	}
	defer httpc.CloseIdleConnections()
	if opts.Wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.WaitFor)
		defer cancel()
	}
	w := opts.IO.ErrOut
	req := opts.Request
	var last string
	warned := false
	for {
		st, err := askController(ctx, httpc, opts)
		if err != nil {
			return err
		}
		if st.Down && !warned {
			warned = true
			fmt.Fprintf(w, "warning: node %d is down: nothing is copied from it; its replicas are rebuilt from the surviving in-sync replicas\n", req.NodeID)
		}
		if line := removalLine(req, st); line != last {
			fmt.Fprintln(w, line)
			last = line
		}
		if st.Phase == api.RemovalDone {
			return writeOutput(opts.IO, opts.Output, st, func() error {
				_, err := fmt.Fprintf(opts.IO.Out, "node %d removed from the cluster; its data dir can be wiped\n", req.NodeID)
				return err
			})
		}
		if !opts.Wait && st.Phase == api.RemovalMoving {
			fmt.Fprintf(w, "run the same command again once the moves finished (or with --wait) to complete the removal\n")
			return writeOutput(opts.IO, opts.Output, st, func() error { return nil })
		}
		if st.Phase == api.RemovalMoving {
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %d: %d partitions still moving: %w", req.NodeID, len(st.Moving), ctx.Err())
			case <-time.After(removePoll):
			}
		}
	}
}

// askController sends the removal to the controller: the first admin URL
// unless it answers not_controller or not at all, then the controller the
// brokers list names. Asked again after a leadership change, it finds the
// new one.
func askController(ctx context.Context, httpc *http.Client, opts *ClusterRemoveNodeOptions) (api.RemoveNodeStatus, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		url := opts.Admins[0]
		if attempt > 0 {
			u, err := client.ControllerURL(ctx, httpc, opts.Admins)
			if err != nil {
				lastErr = err
				if !sleepCtx(ctx, removePoll) {
					break
				}
				continue
			}
			url = u
		}
		env, err := client.New(url, httpc).WithToken(opts.Token).RemoveNode(ctx, opts.Request)
		if err == nil {
			return env.Data, nil
		}
		lastErr = err
		var re *client.RequestError
		if !errors.As(err, &re) || (re.Code != api.CodeNotController && !re.Unreachable() && re.Code != api.CodeUnavailable) {
			if re != nil && re.Message != "" && re.Status != http.StatusUnauthorized {
				// A refusal: the controller's reason is the whole story.
				return api.RemoveNodeStatus{}, fmt.Errorf("%s (asked %s)", re.Message, re.URL)
			}
			return api.RemoveNodeStatus{}, err
		}
		if attempt > 0 && !sleepCtx(ctx, removePoll) {
			break
		}
	}
	return api.RemoveNodeStatus{}, lastErr
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func removalLine(req api.RemoveNodeRequest, st api.RemoveNodeStatus) string {
	var b strings.Builder
	switch st.Phase {
	case api.RemovalMoving:
		fmt.Fprintf(&b, "node %d: %d %s to move", req.NodeID, len(st.Moving), plural(len(st.Moving), "partition", "partitions"))
		if req.ReplaceWith != 0 {
			fmt.Fprintf(&b, " to node %d", req.ReplaceWith)
		}
		if len(st.Started) > 0 {
			fmt.Fprintf(&b, " (started %d: %s)", len(st.Started), partList(st.Started))
		}
	case api.RemovalControllerMoved:
		fmt.Fprintf(&b, "node %d was the controller: handed over to node %d", req.NodeID, st.Controller)
	case api.RemovalDone:
		fmt.Fprintf(&b, "node %d: out of raft and the broker list", req.NodeID)
	default:
		fmt.Fprintf(&b, "node %d: %s", req.NodeID, st.Phase)
	}
	return b.String()
}

func partList(ps []api.TopicPartition) string {
	names := make([]string, 0, min(len(ps), 6))
	for i, p := range ps {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(ps)-5))
			break
		}
		names = append(names, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
	}
	return strings.Join(names, ", ")
}
