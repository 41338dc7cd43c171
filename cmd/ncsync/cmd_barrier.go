package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
)

type barrierOptions struct {
	controlFlags
	Peers   []string
	Timeout time.Duration
	Verify  bool
}

// barrierGrace is how much longer than --timeout the command waits for
// the daemon's answer before giving up on it.
const barrierGrace = time.Minute

func newBarrierCmd() *cobra.Command {
	var o barrierOptions
	cmd := &cobra.Command{
		Use:   "barrier [--peer NAME]... [--timeout D] [--verify]",
		Short: "Wait until the secondaries hold every change made on the primary so far",
		Long: `Run on the primary. The primary first journals every change made before the
command started (it flushes its watcher), takes the current sequence of each
folder, then waits until every named secondary (default: every secondary in
its config) has durably applied every change up to it.

Exit status: 0 when every secondary holds every change; 3 when --timeout ran
out first (a secondary disconnected for longer counts as such), with each
laggard named with its position and lag; 1 on any other failure; 2 on a
usage error. Progress (entries and bytes left per secondary) goes to
stderr.

Made for upgrades: keep Nextcloud in maintenance mode until this returns 0.

  occ maintenance:mode --on
  ...upgrade...
  ncsync barrier --timeout 10m || exit 1
  occ maintenance:mode --off

--verify then also compares a hash over each whole tree (metadata and file
ids) of primary and secondaries at the barrier point; it needs the tree to
hold still (maintenance mode).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			errOut := c.ErrOrStderr()
			return runBarrier(c.Context(), o, c.OutOrStdout(), errOut, isTerminal(errOut))
		},
	}
	o.register(cmd)
	cmd.Flags().StringArrayVar(&o.Peers, "peer", nil, "secondary to wait for (repeat for several; default: every secondary in the primary's config)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long (exit status 3)")
	cmd.Flags().BoolVar(&o.Verify, "verify", false, "also compare whole-tree hashes of primary and secondaries at the barrier point")
	return cmd
}

// runBarrier takes a barrier through the daemon's control socket, showing
// progress on errOut (rewriting one line per peer when tty is set) and the
// outcome on out. The error carries the exit status.
func runBarrier(ctx context.Context, o barrierOptions, out, errOut io.Writer, tty bool) error {
	if o.Timeout <= 0 {
		return usageError("--timeout %s: give a positive duration such as 90s or 10m", o.Timeout)
	}
	for _, p := range o.Peers {
		if strings.TrimSpace(p) == "" {
			return usageError("--peer: empty name")
		}
	}
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+barrierGrace)
	defer cancel()
	pr := &barrierPrinter{w: errOut, tty: tty}
	res, err := c.Barrier(ctx, control.BarrierRequest{Peers: o.Peers, Timeout: o.Timeout, Verify: o.Verify}, pr.show)
	switch {
	case errors.Is(err, control.ErrTimeout) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &exitError{code: exitTimeout, err: fmt.Errorf("barrier: the daemon gave no outcome within %s: %w", o.Timeout+barrierGrace, err)}
	case err != nil:
		return fmt.Errorf("barrier: %w", err)
	case !res.Reached:
		return &exitError{code: exitTimeout, err: errors.New(escapeLines(res.Message) +
			"\n(see `ncsync status` on the primary and the laggards' logs; rerun the barrier once they have caught up)")}
	}
	fmt.Fprintln(out, escapeLines(res.Message))
	return nil
}

// barrierPrinter shows a barrier's progress: on a terminal one line per
// peer, rewritten in place; otherwise plain lines when something changes,
// and at most every barrierPlainEvery while nothing does.
type barrierPrinter struct {
	w     io.Writer
	tty   bool
	lines int       // lines drawn last time (tty)
	last  string    // what was printed last (plain)
	at    time.Time // when (plain)
}

const barrierPlainEvery = 10 * time.Second

func (bp *barrierPrinter) show(p report.BarrierProgress) {
	lines := barrierLines(p)
	if bp.tty {
		if bp.lines > 0 {
			fmt.Fprintf(bp.w, "\x1b[%dA", bp.lines)
		}
		for _, l := range lines {
			fmt.Fprintf(bp.w, "\x1b[2K%s\n", l)
		}
		bp.lines = len(lines)
		return
	}
	// Plain output: the peer states without the numbers decide whether
	// anything changed.
	key := fmt.Sprint(len(p.Peers))
	for _, pp := range p.Peers {
		key += fmt.Sprintf(" %s/%v/%v", pp.Node, pp.Connected, pp.Reached)
	}
	if key == bp.last && time.Since(bp.at) < barrierPlainEvery {
		return
	}
	bp.last, bp.at = key, time.Now()
	for _, l := range lines {
		fmt.Fprintln(bp.w, l)
	}
}

// barrierLines renders progress: the target, then one line per peer.
func barrierLines(p report.BarrierProgress) []string {
	var target []string
	for _, t := range p.Target {
		target = append(target, fmt.Sprintf("%s@%d", t.Folder, t.Seq))
	}
	lines := []string{"barrier: waiting for every change up to " + strings.Join(target, ", ")}
	for _, pp := range p.Peers {
		state := "waiting"
		switch {
		case pp.Reached:
			state = "reached"
		case !pp.Connected:
			state = "DISCONNECTED"
		}
		l := fmt.Sprintf("  %-12s %-12s", report.Escape(pp.Node), state)
		if !pp.Reached {
			for _, f := range pp.Folders {
				atLeast := ""
				if f.LagAtLeast {
					atLeast = "≥"
				}
				if f.LagEntries == 0 && !f.LagAtLeast {
					l += fmt.Sprintf("  %s: at %d", f.Folder, f.AckedSeq)
					continue
				}
				l += fmt.Sprintf("  %s: at %d, %s%d entries (%s%s) left", f.Folder, f.AckedSeq,
					atLeast, f.LagEntries, atLeast, report.HumanBytes(int64(f.LagBytes)))
			}
			if pp.Message != "" {
				l += "  (" + report.Escape(pp.Message) + ")"
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// printBarriers adds the barriers in progress to a status report, each
// with the positions its peers have acknowledged (from peers).
func printBarriers(out io.Writer, bs []report.Barrier, peers []report.Peer, now time.Time) {
	for _, b := range bs {
		var target []string
		for _, t := range b.Target {
			target = append(target, fmt.Sprintf("%s@%d", t.Folder, t.Seq))
		}
		to := "(journaling pending changes)"
		if len(target) > 0 {
			to = "up to " + strings.Join(target, ", ")
		}
		names := "every secondary"
		if len(b.Peers) > 0 {
			names = strings.Join(b.Peers, ", ")
		}
		fmt.Fprintf(out, "BARRIER %s waiting %s for %s %s\n", b.ID, now.Sub(b.Since).Round(time.Second), names, to)
		if len(b.Target) == 0 {
			continue
		}
		for _, name := range b.Peers {
			i := slices.IndexFunc(peers, func(p report.Peer) bool { return p.Node == name })
			if i < 0 {
				fmt.Fprintf(out, "  %-12s not in the peer list\n", name)
				continue
			}
			p := peers[i]
			var acked []string
			for _, t := range b.Target {
				j := slices.IndexFunc(p.Folders, func(f report.PeerFolder) bool { return f.Folder == t.Folder })
				seq := uint64(0)
				if j >= 0 {
					seq = p.Folders[j].AckedSeq
				}
				behind := ""
				if seq < t.Seq {
					behind = fmt.Sprintf(" (%d behind)", t.Seq-seq)
				}
				acked = append(acked, fmt.Sprintf("%s@%d%s", t.Folder, seq, behind))
			}
			state := ""
			if !p.Connected {
				state = "  disconnected"
			}
			fmt.Fprintf(out, "  %-12s acknowledged %s%s\n", name, strings.Join(acked, ", "), state)
		}
	}
}
