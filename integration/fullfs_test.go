package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/report"
)

// A full disk, on either side, in the index or in the tree: a barrier
// fails naming the error while the disk is full and nothing is lost; once
// space is freed the cluster converges by itself, with no restart, and
// the barrier passes.

// enospc is how the kernel's ENOSPC reads in messages.
var enospc = unix.ENOSPC.Error()

// mountTmpfs mounts a tmpfs of size bytes at dir for the rest of the test.
// It skips the test when it cannot (not root).
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("mounting a small tmpfs needs root (euid %d)", os.Geteuid())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs at %s: %v", dir, err)
	}
	// Detached, since a daemon may still hold files on it: the cluster's
	// own cleanup, which kills the daemons, runs after this one.
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// fillUp writes the file at path until its file system has no room left.
// Removing the file frees the space.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for size := len(buf); size >= 4096; size /= 4 {
		for {
			if _, err := f.Write(buf[:size]); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

// writeRandomFiles writes n files of size random bytes under dir/prefix
// and returns their paths relative to dir.
func writeRandomFiles(t *testing.T, dir, prefix string, n, size int) []string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, prefix), 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	var out []string
	for i := range n {
		rand.Read(buf)
		rel := fmt.Sprintf("%s/f%04d.bin", prefix, i)
		if err := os.WriteFile(filepath.Join(dir, rel), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, rel)
	}
	return out
}

// fullDisk is one full-disk case: where the small file system is mounted,
// where the file that fills it goes, and how the failure shows.
type fullDisk struct {
	mount  func(c *cluster) string // the directory mounted as a small tmpfs
	filler func(c *cluster) string // the file that fills it
	size   int64                   // of the tmpfs
	// failing reports whether the failure is visible yet, from the
	// statuses of the primary and the secondary, and says what it saw.
	failing func(p, s report.Node) (bool, string)
	// consistent: pause, snapshot and verify must fail too while it lasts
	// (the primary cannot tell what changed).
	consistent bool
}

