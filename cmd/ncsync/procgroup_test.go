package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gone reports whether no process (zombies included) has pid.
func gone(pid int) bool {
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") && s != "" {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("%s never written", path)
	return 0
}

// The command starts a child that keeps reading, then is killed: runGroup
// returns only once the child is gone too.
func TestRunGroupStopsWhatTheCommandLeft(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trap  string // the child's reaction to SIGTERM
		grace time.Duration
	}{
		{"child stops on SIGTERM", "", 10 * time.Second},
		{"child ignores SIGTERM", "trap '' TERM;", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			// The child reads a file in a loop; the parent kills itself.
			script := tc.trap + ` ( while :; do cat /etc/hostname >/dev/null; sleep 0.01; done ) & echo $! > ` + pidFile + `; kill -9 $$`
			cmd := exec.Command("sh", "-c", script)
			var stderr strings.Builder
			waitErr, err := runGroup(cmd, nil, tc.grace, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			var ee *exec.ExitError
			if !errors.As(waitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Errorf("wait error %v, want the command killed by SIGKILL", waitErr)
			}
			child := readPid(t, pidFile)
			if !gone(child) {
				t.Errorf("the child %d of the killed command still exists when runGroup returned; stderr:\n%s", child, stderr.String())
				unix.Kill(child, unix.SIGKILL)
			}
			if !strings.Contains(stderr.String(), "still running") {
				t.Errorf("stderr does not say it stopped the group: %q", stderr.String())
			}
		})
	}
}

// A signal to snapshot goes to the whole group, and runGroup waits for
// all of it.
func TestRunGroupPassesSignalsToTheGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	cmd := exec.Command("sh", "-c", `sleep 30 & echo $! > `+pidFile+`; wait`)
	sigs := make(chan os.Signal, 1)
	go func() {
		readPid(t, pidFile)
		sigs <- syscall.SIGTERM
	}()
	var stderr strings.Builder
	waitErr, err := runGroup(cmd, sigs, 10*time.Second, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if waitErr == nil {
		t.Error("the command exited 0 after SIGTERM")
	}
	if child := readPid(t, pidFile); !gone(child) {
		t.Errorf("sleep %d still exists after SIGTERM to snapshot", child)
		unix.Kill(child, unix.SIGKILL)
	}
}

// A command that exits cleanly with nothing left behind: no signals.
func TestRunGroupCleanExit(t *testing.T) {
	var stderr strings.Builder
	waitErr, err := runGroup(exec.Command("true"), nil, time.Second, &stderr)
	if err != nil || waitErr != nil || stderr.Len() != 0 {
		t.Errorf("true: %v, %v, stderr %q", waitErr, err, stderr.String())
	}
	if _, err := runGroup(exec.Command(filepath.Join(t.TempDir(), "missing")), nil, time.Second, &stderr); err == nil {
		t.Error("a missing command started")
	}
}
