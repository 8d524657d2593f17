package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/rebalance"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// defaultRebalanceTimeout bounds a whole rebalance: copying replicas takes
// as long as the data takes to copy.
const defaultRebalanceTimeout = time.Hour

// rebalancePoll is how often a running batch is checked.
const rebalancePoll = 500 * time.Millisecond

// ClusterRebalanceOptions are the inputs of `chronik cluster rebalance`.
type ClusterRebalanceOptions struct {
	TopicOptions
	DryRun bool
	Batch  int
}

// NewCmdClusterRebalance builds `chronik cluster rebalance`. runF, if not
// nil, replaces the command's run function.
func NewCmdClusterRebalance(f *Factory, runF func(*ClusterRebalanceOptions) error) *cobra.Command {
	opts := &ClusterRebalanceOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Even out replicas and preferred leaders over the brokers and racks",
		Long: `Plan, and unless --dry-run apply, moves of partition replicas so that every
live broker holds as many replicas, and is the preferred leader of as many
partitions, as the others (within one), and each partition's replicas sit in
different racks when the brokers have racks (serve --rack) and there are
enough of them. The plan moves as few replicas as it can, moves followers
before leaders, never puts a replica on a broker that is down, and leaves
replicas on a broker that is down where they are.

The plan is printed first: each partition that moves (FROM and TO replica
lists, preferred leader first) and each broker's replicas and preferred
leaderships before and after (-o json: the whole plan). Without --dry-run it
is applied in batches of --batch partitions with Kafka's
AlterPartitionReassignments; each batch finishes (the new replicas caught up
and in the ISR, ListPartitionReassignments empty) before the next starts, and
a preferred-leader election follows. A cluster without partition reassignment
is refused before anything moves. Speaks only the Kafka protocol.`,
		Example: `  chronik cluster rebalance --dry-run
  chronik cluster rebalance --batch 5`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Batch < 1 {
				return &usageError{fmt.Errorf("--batch: must be at least 1, got %d", opts.Batch)}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return clusterRebalanceRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	opts.Timeout = defaultRebalanceTimeout
	fl := cmd.Flags().Lookup("timeout")
	fl.DefValue, fl.Usage = defaultRebalanceTimeout.String(), "how long the whole rebalance may take"
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().IntVar(&opts.Batch, "batch", rebalance.DefaultBatchSize, "most partitions reassigned at once")
	return cmd
}

func clusterRebalanceRun(ctx context.Context, opts *ClusterRebalanceOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		// A partition being reassigned lists its old and new replicas
		// together: a plan made now would count them twice.
		busy, err := c.InProgress(ctx)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			first := busy[0]
			return fmt.Errorf("%d partition %s in progress (first: %s/%d adding %v, removing %v): wait for %s to finish (`chronik partition reassignments`) or cancel %s (`chronik partition move TOPIC/P --cancel`), then plan again",
				len(busy), plural(len(busy), "reassignment is", "reassignments are"), first.Topic, first.Partition, first.Adding, first.Removing,
				plural(len(busy), "it", "them"), plural(len(busy), "it", "them"))
		}
		brokers, parts, err := c.Layout(ctx)
		if err != nil {
			return err
		}
		plan, err := rebalance.Compute(brokers, parts, rebalance.Options{BatchSize: opts.Batch})
		if err != nil {
			return fmt.Errorf("plan the rebalance: %w", err)
		}
		if !opts.DryRun && len(plan.Moves) > 0 {
			// Refused before the plan is shown as if it would happen.
			if err := c.CheckReassignment(ctx); err != nil {
				return err
			}
		}
		if err := writeOutput(opts.IO, opts.Output, plan, func() error {
			return RenderRebalancePlan(opts.IO.Out, plan, opts.tableOptions())
		}); err != nil {
			return err
		}
		if opts.DryRun || len(plan.Moves) == 0 {
			return nil
		}
		return applyRebalance(ctx, c, opts.IO.ErrOut, plan)
	})
}

