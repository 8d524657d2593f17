package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// defaultKafkaTimeout bounds a topic command: long enough for a cluster
// electing a controller, short enough to give up on a wrong address.
const defaultKafkaTimeout = 15 * time.Second

// completionTimeout bounds asking the brokers for topic names while the
// user waits at a <TAB>.
const completionTimeout = 2 * time.Second

// NewCmdTopic builds the `chronik topic` command group.
func NewCmdTopic(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic <command>",
		Short: "Create, list, describe, alter and delete topics",
		Long: `Create, list, describe, alter and delete topics.

These commands speak only the Kafka protocol, so they work against any Kafka
cluster. --brokers (else $` + EnvBrokers + `, else the profile's brokers, else
` + DefaultBrokers + `) is where they connect first.`,
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		NewCmdTopicCreate(f, nil),
		NewCmdTopicList(f, nil),
		NewCmdTopicDescribe(f, nil),
		NewCmdTopicDelete(f, nil),
		NewCmdTopicAlterConfig(f, nil),
	)
	return cmd
}

// TopicOptions are the inputs every topic command has.
type TopicOptions struct {
	IO          IOStreams
	Brokers     []string // bootstrap addresses, normalized
	BrokersFrom string   // where Brokers came from (Conn.BrokersFrom)
	Security    topicadmin.Security
	Output      string // OutputTable, OutputJSON or OutputYAML
	Timeout     time.Duration
	IsTTY       bool // stdout is a terminal: aligned tables with headers
	Color       bool // colour allowed (a terminal, no NO_COLOR)
}

// topicFlags are the flags every topic command shares.
type topicFlags struct {
	brokers []string
	profile string
}

func (tf *topicFlags) register(f *Factory, cmd *cobra.Command, opts *TopicOptions) {
	cmd.Flags().StringSliceVar(&tf.brokers, "brokers", []string{DefaultBrokers},
		"Kafka bootstrap addresses, comma-separated ("+EnvBrokers+")")
	addProfileFlag(f, cmd, &tf.profile)
	addOutputFlag(cmd, &opts.Output)
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", defaultKafkaTimeout, "how long the command may take")
	addKafkaSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("brokers", cobra.NoFileCompletions)
}

// complete checks the shared flags and resolves the connection.
func (tf *topicFlags) complete(f *Factory, cmd *cobra.Command, opts *TopicOptions) error {
	if err := checkOutput(opts.Output); err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		return &usageError{fmt.Errorf("--timeout: must be positive, got %v", opts.Timeout)}
	}
	conn, err := resolveConn(f, cmd, ConnFlags{NeedBrokers: true, Brokers: tf.brokers, Profile: tf.profile})
	if err != nil {
		return err
	}
	opts.Brokers, opts.BrokersFrom, opts.Security = conn.Brokers, conn.BrokersFrom, conn.Kafka
	opts.IsTTY = isTerminal(opts.IO.Out)
	opts.Color = ColorAllowed(opts.IsTTY, os.Getenv)
	return nil
}

func (o *TopicOptions) tableOptions() TableOptions {
	return TableOptions{TTY: o.IsTTY, Color: o.Color}
}

// writeList writes a listing in the output o asks for, the table by
// render; an empty table on a terminal is the line none on stderr instead.
func writeList[T any](o *TopicOptions, items []T, none string, render func(io.Writer, []T, TableOptions) error) error {
	if o.Output == OutputTable && len(items) == 0 && o.IsTTY {
		_, err := fmt.Fprintln(o.IO.ErrOut, none)
		return err
	}
	return writeOutput(o.IO, o.Output, items, func() error { return render(o.IO.Out, items, o.tableOptions()) })
}

// withTopicClient runs fn with a client for the options' cluster, under
// the options' timeout.
func withTopicClient(ctx context.Context, o *TopicOptions, fn func(context.Context, *topicadmin.Client) error) error {
	c, err := topicadmin.New(topicadmin.Config{Brokers: o.Brokers, Setting: brokersSetting(o.BrokersFrom), Timeout: o.Timeout, Security: o.Security})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return fn(ctx, c)
}

// brokersSetting names the setting the brokers came from (a Conn's
// BrokersFrom), for the message when the cluster cannot be reached.
func brokersSetting(from string) string {
	switch {
	case from == EnvBrokers:
		return "$" + EnvBrokers
	case strings.HasPrefix(from, "profile "):
		return "the brokers of " + from
	default:
		return "--brokers"
	}
}

