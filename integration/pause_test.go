package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writer keeps changing files in a tree until stopped: each write puts
// its counter into one of 50 files.
type writer struct {
	t    *testing.T
	root string
	n    int
	stop chan struct{}
	wg   sync.WaitGroup
}

func startWriter(t *testing.T, root string, from int) *writer {
	w := &writer{t: t, root: root, n: from, stop: make(chan struct{})}
	if err := os.MkdirAll(filepath.Join(root, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.wg.Go(func() {
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			w.n++
			p := filepath.Join(root, "w", fmt.Sprintf("f%02d", w.n%50))
			if err := os.WriteFile(p, fmt.Appendf(nil, "%d\n", w.n), 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	})
	return w
}

// halt stops the writer and returns its counter.
func (w *writer) halt() int {
	close(w.stop)
	w.wg.Wait()
	return w.n
}

// copyTree copies src to a new directory with cp -a (contents, modes and
// times) and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	return dst
}

// holdsStill checks for d that the secondary's tree stays equal to want.
func holdsStill(t *testing.T, c *cluster, secondary, want string, d time.Duration) {
	t.Helper()
	got := c.tree(secondary, "data")
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if diffs := compareTrees(t, want, got, defaultIgnore); len(diffs) > 0 {
			t.Fatalf("the paused secondary's tree moved away from its point: %s", strings.Join(limit(diffs, 10), "\n"))
		}
	}
}

// pausedOf returns the peers the primary reports paused.
func pausedOf(c *cluster) []string {
	st := c.mustStatus(primaryName)
	var out []string
	for _, p := range st.Pauses {
		out = append(out, p.Peer)
	}
	return out
}

// TestPauseHoldsSecondary: after pause returns, the secondary's tree
// equals the primary's at the point and does not change while the primary
// keeps writing, across a kill -9 of the secondary and a restart of the
// primary; resume converges.
func TestPauseHoldsSecondary(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 300, 7)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	w := startWriter(t, root, 0)
	time.Sleep(300 * time.Millisecond)
	n := w.halt()
	atT := copyTree(t, root) // every change before the pause is in its point
	sock := c.node(primaryName).socket
	out := c.mustCLI("pause", "--socket", sock, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	if !strings.Contains(out, "paused nfs2 at data=") {
		t.Errorf("pause printed %q, want the point", out)
	}
	w = startWriter(t, root, n)
	holdsStill(t, c, "nfs2", atT, 2*time.Second)
	if got := pausedOf(c); len(got) != 1 || got[0] != "nfs2" {
		t.Errorf("status shows pauses %v, want [nfs2]", got)
	}
	if _, errOut, code, _ := cli(ctx, "pause", "--socket", sock, "--peer", "nfs2"); code == 0 || !strings.Contains(errOut, "already paused") {
		t.Errorf("a second pause: exit %d, %q; want a failure saying it is already paused", code, errOut)
	}

	c.kill9("nfs2")
	c.start("nfs2")
	holdsStill(t, c, "nfs2", atT, time.Second)
	c.stop(primaryName)
	c.start(primaryName)
	holdsStill(t, c, "nfs2", atT, time.Second)
	if got := pausedOf(c); len(got) != 1 {
		t.Errorf("after a primary restart, status shows pauses %v, want [nfs2]", got)
	}

	c.mustCLI("resume", "--socket", c.node(primaryName).socket, "--peer", "nfs2")
	w.halt()
	c.waitConsistent(ctx, "nfs2")
	if got := pausedOf(c); len(got) != 0 {
		t.Errorf("after resume, status shows pauses %v", got)
	}
}

// TestPauseExpires: a pause whose TTL runs out resumes by itself.
func TestPauseExpires(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 50, 8)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	c.mustCLI("pause", "--socket", c.node(primaryName).socket, "--peer", "nfs2", "--ttl", "2s")
	writeFile(t, filepath.Join(root, "after-pause.txt"), []byte("new\n"), 0o644)
	time.Sleep(time.Second)
	if _, err := os.Stat(filepath.Join(c.tree("nfs2", "data"), "after-pause.txt")); err == nil {
		t.Fatal("a change made after the pause reached the paused secondary")
	}
	c.waitConsistent(ctx, "nfs2") // the TTL resumes it
	if got := pausedOf(c); len(got) != 0 {
		t.Errorf("after the TTL, status shows pauses %v", got)
	}
}

