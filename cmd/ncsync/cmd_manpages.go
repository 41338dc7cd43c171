package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

type manpagesOptions struct {
	Dir string
}

// newManpagesCmd writes the man pages of every command, generated from the
// commands' own help. Packaging runs it; operators read the result with man.
func newManpagesCmd() *cobra.Command {
	var o manpagesOptions
	cmd := &cobra.Command{
		Use:    "manpages --dir DIR",
		Short:  "Write the man pages of every ncsync command into DIR (for packaging)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(c *cobra.Command, _ []string) error {
			return runManpages(c.Root(), o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory to write ncsync.1, ncsync-run.1, … into")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func runManpages(root *cobra.Command, o manpagesOptions) error {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	root.DisableAutoGenTag = true // reproducible pages: no generation date
	hdr := &doc.GenManHeader{Title: "NCSYNC", Section: "1", Source: "ncsync " + readBuildInfo().Version, Manual: "ncsync manual"}
	if err := doc.GenManTree(root, hdr, o.Dir); err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	return nil
}