// applyRebalance runs the plan's batches one after the other, then elects
// preferred leaders. Progress goes to w (stderr).
func applyRebalance(ctx context.Context, c *topicadmin.Client, w io.Writer, plan rebalance.Plan) error {
	start := time.Now()
	for i, batch := range plan.Batches {
		fmt.Fprintf(w, "batch %d/%d: reassigning %d %s\n", i+1, len(plan.Batches), len(batch), plural(len(batch), "partition", "partitions"))
		if err := c.Reassign(ctx, batch); err != nil {
			return fmt.Errorf("batch %d/%d: %w", i+1, len(plan.Batches), err)
		}
		last := -1
		err := c.WaitReassigned(ctx, batch, rebalancePoll, func(left int) {
			if left != last && left > 0 {
				fmt.Fprintf(w, "batch %d/%d: %d still copying\n", i+1, len(plan.Batches), left)
			}
			last = left
		})
		if err != nil {
			return fmt.Errorf("batch %d/%d: %w — what is reassigned stays; `chronik cluster rebalance --dry-run` shows what is left", i+1, len(plan.Batches), err)
		}
	}
	notes, err := c.ElectPreferred(ctx, plan.Moves)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(w, "preferred leader not elected yet: %s\n", n)
	}
	fmt.Fprintf(w, "rebalanced: %d %s moved, %d %s copied, in %s\n", len(plan.Moves), plural(len(plan.Moves), "partition", "partitions"),
		plan.ReplicasMoved, plural(plan.ReplicasMoved, "replica", "replicas"), time.Since(start).Round(time.Millisecond))
	return nil
}

// RenderRebalancePlan prints the moves, then (on a terminal) each broker's
// load before and after and a summary. Piped, it prints the moves only,
// tab-separated: topic/partition, from, to, replicas copied.
func RenderRebalancePlan(w io.Writer, plan rebalance.Plan, opts TableOptions) error {
	if len(plan.Moves) == 0 {
		if opts.TTY {
			_, err := fmt.Fprintln(w, "the cluster is balanced: nothing to move")
			return err
		}
		return nil
	}
	moves := NewTable(opts, "PARTITION", "FROM", "TO", "COPIES")
	for _, m := range plan.Moves {
		moves.Row(fmt.Sprintf("%s/%d", m.Topic, m.Partition), idList(m.From), idList(m.To), strconv.Itoa(m.Replicas))
	}
	if err := moves.Render(w); err != nil || !opts.TTY {
		return err
	}
	var b strings.Builder
	b.WriteByte('\n')
	brokers := NewTable(opts, "BROKER", "RACK", "STATE", "REPLICAS", "PREFERRED LEADERS")
	for _, c := range plan.BeforeAfter {
		state := "up"
		if !c.Live {
			state = "down"
		}
		brokers.Row(strconv.Itoa(int(c.Broker)), orDash(c.Rack), state,
			fmt.Sprintf("%d → %d", c.ReplicasBefore, c.ReplicasAfter), fmt.Sprintf("%d → %d", c.LeadersBefore, c.LeadersAfter))
	}
	if err := brokers.Render(&b); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%d %s move, %d %s copied, in %d %s of at most %d\n",
		len(plan.Moves), plural(len(plan.Moves), "partition", "partitions"), plan.ReplicasMoved, plural(plan.ReplicasMoved, "replica", "replicas"),
		len(plan.Batches), plural(len(plan.Batches), "batch", "batches"), plan.BatchSize)
	switch {
	case plan.RackAware && plan.RackViolations == 0:
		b.WriteString("racks: every partition's replicas are spread over racks\n")
	case plan.RackAware:
		fmt.Fprintf(&b, "racks: %d %s still crowd a rack (not enough brokers in other racks)\n", plan.RackViolations, plural(plan.RackViolations, "partition", "partitions"))
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