// completeTopicName completes a command's one NAME argument with the
// cluster's topic names; it offers nothing when the brokers do not answer
// in time.
func completeTopicName(f *Factory, tf *topicFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		conn, err := resolveConn(f, cmd, ConnFlags{NeedBrokers: true, Brokers: tf.brokers, Profile: tf.profile})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		var names []string
		_ = withTopicClient(ctx, &TopicOptions{Brokers: conn.Brokers, BrokersFrom: conn.BrokersFrom, Security: conn.Kafka, Timeout: completionTimeout},
			func(ctx context.Context, c *topicadmin.Client) error {
				names, err = c.TopicNames(ctx)
				return err
			})
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// TopicCreateOptions are the inputs of `chronik topic create`.
type TopicCreateOptions struct {
	TopicOptions
	Name              string
	Partitions        int32 // -1: the broker default
	ReplicationFactor int16 // -1: the broker default
	Configs           map[string]string
}

// NewCmdTopicCreate builds `chronik topic create`. runF, if not nil,
// replaces the command's run function (tests use it to inspect the options).
func NewCmdTopicCreate(f *Factory, runF func(*TopicCreateOptions) error) *cobra.Command {
	opts := &TopicCreateOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var configs []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic and print it: its partitions with leader, replicas and ISR.
--partitions and --replication-factor default to -1, the brokers' defaults.
--config sets a topic config, e.g. --config retention.ms=86400000; repeat it
for more.`,
		Example: `  chronik topic create orders --partitions 6 --replication-factor 3 \
    --config min.insync.replicas=2 --config retention.ms=604800000`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Partitions == 0 || opts.Partitions < -1 {
				return &usageError{fmt.Errorf("--partitions: must be at least 1, or -1 for the broker default, got %d", opts.Partitions)}
			}
			if opts.ReplicationFactor == 0 || opts.ReplicationFactor < -1 {
				return &usageError{fmt.Errorf("--replication-factor: must be at least 1, or -1 for the broker default, got %d", opts.ReplicationFactor)}
			}
			var err error
			if opts.Configs, err = parseConfigs("--config", configs); err != nil {
				return err
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return topicCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int32VarP(&opts.Partitions, "partitions", "p", -1, "number of partitions (-1: the broker default)")
	cmd.Flags().Int16VarP(&opts.ReplicationFactor, "replication-factor", "r", -1, "replicas of each partition (-1: the broker default)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config as key=value; repeatable")
	tf.register(f, cmd, &opts.TopicOptions)
	_ = cmd.RegisterFlagCompletionFunc("partitions", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("replication-factor", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("config", cobra.NoFileCompletions)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

// parseConfigs parses key=value flag values; a malformed or repeated key
// is a usage error.
func parseConfigs(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &usageError{fmt.Errorf("%s: want key=value, got %q", flag, kv)}
		}
		if _, dup := out[k]; dup {
			return nil, &usageError{fmt.Errorf("%s: %s given twice", flag, k)}
		}
		out[k] = v
	}
	return out, nil
}

func topicCreateRun(ctx context.Context, opts *TopicCreateOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		d, err := c.CreateTopic(ctx, opts.Name, opts.Partitions, opts.ReplicationFactor, opts.Configs)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, d, func() error {
			return RenderTopicDescription(opts.IO.Out, d, opts.tableOptions())
		})
	})
}

// TopicListOptions are the inputs of `chronik topic list`.
type TopicListOptions struct {
	TopicOptions
}

// NewCmdTopicList builds `chronik topic list`. runF, if not nil, replaces
// the command's run function.
func NewCmdTopicList(f *Factory, runF func(*TopicListOptions) error) *cobra.Command {
	opts := &TopicListOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the topics",
		Long: `List every topic, internal ones included, sorted by name: NAME, PARTITIONS,
REPLICAS (the replication factor) and INTERNAL.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return topicListRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func topicListRun(ctx context.Context, opts *TopicListOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ls, err := c.ListTopics(ctx)
		if err != nil {
			return err
		}
		return writeList(&opts.TopicOptions, ls, "No topics.", RenderTopicList)
	})
}

// TopicDescribeOptions are the inputs of `chronik topic describe`.
type TopicDescribeOptions struct {
	TopicOptions
	Name string
}

