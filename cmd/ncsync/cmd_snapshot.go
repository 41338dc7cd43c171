package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/report"
)

// snapshotOptions are pause's and how long CMD's processes get between
// SIGTERM and SIGKILL.
type snapshotOptions struct {
	pauseOptions
	KillGrace time.Duration
}

func newSnapshotCmd() *cobra.Command {
	var o snapshotOptions
	cmd := &cobra.Command{
		Use:   "snapshot --peer NAME [--ttl D] -- CMD [ARG...]",
		Short: "Pause a secondary, run a command on its frozen tree, always resume",
		Long: `Pause the secondary NAME (see 'ncsync pause'), run CMD while its tree holds
still at a consistent point, then resume it whatever happens: CMD succeeds,
fails or is killed, or this command is interrupted. Exits with CMD's exit
code. --ttl bounds the pause even if this command itself is killed with
SIGKILL.

CMD runs in a process group of its own, and the pause ends only once every
process of that group has exited: when CMD exits or is killed, what it left
running (a cp or rsync it started) gets SIGTERM, then SIGKILL after
--kill-grace; SIGINT and SIGTERM to this command go to the whole group, with
SIGKILL after --kill-grace. Nothing of CMD reads the tree after it resumed.
(CMD is not in the terminal's foreground group: it must not read the
terminal.)

CMD runs with these in its environment:
  NCSYNC_SNAPSHOT_SEQ   the point, per folder: "data=1042 webroot=377"
  NCSYNC_PAUSE_ID       the pause's id
  NCSYNC_FOLDERS        the local folder paths, separated by ':'
  NCSYNC_FOLDER_<ID>    the path of each folder (id upper-cased, '-' as '_')

Run it on the secondary whose tree is backed up, e.g. in a backup job:
  ncsync snapshot --peer nfs2 -- /usr/local/bin/backup.sh`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 0 {
				return usageError("put the command after --: ncsync snapshot --peer NAME -- CMD [ARG...]")
			}
			return runSnapshot(c.Context(), o, args, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.register(cmd, true)
	cmd.Flags().DurationVar(&o.KillGrace, "kill-grace", defaultKillGrace, "how long CMD's processes get between SIGTERM and SIGKILL")
	return cmd
}

func runSnapshot(ctx context.Context, o snapshotOptions, args []string, stdout, stderr io.Writer) error {
	// Signals are handled here from now on: they go to CMD, and the pause
	// is resumed after it exits.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx = context.WithoutCancel(ctx)

	folders, err := localFolders(o.controlFlags)
	if err != nil {
		return err
	}
	resume := func(pa report.Pause) error {
		if err := runResume(ctx, o.pauseOptions); err != nil {
			return fmt.Errorf("resume %s after the snapshot: %w (it resumes by itself at %s; or run `ncsync resume --peer %s`)",
				o.Peer, err, pa.Expires.Format(time.DateTime), o.Peer)
		}
		fmt.Fprintf(stderr, "ncsync: resumed %s\n", o.Peer)
		return nil
	}
	pa, err := pauseOrSignal(ctx, o.pauseOptions, sigs)
	var sig *signalled
	switch {
	case errors.As(err, &sig):
		// CMD is not started, and a pause made as the signal came ends.
		// Made but unconfirmed (the request was abandoned as the daemon
		// answered), it is this command's all the same: a peer has one
		// pause at most, and a second is refused while it lasts.
		if sig.paused {
			err = errors.Join(err, resume(sig.pa))
		} else if runResume(ctx, o.pauseOptions) == nil {
			fmt.Fprintf(stderr, "ncsync: resumed %s\n", o.Peer)
		}
		return &exitError{code: 128 + int(sig.sig), err: err}
	case err != nil:
		return err
	}
	fmt.Fprintln(stderr, "ncsync:", describePause(pa))

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = append(os.Environ(), snapshotEnv(pa, folders)...)
	waitErr, err := runGroup(cmd, sigs, cmp.Or(o.KillGrace, defaultKillGrace), stderr)
	if err != nil {
		return errors.Join(fmt.Errorf("run %s: %w", args[0], err), resume(pa))
	}
	rerr := resume(pa)
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
		if rerr != nil {
			return rerr
		}
		return nil
	case errors.As(waitErr, &ee):
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &exitError{code: code, err: errors.Join(fmt.Errorf("%s: %w", args[0], waitErr), rerr)}
	default:
		return errors.Join(fmt.Errorf("%s: %w", args[0], waitErr), rerr)
	}
}

// signalled is pauseOrSignal's error when a signal came first.
type signalled struct {
	sig    syscall.Signal
	paused bool         // the pause was made all the same
	pa     report.Pause // then, the pause
}

func (e *signalled) Error() string { return fmt.Sprintf("%v while pausing", e.sig) }

// pauseOrSignal pauses, unless SIGINT or SIGTERM comes first: the pause is
// then abandoned and the error is a *signalled. A signal that comes after
// the pause is made stays in sigs, for CMD.
func pauseOrSignal(ctx context.Context, o pauseOptions, sigs <-chan os.Signal) (report.Pause, error) {
	type result struct {
		pa  report.Pause
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		pa, err := runPause(ctx, o)
		done <- result{pa, err}
	}()
	select {
	case r := <-done:
		return r.pa, r.err
	case s := <-sigs:
		cancel()
		r := <-done
		sig, _ := s.(syscall.Signal)
		e := &signalled{sig: sig}
		if r.err == nil {
			e.paused, e.pa = true, r.pa
		}
		return report.Pause{}, e
	}
}

// localFolders reads the folder paths of the local daemon's config; with
// only --socket there are none to give.
func localFolders(f controlFlags) ([]config.Folder, error) {
	if f.Socket != "" && f.ConfigPath == defaultConfig {
		if _, err := os.Stat(f.ConfigPath); err != nil {
			return nil, nil
		}
	}
	cfg, err := config.Load(f.ConfigPath)
	if err != nil {
		return nil, err
	}
	return cfg.Folders, nil
}

// snapshotEnv is what CMD learns about the snapshot.
func snapshotEnv(pa report.Pause, folders []config.Folder) []string {
	env := []string{"NCSYNC_SNAPSHOT_SEQ=" + snapshotSeq(pa), "NCSYNC_PAUSE_ID=" + pa.ID}
	var paths []string
	for _, f := range folders {
		paths = append(paths, filepath.Clean(f.Path))
		env = append(env, "NCSYNC_FOLDER_"+strings.ToUpper(strings.ReplaceAll(f.ID, "-", "_"))+"="+f.Path)
	}
	return append(env, "NCSYNC_FOLDERS="+strings.Join(paths, ":"))
}
