package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/client"
)

// profilesPath locates the profiles file; "" when the Factory has none
// (tests that must not read the user's file).
func profilesPath(f *Factory) (string, error) {
	if f.ConfigPath == nil {
		return "", nil
	}
	return f.ConfigPath()
}

// resolveConn resolves the connection settings of cmd, whose flags
// --brokers, --admin and --profile count only where cmd has them and they
// were set. A bad flag value is a usage error.
func resolveConn(f *Factory, cmd *cobra.Command, flags ConnFlags) (Conn, error) {
	fs := cmd.Flags()
	flags.BrokersSet = fs.Lookup("brokers") != nil && fs.Changed("brokers")
	flags.AdminSet = fs.Lookup("admin") != nil && fs.Changed("admin")
	flags.ProfileSet = fs.Lookup("profile") != nil && fs.Changed("profile")
	flags.Security = changedSecurityFlags(cmd)
	path, err := profilesPath(f)
	if err != nil {
		return Conn{}, err
	}
	conn, err := ResolveConnection(flags, os.Getenv, path)
	var ce *ConnError
	if errors.As(err, &ce) && ce.Flag {
		return Conn{}, &usageError{err}
	}
	return conn, err
}

// addProfileFlag registers --profile, completed with the profile names.
func addProfileFlag(f *Factory, cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "profile", "", "connection profile to use instead of the current one ("+EnvProfile+")")
	_ = cmd.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return profileNames(f), cobra.ShellCompDirectiveNoFileComp
	})
}

// profileNames lists the profiles for completion; nothing on any error.
func profileNames(f *Factory) []string {
	path, err := profilesPath(f)
	if err != nil || path == "" {
		return nil
	}
	ps, err := LoadProfiles(path)
	if err != nil {
		return nil
	}
	return ps.Names()
}

// completeProfileName completes the one NAME argument with profile names.
func completeProfileName(f *Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return profileNames(f), cobra.ShellCompDirectiveNoFileComp
	}
}

// NewCmdProfile builds the `chronik profile` command group.
func NewCmdProfile(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile <command>",
		Short: "Manage connection profiles",
		Long: `Manage connection profiles: named sets of Kafka bootstrap addresses
(--brokers), admin API URLs (--admin) and an admin token, so commands need no
connection flags.

Profiles live in $XDG_CONFIG_HOME/chronik/config.yaml (else
~/.config/chronik/config.yaml), readable by you only. Commands use the current
profile (` + "`chronik profile use`" + `), or the one --profile or $` + EnvProfile + ` names.
Each setting is taken from its flag, else its environment variable
($` + EnvBrokers + `, $` + EnvAdmin + `, $` + EnvAdminToken + `), else the profile, else the
default (` + DefaultBrokers + `, ` + client.DefaultURL + `).`,
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		NewCmdProfileCreate(f, nil),
		NewCmdProfileUse(f, nil),
		NewCmdProfileList(f, nil),
		NewCmdProfileDelete(f, nil),
	)
	return cmd
}

// ProfileCreateOptions are the inputs of `chronik profile create`.
type ProfileCreateOptions struct {
	IO         IOStreams
	ConfigPath string
	Name       string
	Brokers    []string
	Admin      []string
	AdminToken string
	Security   ProfileSecurity
	Force      bool // replace an existing profile
}