// run sets the cluster up, fills the file system, writes on the primary
// until the failure shows, then checks that a barrier fails naming the
// error, that nothing is lost once space is freed, and that the barrier
// then passes.
func (fd fullDisk) run(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	mountTmpfs(t, fd.mount(c), fd.size)
	root := c.tree(primaryName, "data")
	writeRandomFiles(t, root, "before", 20, 8<<10)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	filler := fd.filler(c)
	fillUp(t, filler)
	var why string
	failing := func() bool {
		p, perr := c.status(primaryName)
		s, serr := c.status("nfs2")
		if err := errors.Join(perr, serr); err != nil {
			why = err.Error()
			return false
		}
		var ok bool
		ok, why = fd.failing(p, s)
		return ok
	}
	written := 0
	for round := 0; !failing(); round++ {
		if round == 20 {
			t.Fatalf("%d files written on a full disk and no failure shows: %s", written, why)
		}
		written += len(writeRandomFiles(t, root, fmt.Sprintf("during%02d", round), 100, 8<<10))
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("failing after %d files: %s", written, why)

	// The barrier must not pass: the secondary lacks changes made before it.
	out, errOut, code, _ := c.barrierCLI(ctx, primaryName, "--timeout", "3s")
	if code == 0 || !strings.Contains(errOut, enospc) || !strings.Contains(errOut, "data") {
		t.Fatalf("barrier on a full disk: exit %d, want non-zero with an error naming folder data and %q\nstdout: %s\nstderr: %s",
			code, enospc, out, errOut)
	}
	t.Logf("barrier on a full disk: exit %d: %s", code, strings.TrimSpace(errOut))
	if fd.consistent {
		sock := c.node(primaryName).socket
		for _, args := range [][]string{
			{"pause", "--socket", sock, "--peer", "nfs2", "--ttl", "1m"},
			{"snapshot", "--socket", sock, "--peer", "nfs2", "--", "true"},
			{"verify", "--socket", sock},
		} {
			out, errOut, code, err := cli(ctx, args...)
			if err != nil || code == 0 || !strings.Contains(out+errOut, enospc) || !strings.Contains(out+errOut, "folder data") {
				t.Errorf("%s on a full disk: exit %d (%v), want non-zero naming folder data and %q\nstdout: %s\nstderr: %s",
					args[0], code, err, enospc, out, errOut)
			}
		}
		if got := pausedOf(c); len(got) != 0 {
			t.Errorf("pause and snapshot failed, but status shows pauses %v", got)
		}
	}
	text := c.mustCLI("status", "--socket", c.node(primaryName).socket)
	if s := c.mustCLI("status", "--socket", c.node("nfs2").socket); !strings.Contains(text+s, enospc) {
		t.Errorf("status of neither node names %q while the disk is full:\n%s\n%s", enospc, text, s)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	c.waitConsistent(ctx, "nfs2")
	t.Logf("converged %s after space was freed", time.Since(freed).Round(time.Millisecond))
	out, errOut, code, _ = c.barrierCLI(ctx, primaryName, "--timeout", "30s")
	if code != 0 {
		t.Fatalf("barrier after space was freed: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	p, s := c.mustStatus(primaryName), c.mustStatus("nfs2")
	if ok, what := fd.failing(p, s); ok {
		t.Errorf("after recovery the failure still shows: %s", what)
	}
	for _, f := range s.Folders {
		if f.LocalChanges > 0 {
			t.Errorf("folder %s: %d files that ncsync wrote itself were taken for local changes", f.ID, f.LocalChanges)
		}
	}
}

// TestFullDiskPrimaryStateDir: the primary's index cannot grow, so its
// scans fail. The changes stay pending: a barrier fails naming the folder
// and the error (and so do pause, snapshot and verify), status shows the
// scan error, and once space is freed the changes are journaled and
// replicated by themselves.
func TestFullDiskPrimaryStateDir(t *testing.T) {
	t.Parallel()
	fullDisk{
		mount:      func(c *cluster) string { return c.node(primaryName).stateDir },
		filler:     func(c *cluster) string { return filepath.Join(c.node(primaryName).stateDir, "filler") },
		size:       16 << 20,
		consistent: true,
		failing: func(p, _ report.Node) (bool, string) {
			for _, f := range p.Folders {
				if f.ScanError != nil && strings.Contains(f.ScanError.Error, enospc) {
					return true, fmt.Sprintf("folder %s: scan error: %+v", f.ID, *f.ScanError)
				}
			}
			return false, "the primary shows no scan error"
		},
	}.run(t)
}

// TestFullDiskSecondaryTree: the secondary's folder is full (its
// Nextcloud log grew), so it cannot apply.
func TestFullDiskSecondaryTree(t *testing.T) {
	t.Parallel()
	fullDisk{
		mount: func(c *cluster) string { return c.tree("nfs2", "data") },
		// Ignored by ncsync and by the tree comparison.
		filler:  func(c *cluster) string { return filepath.Join(c.tree("nfs2", "data"), "nextcloud.log") },
		size:    16 << 20,
		failing: secondaryFailing,
	}.run(t)
}

// TestFullDiskSecondaryStateDir: the secondary can write the files but
// cannot record them in its index.
func TestFullDiskSecondaryStateDir(t *testing.T) {
	t.Parallel()
	fullDisk{
		mount:   func(c *cluster) string { return c.node("nfs2").stateDir },
		filler:  func(c *cluster) string { return filepath.Join(c.node("nfs2").stateDir, "filler") },
		size:    16 << 20,
		failing: secondaryFailing,
	}.run(t)
}

// secondaryFailing: the secondary shows its apply error in its own status,
// and the primary shows it for the peer.
func secondaryFailing(p, s report.Node) (bool, string) {
	var own string
	for _, f := range s.Folders {
		if strings.Contains(f.LastError, enospc) {
			own = f.LastError
		}
	}
	if own == "" {
		return false, "the secondary shows no apply error"
	}
	for _, pe := range p.Peers {
		for _, pf := range pe.Folders {
			if pe.Node == "nfs2" && strings.Contains(pf.ApplyError, enospc) {
				return true, fmt.Sprintf("secondary: %s; primary: peer nfs2 cannot apply folder %s: %s", own, pf.Folder, pf.ApplyError)
			}
		}
	}
	return false, "the secondary shows " + own + " but the primary does not"
}