// TestSnapshot: CMD sees the frozen tree and the point in its
// environment; its exit code is passed through; the pause ends when CMD
// fails and when ncsync is interrupted.
func TestSnapshot(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 100, 9)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	p := c.node(primaryName)

	w := startWriter(t, root, 0)
	env := filepath.Join(t.TempDir(), "env")
	script := fmt.Sprintf(`echo "$NCSYNC_SNAPSHOT_SEQ|$NCSYNC_FOLDER_DATA|$NCSYNC_PAUSE_ID" > %s; exit 7`, env)
	_, errOut, code, err := cli(ctx, "snapshot", "--config", p.cfgPath, "--socket", p.socket, "--peer", "nfs2", "--", "sh", "-c", script)
	if err != nil || code != 7 {
		t.Fatalf("snapshot: exit %d, %v, stderr %q; want CMD's exit code 7", code, err, errOut)
	}
	b, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(b)), "|")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "data=") || parts[1] != root || parts[2] == "" {
		t.Errorf("CMD's environment: %q; want data=SEQ|%s|ID", b, root)
	}
	if got := pausedOf(c); len(got) != 0 {
		t.Errorf("after a failed CMD, status shows pauses %v", got)
	}
	w.halt()

	// Interrupted: SIGTERM goes to CMD, the pause ends, the exit code says so.
	cmd := exec.Command(ncsyncBin, "snapshot", "--socket", p.socket, "--peer", "nfs2", "--", "sleep", "30")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() string { return "the snapshot never paused nfs2: " + stderr.String() }, func() bool {
		return len(pausedOf(c)) == 1
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if code := exitCode(err); code != 128+int(syscall.SIGTERM) {
		t.Errorf("interrupted snapshot exited %d (%v), want %d; stderr: %s", code, err, 128+int(syscall.SIGTERM), stderr.String())
	}
	if got := pausedOf(c); len(got) != 0 {
		t.Errorf("after an interrupted snapshot, status shows pauses %v", got)
	}
	c.waitConsistent(ctx, "nfs2")
}

// TestPauseFromSecondary: a secondary can pause and resume itself (the
// backup runs there), and only itself.
func TestPauseFromSecondary(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 50, 10)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	sec := c.node("nfs2")

	if _, errOut, code, _ := cli(ctx, "pause", "--socket", sec.socket, "--peer", "nfs3"); code == 0 || !strings.Contains(errOut, "only itself") {
		t.Errorf("nfs2 pausing nfs3: exit %d, %q; want a refusal", code, errOut)
	}
	out := c.mustCLI("pause", "--socket", sec.socket, "--peer", "nfs2", "--timeout", "30s")
	if !strings.Contains(out, "paused nfs2 at data=") {
		t.Errorf("pause printed %q", out)
	}
	if got := pausedOf(c); len(got) != 1 || got[0] != "nfs2" {
		t.Errorf("the primary shows pauses %v, want [nfs2]", got)
	}
	writeFile(t, filepath.Join(root, "after-pause.txt"), []byte("new\n"), 0o644)
	time.Sleep(time.Second)
	if _, err := os.Stat(filepath.Join(c.tree("nfs2", "data"), "after-pause.txt")); err == nil {
		t.Fatal("a change made after the pause reached the paused secondary")
	}
	c.mustCLI("resume", "--socket", sec.socket, "--peer", "nfs2")
	c.waitConsistent(ctx, "nfs2")
}

// TestSnapshotStopsCommandGroup: a backup script killed while the child it
// started keeps reading the tree: the child is stopped before the pause
// ends, so nothing of the backup reads the tree once it changes again.
func TestSnapshotStopsCommandGroup(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	smallTree(t, c.tree(primaryName, "data"), 20, 11)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	p := c.node(primaryName)

	dir := t.TempDir()
	parentPid, childPid, reads := filepath.Join(dir, "parent.pid"), filepath.Join(dir, "child.pid"), filepath.Join(dir, "reads")
	script := fmt.Sprintf(`echo $$ > %[1]s
( while :; do find %[4]s -type f -exec cat {} + >/dev/null; date +%%s%%N >> %[3]s; sleep 0.02; done ) &
echo $! > %[2]s
wait`, parentPid, childPid, reads, c.tree("nfs2", "data"))
	cmd := exec.Command(ncsyncBin, "snapshot", "--socket", p.socket, "--peer", "nfs2", "--kill-grace", "2s", "--", "sh", "-c", script)
	cmd.WaitDelay = 5 * time.Second // a child left running keeps stderr open
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 30*time.Second, func() string { return "the backup script never started: " + stderr.String() }, func() bool {
		b, _ := os.ReadFile(reads)
		return len(b) > 0
	})
	pid := func(path string) int {
		b, err := os.ReadFile(path)
		n, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || err2 != nil {
			t.Fatalf("%s: %q, %v %v", path, b, err, err2)
		}
		return n
	}
	if err := syscall.Kill(pid(parentPid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The moment the pause is seen gone, the child must have stopped reading.
	var resumed time.Time
	waitFor(t, 30*time.Second, func() string { return "the pause did not end: " + stderr.String() }, func() bool {
		if len(pausedOf(c)) == 0 {
			resumed = time.Now()
			return true
		}
		return false
	})
	if err := <-done; exitCode(err) != 128+int(syscall.SIGKILL) {
		t.Errorf("snapshot exited %d (%v), want %d (the script was killed); stderr: %s", exitCode(err), err, 128+int(syscall.SIGKILL), stderr.String())
	}
	child := pid(childPid)
	if err := syscall.Kill(child, 0); err == nil {
		syscall.Kill(child, syscall.SIGKILL)
		t.Errorf("the script's child %d is still running after the snapshot ended", child)
	}
	b, err := os.ReadFile(reads)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	last, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if lastRead := time.Unix(0, last); !lastRead.Before(resumed) {
		t.Errorf("the child read the tree at %s, after the pause was seen gone at %s", lastRead.Format(time.StampMicro), resumed.Format(time.StampMicro))
	}
	t.Logf("snapshot stderr:\n%s", stderr.String())
	c.waitConsistent(ctx, "nfs2")
}
