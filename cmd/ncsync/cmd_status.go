package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

type statusOptions struct {
	controlFlags
	JSON bool
}

func newStatusCmd() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show the local daemon's folders and peers: connected, applied sequence, lag",
		Long: `Show the local daemon's state. On a primary: each secondary, whether it is
connected, the sequence it has acknowledged per folder and its lag in
entries, bytes and seconds. On a secondary: the primary it follows and the
applied position per folder.

A folder whose scan fails on the primary (its index cannot be written, a
file cannot be read) shows a SCAN ERROR line until the paths that failed are
journaled: they are retried by themselves, and barrier, pause, snapshot and
verify fail meanwhile. A secondary that cannot apply (a full disk) shows the
error in its LAST ERROR, and the primary shows it on the peer's row.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runStatus(c.Context(), o, c.OutOrStdout())
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func runStatus(ctx context.Context, o statusOptions, out io.Writer) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(out, st, time.Now())
	return nil
}

func printStatus(out io.Writer, st report.Node, now time.Time) {
	fmt.Fprintf(out, "node %s (%s), cluster %s, epoch %d, up %s\n", st.Node, st.Role, st.ClusterID, st.Epoch, now.Sub(st.Started).Round(time.Second))
	primary := st.Role == pki.RolePrimary
	if !primary {
		printFollowed(out, st, now)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if primary {
		fmt.Fprintln(tw, "\nFOLDER\tPATH\tSEQ\tFILES\tDIRS\tBYTES\tWATCHED DIRS\tOVERFLOWS\tAUDIT FOUND\tLAST ERROR")
	} else {
		fmt.Fprintln(tw, "\nFOLDER\tPATH\tSEQ\tFILES\tDIRS\tBYTES\tAPPLIED\tREFUSED\tREPAIRED\tLAST ERROR")
	}
	for _, f := range st.Folders {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t", f.ID, f.Path, f.Seq, f.Files, f.Dirs, report.HumanBytes(int64(f.Bytes)))
		if primary {
			fmt.Fprintf(tw, "%d\t%d\t%d\t", f.Watched, f.Overflows, f.AuditFindings)
		} else {
			fmt.Fprintf(tw, "%d\t%d\t%d\t", f.EntriesApplied, f.EntriesRefused, f.Repairs)
		}
		fmt.Fprintf(tw, "%s\n", dash(report.Escape(f.LastError)))
	}
	tw.Flush()
	printPauses(out, st.Pauses, now)
	printBarriers(out, st.Barriers, st.Peers, now)
	for _, f := range st.Folders {
		if e := f.ScanError; e != nil {
			fmt.Fprintf(out, "SCAN ERROR folder %s: %s (%d paths pending since %s, %d retries, next in %s; barrier, pause, snapshot and verify fail until it clears)\n",
				f.ID, report.Escape(e.Error), e.Pending, e.Since.Format(time.DateTime), e.Retries, max(e.NextRetry.Sub(now), 0).Round(time.Millisecond))
		}
	}
	for _, f := range st.Folders {
		if f.Degraded != "" {
			fmt.Fprintf(out, "DEGRADED folder %s: %s\n", f.ID, report.Escape(f.Degraded))
		}
	}
	for _, f := range st.Folders {
		if f.IgnoredHere > 0 {
			fmt.Fprintf(out, "IGNORED HERE folder %s: %d entries from the primary refused: they match this node's ignore patterns (node-local paths, kept as they are)\n", f.ID, f.IgnoredHere)
		}
		for _, h := range f.Held {
			what := h.Reason + " since " + h.Since.Format(time.TimeOnly)
			if !h.Until.IsZero() {
				what += ", until " + h.Until.Format(time.TimeOnly)
			}
			fmt.Fprintf(out, "HELD folder %s: %q not sent (%s); the secondaries keep its previous version\n", f.ID, h.Path, what)
		}
		if more := f.HeldTotal - uint64(len(f.Held)); f.HeldTotal > uint64(len(f.Held)) {
			fmt.Fprintf(out, "HELD folder %s: and %d more files\n", f.ID, more)
		}
	}
	for _, f := range st.Folders {
		if f.LocalChanges > 0 {
			fmt.Fprintf(out, "LOCAL CHANGES folder %s: %d kept before the primary's changes replaced them (see 'ncsync conflicts')\n", f.ID, f.LocalChanges)
		}
	}
	for _, f := range st.Folders {
		if f.Repairs > 0 {
			fmt.Fprintf(out, "REPAIRED folder %s: %d local changes put back to the primary's version since start (edits kept: see 'ncsync conflicts')\n", f.ID, f.Repairs)
		}
	}
	for _, f := range st.Folders {
		if w := f.ConflictStoreFull; w != nil {
			fmt.Fprintf(out, "WAITING folder %s at %q (sequence %d): %s\n", f.ID, w.Path, w.Seq, report.Escape(w.Message))
		}
	}
	for _, cs := range st.ConflictStores {
		fmt.Fprintf(out, "CONFLICT STORE %s (folders %s): %d of %d records, %s of %s\n", cs.Dir, strings.Join(cs.Folders, ", "),
			cs.Records, cs.MaxFiles, report.HumanBytes(int64(cs.Bytes)), report.HumanBytes(int64(cs.MaxBytes)))
	}
	fmt.Fprintln(tw, "\nPEER\tROLE\tCONNECTED\tDATA\tFOLDER\tACKED\tLAG ENTRIES\tLAG BYTES\tLAG\tLAST ERROR")
	for _, p := range st.Peers {
		conn := "no"
		switch {
		case p.Connected:
			conn = "since " + p.ConnectedSince.Format(time.TimeOnly)
		case !p.DisconnectedSince.IsZero():
			conn = "no, since " + p.DisconnectedSince.Format(time.DateTime)
		case !p.LastSeen.IsZero():
			conn = "no, last seen " + p.LastSeen.Format(time.DateTime)
		}
		name := report.Escape(p.Node)
		if name == "" {
			name = report.Escape(p.Address)
		}
		// Chunk data sent to a secondary, or received from the primary.
		data := report.HumanBytes(int64(p.BytesSent)) + " sent"
		if p.Role == pki.RolePrimary {
			data = report.HumanBytes(int64(p.BytesReceived)) + " received"
		}
		for i, f := range p.Folders {
			if i > 0 {
				name, conn, data = "", "", ""
			}
			atLeast := ""
			if f.LagAtLeast {
				atLeast = "≥ "
			}
			lag := f.Lag.Round(time.Millisecond).String()
			if f.CatchingUp && f.CatchUpTo > 0 {
				lag += fmt.Sprintf(" (catching up to %d)", f.CatchUpTo)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s%d\t%s%s\t%s\t%s\n", name, p.Role, conn, data, f.Folder, f.AckedSeq, atLeast, f.LagEntries,
				atLeast, report.HumanBytes(int64(f.LagBytes)), lag, dash(report.Escape(peerError(p, f))))
		}
	}
	tw.Flush()
}

// printFollowed says which primary a secondary follows, where, in which
// epoch, since when it is connected or not, and whether it is paused.
func printFollowed(out io.Writer, st report.Node, now time.Time) {
	for _, p := range st.Peers {
		if p.Role != pki.RolePrimary {
			continue
		}
		line := "following primary " + dash(report.Escape(p.Node))
		if p.Address != "" {
			line += " at " + report.Escape(p.Address)
		}
		if p.Epoch != 0 {
			line += fmt.Sprintf(", epoch %d", p.Epoch)
		}
		switch {
		case p.Connected:
			line += fmt.Sprintf(": connected since %s (%s)", p.ConnectedSince.Format(time.DateTime), now.Sub(p.ConnectedSince).Round(time.Second))
		case !p.DisconnectedSince.IsZero():
			line += fmt.Sprintf(": disconnected since %s (%s)", p.DisconnectedSince.Format(time.DateTime), now.Sub(p.DisconnectedSince).Round(time.Second))
		default:
			line += ": not connected yet"
		}
		if !p.Connected && p.LastError != "" {
			line += ": " + report.Escape(p.LastError)
		}
		fmt.Fprintln(out, line)
	}
	switch {
	case st.Paused:
		fmt.Fprintf(out, "paused for a snapshot: the tree holds an earlier, consistent state of the primary's; %s staged, applied when the pause ends\n",
			report.HumanBytes(int64(st.StagedBytes)))
	case st.StagedBytes > 0:
		fmt.Fprintf(out, "staged: %s received while paused, applied when the pause ends\n", report.HumanBytes(int64(st.StagedBytes)))
	}
}

// peerError is what a peer row shows as its error: why the peer cannot
// apply the folder, else the peer's last error.
func peerError(p report.Peer, f report.PeerFolder) string {
	if f.ApplyError != "" {
		return "cannot apply: " + f.ApplyError
	}
	return p.LastError
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
