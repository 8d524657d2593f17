package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// NewCmdACL builds the `chronik acl` command group.
func NewCmdACL(f *Factory) *cobra.Command {
	cmd := commandGroup("acl <command>", "Create, list and delete ACLs",
		NewCmdACLCreate(f, nil), NewCmdACLList(f, nil), NewCmdACLDelete(f, nil))
	cmd.Long = `Create, list and delete ACLs with kafka-acls' flags (CreateAcls, DescribeAcls,
DeleteAcls on the Kafka protocol; brokers need --authorizer acl).

An ACL lets (--allow-principal) or forbids (--deny-principal) a principal,
from a host (--allow-host / --deny-host, default every host), an operation
(--operation, repeatable; default ALL) on a resource: --topic, --group,
--transactional-id (each repeatable) or --cluster. --resource-pattern-type
prefixed makes a name a prefix. DENY wins over ALLOW.

Shortcuts as in kafka-acls: --producer (WRITE, DESCRIBE, CREATE on the topics;
WRITE, DESCRIBE on --transactional-id; --idempotent adds IDEMPOTENT_WRITE on the
cluster) and --consumer (READ, DESCRIBE on the topics, READ on --group).`
	return cmd
}

// ACLOptions are the inputs of the acl commands.
type ACLOptions struct {
	TopicOptions
	Spec topicadmin.ACLSpec
}

// aclFlags registers the kafka-acls flags; list takes --principal instead
// of the allow/deny ones.
func aclFlags(cmd *cobra.Command, s *topicadmin.ACLSpec, list bool) {
	fl := cmd.Flags()
	if list {
		fl.StringArrayVar(&s.Principals, "principal", nil, "only ACLs of this principal, e.g. User:alice; repeatable")
	} else {
		fl.StringArrayVar(&s.AllowPrincipals, "allow-principal", nil, "principal allowed, e.g. User:alice or User:*; repeatable")
		fl.StringArrayVar(&s.DenyPrincipals, "deny-principal", nil, "principal denied; repeatable")
		fl.StringArrayVar(&s.AllowHosts, "allow-host", nil, "host the allow principals may connect from (default every host, *); repeatable")
		fl.StringArrayVar(&s.DenyHosts, "deny-host", nil, "host the deny principals are denied from (default every host, *); repeatable")
		fl.BoolVar(&s.Producer, "producer", false, "the ACLs a producer needs (with --topic; --transactional-id, --idempotent)")
		fl.BoolVar(&s.Idempotent, "idempotent", false, "with --producer: IDEMPOTENT_WRITE on the cluster")
		fl.BoolVar(&s.Consumer, "consumer", false, "the ACLs a consumer needs (with --topic and --group)")
	}
	fl.StringArrayVar(&s.Operations, "operation", nil, "operation: "+strings.Join(topicadmin.Operations(), ", ")+"; repeatable")
	fl.StringArrayVar(&s.Topics, "topic", nil, "topic name (or prefix, or * for every topic); repeatable")
	fl.StringArrayVar(&s.Groups, "group", nil, "consumer group; repeatable")
	fl.StringArrayVar(&s.TransactionalIDs, "transactional-id", nil, "transactional id; repeatable")
	fl.BoolVar(&s.Cluster, "cluster", false, "the cluster resource")
	fl.StringVar(&s.PatternType, "resource-pattern-type", "", "literal or prefixed; list and delete also take match and any (default literal when a resource is named)")
	_ = cmd.RegisterFlagCompletionFunc("operation", cobra.FixedCompletions(topicadmin.Operations(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("resource-pattern-type", cobra.FixedCompletions(topicadmin.PatternTypes(), cobra.ShellCompDirectiveNoFileComp))
	for _, n := range []string{"principal", "allow-principal", "deny-principal", "allow-host", "deny-host", "group", "transactional-id"} {
		if fl.Lookup(n) != nil {
			_ = cmd.RegisterFlagCompletionFunc(n, cobra.NoFileCompletions)
		}
	}
}

// NewCmdACLCreate builds `chronik acl create`. runF, if not nil, replaces
// the command's run function (tests use it to inspect the options).
func NewCmdACLCreate(f *Factory, runF func(*ACLOptions, []topicadmin.ACL) error) *cobra.Command {
	opts := &ACLOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs",
		Long: `Create the ACLs the flags describe: every principal with each of its hosts,
every operation, on every resource. Prints the ACLs created.`,
		Example: `  chronik acl create --allow-principal User:alice --operation READ --operation DESCRIBE --topic orders
  chronik acl create --allow-principal User:app --producer --topic orders- --resource-pattern-type prefixed
  chronik acl create --allow-principal User:app --consumer --topic orders --group billing
  chronik acl create --deny-principal User:mallory --deny-host 10.0.0.7 --operation ALL --topic '*'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			acls, err := opts.Spec.Bindings()
			if err != nil {
				return &usageError{err}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts, acls)
			}
			return withTopicClient(cmd.Context(), &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
				created, err := c.CreateACLs(ctx, acls)
				if len(created) > 0 {
					// Some may be created even when others failed; say which.
					if werr := writeOutput(opts.IO, opts.Output, created, func() error {
						return RenderACLs(opts.IO.Out, created, opts.tableOptions())
					}); werr != nil {
						return werr
					}
				}
				return err
			})
		},
	}
	aclFlags(cmd, &opts.Spec, false)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

// NewCmdACLList builds `chronik acl list`. runF, if not nil, replaces the
// command's run function.
func NewCmdACLList(f *Factory, runF func(*ACLOptions, []topicadmin.ACLFilter) error) *cobra.Command {
	opts := &ACLOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs",
		Long: `List ACLs: every one, or those of the resources and principals named.
A named resource matches literally unless --resource-pattern-type says
otherwise: "match" shows every ACL that applies to it (literal, prefixed and
the * wildcard). Columns: PRINCIPAL, HOST, OPERATION, PERMISSION, RESOURCE,
NAME, PATTERN.`,
		Example: `  chronik acl list
  chronik acl list --topic orders --resource-pattern-type match
  chronik acl list --principal User:alice -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := opts.Spec.Filters(false)
			if err != nil {
				return &usageError{err}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts, filters)
			}
			return withTopicClient(cmd.Context(), &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
				acls, err := c.ListACLs(ctx, filters)
				if err != nil {
					return err
				}
				return writeList(&opts.TopicOptions, acls, "No ACLs match.", RenderACLs)
			})
		},
	}
	aclFlags(cmd, &opts.Spec, true)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}

