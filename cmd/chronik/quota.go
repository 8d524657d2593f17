package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// NewCmdQuota builds the `chronik quota` command group.
func NewCmdQuota(f *Factory) *cobra.Command {
	cmd := commandGroup("quota <command>", "Set and list client quotas",
		NewCmdQuotaSet(f, nil), NewCmdQuotaList(f, nil))
	cmd.Long = `Set and list client quotas (AlterClientQuotas, DescribeClientQuotas on the Kafka
protocol), as kafka-configs --entity-type users/clients does: byte rates for
producing and fetching, and the share of request handling time, per user,
client id, or a user's client id; --default names the default entity of a
type, which applies to those without their own quota. Brokers throttle a
client over its quota with throttle_time_ms and by muting its connection.`
	return cmd
}

// quotaEntityFlags are the flags that name who a quota is for.
type quotaEntityFlags struct {
	user     string
	clientID string
	defaults []string // entity types whose default is meant
}

func (q *quotaEntityFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&q.user, "user", "", what+" of this user (the SASL or certificate user name)")
	cmd.Flags().StringVar(&q.clientID, "client-id", "", what+" of this client id")
	cmd.Flags().StringSliceVar(&q.defaults, "default", nil, what+" of the default user or client id: user, client-id (or both)")
	_ = cmd.RegisterFlagCompletionFunc("default", cobra.FixedCompletions([]string{topicadmin.QuotaEntityUser, topicadmin.QuotaEntityClientID}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("user", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("client-id", cobra.NoFileCompletions)
}

// entity builds the entity, user before client id.
func (q *quotaEntityFlags) entity(cmd *cobra.Command) (topicadmin.QuotaEntity, error) {
	var e topicadmin.QuotaEntity
	for _, d := range q.defaults {
		if d != topicadmin.QuotaEntityUser && d != topicadmin.QuotaEntityClientID {
			return nil, fmt.Errorf("--default %q: want user or client-id", d)
		}
	}
	for _, typ := range []string{topicadmin.QuotaEntityUser, topicadmin.QuotaEntityClientID} {
		flag := map[string]string{topicadmin.QuotaEntityUser: "user", topicadmin.QuotaEntityClientID: "client-id"}[typ]
		name := map[string]string{topicadmin.QuotaEntityUser: q.user, topicadmin.QuotaEntityClientID: q.clientID}[typ]
		named := cmd.Flags().Changed(flag)
		def := slices.Contains(q.defaults, typ)
		switch {
		case named && def:
			return nil, fmt.Errorf("--%s and --default %s: a quota is for a named %s or the default one", flag, typ, typ)
		case named && name == "":
			return nil, fmt.Errorf("--%s: empty name (--default %s means the default)", flag, typ)
		case named:
			e = append(e, topicadmin.QuotaEntityPart{Type: typ, Name: name})
		case def:
			e = append(e, topicadmin.QuotaEntityPart{Type: typ, Default: true})
		}
	}
	return e, nil
}

// QuotaSetOptions are the inputs of `chronik quota set`.
type QuotaSetOptions struct {
	TopicOptions
	Entity topicadmin.QuotaEntity
	Set    map[string]float64
	Delete []string
}

// quotaValueFlags are the flags of the quotas `quota set` sets.
func quotaValueFlags() []struct{ flag, key, usage string } {
	return []struct{ flag, key, usage string }{
		{"producer-byte-rate", topicadmin.QuotaProducerByteRate, "bytes per second the entity may produce"},
		{"consumer-byte-rate", topicadmin.QuotaConsumerByteRate, "bytes per second the entity may fetch"},
		{"request-percentage", topicadmin.QuotaRequestPercentage, "percent of one request handler thread's time the entity may use, per quota window"},
	}
}

// NewCmdQuotaSet builds `chronik quota set`. runF, if not nil, replaces
// the command's run function (tests use it to inspect the options).
func NewCmdQuotaSet(f *Factory, runF func(*QuotaSetOptions) error) *cobra.Command {
	opts := &QuotaSetOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var ef quotaEntityFlags
	values := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Set or delete quotas of a user or client id",
		Long: `Set quotas (--producer-byte-rate, --consumer-byte-rate, --request-percentage)
and delete others (--delete NAME, which removes the entity's own value so the
default applies again) for the entity --user, --client-id and --default name,
in one AlterClientQuotas request.`,
		Example: `  chronik quota set --user alice --producer-byte-rate 1048576 --consumer-byte-rate 2097152
  chronik quota set --default user --producer-byte-rate 524288
  chronik quota set --user alice --client-id batch --request-percentage 50
  chronik quota set --user alice --delete producer-byte-rate`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := ef.entity(cmd)
			if err != nil {
				return &usageError{err}
			}
			if err := e.Check(); err != nil {
				return &usageError{err}
			}
			opts.Entity = e
			opts.Set = map[string]float64{}
			for _, v := range quotaValueFlags() {
				if !cmd.Flags().Changed(v.flag) {
					continue
				}
				n, err := strconv.ParseFloat(*values[v.flag], 64)
				if err != nil || n < 0 {
					return &usageError{fmt.Errorf("--%s: want a number of at least 0, got %q", v.flag, *values[v.flag])}
				}
				opts.Set[v.key] = n
			}
			for i, d := range opts.Delete {
				k, err := topicadmin.NormalizeQuotaKey(d)
				if err != nil {
					return &usageError{fmt.Errorf("--delete: %w", err)}
				}
				if _, ok := opts.Set[k]; ok {
					return &usageError{fmt.Errorf("%s is both set and deleted", k)}
				}
				opts.Delete[i] = k
			}
			if len(opts.Set)+len(opts.Delete) == 0 {
				return &usageError{errors.New("nothing to change: give --producer-byte-rate, --consumer-byte-rate, --request-percentage or --delete")}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return quotaSetRun(cmd.Context(), opts)
		},
	}
	ef.register(cmd, "the quotas")
	for _, v := range quotaValueFlags() {
		values[v.flag] = cmd.Flags().String(v.flag, "", v.usage+" ("+v.key+")")
		_ = cmd.RegisterFlagCompletionFunc(v.flag, cobra.NoFileCompletions)
	}
	cmd.Flags().StringSliceVar(&opts.Delete, "delete", nil, "quota to delete: "+strings.Join(topicadmin.QuotaKeys(), ", ")+"; repeatable")
	_ = cmd.RegisterFlagCompletionFunc("delete", cobra.FixedCompletions(topicadmin.QuotaKeys(), cobra.ShellCompDirectiveNoFileComp))
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func quotaSetRun(ctx context.Context, opts *QuotaSetOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ch, err := c.AlterQuotas(ctx, opts.Entity, opts.Set, opts.Delete)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, ch, func() error { return RenderQuotaChange(opts.IO.Out, ch) })
	})
}