// NewCmdProfileCreate builds `chronik profile create`. runF, if not nil,
// replaces the command's run function (tests use it to inspect the options).
func NewCmdProfileCreate(f *Factory, runF func(*ProfileCreateOptions) error) *cobra.Command {
	opts := &ProfileCreateOptions{IO: f.IO}
	var readToken string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a connection profile",
		Long: `Create a connection profile. It is not made current: ` + "`chronik profile use NAME`" + `
does that. --brokers and --admin take comma-separated lists; a Kafka address
without a port means port 9092, an admin address without a scheme means http.

A secured cluster: --tls (implied by --tls-ca-file or --tls-cert-file),
--sasl-mechanism with --sasl-user and --sasl-password-file for the Kafka
listeners; --admin-ca-file, --admin-cert-file/--admin-key-file and
--admin-read-token for an HTTPS admin API. File paths are stored absolute. The
SASL password itself is never stored: only the file that holds it (or give it
in $` + EnvSASLPassword + ` when running a command).`,
		Example: `  chronik profile create prod --brokers k1:9092,k2:9092,k3:9092 \
    --admin http://k1:9644,http://k2:9644,http://k3:9644 --admin-token "$TOKEN"
  chronik profile use prod

  # SASL_SSL with SCRAM, and an HTTPS admin API
  chronik profile create secure --brokers k1:9094 --tls-ca-file certs/ca.crt \
    --sasl-mechanism SCRAM-SHA-512 --sasl-user admin --sasl-password-file ~/.chronik-admin.pass \
    --admin https://k1:9644 --admin-ca-file certs/ca.crt`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(opts.Brokers) == 0 && len(opts.Admin) == 0 {
				return &usageError{errors.New("give --brokers, --admin or both")}
			}
			// Check the flags here, so a typo is a usage error.
			var probe Profiles
			if err := probe.SetProfile(opts.Name, opts.Brokers, opts.Admin, opts.AdminToken); err != nil {
				return &usageError{err}
			}
			var err error
			if opts.Security, err = profileSecurityFromFlags(cmd, readToken); err != nil {
				return &usageError{err}
			}
			path, err := requireProfilesPath(f)
			if err != nil {
				return err
			}
			opts.ConfigPath = path
			if runF != nil {
				return runF(opts)
			}
			return profileCreateRun(opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Brokers, "brokers", nil, "Kafka bootstrap addresses, comma-separated")
	cmd.Flags().StringSliceVar(&opts.Admin, "admin", nil, "admin API base URLs of the nodes, comma-separated")
	cmd.Flags().StringVar(&opts.AdminToken, "admin-token", "", "bearer token for the admin API's mutating endpoints")
	cmd.Flags().StringVar(&readToken, "admin-read-token", "", "bearer token for the admin API's reads, for nodes started with --admin-read-token")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace the profile if it exists")
	addKafkaSecurityFlags(cmd)
	addAdminSecurityFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("admin-read-token", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("brokers", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("admin-token", cobra.NoFileCompletions)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

// requireProfilesPath is profilesPath for the commands that edit profiles.
func requireProfilesPath(f *Factory) (string, error) {
	path, err := profilesPath(f)
	if err == nil && path == "" {
		err = errors.New("no profiles file location")
	}
	return path, err
}

func profileCreateRun(opts *ProfileCreateOptions) error {
	ps, err := LoadProfiles(opts.ConfigPath)
	if err != nil {
		return err
	}
	if _, ok := ps.Profiles[opts.Name]; ok && !opts.Force {
		return fmt.Errorf("profile %q already exists in %s; --force replaces it", opts.Name, opts.ConfigPath)
	}
	if err := ps.SetProfile(opts.Name, opts.Brokers, opts.Admin, opts.AdminToken); err != nil {
		return err
	}
	p := ps.Profiles[opts.Name]
	p.ProfileSecurity = opts.Security
	ps.Profiles[opts.Name] = p
	if err := ps.Save(opts.ConfigPath); err != nil {
		return err
	}
	msg := fmt.Sprintf("Saved profile %q in %s.\n", opts.Name, opts.ConfigPath)
	if ps.Current != opts.Name {
		msg += fmt.Sprintf("Use it with `chronik profile use %s`, or --profile %s.\n", opts.Name, opts.Name)
	}
	_, err = fmt.Fprint(opts.IO.Out, msg)
	return err
}

// ProfileUseOptions are the inputs of `chronik profile use`.
type ProfileUseOptions struct {
	IO         IOStreams
	ConfigPath string
	Name       string
}

// NewCmdProfileUse builds `chronik profile use`. runF, if not nil, replaces
// the command's run function.
func NewCmdProfileUse(f *Factory, runF func(*ProfileUseOptions) error) *cobra.Command {
	opts := &ProfileUseOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:               "use NAME",
		Short:             "Make a profile the current one",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeProfileName(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = args[0]
			path, err := requireProfilesPath(f)
			if err != nil {
				return err
			}
			opts.ConfigPath = path
			if runF != nil {
				return runF(opts)
			}
			return profileUseRun(opts)
		},
	}
	return cmd
}

func profileUseRun(opts *ProfileUseOptions) error {
	return editProfiles(opts.ConfigPath, opts.IO, func(ps *Profiles) (string, error) {
		if err := ps.Use(opts.Name); err != nil {
			return "", err
		}
		p := ps.Profiles[opts.Name]
		return fmt.Sprintf("Now using profile %q: brokers %s, admin %s.\n", opts.Name,
			orDefault(p.Brokers, DefaultBrokers), orDefault(p.Admin, client.DefaultURL)), nil
	})
}

func orDefault(v []string, def string) string {
	if len(v) == 0 {
		return def + " (default)"
	}
	return strings.Join(v, ",")
}

// ProfileDeleteOptions are the inputs of `chronik profile delete`.
type ProfileDeleteOptions struct {
	IO         IOStreams
	ConfigPath string
	Name       string
}

// NewCmdProfileDelete builds `chronik profile delete`. runF, if not nil,
// replaces the command's run function.
func NewCmdProfileDelete(f *Factory, runF func(*ProfileDeleteOptions) error) *cobra.Command {
	opts := &ProfileDeleteOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:               "delete NAME",
		Short:             "Delete a profile",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeProfileName(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = args[0]
			path, err := requireProfilesPath(f)
			if err != nil {
				return err
			}
			opts.ConfigPath = path
			if runF != nil {
				return runF(opts)
			}
			return profileDeleteRun(opts)
		},
	}
	return cmd
}

func profileDeleteRun(opts *ProfileDeleteOptions) error {
	return editProfiles(opts.ConfigPath, opts.IO, func(ps *Profiles) (string, error) {
		wasCurrent := ps.Current == opts.Name
		if err := ps.Delete(opts.Name); err != nil {
			return "", err
		}
		msg := fmt.Sprintf("Deleted profile %q.\n", opts.Name)
		if wasCurrent {
			msg += "No profile is current now.\n"
		}
		return msg, nil
	})
}

// editProfiles loads the profiles, applies edit, saves them, and prints
// what edit says happened.
func editProfiles(path string, io IOStreams, edit func(*Profiles) (string, error)) error {
	ps, err := LoadProfiles(path)
	if err != nil {
		return err
	}
	msg, err := edit(ps)
	if err != nil {
		return err
	}
	if err := ps.Save(path); err != nil {
		return err
	}
	_, err = fmt.Fprint(io.Out, msg)
	return err
}

// ProfileListOptions are the inputs of `chronik profile list`.
type ProfileListOptions struct {
	IO         IOStreams
	ConfigPath string
	Output     string
	IsTTY      bool
	Color      bool
}

// NewCmdProfileList builds `chronik profile list`. runF, if not nil,
// replaces the command's run function.
func NewCmdProfileList(f *Factory, runF func(*ProfileListOptions) error) *cobra.Command {
	opts := &ProfileListOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the profiles, marking the current one",
		Long: `List the profiles: CURRENT ("*" for the current one), NAME, BROKERS, ADMIN,
TOKEN (whether one is set; the token itself is never printed) and KAFKA
SECURITY (the security protocol the profile speaks, with its SASL mechanism
and user).`,
		Aliases: []string{"ls"},
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			path, err := requireProfilesPath(f)
			if err != nil {
				return err
			}
			opts.ConfigPath = path
			opts.IsTTY = isTerminal(opts.IO.Out)
			opts.Color = ColorAllowed(opts.IsTTY, os.Getenv)
			if runF != nil {
				return runF(opts)
			}
			return profileListRun(opts)
		},
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func profileListRun(opts *ProfileListOptions) error {
	ps, err := LoadProfiles(opts.ConfigPath)
	if err != nil {
		return err
	}
	ls := ps.Listing()
	if opts.Output == OutputTable && len(ls) == 0 {
		_, err := fmt.Fprintf(opts.IO.ErrOut, "No profiles in %s. Create one with `chronik profile create NAME --brokers ... --admin ...`.\n", opts.ConfigPath)
		return err
	}
	return writeOutput(opts.IO, opts.Output, ls, func() error {
		return RenderProfileTable(opts.IO.Out, ls, TableOptions{TTY: opts.IsTTY, Color: opts.Color})
	})
}

// addOutputFlag registers -o/--output with the admin output formats.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", OutputTable, "output format: "+strings.Join(OutputFormats(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(OutputFormats(), cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput rejects an unknown -o value as a usage error.
func checkOutput(o string) error {
	if !slices.Contains(OutputFormats(), o) {
		return &usageError{fmt.Errorf("--output: want one of %s, got %q", strings.Join(OutputFormats(), ", "), o)}
	}
	return nil
}

// writeOutput prints v as JSON or YAML, or calls table.
func writeOutput(io IOStreams, output string, v any, table func() error) error {
	switch output {
	case OutputJSON:
		return WriteJSON(io.Out, v)
	case OutputYAML:
		return WriteYAML(io.Out, v)
	default:
		return table()
	}
}
