package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
)

type pruneOptions struct {
	controlFlags
	OlderThan time.Duration
	DryRun    bool
	JSON      bool
}

func newConflictsPruneCmd() *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune --older-than D [--dry-run]",
		Short: "Remove the preserved versions kept longer than D",
		Long: `Remove every preserved version kept longer than D (a Go duration: 720h is
30 days) from the daemon's conflict stores, and print what was removed with
the space it took. With --dry-run, only print what would be removed.

A conflict store is bounded (conflicts.max_bytes, conflicts.max_files):
when keeping a local version would take it past a limit, the folder waits
at that entry, and 'ncsync status' says so. Pruning makes room, and the
folder applies again on its next attempt (within seconds).

This goes through the daemon's control socket and is one of the commands
that change state: root, the daemon's user and members of
control_admin_group may run it, --dry-run included. Copy out what you
want to keep first ('ncsync conflicts restore ID --to PATH').`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runConflictsPrune(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.register(cmd)
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", 0, "remove versions kept longer than this, e.g. 720h (required)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "only list what would be removed")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("older-than")
	return cmd
}

func runConflictsPrune(ctx context.Context, o pruneOptions, out, errOut io.Writer) error {
	if o.OlderThan < 0 {
		return usageError("--older-than %s: give a duration of 0 or more, such as 720h", o.OlderThan)
	}
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	res, err := c.PruneConflicts(ctx, o.OlderThan, o.DryRun)
	if err != nil {
		return err
	}
	if res.Warning != "" {
		fmt.Fprintf(errOut, "ncsync: %s\n", res.Warning)
	}
	if o.JSON {
		return printPrunedJSON(out, res, o.DryRun)
	}
	printPruned(out, res, o.DryRun)
	return nil
}

func printPruned(out io.Writer, res control.PruneResult, dryRun bool) {
	verb, total := "removed", int64(0)
	if dryRun {
		verb = "would remove"
	}
	for _, p := range res.Pruned {
		r := p.Record
		fmt.Fprintf(out, "%s %s  folder %s  %q  %s, kept %s, %s on disk\n", verb, r.ID, r.Folder, r.Path, r.Kind,
			r.Preserved.UTC().Format(time.DateTime+" MST"), report.HumanBytes(p.Bytes))
		total += p.Bytes
	}
	fmt.Fprintf(out, "%s %d preserved version(s), %s\n", verb, len(res.Pruned), report.HumanBytes(total))
}

// prunedJSON is `ncsync conflicts prune --json`.
type prunedJSON struct {
	DryRun  bool         `json:"dry_run"`
	Pruned  []prunedItem `json:"pruned"`
	Warning string       `json:"warning,omitempty"`
}

type prunedItem struct {
	conflictJSON
	OnDisk int64 `json:"bytes_on_disk"`
}

func printPrunedJSON(out io.Writer, res control.PruneResult, dryRun bool) error {
	j := prunedJSON{DryRun: dryRun, Pruned: []prunedItem{}, Warning: res.Warning}
	for _, p := range res.Pruned {
		j.Pruned = append(j.Pruned, prunedItem{toConflictJSON(p.Record), p.Bytes})
	}
	return printJSON(out, j)
}