// QuotaListOptions are the inputs of `chronik quota list`.
type QuotaListOptions struct {
	TopicOptions
	Filter topicadmin.QuotaEntity // empty: every entity
	Strict bool
}

// NewCmdQuotaList builds `chronik quota list`. runF, if not nil, replaces
// the command's run function.
func NewCmdQuotaList(f *Factory, runF func(*QuotaListOptions) error) *cobra.Command {
	opts := &QuotaListOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	var ef quotaEntityFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List quotas",
		Long: `List the quotas set: every entity's, or those --user, --client-id and
--default match (--strict: only entities with exactly those parts). Columns:
USER, CLIENT-ID ("<default>" for a default), PRODUCER_BYTE_RATE,
CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, OTHER ("-" where none is set).`,
		Example: `  chronik quota list
  chronik quota list --user alice
  chronik quota list --default user --strict -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := ef.entity(cmd)
			if err != nil {
				return &usageError{err}
			}
			opts.Filter = e
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return quotaListRun(cmd.Context(), opts)
		},
	}
	ef.register(cmd, "only the quotas")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "only entities with no parts other than those named")
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

func quotaListRun(ctx context.Context, opts *QuotaListOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		qs, err := c.ListQuotas(ctx, opts.Filter, opts.Strict)
		if err != nil {
			return err
		}
		return writeList(&opts.TopicOptions, qs, "No quotas set.", RenderQuotaList)
	})
}
