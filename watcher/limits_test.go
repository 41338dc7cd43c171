package watcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// setSysctlAt writes the limit name in the directory dir (procInotify or
// procUserNS) and returns a function restoring the old value (also
// registered with t.Cleanup). It skips the test when the limit cannot be
// changed here.
func setSysctlAt(t *testing.T, dir, name string, value int) (restore func()) {
	t.Helper()
	path := filepath.Join(dir, name)
	old, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("read %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(value)), 0); err != nil {
		t.Skipf("cannot lower %s (not root?): %v", name, err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := os.WriteFile(path, old, 0); err != nil {
				t.Errorf("restore %s to %s: %v", name, strings.TrimSpace(string(old)), err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// stallFirstEvent makes the run loop block on its first event until
// release is closed, so that the kernel queue fills up behind it.
func stallFirstEvent(w *Watcher, release <-chan struct{}) (stalled <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	w.onEvent = func() {
		once.Do(func() {
			close(ch)
			<-release
		})
	}
	return ch
}

func TestOverflow(t *testing.T) {
	files := 20000 // beyond the default queue of 16384
	release := make(chan struct{})
	var stalled <-chan struct{}
	h := startWatcher(t, "", Options{}, func(w *Watcher) {
		w.buffer = 1
		stalled = stallFirstEvent(w, release)
		real := w.newSource
		w.newSource = func(n int) (source, error) {
			// The queue limit is read when the instance is created, so
			// other users of inotify see the low limit only meanwhile.
			if _, err := os.Stat(filepath.Join(procInotify, "max_queued_events")); err == nil {
				restore := setSysctlQuiet("max_queued_events", 64)
				defer restore()
				if restore != nil {
					files = 1000
				}
			}
			return real(n)
		}
	})
	write(t, h.root, "first", "x")
	<-stalled
	for i := range files {
		must(t, os.WriteFile(filepath.Join(h.root, fmt.Sprintf("f%05d", i)), nil, 0o644))
	}
	// Created while events are being lost: must be watched after the
	// rescan that follows the overflow.
	mkdirAll(t, h.root, "new/sub")
	close(release)
	if !waitFor(10*time.Second, func() bool {
		for _, b := range h.snapshot() {
			if b.Overflow && len(b.Paths) == 1 && b.Paths[0] == "" {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no overflow batch; Stats %+v", h.w.Stats())
	}
	if s := h.w.Stats(); s.Overflows == 0 {
		t.Fatalf("Overflows = 0; Stats %+v", s)
	}
	h.expectWatched(3)
	h.checkWatches()
	h.reset()
	write(t, h.root, "new/sub/g", "x")
	h.expectPaths("new/sub/g")
}

// setSysctlQuiet is setSysctlAt of procInotify without a testing.T: nil when it cannot.
func setSysctlQuiet(name string, value int) (restore func()) {
	path := filepath.Join(procInotify, name)
	old, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(value)), 0); err != nil {
		return nil
	}
	return func() { os.WriteFile(path, old, 0) }
}

// limitSource fails Add with ENOSPC once left reaches zero, like the
// kernel at fs.inotify.max_user_watches.
type limitSource struct {
	source
	left atomic.Int64
}

func (s *limitSource) Add(path string) error {
	if s.left.Add(-1) < 0 {
		s.left.Add(1)
		return unix.ENOSPC
	}
	return s.source.Add(path)
}

func TestExhaustion(t *testing.T) {
	root := t.TempDir()
	for i := range 10 {
		mkdirAll(t, root, fmt.Sprintf("d%d/sub", i))
	}
	var ls *limitSource
	h := startWatcher(t, root, Options{Retry: 200 * time.Millisecond}, func(w *Watcher) {
		real := w.newSource
		w.newSource = func(n int) (source, error) {
			s, err := real(n)
			if err != nil {
				return nil, err
			}
			ls = &limitSource{source: s}
			ls.left.Store(5)
			return ls, nil
		}
	})
	s := h.w.Stats()
	if s.Watched != 5 || s.Unwatched != 16 {
		t.Fatalf("Stats = %+v, want 5 watched, 16 unwatched", s)
	}
	for _, want := range []string{"21 directories need watching", "fs.inotify.max_user_watches", "sysctl -w fs.inotify.max_user_watches=", "/etc/sysctl.d/"} {
		if !strings.Contains(s.Degraded, want) {
			t.Errorf("Degraded = %q, missing %q", s.Degraded, want)
		}
	}
	un := h.w.Unwatched()
	if len(un) == 0 || len(un) > 16 {
		t.Fatalf("Unwatched = %q", un)
	}
	for _, p := range un {
		if st, ok := h.w.reg.get(p); !ok || st.watched {
			t.Errorf("Unwatched lists %q, which is watched", p)
		}
	}
	// Raise the limit: the retry watches everything and reports the
	// directories whose changes were missed.
	ls.left.Store(1000)
	h.expectWatched(21)
	h.checkWatches()
	h.expectPaths(un...)
	if s := h.w.Stats(); s.Degraded != "" || s.Unwatched != 0 || len(h.w.Unwatched()) != 0 {
		t.Fatalf("after retry: Stats %+v, Unwatched %q", s, h.w.Unwatched())
	}
	h.reset()
	write(t, h.root, "d9/sub/f", "x")
	h.expectPaths("d9/sub/f")
}

// TestExhaustionSysctl runs a watcher out of inotify watches for real.
// The test runs itself again in a user namespace of its own, whose watch
// limit (user.max_inotify_watches) is lowered to 10: the limit is then the
// test's alone, so that neither other processes of the uid (tests of other
// packages running at the same time) take the watches it counts on, nor the
// lowered limit takes watches from them.
func TestExhaustionSysctl(t *testing.T) {
	if os.Getenv(inUserNSEnv) == "" {
		runInUserNS(t, "TestExhaustionSysctl")
		return
	}
	setSysctlAt(t, procUserNS, "max_inotify_watches", 10)
	root := t.TempDir()
	for i := range 50 {
		mkdirAll(t, root, fmt.Sprintf("d%02d", i))
	}
	h := startWatcher(t, root, Options{}, nil)
	s := h.w.Stats()
	t.Logf("Stats: %+v", s)
	if s.Watched != 10 || s.Unwatched != 41 {
		t.Fatalf("Stats = %+v, want 10 of 51 directories watched and 41 unwatched", s)
	}
	for _, want := range []string{"51 directories need watching", "fs.inotify.max_user_watches is",
		"sysctl -w fs.inotify.max_user_watches=", "max_inotify_watches is 10 there"} {
		if !strings.Contains(s.Degraded, want) {
			t.Errorf("Degraded = %q, missing %q", s.Degraded, want)
		}
	}
	if got := len(h.w.Unwatched()); got != s.Unwatched {
		t.Errorf("Unwatched() has %d entries, Stats.Unwatched %d", got, s.Unwatched)
	}
	// A watched directory still reports.
	write(t, h.root, "f", "x")
	h.expectPaths("f")
}

// inUserNSEnv is set for a test run again by runInUserNS.
const inUserNSEnv = "NCSYNC_TEST_IN_USERNS"

// runInUserNS runs the test named again, alone, in a new user namespace
// in which this uid is root, and fails with its output if it fails. It
// skips when user namespaces cannot be made here.
func runInUserNS(t *testing.T, name string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), inUserNSEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("cannot run the test in a user namespace of its own here: %v", err)
	case err != nil:
		t.Fatalf("in a user namespace: %v\n%s", err, out)
	case bytes.Contains(out, []byte("--- SKIP")):
		t.Skipf("skipped in a user namespace:\n%s", out)
	}
	t.Logf("in a user namespace:\n%s", out)
}

// A directory that cannot be listed may hold subdirectories left
// unwatched: it counts as unwatched (its changes are rescanned and the
// cause shown) until a retry lists it, and then its subdirectories are
// watched and report.
func TestUnlistableDirectoryIsRetried(t *testing.T) {
	root := t.TempDir()
	mkdirAll(t, root, "a/b")
	var failing atomic.Bool
	failing.Store(true)
	h := startWatcher(t, root, Options{Retry: 50 * time.Millisecond}, func(w *Watcher) {
		w.listDirs = func(f *os.File) ([]string, error) {
			if failing.Load() && filepath.Base(f.Name()) == "a" {
				f.Close()
				return nil, fmt.Errorf("list %q: %w", f.Name(), unix.EIO)
			}
			return subdirs(f)
		}
	})
	if got := h.w.Unwatched(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Unwatched() = %q, want [a]", got)
	}
	if s := h.w.Stats(); !strings.Contains(s.Degraded, "input/output error") {
		t.Errorf("Degraded = %q, want the listing error", s.Degraded)
	}
	failing.Store(false)
	if !waitFor(10*time.Second, func() bool { return len(h.w.Unwatched()) == 0 }) {
		t.Fatalf("still unwatched after the listing works again: %q", h.w.Unwatched())
	}
	h.expectWatched(3)
	h.expectPaths("a") // what changed in it meanwhile was not seen: rescan it
	h.reset()
	write(t, h.root, "a/b/f", "x")
	h.expectPaths("a/b/f")
}
