package integration

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFolderRootMetadata: the mode and mtime of a folder's root directory
// are replicated like any other directory's, at the start and as they
// change (a chmod, a name created or removed at the top).
func TestFolderRootMetadata(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 10, 3)
	if err := os.Chmod(root, 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := os.Chtimes(root, old, old); err != nil {
		t.Fatal(err)
	}
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	secondary := c.tree("nfs2", "data")
	sameRoot := func(what string) {
		t.Helper()
		p, s := statDir(t, root), statDir(t, secondary)
		if p.Mode&0o7777 != s.Mode&0o7777 || p.Mtim != s.Mtim {
			t.Fatalf("%s: root of the secondary has mode %#o mtime %v, the primary's %#o %v", what,
				s.Mode&0o7777, time.Unix(s.Mtim.Unix()), p.Mode&0o7777, time.Unix(p.Mtim.Unix()))
		}
	}
	sameRoot("after the initial copy")
	if got := statDir(t, root); got.Mode&0o7777 != 0o750 || time.Unix(got.Mtim.Unix()).UTC() != old {
		t.Fatalf("the primary's root changed: mode %#o mtime %v", got.Mode&0o7777, time.Unix(got.Mtim.Unix()))
	}

	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	barrier := func() {
		t.Helper()
		if out, errOut, code, _ := c.barrierCLI(ctx, primaryName, "--timeout", "30s"); code != 0 {
			t.Fatalf("barrier: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	}
	barrier()
	sameRoot("after a chmod of the root")

	if err := os.WriteFile(filepath.Join(root, "new-at-top"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	barrier()
	sameRoot("after a name was created at the top")
	if err := os.Remove(filepath.Join(root, "new-at-top")); err != nil {
		t.Fatal(err)
	}
	barrier()
	sameRoot("after a name was removed at the top")
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
