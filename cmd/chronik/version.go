package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/version"
)

// VersionOptions are the inputs of `chronik version`.
type VersionOptions struct {
	IO     IOStreams
	Output string // "text" or "json"
	Info   version.Info
}

// NewCmdVersion builds `chronik version`. runF, if not nil, replaces the
// command's run function (tests use it to inspect the parsed options).
func NewCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of chronik",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return &usageError{fmt.Errorf("--output: want text or json, got %q", opts.Output)}
			}
			opts.Info = version.Get()
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func versionRun(opts *VersionOptions) error {
	if opts.Output == "json" {
		b, err := json.Marshal(opts.Info)
		if err != nil {
			return fmt.Errorf("encode version: %w", err)
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(opts.IO.Out, opts.Info.String())
	return err
}
