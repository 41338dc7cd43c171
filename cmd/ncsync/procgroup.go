package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// defaultKillGrace is how long the processes of a snapshot's command get
// between SIGTERM and SIGKILL.
const defaultKillGrace = 10 * time.Second

// groupPoll is how often a process group is checked while it empties.
const groupPoll = 20 * time.Millisecond

// runGroup runs cmd as the leader of a new process group and returns its
// Wait error once cmd and every process left in its group are gone.
//
// A backup command that is killed (or exits) can leave children running
// (a cp, an rsync, a tar started in the background or orphaned by the
// kill), and those would go on reading the tree after the pause ends:
// a torn backup. So when cmd ends, whatever is left in its group gets
// SIGTERM and, grace later, SIGKILL; and runGroup waits for it. A signal
// received on sigs (SIGINT, SIGTERM) goes to the whole group, with SIGKILL
// grace later if cmd is still running.
//
// This process becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so the
// group's orphans are reparented to it and reaped here: a zombie still
// counts as a member of its group.
func runGroup(cmd *exec.Cmd, sigs <-chan os.Signal, grace time.Duration, stderr io.Writer) (waitErr, startErr error) {
	name := cmd.Path
	if len(cmd.Args) > 0 {
		name = cmd.Args[0]
	}
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) // best effort: without it init reaps the orphans
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var killAt <-chan time.Time
	escalate := func() {
		if killAt == nil {
			killAt = time.After(grace)
		}
	}
	for running := true; running; {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "ncsync: %v: passing it on to %s and its process group; resuming once they have exited (SIGKILL in %s)\n", s, name, grace)
			if sig, ok := s.(syscall.Signal); ok {
				_ = unix.Kill(-pgid, sig)
			}
			escalate()
		case <-killAt:
			fmt.Fprintf(stderr, "ncsync: %s still running %s after SIGTERM: SIGKILL to its process group\n", name, grace)
			_ = unix.Kill(-pgid, unix.SIGKILL)
			killAt = nil
		case waitErr = <-done:
			running = false
		}
	}

	// cmd is gone; anything left in its group is stopped and waited for.
	reapGroup(pgid)
	if !groupAlive(pgid) {
		return waitErr, nil
	}
	fmt.Fprintf(stderr, "ncsync: %s exited, but processes of its group are still running: SIGTERM to them (SIGKILL in %s); resuming once they have exited\n", name, grace)
	_ = unix.Kill(-pgid, unix.SIGTERM)
	escalate()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for {
		reapGroup(pgid)
		if !groupAlive(pgid) {
			return waitErr, nil
		}
		select {
		case <-tick.C:
		case s := <-sigs:
			if sig, ok := s.(syscall.Signal); ok {
				_ = unix.Kill(-pgid, sig)
			}
		case <-killAt:
			fmt.Fprintf(stderr, "ncsync: processes of %s's group still running %s after SIGTERM: SIGKILL\n", name, grace)
			_ = unix.Kill(-pgid, unix.SIGKILL)
			killAt = nil
		}
	}
}

// reapGroup collects the exited members of process group pgid that are
// this process's children (reparented orphans).
func reapGroup(pgid int) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-pgid, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}

// groupAlive reports whether process group pgid has any member left.
func groupAlive(pgid int) bool {
	err := unix.Kill(-pgid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
