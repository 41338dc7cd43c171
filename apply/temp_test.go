package apply

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// checkTempDir checks that dir holds the private directory, the daemon's
// own with mode 0700, and nothing in it.
func checkTempDir(t *testing.T, dir string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, tempDirName), &st); err != nil {
		t.Fatalf("private directory: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o777 != 0o700 || int(st.Uid) != os.Geteuid() {
		t.Errorf("private directory: mode %#o uid %d, want a directory 0700 of uid %d", st.Mode, st.Uid, os.Geteuid())
	}
	ents, err := os.ReadDir(filepath.Join(dir, tempDirName))
	if err != nil || len(ents) != 0 {
		t.Errorf("private directory holds %v (%v), want nothing", ents, err)
	}
}

// TestTempObjectsArePrivate: files, symlinks and directories are built in
// the private directory and leave nothing there.
func TestTempObjectsArePrivate(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	mustApply(t, f, src, nil, dirEntry("d", 0o755), fileEntry(t, src, "d/f", content(1, 100), 0o644),
		symlinkEntry("d/l", "f"), fileEntry(t, src, "new/parent/g", content(2, 10), 0o600))
	checkTempDir(t, root)
	noTemps(t, root)
}

// TestTempDirNotOursIsReplaced: a private directory that another user made
// (or anything else at its name) is replaced when the folder is opened.
func TestTempDirNotOursIsReplaced(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a directory of another uid")
	}
	for name, plant := range map[string]func(p string) error{
		"other uid": func(p string) error {
			if err := os.Mkdir(p, 0o777); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(p, "x"), nil, 0o666); err != nil {
				return err
			}
			return os.Chown(p, 12345, 12345)
		},
		"wide mode": func(p string) error { return os.Mkdir(p, 0o755) },
		"symlink":   func(p string) error { return os.Symlink("/tmp", p) },
		"file":      func(p string) error { return os.WriteFile(p, nil, 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := plant(filepath.Join(root, tempDirName)); err != nil {
				t.Fatal(err)
			}
			f, err := Open(root, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkTempDir(t, root)
		})
	}
}

// TestTempDirSweep: what a crash left in the private directory is removed
// when the folder is opened again, and the root keeps its mtime (the
// primary's) when the private directory is made or emptied.
func TestTempDirSweep(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := os.Chtimes(root, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	checkMtime := func() {
		t.Helper()
		if fi, err := os.Stat(root); err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("root mtime %v (%v), want %v", fi.ModTime(), err, mtime)
		}
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkMtime()
	f.Close()
	for _, p := range []string{tempPrefix + "file", tempPrefix + "dir/x"} {
		p = filepath.Join(root, tempDirName, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err = Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkTempDir(t, root)
	checkMtime()
}

// TestTempDirOnNestedMount: a file system mounted beneath the root gets a
// private directory of its own, since rename cannot cross mounts.
func TestTempDirOnNestedMount(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	mnt := filepath.Join(root, "m")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("none", mnt, "tmpfs", 0, "mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	src := newSource()
	mustApply(t, f, src, nil, fileEntry(t, src, "m/f", content(1, 100), 0o644),
		symlinkEntry("m/l", "f"), dirEntry("m/d", 0o755), fileEntry(t, src, "m/d/g", content(2, 10), 0o644))
	checkTempDir(t, mnt)
	if b := readFile(t, filepath.Join(mnt, "d/g")); string(b) != string(content(2, 10)) {
		t.Error("m/d/g has the wrong content")
	}
}