// NewCmdACLDelete builds `chronik acl delete`. runF, if not nil, replaces
// the command's run function.
func NewCmdACLDelete(f *Factory, runF func(*ACLOptions, []topicadmin.ACLFilter) error) *cobra.Command {
	opts := &ACLOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete ACLs",
		Long: `Delete the ACLs the flags match, without asking: on the named resources
(required), of the principals, hosts and operations given (any, when not
given). Prints the ACLs deleted.`,
		Example: `  chronik acl delete --allow-principal User:alice --topic orders
  chronik acl delete --topic orders-  --resource-pattern-type prefixed   # every ACL on that prefix`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := opts.Spec.Filters(true)
			if err != nil {
				return &usageError{err}
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts, filters)
			}
			return withTopicClient(cmd.Context(), &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
				deleted, err := c.DeleteACLs(ctx, filters)
				if err != nil && len(deleted) == 0 {
					return err
				}
				if opts.Output == OutputTable && len(deleted) == 0 {
					_, werr := fmt.Fprintln(opts.IO.ErrOut, "No ACLs matched; nothing deleted.")
					return werr
				}
				if werr := writeOutput(opts.IO, opts.Output, deleted, func() error {
					return RenderACLs(opts.IO.Out, deleted, opts.tableOptions())
				}); werr != nil {
					return werr
				}
				return err
			})
		},
	}
	aclFlags(cmd, &opts.Spec, false)
	tf.register(f, cmd, &opts.TopicOptions)
	return cmd
}
