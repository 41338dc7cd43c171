package integration

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWatchOperations makes each kind of change on a running primary, one
// at a time, and requires the secondary's tree to equal the primary's
// after each (content, type, mode, owner, mtime to the nanosecond of
// files and directories). scan_interval and audit_interval are an hour, so
// only the watcher can have reported the change. Some steps also write
// into a directory right after it was renamed, moved in or recreated, to
// check that its watch follows it.
func TestWatchOperations(t *testing.T) {
	skipShort(t)
	t.Parallel()
	w := newWatchCluster(t, watchConfig{})
	root := w.root()
	out := w.scratch() // same file system, outside the tree
	p := func(rel string) string { return filepath.Join(root, rel) }
	o := func(rel string) string { return filepath.Join(out, rel) }

	writeFile(t, p("mod.bin"), randBytes(1, 64*kiB), 0o644)
	writeFile(t, p("logs/app.txt"), []byte("line 1\n"), 0o644)
	writeFile(t, p("trunc.bin"), randBytes(2, 200*kiB), 0o644)
	writeFile(t, p("zero.bin"), randBytes(3, 5000), 0o644)
	writeFile(t, p("perm/file.txt"), []byte("chmod me"), 0o644)
	writeFile(t, p("ren/a.txt"), []byte("rename me"), 0o644)
	writeFile(t, p("ren/over.txt"), []byte("to be replaced"), 0o644)
	writeFile(t, p("tree/x/y/z.txt"), []byte("in a directory that moves"), 0o644)
	writeFile(t, p("leave/file.txt"), []byte("moves out"), 0o644)
	writeFile(t, p("leave/dir/sub/f.txt"), []byte("moves out with its directory"), 0o644)
	writeFile(t, p("del/one.txt"), []byte("delete me"), 0o644)
	writeFile(t, p("del/tree/a/b.txt"), []byte("delete my directory"), 0o644)
	writeFile(t, p("swap/d/inner.txt"), []byte("the directory becomes a file"), 0o644)
	writeFile(t, p("swap/f"), []byte("the file becomes a directory"), 0o644)
	setTimes(t, root)

	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)

	steps := []struct {
		name string
		do   func()
	}{
		{"create a file in a new directory", func() {
			writeFile(t, p("new/created.txt"), []byte("created"), 0o640)
		}},
		{"create a file at the top", func() {
			writeFile(t, p("top.txt"), randBytes(4, 3000), 0o644)
		}},
		{"create an empty directory", func() {
			mustOK(t, os.Mkdir(p("new/empty"), 0o711))
		}},
		{"create a symlink", func() {
			mustOK(t, os.Symlink("../mod.bin", p("new/link")))
		}},
		{"modify in place", func() {
			f, err := os.OpenFile(p("mod.bin"), os.O_WRONLY, 0)
			mustOK(t, err)
			_, err = f.WriteAt(randBytes(5, 1000), 30000)
			mustOK(t, err)
			mustOK(t, f.Close())
		}},
		{"append", func() {
			f, err := os.OpenFile(p("logs/app.txt"), os.O_WRONLY|os.O_APPEND, 0)
			mustOK(t, err)
			_, err = f.WriteString("line 2\n")
			mustOK(t, err)
			mustOK(t, f.Close())
		}},
		{"truncate shorter", func() { mustOK(t, os.Truncate(p("trunc.bin"), 1000)) }},
		{"truncate longer (sparse)", func() { mustOK(t, os.Truncate(p("trunc.bin"), 300*kiB)) }},
		{"truncate to zero", func() { mustOK(t, os.Truncate(p("zero.bin"), 0)) }},
		{"chmod a file", func() { mustOK(t, os.Chmod(p("perm/file.txt"), 0o600)) }},
		{"chmod a directory", func() { mustOK(t, os.Chmod(p("perm"), 0o750)) }},
		{"chown a file", func() {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			mustOK(t, os.Lchown(p("perm/file.txt"), 33, 33))
		}},
		{"set a file's mtime", func() {
			ts := time.Date(2021, 2, 3, 4, 5, 6, 123456789, time.UTC)
			mustOK(t, os.Chtimes(p("perm/file.txt"), ts, ts))
		}},
		{"rename a file in its directory", func() { mustRename(t, p("ren/a.txt"), p("ren/b.txt")) }},
		{"rename a file to another directory", func() { mustRename(t, p("ren/b.txt"), p("new/b-moved.txt")) }},
		{"rename a file over another (atomic save)", func() {
			writeFile(t, p("ren/.over.txt.swp"), []byte("replaced content"), 0o644)
			mustRename(t, p("ren/.over.txt.swp"), p("ren/over.txt"))
		}},
		{"rename a directory in the tree", func() { mustRename(t, p("tree/x"), p("tree/x2")) }},
		{"write into the renamed directory", func() {
			writeFile(t, p("tree/x2/y/after-rename.txt"), []byte("its watch followed it"), 0o644)
		}},
		{"rename a directory to another parent", func() { mustRename(t, p("tree/x2"), p("new/deep/x3")) }},
		{"write into the directory moved twice", func() {
			writeFile(t, p("new/deep/x3/y/after-second-rename.txt"), []byte("still watched"), 0o644)
		}},
		{"move a file in from outside", func() {
			writeFile(t, o("in.txt"), randBytes(6, 7000), 0o644)
			mustRename(t, o("in.txt"), p("new/in.txt"))
		}},
		{"move a directory tree in from outside", func() {
			writeFile(t, o("indir/a/b/c/deep.txt"), []byte("deep"), 0o644)
			writeFile(t, o("indir/top.txt"), []byte("top"), 0o600)
			mustOK(t, os.Mkdir(o("indir/a/empty"), 0o755))
			setTimes(t, o("indir"))
			mustRename(t, o("indir"), p("indir"))
		}},
		{"write into the moved-in tree", func() {
			writeFile(t, p("indir/a/b/c/later.txt"), []byte("the moved-in tree is watched"), 0o644)
			writeFile(t, p("indir/a/empty/later.txt"), []byte("all of it"), 0o644)
		}},
		{"move a file out of the tree", func() { mustRename(t, p("leave/file.txt"), o("left.txt")) }},
		{"move a directory out of the tree", func() { mustRename(t, p("leave/dir"), o("left-dir")) }},
		{"write into the moved-out directory, recreate it in the tree", func() {
			writeFile(t, o("left-dir/sub/outside.txt"), []byte("not in the tree"), 0o644)
			writeFile(t, p("leave/dir/sub/again.txt"), []byte("a new directory of the same name"), 0o644)
		}},
		{"delete a file", func() { mustOK(t, os.Remove(p("del/one.txt"))) }},
		{"delete a directory tree", func() { mustOK(t, os.RemoveAll(p("del/tree"))) }},
		{"replace a directory by a file", func() {
			mustOK(t, os.RemoveAll(p("swap/d")))
			writeFile(t, p("swap/d"), []byte("now a file"), 0o644)
		}},
		{"replace a file by a directory", func() {
			mustOK(t, os.Remove(p("swap/f")))
			writeFile(t, p("swap/f/inside.txt"), []byte("now a directory"), 0o644)
		}},
		{"replace a file by a symlink", func() {
			mustOK(t, os.Remove(p("swap/d")))
			mustOK(t, os.Symlink("f/inside.txt", p("swap/d")))
		}},
	}
	var took []time.Duration
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			s.do()
			d := w.waitSame(watchStepTimeout, nil, nil)
			took = append(took, d)
			t.Logf("replicated after %s", d.Round(time.Millisecond))
		})
		if !ok {
			break // later steps build on this one
		}
	}
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	t.Logf("step latency (change made → secondary verified equal, polled every %s): median %s, max %s",
		pollEvery, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	// The moved-out file and directory are gone from the secondary, and
	// what was written into the moved-out directory never arrived.
	for _, rel := range []string{"leave/file.txt", "leave/dir/sub/f.txt", "leave/dir/sub/outside.txt"} {
		if _, err := os.Lstat(filepath.Join(w.sec(), rel)); !os.IsNotExist(err) {
			t.Errorf("secondary %q: want it absent, lstat says %v", rel, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(w.sec(), "swap/d"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("secondary swap/d: want a symlink, got mode %#o, %v", st.Mode, err)
	}
	if fs := w.folderStatus(); fs.AuditFindings != 0 || fs.Overflows != 0 || fs.Degraded != "" {
		t.Errorf("primary folder status %+v: want no audit findings, overflows or degradation", fs)
	}
}
