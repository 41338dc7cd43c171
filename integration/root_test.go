package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFolderRootMetadata: the mode and mtime of a folder's root directory
// are replicated like any other directory's, at the start and as they
// change (a chmod, a touch, a name created or removed at the top), also
// while the secondary is stopped; barriers leave the primary's root as it
// was; and a chmod or touch of the secondary's root is repaired, while it
// runs and while it was stopped.
func TestFolderRootMetadata(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 10, 3)
	mustOK(t, os.Chmod(root, 0o750))
	old := time.Date(2020, 2, 3, 4, 5, 6, 7, time.UTC)
	mustOK(t, os.Chtimes(root, old, old))
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	secondary := c.tree("nfs2", "data")
	rootDiff := func() string {
		p, s := statDir(t, root), statDir(t, secondary)
		if p.Mode&0o7777 != s.Mode&0o7777 || p.Mtim != s.Mtim {
			return fmt.Sprintf("the secondary's root has mode %#o mtime %s, the primary's %#o %s",
				s.Mode&0o7777, showNs(s.Mtim.Nano()), p.Mode&0o7777, showNs(p.Mtim.Nano()))
		}
		return ""
	}
	sameRoot := func(what string) {
		t.Helper()
		if d := rootDiff(); d != "" {
			t.Fatalf("%s: %s", what, d)
		}
	}
	barrier := func() {
		t.Helper()
		if out, errOut, code, _ := c.barrierCLI(ctx, primaryName, "--timeout", "30s"); code != 0 {
			t.Fatalf("barrier: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	}
	barrier()
	sameRoot("after the initial copy")
	if got := statDir(t, root); got.Mode&0o7777 != 0o750 || got.Mtim.Nano() != old.UnixNano() {
		t.Fatalf("barriers changed the primary's root: mode %#o mtime %s", got.Mode&0o7777, showNs(got.Mtim.Nano()))
	}

	mustOK(t, os.Chmod(root, 0o711))
	barrier()
	sameRoot("after a chmod of the root")
	later := old.Add(time.Hour)
	mustOK(t, os.Chtimes(root, later, later))
	barrier()
	sameRoot("after a touch of the root")
	writeFile(t, filepath.Join(root, "new-at-top"), []byte("x"), 0o644)
	barrier()
	sameRoot("after a name was created at the top")
	mustOK(t, os.Remove(filepath.Join(root, "new-at-top")))
	barrier()
	sameRoot("after a name was removed at the top")

	// Changed by hand on the running secondary: put back.
	mustOK(t, os.Chmod(secondary, 0o777))
	mustOK(t, os.Chtimes(secondary, old, old))
	waitFor(t, 30*time.Second, rootDiff, func() bool { return rootDiff() == "" })

	// Changed on the primary while the secondary is stopped: replicated
	// when it is back.
	c.stop("nfs2")
	mustOK(t, os.Chmod(root, 0o755))
	mustOK(t, os.Chtimes(root, old, old))
	c.start("nfs2")
	barrier()
	sameRoot("after a change of the primary's root while the secondary was stopped")

	// Changed by hand while the secondary is stopped: put back by the
	// audit at its start.
	c.stop("nfs2")
	mustOK(t, os.Chmod(secondary, 0o700))
	mustOK(t, os.Chtimes(secondary, later, later))
	c.start("nfs2")
	waitFor(t, 30*time.Second, rootDiff, func() bool { return rootDiff() == "" })
	c.requireEqual("nfs2")
}

func statDir(t *testing.T, p string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}
