package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/chronik-dev/chronik/internal/version"
)

// NewCmdMan builds the hidden `chronik man DIR`, which writes one man page
// per command (goreleaser ships them in the release archives).
func NewCmdMan(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages to DIR",
		Hidden: true,
		Args:   usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create man page dir: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // reproducible pages: no date line
			hdr := &doc.GenManHeader{Title: "CHRONIK", Section: "1", Source: "chronik " + version.Get().Version}
			if err := doc.GenManTree(root, hdr, dir); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			fmt.Fprintf(f.IO.Out, "man pages written to %s\n", dir)
			return nil
		},
	}
}
