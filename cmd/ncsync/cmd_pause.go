package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
)

type pauseOptions struct {
	controlFlags
	Peer    string
	TTL     time.Duration
	Timeout time.Duration
}

func (o *pauseOptions) register(cmd *cobra.Command, ttl bool) {
	o.controlFlags.register(cmd)
	cmd.Flags().StringVar(&o.Peer, "peer", "", "the secondary to pause (required)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for the secondary to reach its point")
	if ttl {
		cmd.Flags().DurationVar(&o.TTL, "ttl", 2*time.Hour, "resume by itself after this long, so a crashed backup never leaves replication paused")
	}
	_ = cmd.MarkFlagRequired("peer")
}

func newPauseCmd() *cobra.Command {
	var o pauseOptions
	cmd := &cobra.Command{
		Use:   "pause --peer NAME [--ttl D] [--timeout D]",
		Short: "Hold a secondary still at a consistent point (for a backup)",
		Long: `Bring the secondary NAME to a consistent point and hold it there: its tree
then equals the primary's tree at the printed sequence of each folder, with
no temporary files in it, and stays so while the primary keeps changing.
Run it on the primary. It returns once the secondary is there (exit 3 if it
does not get there within --timeout).

Replication of NAME resumes with 'ncsync resume --peer NAME', or by itself
when --ttl runs out. A pause survives restarts of both daemons.
'ncsync snapshot' pauses, runs a command and always resumes.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pa, err := runPause(c.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), describePause(pa))
			return nil
		},
	}
	o.register(cmd, true)
	return cmd
}

func newResumeCmd() *cobra.Command {
	var o pauseOptions
	cmd := &cobra.Command{
		Use:   "resume --peer NAME",
		Short: "End a pause: the secondary catches up",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := runResume(c.Context(), o); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "resumed %s\n", o.Peer)
			return nil
		},
	}
	o.controlFlags.register(cmd)
	cmd.Flags().StringVar(&o.Peer, "peer", "", "the paused secondary (required)")
	_ = cmd.MarkFlagRequired("peer")
	return cmd
}

func runPause(ctx context.Context, o pauseOptions) (report.Pause, error) {
	c, err := o.dial()
	if err != nil {
		return report.Pause{}, err
	}
	defer c.Close()
	pa, err := c.Pause(ctx, o.Peer, o.TTL, o.Timeout)
	if errors.Is(err, control.ErrTimeout) {
		return pa, &exitError{code: exitTimeout, err: err}
	}
	return pa, err
}

func runResume(ctx context.Context, o pauseOptions) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.Resume(ctx, o.Peer)
}

// describePause is the line pause prints: the pause id and the point.
func describePause(pa report.Pause) string {
	return fmt.Sprintf("paused %s at %s (pause %s, resumes by itself at %s)",
		pa.Peer, snapshotSeq(pa), pa.ID, pa.Expires.Format(time.DateTime))
}

// snapshotSeq renders the hold point as "folder=seq ...", sorted.
func snapshotSeq(pa report.Pause) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(pa.Hold)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, pa.Hold[id]))
	}
	return strings.Join(parts, " ")
}

// printPauses adds the pauses to a status report.
func printPauses(out io.Writer, ps []report.Pause, now time.Time) {
	for _, pa := range ps {
		fmt.Fprintf(out, "PAUSED %s since %s at %s, resumes in %s (pause %s, staged %s)\n", pa.Peer,
			pa.Since.Format(time.DateTime), snapshotSeq(pa), pa.Expires.Sub(now).Round(time.Second), pa.ID,
			report.HumanBytes(int64(pa.StagedBytes)))
	}
}
