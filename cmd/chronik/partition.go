package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// movePoll is how often `partition move --wait` asks whether the move is done.
const movePoll = 500 * time.Millisecond

// NewCmdPartition builds the `chronik partition` command group.
func NewCmdPartition(f *Factory) *cobra.Command {
	cmd := commandGroup("partition <command>", "Move partition replicas between brokers",
		NewCmdPartitionMove(f, nil), NewCmdPartitionReassignments(f, nil))
	cmd.Long = `Move a partition's replicas to other brokers and list the moves in progress
(AlterPartitionReassignments, ListPartitionReassignments on the Kafka protocol,
as kafka-reassign-partitions does). The new replicas copy the log as
followers; once all of them are in the ISR the controller installs the new
replica set, moving leadership first when the leader is among the removed.`
	return cmd
}

// PartitionMoveOptions are the inputs of `chronik partition move`.
type PartitionMoveOptions struct {
	TopicOptions
	Topic     string
	Partition int32
	Replicas  []int32 // nil with Cancel
	Cancel    bool
	Wait      bool
}

// parsePartitionArg reads TOPIC/PARTITION.
func parsePartitionArg(s string) (string, int32, error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q: want TOPIC/PARTITION, e.g. orders/0", s)
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, fmt.Errorf("%q: the partition must be a number from 0, got %q", s, s[i+1:])
	}
	return s[:i], int32(p), nil
}

// NewCmdPartitionMove builds `chronik partition move`. runF, if not nil,
// replaces the command's run function.
func NewCmdPartitionMove(f *Factory, runF func(*PartitionMoveOptions) error) *cobra.Command {
	opts := &PartitionMoveOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var replicas []int
	cmd := &cobra.Command{
		Use:   "move TOPIC/PARTITION",
		Short: "Move a partition to other brokers, or cancel its move",
		Long: `Start moving TOPIC/PARTITION to the brokers --replicas lists (the first is the
preferred leader), or with --cancel put it back on its original replicas.
The move runs in the cluster: the command returns once it has started, or
with --wait once it has completed (raise --timeout for large partitions).
A new target for a partition already moving replaces the old one.`,
		Example: `  chronik partition move orders/0 --replicas 4,2,5 --wait --timeout 10m
  chronik partition move orders/0 --cancel`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic, p, err := parsePartitionArg(args[0])
			if err != nil {
				return &usageError{err}
			}
			opts.Topic, opts.Partition = topic, p
			switch {
			case opts.Cancel && cmd.Flags().Changed("replicas"):
				return &usageError{fmt.Errorf("--cancel and --replicas: a move is either started or cancelled")}
			case opts.Cancel && opts.Wait:
				return &usageError{fmt.Errorf("--wait goes with --replicas: a cancel takes effect at once")}
			case !opts.Cancel && len(replicas) == 0:
				return &usageError{fmt.Errorf("--replicas is required (or --cancel)")}
			}
			if !opts.Cancel {
				opts.Replicas = make([]int32, len(replicas))
				for i, r := range replicas {
					if r < 0 || r > 1<<31-1 {
						return &usageError{fmt.Errorf("--replicas: broker id %d out of range", r)}
					}
					opts.Replicas[i] = int32(r)
				}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return partitionMoveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntSliceVar(&replicas, "replicas", nil, "the broker ids of the new replica set, comma-separated")
	cmd.Flags().BoolVar(&opts.Cancel, "cancel", false, "cancel the partition's move, back to its original replicas")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait until the move has completed")
	_ = cmd.RegisterFlagCompletionFunc("replicas", cobra.NoFileCompletions)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

// PartitionMoveResult is what `partition move` prints.
type PartitionMoveResult struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas,omitempty"`
	Status    string  `json:"status"` // started, completed, cancelled
}

func partitionMoveRun(ctx context.Context, opts *PartitionMoveOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		if err := c.MovePartition(ctx, opts.Topic, opts.Partition, opts.Replicas); err != nil {
			return err
		}
		res := PartitionMoveResult{Topic: opts.Topic, Partition: opts.Partition, Replicas: opts.Replicas, Status: "started"}
		switch {
		case opts.Cancel:
			res.Status = "cancelled"
		case opts.Wait:
			var last string
			err := c.WaitMoved(ctx, opts.Topic, opts.Partition, movePoll, func(r topicadmin.PartitionReassignment) {
				line := fmt.Sprintf("moving %s/%d: replicas %s, adding %s, removing %s\n",
					r.Topic, r.Partition, brokerList(r.Replicas), brokerList(r.Adding), brokerList(r.Removing))
				if line != last { // each state once, not every poll
					fmt.Fprint(opts.IO.ErrOut, line)
					last = line
				}
			})
			if err != nil {
				return err
			}
			res.Status = "completed"
		}
		return writeOutput(opts.IO, opts.Output, res, func() error {
			var msg string
			switch res.Status {
			case "cancelled":
				msg = fmt.Sprintf("Cancelled the move of %s/%d; it is back on its original replicas.\n", res.Topic, res.Partition)
			case "completed":
				msg = fmt.Sprintf("Moved %s/%d to replicas %s.\n", res.Topic, res.Partition, brokerList(res.Replicas))
			default:
				msg = fmt.Sprintf("Started moving %s/%d to replicas %s; `chronik partition reassignments` shows the progress.\n",
					res.Topic, res.Partition, brokerList(res.Replicas))
			}
			_, err := io.WriteString(opts.IO.Out, msg)
			return err
		})
	})
}

// brokerList prints broker ids as 1,2,3 ("-" for none).
func brokerList(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// PartitionReassignmentsOptions are the inputs of `chronik partition reassignments`.
type PartitionReassignmentsOptions struct {
	TopicOptions
}

// NewCmdPartitionReassignments builds `chronik partition reassignments`.
// runF, if not nil, replaces the command's run function.
func NewCmdPartitionReassignments(f *Factory, runF func(*PartitionReassignmentsOptions) error) *cobra.Command {
	opts := &PartitionReassignmentsOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "reassignments",
		Short: "List the partition moves in progress",
		Long: `List every partition move in progress: TOPIC, PARTITION, REPLICAS (the target
followed by the replicas being removed), ADDING and REMOVING.`,
		Example: `  chronik partition reassignments
  chronik partition reassignments -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return withTopicClient(cmd.Context(), &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
				rs, err := c.Reassignments(ctx)
				if err != nil {
					return err
				}
				return writeList(&opts.TopicOptions, rs, "No partition moves in progress.", RenderReassignments)
			})
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

// RenderReassignments writes reassignments: TOPIC, PARTITION, REPLICAS,
// ADDING, REMOVING.
func RenderReassignments(w io.Writer, rs []topicadmin.PartitionReassignment, opts TableOptions) error {
	t := NewTable(opts, "TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
	for _, r := range rs {
		t.Row(r.Topic, strconv.Itoa(int(r.Partition)), brokerList(r.Replicas), brokerList(r.Adding), brokerList(r.Removing))
	}
	return t.Render(w)
}
