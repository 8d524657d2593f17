package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// NewCmdTxn builds the `chronik txn` command group.
func NewCmdTxn(f *Factory) *cobra.Command {
	cmd := commandGroup("txn <command>", "List, describe, find and abort transactions",
		NewCmdTxnList(f, nil), NewCmdTxnDescribe(f, nil), NewCmdTxnFindHanging(f, nil), NewCmdTxnAbort(f, nil))
	cmd.Long = `Transactions (KIP-98), as kafka-transactions.sh shows them: list, describe and
find-hanging ask the transaction coordinators and partition leaders over the
Kafka protocol (ListTransactions, DescribeTransactions, DescribeProducers), so
they work against any Kafka-compatible cluster; abort writes an ABORT marker
through the partition leader's admin API (docs/transactions.md).`
	return cmd
}

// TxnListOptions are the inputs of `chronik txn list`.
type TxnListOptions struct {
	TopicOptions
	States      []string
	ProducerIDs []int64
}

// NewCmdTxnList builds `chronik txn list`. runF, if not nil, replaces the
// command's run function (tests use it to inspect the options).
func NewCmdTxnList(f *Factory, runF func(*TxnListOptions) error) *cobra.Command {
	opts := &TxnListOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the transactional ids of every coordinator",
		Long: `List every transactional id the coordinators know (ListTransactions), with
its producer id, state, coordinator, and for an open transaction how long it
has been open. --state and --producer-id filter.`,
		Example: `  chronik txn list
  chronik txn list --state Ongoing -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, id := range opts.ProducerIDs {
				if id < 0 {
					return &usageError{fmt.Errorf("--producer-id: want 0 or more, got %d", id)}
				}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return txnListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.States, "state", nil, "only transactions in these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence)")
	cmd.Flags().Int64SliceVar(&opts.ProducerIDs, "producer-id", nil, "only these producer ids")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions([]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
		"CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("producer-id", cobra.NoFileCompletions)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func txnListRun(ctx context.Context, opts *TxnListOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ls, err := c.ListTransactions(ctx, opts.States, opts.ProducerIDs, time.Now())
		if err != nil {
			return err
		}
		return writeList(&opts.TopicOptions, ls, "No transactional ids.", RenderTxnList)
	})
}

// TxnDescribeOptions are the inputs of `chronik txn describe`.
type TxnDescribeOptions struct {
	TopicOptions
	IDs []string
}

// NewCmdTxnDescribe builds `chronik txn describe ID...`.
func NewCmdTxnDescribe(f *Factory, runF func(*TxnDescribeOptions) error) *cobra.Command {
	opts := &TxnDescribeOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "describe ID...",
		Short: "Describe transactional ids at their coordinators",
		Long: `Describe each transactional id at its coordinator (DescribeTransactions):
state, producer id and epoch, timeout, when the open transaction started, and
the partitions in it. An id the coordinator does not know shows its error;
the command then exits 1.`,
		Example: `  chronik txn describe payments-tx-1
  chronik txn describe payments-tx-1 payments-tx-2 -o json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IDs = args
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return txnDescribeRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func txnDescribeRun(ctx context.Context, opts *TxnDescribeOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ds, err := c.DescribeTransactions(ctx, opts.IDs)
		if err != nil {
			return err
		}
		if err := writeOutput(opts.IO, opts.Output, ds, func() error { return RenderTxnDescribe(opts.IO.Out, ds, time.Now()) }); err != nil {
			return err
		}
		for _, d := range ds {
			if d.Error != "" {
				return fmt.Errorf("transactional id %q: %s", d.TransactionalID, d.Error)
			}
		}
		return nil
	})
}

// TxnFindHangingOptions are the inputs of `chronik txn find-hanging`.
type TxnFindHangingOptions struct {
	TopicOptions
	Query topicadmin.HangingQuery
}

