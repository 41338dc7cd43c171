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
	"github.com/ncsync/ncsync/report"
)

// conflictDir is where a node keeps preserved versions: under its state
// directory, never inside a replicated tree. A folder on another file
// system keeps its own store (see conflictPlaces).
func conflictDir(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "conflicts") }

// conflictLimits are the config's bounds of each conflict store.
func conflictLimits(cfg *config.Config) preserve.Limits {
	return preserve.Limits{MaxBytes: cfg.Conflicts.MaxBytes, MaxBytesPercent: cfg.Conflicts.MaxPercent,
		MaxFiles: cfg.Conflicts.MaxFiles}
}

// conflictPlaces lists every store that may hold this node's preserved
// versions: the one under state_dir and, for each folder, its
// conflicts.dir or its own store at its root (which the daemon uses when
// state_dir is on another file system).
func conflictPlaces(cfg *config.Config) []preserve.Place {
	places := []preserve.Place{{Dir: conflictDir(cfg)}}
	for _, f := range cfg.Folders {
		if f.ConflictsDir != "" {
			places = append(places, preserve.Place{Dir: f.ConflictsDir})
		} else {
			places = append(places, preserve.Place{Dir: filepath.Join(f.Path, preserve.FolderStoreName), Root: f.Path})
		}
	}
	return places
}

// openConflictStores opens the stores of conflictPlaces that exist (none
// is created). The stores it could open are returned with the error.
func openConflictStores(cfg *config.Config) ([]*preserve.Store, error) {
	var stores []*preserve.Store
	var errs []error
	seen := map[string]bool{}
	for _, p := range conflictPlaces(cfg) {
		if seen[p.Dir] {
			continue
		}
		seen[p.Dir] = true
		if _, err := os.Lstat(p.Dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		st, err := p.Open(conflictLimits(cfg))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stores = append(stores, st)
	}
	return stores, errors.Join(errs...)
}

func closeStores(stores []*preserve.Store) {
	for _, st := range stores {
		st.Close()
	}
}

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
kept in a conflict store outside the replicated tree (state_dir/conflicts,
or, for a folder on another file system than state_dir, the folder's
conflicts.dir or its own hidden .ncsync-conflicts at its root), with its
path, folder, node, epoch, size and BLAKE3 hash.

The list comes from the local daemon over its control socket; if the daemon
is not running (or keeps no store of its own), the stores named by
--config are read directly. Copy one back out with
'ncsync conflicts restore ID --to PATH'; remove old ones with
'ncsync conflicts prune --older-than D'.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runConflicts(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	cmd.AddCommand(newConflictsRestoreCmd(), newConflictsPruneCmd())
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
stores of --config directly: the daemon may be running
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
		return nil, fmt.Errorf("%w; reading the conflict stores directly needs the node's config: %w", err, cerr)
	}
	fmt.Fprintf(errOut, "ncsync: %v; reading the conflict stores of %s directly\n", err, o.ConfigPath)
	stores, oerr := openConflictStores(cfg)
	defer closeStores(stores)
	recs, lerr := preserve.ListAll(stores)
	return recs, errors.Join(oerr, lerr)
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
	rec, err := restoreConflict(ctx, cfg, pid, o.To)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s (%s %q of folder %s, %s) to %s\n", rec.ID, rec.Kind, rec.Path, rec.Folder, describeSize(rec), o.To)
	return nil
}

// restoreConflict copies record id, from whichever store of cfg holds
// it, out to to.
func restoreConflict(ctx context.Context, cfg *config.Config, id preserve.ID, to string) (preserve.Record, error) {
	stores, err := openConflictStores(cfg)
	defer closeStores(stores)
	for _, st := range stores {
		if _, gerr := st.Get(id); errors.Is(gerr, preserve.ErrNotFound) {
			continue
		}
		return st.Restore(ctx, id, to)
	}
	if err != nil {
		return preserve.Record{}, fmt.Errorf("preserved version %s: %w (and %w)", id, preserve.ErrNotFound, err)
	}
	return preserve.Record{}, fmt.Errorf("preserved version %s: %w", id, preserve.ErrNotFound)
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
			report.Escape(r.Node), r.Epoch, report.Escape(string(r.Cause)), report.Escape(r.Reason))
		fmt.Fprintf(out, "    at %s\n", r.KeptAt)
	}
	fmt.Fprintf(out, "%d preserved version(s); copy one out with: ncsync conflicts restore ID --to PATH\n", len(recs))
}

// describeSize is a file's size and hash, or a symlink's target.
func describeSize(r preserve.Record) string {
	switch r.Kind {
	case preserve.KindFile:
		return fmt.Sprintf("%s, blake3 %s", report.HumanBytes(r.Size), r.HashHex())
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
		list = append(list, toConflictJSON(r))
	}
	return printJSON(out, list)
}

func toConflictJSON(r preserve.Record) conflictJSON {
	j := conflictJSON{ID: string(r.ID), Folder: r.Folder, Path: r.Path, Kind: string(r.Kind),
		Preserved: r.Preserved.UTC(), Epoch: r.Epoch, Node: r.Node, Seq: r.Seq, Cause: string(r.Cause),
		Reason: r.Reason, Size: r.Size, Mode: fmt.Sprintf("%04o", r.Mode), UID: r.UID, GID: r.GID,
		Mtime: time.Unix(0, r.MtimeNs).UTC(), Target: r.Target, KeptAt: r.KeptAt}
	if r.Kind == preserve.KindFile {
		j.BLAKE3 = hex.EncodeToString(r.Hash[:])
	}
	return j
}

// printJSON prints v as indented JSON.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
