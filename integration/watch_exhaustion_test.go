package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatchExhaustion runs the primary with room for 20 inotify watches
// in a tree of 51 directories: it must say so (how many directories need
// watching, and the sysctl to raise), show the degradation in status, keep
// running, and still replicate changes in unwatched directories through
// its scan_interval rescans.
//
// The limit is set for the primary only: it runs in its own user
// namespace, whose inotify watch limit (/proc/sys/user/max_inotify_watches
// there) is lowered to 20. The global fs.inotify.max_user_watches is left
// alone, since every root process of the machine (other tests running in
// parallel) shares it.
func TestWatchExhaustion(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const limit, dirs = 20, 50
	if err := userNSWorks(limit); err != nil {
		t.Skipf("cannot run the primary in a user namespace with max_inotify_watches=%d (%v); lowering the global fs.inotify.max_user_watches instead would break every other inotify user of this uid", limit, err)
	}
	w := newWatchCluster(t, watchConfig{scanInterval: 300 * time.Millisecond})
	for i := range dirs {
		writeFile(t, filepath.Join(w.root(), fmt.Sprintf("d%02d/f.txt", i)), fmt.Appendf(nil, "before %d\n", i), 0o644)
	}
	w.start("nfs2")
	w.startPrimaryWith(inUserNS(limit))
	w.waitSame(convergeTimeout, nil, nil)

	fs := w.folderStatus()
	t.Logf("primary folder status: watched %d, degraded %q", fs.Watched, fs.Degraded)
	if fs.Degraded == "" || !strings.Contains(fs.Degraded, "max_user_watches") {
		t.Errorf("status Degraded is %q, want it to say the watch limit (max_user_watches) was reached", fs.Degraded)
	}
	// The limit that bit is the namespace's, not the host's sysctl: the
	// message must say so, or raising the sysctl would not help.
	if !strings.Contains(fs.Degraded, fmt.Sprintf("max_inotify_watches is %d there", limit)) {
		t.Errorf("status Degraded is %q, want it to name the user namespace's own limit (max_inotify_watches is %d there)", fs.Degraded, limit)
	}
	if fs.Watched > limit {
		t.Errorf("status says %d directories watched, more than the %d watches the primary has", fs.Watched, limit)
	}
	need := fmt.Sprintf("%d directories need watching", dirs+1)
	if !w.logHas(primaryName, need, "sysctl -w fs.inotify.max_user_watches=") {
		t.Errorf("the primary's log has no line saying %q and how to raise fs.inotify.max_user_watches (sysctl -w)", need)
	}

	// Changes everywhere, most of them in unwatched directories.
	for i := range dirs {
		writeFile(t, filepath.Join(w.root(), fmt.Sprintf("d%02d/f.txt", i)), fmt.Appendf(nil, "after %d\n", i), 0o600)
	}
	writeFile(t, filepath.Join(w.root(), "d07/new/deeper/n.txt"), []byte("new in an old directory"), 0o644)
	writeFile(t, filepath.Join(w.root(), "fresh/x/y.txt"), []byte("new tree"), 0o644)
	mustOK(t, os.RemoveAll(filepath.Join(w.root(), "d13")))
	took := w.waitSame(watchStepTimeout, nil, nil)
	t.Logf("changes replicated in degraded mode after %s (scan_interval 300ms)", took.Round(time.Millisecond))
	if !w.running(primaryName) {
		t.Fatalf("the primary exited in degraded mode: %v", w.exitErr(primaryName))
	}
	if fs := w.folderStatus(); fs.Degraded == "" {
		t.Errorf("status Degraded is empty, but the tree still needs more than %d watches", limit)
	}
	// What a person running `ncsync status` sees.
	text := w.statusText()
	if !strings.Contains(text, "DEGRADED folder data:") || !strings.Contains(text, "max_user_watches") {
		t.Errorf("`ncsync status` does not show the degraded folder and the limit to raise:\n%s", text)
	}
	if v, ok := statusCell(text, "data", "WATCHED DIRS"); !ok || v == "0" || v == fmt.Sprint(dirs+1) {
		t.Errorf("`ncsync status` WATCHED DIRS of folder data is %q (found %v), want some but not all %d directories:\n%s", v, ok, dirs+1, text)
	}
}

// inUserNS makes the daemon's command run in a new user namespace (all
// uids and gids mapped to themselves, so ownership reads the same) whose
// inotify watch limit is maxWatches.
func inUserNS(maxWatches int) func(*exec.Cmd) {
	return func(cmd *exec.Cmd) {
		script := fmt.Sprintf(`echo %d > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`, maxWatches)
		cmd.Args = append([]string{"sh", "-c", script}, cmd.Args...)
		cmd.Path = shell()
		cmd.SysProcAttr = userNS()
	}
}

func userNS() *syscall.SysProcAttr {
	all := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
	return &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                all,
		GidMappings:                all,
		GidMappingsEnableSetgroups: true,
	}
}

func shell() string {
	if p, err := exec.LookPath("sh"); err == nil {
		return p
	}
	return "/bin/sh"
}

// userNSWorks checks that a process can be started in a user namespace
// with identity maps (which needs root) and set the namespace's inotify
// watch limit there.
func userNSWorks(maxWatches int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("mapping every uid to itself needs root (euid %d)", os.Geteuid())
	}
	cmd := exec.Command(shell(), "-c", fmt.Sprintf("echo %d > /proc/sys/user/max_inotify_watches && cat /proc/sys/user/max_inotify_watches", maxWatches))
	cmd.SysProcAttr = userNS()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	if got := strings.TrimSpace(string(out)); got != fmt.Sprint(maxWatches) {
		return fmt.Errorf("max_inotify_watches reads %q after writing %d", got, maxWatches)
	}
	return nil
}
