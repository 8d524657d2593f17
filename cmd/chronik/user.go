package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// maxPasswordBytes bounds what `user create` reads from stdin, so a wrong
// pipe (a file, /dev/zero) fails fast instead of filling memory.
const maxPasswordBytes = 4096

// NewCmdUser builds the `chronik user` command group.
func NewCmdUser(f *Factory) *cobra.Command {
	cmd := commandGroup("user <command>", "Manage SASL/SCRAM users",
		NewCmdUserCreate(f, nil), NewCmdUserDelete(f, nil), NewCmdUserList(f, nil))
	cmd.Long = `Manage the SCRAM credentials SASL clients authenticate with (Kafka's
AlterUserScramCredentials and DescribeUserScramCredentials, so kafka-configs
style tools see the same users). A user may have one credential per
mechanism, SCRAM-SHA-256 and SCRAM-SHA-512; PLAIN authentication checks the
same credentials.

Passwords are read from stdin, or prompted for without echo on a terminal;
never from a flag. The password is salted and hashed here (PBKDF2), so it never
crosses the network. The brokers store only the salted hash; ` + "`user list`" + `
shows mechanisms and iteration counts, never secrets.

These commands speak the Kafka protocol: --brokers, the profile and the
security flags (--tls-*, --sasl-*) say how to reach the cluster.`
	return cmd
}

// UserCreateOptions are the inputs of `chronik user create`.
type UserCreateOptions struct {
	TopicOptions
	Name       string
	Mechanism  string
	Iterations int32
	Password   string
}

// NewCmdUserCreate builds `chronik user create`. runF, if not nil,
// replaces the command's run function (tests use it to inspect the options).
func NewCmdUserCreate(f *Factory, runF func(*UserCreateOptions) error) *cobra.Command {
	opts := &UserCreateOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user's SCRAM credential, or change its password",
		Long: `Create a SCRAM credential for user NAME with --mechanism, or replace its
password if it has one. The password comes from stdin (one line; a trailing
newline is dropped), or from a prompt without echo when stdin is a terminal.`,
		Example: `  chronik user create alice                       # prompts twice for the password
  printf '%s\n' "$ALICE_PASSWORD" | chronik user create alice --mechanism SCRAM-SHA-256
  chronik user create alice < alice.pass`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := topicadmin.CheckScram(opts.Mechanism, opts.Iterations); err != nil {
				return &usageError{err}
			}
			opts.Mechanism, _ = topicadmin.NormalizeMechanism(opts.Mechanism)
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			pw, err := readPassword(opts.IO, opts.Name)
			if err != nil {
				return err
			}
			opts.Password = pw
			if runF != nil {
				return runF(opts)
			}
			return userCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Mechanism, "mechanism", topicadmin.MechanismScramSHA512, "SCRAM mechanism: "+strings.Join(topicadmin.ScramMechanisms(), ", "))
	cmd.Flags().Int32Var(&opts.Iterations, "iterations", topicadmin.DefaultScramIterations,
		fmt.Sprintf("PBKDF2 iterations (%d to %d)", topicadmin.MinScramIterations, topicadmin.MaxScramIterations))
	tf.register(f, cmd, &opts.TopicOptions)
	_ = cmd.RegisterFlagCompletionFunc("mechanism", cobra.FixedCompletions(topicadmin.ScramMechanisms(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("iterations", cobra.NoFileCompletions)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

// readPassword reads the new password: with a prompt and no echo, twice,
// when stdin is a terminal; else one line from stdin.
func readPassword(streams IOStreams, user string) (string, error) {
	if f, ok := streams.In.(*os.File); ok && term.IsTerminal(f.Fd()) {
		prompt := func(p string) (string, error) {
			fmt.Fprint(streams.ErrOut, p)
			b, err := term.ReadPassword(f.Fd())
			fmt.Fprintln(streams.ErrOut)
			if err != nil {
				return "", fmt.Errorf("read the password: %w", err)
			}
			return string(b), nil
		}
		pw, err := prompt(fmt.Sprintf("Password for %s: ", user))
		if err != nil {
			return "", err
		}
		again, err := prompt("Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(pw)
	}
	r := bufio.NewReader(io.LimitReader(streams.In, maxPasswordBytes+1))
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	if len(b) > maxPasswordBytes {
		return "", fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordBytes)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("stdin has more than one line; give the password alone")
	}
	return checkPassword(s)
}

func checkPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password (give it on stdin, e.g. `chronik user create NAME < file`)")
	}
	return pw, nil
}

func userCreateRun(ctx context.Context, opts *UserCreateOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ch, err := c.SetUser(ctx, opts.Name, opts.Mechanism, opts.Iterations, opts.Password)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, ch, func() error { return RenderUserChange(opts.IO.Out, ch) })
	})
}

