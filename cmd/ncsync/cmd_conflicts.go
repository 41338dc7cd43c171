package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/status"
)

// conflictDir is where a node keeps preserved versions: under its state
// directory, never inside a replicated tree.
func conflictDir(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "conflicts") }

type conflictsOptions struct {
	controlFlags
	JSON bool
}

type restoreOptions struct {
	ConfigPath string
	To         string
}

func newConflictsCmd() *cobra.Command {
	var o conflictsOptions
	cmd := &cobra.Command{
		Use:   "conflicts [--json]",
		Short: "List the versions ncsync preserved instead of overwriting them",
		Long: `List the preserved versions: local changes on a secondary (a file edited or
created there, not by ncsync) that the primary's changes replaced, and an
old primary's changes that lost to a new primary when it rejoined. Each is
kept under state_dir/conflicts, outside the replicated tree, with its path,
folder, node, epoch, size and BLAKE3 hash.

The list comes from the local daemon over its control socket; if the daemon
is not running (or keeps no store of its own), it is read from the state
directory named in --config. Copy one back out with
'ncsync conflicts restore ID --to PATH'.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runConflicts(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	cmd.AddCommand(newConflictsRestoreCmd())
	return cmd
}

func newConflictsRestoreCmd() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore ID --to PATH",
		Short: "Copy a preserved version out to PATH (never over an existing file)",
		Long: `Copy the preserved version ID to PATH, which must not exist. A file's bytes are
checked against the kept BLAKE3 hash, written to a temporary file next to
PATH, fsynced and moved into place without replacing anything; mode, mtime
and (as root) owner are those kept, without setuid/setgid bits.

This runs in this process, with your own permissions, reading the conflict
store under the state_dir of --config directly: the daemon may be running
(it never changes a record once written) or not. The record stays listed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runConflictsRestore(c.Context(), o, args[0], c.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.ConfigPath, "config", defaultConfig, "config file of this node (for state_dir)")
	cmd.Flags().StringVar(&o.To, "to", "", "where to write the version; must not exist (required)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runConflicts(ctx context.Context, o conflictsOptions, out, errOut io.Writer) error {
	recs, err := listConflicts(ctx, o, errOut)
	if err != nil {
		return err
	}
	if o.JSON {
		return printConflictsJSON(out, recs)
	}
	printConflicts(out, recs)
	return nil
}

// listConflicts asks the daemon, and reads the store under the state
// directory of --config when the daemon cannot answer (not running, or a
// primary, which keeps no store of its own).
func listConflicts(ctx context.Context, o conflictsOptions, errOut io.Writer) ([]preserve.Record, error) {
	c, err := o.dial()
	if err == nil {
		defer c.Close()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		recs, lerr := c.Conflicts(ctx)
		if !errors.Is(lerr, control.ErrNoConflictStore) {
			return recs, lerr
		}
		err = lerr
	}
	cfg, cerr := config.Load(o.ConfigPath)
	if cerr != nil {
		return nil, fmt.Errorf("%w; reading the conflict store directly needs the node's config: %w", err, cerr)
	}
	fmt.Fprintf(errOut, "ncsync: %v; reading %s directly\n", err, conflictDir(cfg))
	return readConflicts(conflictDir(cfg))
}

// readConflicts lists the store at dir; a missing store has no records.
func readConflicts(dir string) ([]preserve.Record, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	st, err := preserve.Open(dir)
	if err != nil {
		return nil, err
	}
	return st.List()
}

func runConflictsRestore(ctx context.Context, o restoreOptions, id string, out io.Writer) error {
	pid, err := preserve.ParseID(id)
	if err != nil {
		return usageError("%v (see 'ncsync conflicts' for the ids)", err)
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	rec, err := restoreConflict(ctx, conflictDir(cfg), pid, o.To)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s (%s %q of folder %s, %s) to %s\n", rec.ID, rec.Kind, rec.Path, rec.Folder, describeSize(rec), o.To)
	return nil
}

// restoreConflict copies record id of the store at dir out to to.
func restoreConflict(ctx context.Context, dir string, id preserve.ID, to string) (preserve.Record, error) {
	if _, err := os.Stat(dir); err != nil {
		return preserve.Record{}, fmt.Errorf("conflict store %s: %w", dir, err)
	}
	st, err := preserve.Open(dir)
	if err != nil {
		return preserve.Record{}, err
	}
	return st.Restore(ctx, id, to)
}

func printConflicts(out io.Writer, recs []preserve.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(out, "no preserved versions")
		return
	}
	for _, r := range recs {
		fmt.Fprintf(out, "%s  folder %s  %q\n", r.ID, r.Folder, r.Path)
		fmt.Fprintf(out, "    %s, %s, mode %04o, mtime %s\n", r.Kind, describeSize(r), r.Mode,
			time.Unix(0, r.MtimeNs).UTC().Format(time.RFC3339Nano))
		fmt.Fprintf(out, "    kept %s from node %s (epoch %d), %s: %s\n", r.Preserved.UTC().Format(time.DateTime+" MST"),
			status.Escape(r.Node), r.Epoch, status.Escape(string(r.Cause)), status.Escape(r.Reason))
		fmt.Fprintf(out, "    at %s\n", r.KeptAt)
	}
	fmt.Fprintf(out, "%d preserved version(s); copy one out with: ncsync conflicts restore ID --to PATH\n", len(recs))
}

// describeSize is a file's size and hash, or a symlink's target.
func describeSize(r preserve.Record) string {
	switch r.Kind {
	case preserve.KindFile:
		return fmt.Sprintf("%s, blake3 %s", status.HumanBytes(r.Size), r.HashHex())
	case preserve.KindSymlink:
		return fmt.Sprintf("-> %q", r.Target)
	}
	return "directory (metadata only)"
}

// conflictJSON is one record in `ncsync conflicts --json`.
type conflictJSON struct {
	ID        string    `json:"id"`
	Folder    string    `json:"folder"`
	Path      string    `json:"path"`
	Kind      string    `json:"kind"`
	Preserved time.Time `json:"preserved"`
	Epoch     uint64    `json:"epoch"`
	Node      string    `json:"node"`
	Seq       uint64    `json:"seq,omitempty"`
	Cause     string    `json:"cause"`
	Reason    string    `json:"reason"`
	Size      int64     `json:"size"`
	Mode      string    `json:"mode"`
	UID       uint32    `json:"uid"`
	GID       uint32    `json:"gid"`
	Mtime     time.Time `json:"mtime"`
	Target    string    `json:"target,omitempty"`
	BLAKE3    string    `json:"blake3,omitempty"`
	KeptAt    string    `json:"kept_at"`
}

func printConflictsJSON(out io.Writer, recs []preserve.Record) error {
	list := make([]conflictJSON, 0, len(recs))
	for _, r := range recs {
		j := conflictJSON{ID: string(r.ID), Folder: r.Folder, Path: r.Path, Kind: string(r.Kind),
			Preserved: r.Preserved.UTC(), Epoch: r.Epoch, Node: r.Node, Seq: r.Seq, Cause: string(r.Cause),
			Reason: r.Reason, Size: r.Size, Mode: fmt.Sprintf("%04o", r.Mode), UID: r.UID, GID: r.GID,
			Mtime: time.Unix(0, r.MtimeNs).UTC(), Target: r.Target, KeptAt: r.KeptAt}
		if r.Kind == preserve.KindFile {
			j.BLAKE3 = hex.EncodeToString(r.Hash[:])
		}
		list = append(list, j)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
