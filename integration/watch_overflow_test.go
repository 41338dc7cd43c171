package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxQueuedEvents is the kernel's inotify queue length, copied into each
// inotify instance when it is created.
const maxQueuedEvents = "/proc/sys/fs/inotify/max_queued_events"

// TestWatchOverflow loses inotify events on purpose and requires the
// overflow to be counted in status and the tree to converge.
// scan_interval and audit_interval are an hour, so only the overflow's
// rescan can find what was lost (how fast is measured by `ncsync bench`,
// not here). It is not parallel: the first case lowers a global limit.
func TestWatchOverflow(t *testing.T) {
	skipShort(t)
	// The primary is born with a queue of 64 events: a burst overflows it
	// many times over.
	t.Run("short queue", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skipf("lowering %s needs root (euid %d); the stalled-consumer case covers overflow without it", maxQueuedEvents, os.Geteuid())
		}
		w := newWatchCluster(t, watchConfig{})
		a, b := filepath.Join(w.root(), "old/a.txt"), filepath.Join(w.root(), "old/b.txt")
		writeFile(t, a, []byte("a"), 0o644)
		writeFile(t, b, []byte("b"), 0o644)
		w.start("nfs2")
		startWithQueue(t, w, 64)
		w.waitSame(convergeTimeout, nil, nil)

		// 400 new files, in new directories and an old one, interleaved
		// with a storm of attribute changes (alternating files, so that
		// the kernel cannot merge them): some 20,000 events in a fraction
		// of a second. (Files are few because the 2 s bound is about
		// recovering from the overflow: with thousands, the secondary's
		// apply rate would dominate.)
		burst := time.Now()
		for i := range 400 {
			rel := fmt.Sprintf("burst/d%d/f%03d.txt", i%5, i)
			if i%4 == 3 {
				rel = fmt.Sprintf("old/g%03d.txt", i)
			}
			writeFile(t, filepath.Join(w.root(), rel), fmt.Appendf(nil, "file %d\n", i), 0o644)
			for j := range 25 {
				mode := os.FileMode(0o640 + (j%2)*4)
				mustOK(t, os.Chmod(a, mode))
				mustOK(t, os.Chmod(b, mode))
			}
		}
		mustOK(t, os.Chmod(a, 0o600))
		t.Logf("burst of 400 files and 20,000 chmods took %s", time.Since(burst).Round(time.Millisecond))
		checkOverflowConverged(t, w)
	})

	// A primary stalled (SIGSTOP) while far more events than its queue
	// holds (the kernel default, 16,384) happen; what is made after the
	// queue is full is lost.
	t.Run("stalled consumer", func(t *testing.T) {
		q, err := readInt(maxQueuedEvents)
		if err != nil || q > 200_000 {
			t.Skipf("inotify queue length %d (%v): too long to fill in a test", q, err)
		}
		w := newWatchCluster(t, watchConfig{})
		a, b := filepath.Join(w.root(), "a.txt"), filepath.Join(w.root(), "b.txt")
		writeFile(t, a, []byte("a"), 0o644)
		writeFile(t, b, []byte("b"), 0o644)
		w.start("nfs2")
		w.startPrimary()
		w.waitSame(convergeTimeout, nil, nil)

		w.sendSignal(primaryName, syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				w.sendSignal(primaryName, syscall.SIGCONT)
			}
		}()
		// Alternate files so that the kernel cannot merge the events.
		for i := range q/2 + 1000 {
			mode := os.FileMode(0o640 + (i%2)*4)
			mustOK(t, os.Chmod(a, mode))
			mustOK(t, os.Chmod(b, mode))
		}
		mustOK(t, os.Chmod(a, 0o600))
		for i := range 200 {
			writeFile(t, filepath.Join(w.root(), fmt.Sprintf("lost/f%03d.txt", i)), fmt.Appendf(nil, "lost %d\n", i), 0o644)
		}
		w.sendSignal(primaryName, syscall.SIGCONT)
		stopped = false
		checkOverflowConverged(t, w)
	})
}

// checkOverflowConverged requires the secondary to become equal (before
// any scan or audit could run) and the overflow to show in the primary's
// status.
func checkOverflowConverged(t *testing.T, w *watchCluster) {
	t.Helper()
	took := w.waitSame(convergeTimeout, nil, nil)
	fs := w.folderStatus()
	t.Logf("secondary equal %s after the burst; primary folder status: overflows %d, scans %d, watched %d",
		took.Round(time.Millisecond), fs.Overflows, fs.Scans, fs.Watched)
	if fs.Overflows == 0 {
		t.Errorf("the primary's status shows no overflow (Overflows 0) after a burst that overflowed its inotify queue")
	}
	if !w.logHas(primaryName, "overflow") {
		t.Errorf("the primary's log does not mention the overflow")
	}
	text := w.statusText()
	if v, ok := statusCell(text, "data", "OVERFLOWS"); !ok || v == "0" {
		t.Errorf("`ncsync status` OVERFLOWS of folder data is %q (found %v), want the overflows counted:\n%s", v, ok, text)
	}
}

// startWithQueue starts the primary with fs.inotify.max_queued_events
// lowered to n, restoring the old value as soon as the daemon has created
// its inotify instance (the kernel copies the limit into it then), so that
// other processes are affected for the shortest time.
func startWithQueue(t *testing.T, w *watchCluster, n int) {
	t.Helper()
	inotifyLimits.Lock()
	orig, err := os.ReadFile(maxQueuedEvents)
	if err != nil {
		inotifyLimits.Unlock()
		t.Fatal(err)
	}
	restore := sync.OnceFunc(func() {
		defer inotifyLimits.Unlock()
		if err := os.WriteFile(maxQueuedEvents, orig, 0o644); err != nil {
			t.Errorf("restore %s to %s: %v", maxQueuedEvents, strings.TrimSpace(string(orig)), err)
		}
	})
	t.Cleanup(restore)
	if err := os.WriteFile(maxQueuedEvents, []byte(strconv.Itoa(n)), 0o644); err != nil {
		restore()
		t.Fatalf("lower %s: %v", maxQueuedEvents, err)
	}
	lowered := time.Now()
	w.startNoWait(primaryName)
	pid := w.pidOf(primaryName)
	deadline := time.Now().Add(startTimeout)
	for !hasInotify(pid) && !w.exited(primaryName) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	restore()
	t.Logf("%s was %d for %s", maxQueuedEvents, n, time.Since(lowered).Round(time.Millisecond))
	w.waitReady(primaryName)
	w.waitWatching()
}

// hasInotify reports whether process pid holds an inotify instance.
func hasInotify(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == "anon_inode:inotify" {
			return true
		}
	}
	return false
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