// NewCmdTopicDescribe builds `chronik topic describe`. runF, if not nil,
// replaces the command's run function.
func NewCmdTopicDescribe(f *Factory, runF func(*TopicDescribeOptions) error) *cobra.Command {
	opts := &TopicDescribeOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions and configs",
		Long: `Show a topic: one row per partition with PARTITION, LEADER, EPOCH (the
leader epoch), REPLICAS, ISR, OFFLINE (offline replicas) and ERROR, then the
configs set on the topic (the others have their defaults). On a terminal a
summary line comes first; otherwise a blank line separates partition rows
from config rows, and is left out with the configs when there are none.

This is the cluster's metadata as a Kafka client sees it. ` + "`chronik isr describe`" + `
adds what each replica reports about itself (lag, high watermark).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return topicDescribeRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	cmd.ValidArgsFunction = completeTopicName(f, &tf)
	return cmd
}

func topicDescribeRun(ctx context.Context, opts *TopicDescribeOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		d, err := c.DescribeTopic(ctx, opts.Name)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, d, func() error {
			return RenderTopicDescription(opts.IO.Out, d, opts.tableOptions())
		})
	})
}

// TopicDeleteOptions are the inputs of `chronik topic delete`.
type TopicDeleteOptions struct {
	TopicOptions
	Name string
}

// NewCmdTopicDelete builds `chronik topic delete`. runF, if not nil,
// replaces the command's run function.
func NewCmdTopicDelete(f *Factory, runF func(*TopicDeleteOptions) error) *cobra.Command {
	opts := &TopicDeleteOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its data",
		Long: `Delete a topic and all its data, without asking. Prints what was deleted
(-o json: {"name", "id", "partitions"}).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return topicDeleteRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	cmd.ValidArgsFunction = completeTopicName(f, &tf)
	return cmd
}

func topicDeleteRun(ctx context.Context, opts *TopicDeleteOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		d, err := c.DeleteTopic(ctx, opts.Name)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, d, func() error {
			return RenderTopicDeletion(opts.IO.Out, d)
		})
	})
}

// TopicAlterConfigOptions are the inputs of `chronik topic alter-config`.
type TopicAlterConfigOptions struct {
	TopicOptions
	Name   string
	Set    map[string]string
	Delete []string // configs to return to their defaults
}

// NewCmdTopicAlterConfig builds `chronik topic alter-config`. runF, if not
// nil, replaces the command's run function.
func NewCmdTopicAlterConfig(f *Factory, runF func(*TopicAlterConfigOptions) error) *cobra.Command {
	opts := &TopicAlterConfigOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var set []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or delete configs of a topic",
		Long: `Set configs of a topic (--set key=value) and delete others (--delete key,
which returns them to their defaults), in one IncrementalAlterConfigs request:
all of it happens, or none. Prints the change and the configs set on the
topic afterwards.`,
		Example: `  chronik topic alter-config orders --set retention.ms=86400000 --set min.insync.replicas=2
  chronik topic alter-config orders --delete retention.ms`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			var err error
			if opts.Set, err = parseConfigs("--set", set); err != nil {
				return err
			}
			if len(opts.Set) == 0 && len(opts.Delete) == 0 {
				return &usageError{errors.New("nothing to change: give --set key=value or --delete key")}
			}
			for i, k := range opts.Delete {
				opts.Delete[i] = strings.TrimSpace(k)
				if _, ok := opts.Set[opts.Delete[i]]; ok {
					return &usageError{fmt.Errorf("%s is both set and deleted", opts.Delete[i])}
				}
			}
			if slices.Contains(opts.Delete, "") {
				return &usageError{errors.New("--delete: empty config name")}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return topicAlterConfigRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config to set, as key=value; repeatable")
	cmd.Flags().StringSliceVar(&opts.Delete, "delete", nil, "config to return to its default; repeatable or comma-separated")
	tf.register(f, cmd, &opts.TopicOptions)
	_ = cmd.RegisterFlagCompletionFunc("set", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("delete", cobra.NoFileCompletions)
	cmd.ValidArgsFunction = completeTopicName(f, &tf)
	return cmd
}

func topicAlterConfigRun(ctx context.Context, opts *TopicAlterConfigOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ch, err := c.AlterTopicConfig(ctx, opts.Name, opts.Set, opts.Delete)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, ch, func() error {
			return RenderTopicConfigChange(opts.IO.Out, ch, opts.tableOptions())
		})
	})
}