// NewCmdTxnFindHanging builds `chronik txn find-hanging`.
func NewCmdTxnFindHanging(f *Factory, runF func(*TxnFindHangingOptions) error) *cobra.Command {
	opts := &TxnFindHangingOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var broker int32
	cmd := &cobra.Command{
		Use:   "find-hanging (--topic NAME | --broker ID)",
		Short: "Find transactions open on partitions that no coordinator will end",
		Long: `Find hanging transactions, as kafka-transactions.sh find-hanging does: ask the
leaders of the topic's partitions (--topic) or of every partition a broker
leads (--broker) for their open transactions (DescribeProducers), keep those
whose producer last wrote longer ago than --max-transaction-timeout (the
coordinators' transaction.max.timeout.ms; chronik serve
--transaction-max-timeout), and of those the ones no coordinator has open
with that partition in it. Each line ends with the command that aborts it.`,
		Example: `  chronik txn find-hanging --topic payments
  chronik txn find-hanging --broker 2 -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			byBroker := cmd.Flags().Changed("broker")
			switch {
			case byBroker == (opts.Query.Topic != ""):
				return &usageError{errors.New("give either --topic or --broker")}
			case byBroker && broker < 0:
				return &usageError{fmt.Errorf("--broker: want a node id, got %d", broker)}
			case opts.Query.MaxTimeout <= 0:
				return &usageError{fmt.Errorf("--max-transaction-timeout: must be positive, got %v", opts.Query.MaxTimeout)}
			}
			opts.Query.Broker = -1
			if byBroker {
				opts.Query.Broker = broker
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return txnFindHangingRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Query.Topic, "topic", "", "look at this topic's partitions")
	cmd.Flags().Int32Var(&broker, "broker", -1, "look at the partitions this broker leads")
	cmd.Flags().DurationVar(&opts.Query.MaxTimeout, "max-transaction-timeout", 15*time.Minute,
		"the coordinators' maximum transaction timeout: an open transaction whose producer wrote more recently is not hanging")
	_ = cmd.RegisterFlagCompletionFunc("topic", completeTopicName(f, &tf))
	_ = cmd.RegisterFlagCompletionFunc("broker", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("max-transaction-timeout", cobra.NoFileCompletions)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func txnFindHangingRun(ctx context.Context, opts *TxnFindHangingOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		q := opts.Query
		q.Now = time.Now()
		hs, err := c.FindHanging(ctx, q)
		if err != nil {
			return err
		}
		return writeList(&opts.TopicOptions, hs, "No hanging transactions.", RenderHangingTxns)
	})
}

// TxnAbortOptions are the inputs of `chronik txn abort`.
type TxnAbortOptions struct {
	ClusterViewOptions
	Token   string
	Request api.AbortTransactionRequest
}

// NewCmdTxnAbort builds `chronik txn abort`.
func NewCmdTxnAbort(f *Factory, runF func(*TxnAbortOptions) error) *cobra.Command {
	opts := &TxnAbortOptions{ClusterViewOptions: ClusterViewOptions{IO: f.IO}}
	cf := &clusterViewFlags{}
	var startOffset, producerID int64
	var producerEpoch int16
	var coordinatorEpoch int32
	cmd := &cobra.Command{
		Use:   "abort --topic NAME --partition N (--start-offset OFFSET | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition",
		Long: `Write an ABORT marker for a transaction open on one partition, as
kafka-transactions.sh abort does, through the admin API of the partition's
leader (found through --admin; only the leader writes markers). Name the
transaction by the offset it starts at (--start-offset, as chronik doctor's
HANGING_TRANSACTION and the partition's ongoing transactions show it; the
leader takes its producer id and epoch, and the coordinator epoch of that
producer's last marker there), or by --producer-id, --producer-epoch and
--coordinator-epoch (as find-hanging prints them). An older producer epoch
than the partition knows is refused (INVALID_PRODUCER_EPOCH), and so is an
older coordinator epoch than the producer's last marker
(TRANSACTION_COORDINATOR_FENCED). Abort only a transaction no producer still
runs: its producer's later writes in it are aborted too. Needs the admin token
(--admin-token in a profile, or ` + EnvAdminToken + `).`,
		Example: `  chronik txn abort --topic payments --partition 3 --start-offset 1042
  chronik txn abort --topic payments --partition 3 --producer-id 4001 --producer-epoch 2 --coordinator-epoch 5`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			byOffset := fl.Changed("start-offset")
			producer := fl.Changed("producer-id") || fl.Changed("producer-epoch") || fl.Changed("coordinator-epoch")
			opts.Request.StartOffset, opts.Request.ProducerID, opts.Request.ProducerEpoch, opts.Request.CoordinatorEpoch = nil, nil, nil, nil
			switch {
			case !fl.Changed("topic") || !fl.Changed("partition"):
				return &usageError{errors.New("--topic and --partition are required")}
			case byOffset && producer:
				return &usageError{errors.New("give either --start-offset or --producer-id, --producer-epoch and --coordinator-epoch, not both")}
			case byOffset:
				opts.Request.StartOffset = &startOffset
			case fl.Changed("producer-id") && fl.Changed("producer-epoch") && fl.Changed("coordinator-epoch"):
				opts.Request.ProducerID, opts.Request.ProducerEpoch, opts.Request.CoordinatorEpoch = &producerID, &producerEpoch, &coordinatorEpoch
			default:
				return &usageError{errors.New("give --start-offset, or all of --producer-id, --producer-epoch and --coordinator-epoch")}
			}
			if err := opts.Request.Validate(); err != nil {
				return &usageError{err}
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
			return txnAbortRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Request.Topic, "topic", "", "the partition's topic")
	fl.Int32Var(&opts.Request.Partition, "partition", -1, "the partition")
	fl.Int64Var(&startOffset, "start-offset", -1, "the offset the transaction starts at on the partition")
	fl.Int64Var(&producerID, "producer-id", -1, "the transaction's producer id")
	fl.Int16Var(&producerEpoch, "producer-epoch", -1, "the producer's epoch")
	fl.Int32Var(&coordinatorEpoch, "coordinator-epoch", -1, "the coordinator epoch of the producer's last marker (DescribeProducers)")
	_ = cmd.RegisterFlagCompletionFunc("topic", cobra.NoFileCompletions)
	for _, n := range []string{"partition", "start-offset", "producer-id", "producer-epoch", "coordinator-epoch"} {
		_ = cmd.RegisterFlagCompletionFunc(n, cobra.NoFileCompletions)
	}
	cf.register(f, cmd, &opts.ClusterViewOptions)
	return cmd
}

// txnAbortRun finds the partition's leader through the nodes' admin APIs
// and sends it the abort; a leadership change in between is retried.
func txnAbortRun(ctx context.Context, opts *TxnAbortOptions) error {
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: opts.Security})
	if err != nil {
		return err
	}
	defer httpc.CloseIdleConnections()
	req := opts.Request
	name := fmt.Sprintf("%s-%d", req.Topic, req.Partition)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, 200*time.Millisecond) {
			break
		}
		url, err := partitionLeaderURL(ctx, httpc, &opts.ClusterViewOptions, req.Topic, req.Partition)
		if err != nil {
			lastErr = err
			continue
		}
		env, err := client.New(url, httpc).WithToken(opts.Token).AbortTransaction(ctx, req)
		if err == nil {
			res := env.Data
			return writeOutput(opts.IO, opts.Output, res, func() error { return RenderTxnAbort(opts.IO.Out, res, env.NodeID) })
		}
		lastErr = err
		var re *client.RequestError
		if errors.As(err, &re) && re.Code != api.CodeNotLeader && !re.Unreachable() {
			if re.Message != "" && re.Status != http.StatusUnauthorized {
				return fmt.Errorf("abort on %s refused: %s (asked %s)", name, re.Message, re.URL)
			}
			return err
		}
	}
	return fmt.Errorf("abort on %s: %w", name, lastErr)
}

// partitionLeaderURL is the admin URL of the partition's leader, from every
// node's answers (the leader's own answer when it gave one).
func partitionLeaderURL(ctx context.Context, httpc *http.Client, o *ClusterViewOptions, topic string, partition int32) (string, error) {
	v := client.Gather(ctx, httpc, o.Admins, o.Timeout)
	for _, r := range diagnose.MergePartitions(v) {
		if r.Topic != topic || r.Partition != partition {
			continue
		}
		if r.Leader < 0 {
			return "", fmt.Errorf("%s-%d has no leader right now", topic, partition)
		}
		for _, n := range v.Nodes {
			if n.Reachable() && n.Node != nil && n.Node.NodeID == r.Leader {
				return n.Admin, nil
			}
		}
		return "", fmt.Errorf("%s-%d is led by node %d, whose admin API did not answer", topic, partition, r.Leader)
	}
	return "", fmt.Errorf("no answering node hosts %s-%d (`chronik isr describe %s` shows the partitions)", topic, partition, topic)
}
