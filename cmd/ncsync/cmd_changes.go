package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
)

type changesOptions struct {
	controlFlags
	Folder  string
	Since   string
	Until   string
	Null    bool
	Deleted string
}

func newChangesCmd() *cobra.Command {
	var o changesOptions
	cmd := &cobra.Command{
		Use:   "changes --folder ID --since SEQ [--until SEQ] [-0] [--deleted FILE]",
		Short: "List the paths of a folder changed and deleted between two points (incremental backups)",
		Long: `List, from the local daemon's journal, the paths of folder ID that changed
after SEQ: one path per line (NUL-separated with -0), relative to the
folder's root, in the form 'rsync --files-from' and 'tar --no-recursion -T'
read. Paths that no longer exist are not in that list: --deleted FILE
writes them to FILE, in the same form, for the backup to remove (both
lists come from one reading of the journal). A change of the root
directory's own mode, owner or mtime is listed as '.'.

SEQ is a sequence number or the NCSYNC_SNAPSHOT_SEQ of a snapshot
("data=1042 webroot=377"), from which --folder picks its folder. A backup
keeps the NCSYNC_SNAPSHOT_SEQ it was made at and passes it as --since the
next time, with the new snapshot's as --until:

  ncsync changes --folder data --since "$LAST" --until "$NCSYNC_SNAPSHOT_SEQ" \
      -0 --deleted deleted.lst > changed.lst

--until checks that this node has applied everything up to that point; run
during the snapshot (on the paused secondary) the lists are exactly the
changes between the two points. A path changed again after --until is
listed in its latest state. Directories are listed when they changed
(their mode, owner or mtime), not for their contents.

It fails (exit 1) when the journal does not reach back to SEQ: this node
rejoined a new primary's history and went back past SEQ, or SEQ is ahead of
its journal or of --until (another history, such as a primary's index made
anew), or the node has not applied --until yet. The backup must then copy the whole folder. It works on a
primary and on a secondary.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runChanges(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&o.Folder, "folder", "", "folder id (required)")
	cmd.Flags().StringVar(&o.Since, "since", "", `the start: a sequence or "ID=SEQ ID=SEQ…" (required)`)
	cmd.Flags().StringVar(&o.Until, "until", "", `the end the journal must have reached, in the same form (default: its head)`)
	cmd.Flags().BoolVarP(&o.Null, "null", "0", false, "end each path with NUL instead of a newline")
	cmd.Flags().StringVar(&o.Deleted, "deleted", "", "write the paths that no longer exist to FILE")
	_ = cmd.MarkFlagRequired("folder")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// parsePoint reads a sequence for folder from s: a plain number, or the
// "ID=SEQ ID=SEQ" form of NCSYNC_SNAPSHOT_SEQ (spaces or commas between
// the pairs).
func parsePoint(flag, s, folder string) (uint64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	var found []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' }) {
		id, seq, ok := strings.Cut(f, "=")
		if !ok || id == "" {
			return 0, fmt.Errorf("--%s %q: want a sequence number or ID=SEQ pairs, as in NCSYNC_SNAPSHOT_SEQ", flag, s)
		}
		found = append(found, id)
		if id != folder {
			continue
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("--%s %q: sequence of folder %s: %w", flag, s, id, err)
		}
		return n, nil
	}
	if len(found) == 0 {
		return 0, fmt.Errorf("--%s is empty: want a sequence number or ID=SEQ pairs", flag)
	}
	return 0, fmt.Errorf("--%s %q names folders %s, not %s", flag, s, strings.Join(found, ", "), folder)
}

func runChanges(ctx context.Context, o changesOptions, out, errOut io.Writer) error {
	since, err := parsePoint("since", o.Since, o.Folder)
	if err != nil {
		return usageError("%v", err)
	}
	var until uint64
	if o.Until != "" {
		if until, err = parsePoint("until", o.Until, o.Folder); err != nil {
			return usageError("%v", err)
		}
	}
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()

	sep := byte('\n')
	if o.Null {
		sep = 0
	}
	changed := newPathList(out, sep)
	var deleted *pathList
	var delFile *os.File
	if o.Deleted != "" {
		if delFile, err = os.Create(o.Deleted); err != nil {
			return fmt.Errorf("--deleted: %w", err)
		}
		defer delFile.Close()
		deleted = newPathList(delFile, sep)
	}
	var nChanged, nDeleted int
	rg, err := c.Changes(ctx, o.Folder, since, until, func(ch index.Change) error {
		if !ch.Deleted {
			nChanged++
			return changed.add(ch.Path)
		}
		nDeleted++
		if deleted != nil {
			return deleted.add(ch.Path)
		}
		return nil
	})
	if err == nil {
		err = changed.flush()
	}
	if err == nil && deleted != nil {
		if err = deleted.flush(); err == nil {
			err = delFile.Close()
		}
	}
	if errors.Is(err, control.ErrJournalRange) {
		return fmt.Errorf("folder %s: %w; copy the whole folder", o.Folder, err)
	}
	if err != nil {
		return fmt.Errorf("folder %s: %w", o.Folder, err)
	}
	end := "its head"
	if until != 0 {
		end = fmt.Sprintf("%d", until)
	}
	note := ""
	if deleted == nil && nDeleted > 0 {
		note = " (not listed: use --deleted FILE)"
	}
	fmt.Fprintf(errOut, "ncsync: folder %s, after %d up to %s (journal head %d): %d changed, %d deleted%s\n",
		o.Folder, since, end, rg.Head, nChanged, nDeleted, note)
	return nil
}

// pathList writes paths, each ended by sep. With newlines, a path holding
// one is an error: it would read as two paths (use NUL).
type pathList struct {
	w   *bufio.Writer
	sep byte
}

func newPathList(w io.Writer, sep byte) *pathList {
	return &pathList{w: bufio.NewWriterSize(w, 64<<10), sep: sep}
}

func (l *pathList) add(p string) error {
	if l.sep == '\n' && strings.ContainsAny(p, "\n\r") {
		return fmt.Errorf("path %q contains a line break: list with -0 (and rsync --from0, tar --null)", p)
	}
	if _, err := l.w.WriteString(p); err != nil {
		return err
	}
	return l.w.WriteByte(l.sep)
}

func (l *pathList) flush() error { return l.w.Flush() }