// UserDeleteOptions are the inputs of `chronik user delete`.
type UserDeleteOptions struct {
	TopicOptions
	Name      string
	Mechanism string // empty: every credential of the user
}

// NewCmdUserDelete builds `chronik user delete`. runF, if not nil,
// replaces the command's run function.
func NewCmdUserDelete(f *Factory, runF func(*UserDeleteOptions) error) *cobra.Command {
	opts := &UserDeleteOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credentials",
		Long: `Delete user NAME's credential for --mechanism, or all its credentials when
--mechanism is not given. Connections already authenticated stay up until
they re-authenticate or close.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Mechanism != "" {
				if err := topicadmin.CheckScram(opts.Mechanism, topicadmin.DefaultScramIterations); err != nil {
					return &usageError{err}
				}
				opts.Mechanism, _ = topicadmin.NormalizeMechanism(opts.Mechanism)
			}
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return userDeleteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Mechanism, "mechanism", "", "delete only this mechanism's credential: "+strings.Join(topicadmin.ScramMechanisms(), ", "))
	tf.register(f, cmd, &opts.TopicOptions)
	_ = cmd.RegisterFlagCompletionFunc("mechanism", cobra.FixedCompletions(topicadmin.ScramMechanisms(), cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = completeUserName(f, &tf)
	return cmd
}

func userDeleteRun(ctx context.Context, opts *UserDeleteOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		ch, err := c.DeleteUser(ctx, opts.Name, opts.Mechanism)
		if err != nil {
			return err
		}
		return writeOutput(opts.IO, opts.Output, ch, func() error { return RenderUserChange(opts.IO.Out, ch) })
	})
}

// UserListOptions are the inputs of `chronik user list`.
type UserListOptions struct {
	TopicOptions
	Names []string // only these users; none: all
}

// NewCmdUserList builds `chronik user list`. runF, if not nil, replaces
// the command's run function.
func NewCmdUserList(f *Factory, runF func(*UserListOptions) error) *cobra.Command {
	opts := &UserListOptions{TopicOptions: TopicOptions{IO: f.IO}}
	var tf topicFlags
	cmd := &cobra.Command{
		Use:     "list [NAME...]",
		Aliases: []string{"ls"},
		Short:   "List the users and their SCRAM mechanisms",
		Long: `List the users with SCRAM credentials (or only the NAMEs given): one row per
credential with USER, MECHANISM and ITERATIONS. Secrets are never shown.`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if err := tf.complete(f, cmd, &opts.TopicOptions); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return userListRun(cmd.Context(), opts)
		},
	}
	tf.register(f, cmd, &opts.TopicOptions)
	cmd.ValidArgsFunction = completeUserName(f, &tf)
	return cmd
}

func userListRun(ctx context.Context, opts *UserListOptions) error {
	return withTopicClient(ctx, &opts.TopicOptions, func(ctx context.Context, c *topicadmin.Client) error {
		us, err := c.ListUsers(ctx, opts.Names...)
		if err != nil {
			return err
		}
		return writeList(&opts.TopicOptions, us, "No users. Create one with `chronik user create NAME`.", RenderUserList)
	})
}

// completeUserName completes a user name from the cluster; nothing when it
// does not answer in time.
func completeUserName(f *Factory, tf *topicFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		conn, err := resolveConn(f, cmd, ConnFlags{NeedBrokers: true, Brokers: tf.brokers, Profile: tf.profile})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		var out []cobra.Completion
		_ = withTopicClient(ctx, &TopicOptions{Brokers: conn.Brokers, BrokersFrom: conn.BrokersFrom, Security: conn.Kafka, Timeout: completionTimeout},
			func(ctx context.Context, c *topicadmin.Client) error {
				us, err := c.ListUsers(ctx)
				for _, u := range us {
					if strings.HasPrefix(u.Name, toComplete) {
						out = append(out, u.Name)
					}
				}
				return err
			})
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
