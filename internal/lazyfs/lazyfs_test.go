package lazyfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// mount mounts a lazy file system over a fresh backing directory. setup,
// if not nil, fills the backing directory first (all of it durable).
func mount(t *testing.T, setup func(dir string)) (*FS, string, string) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("lazyfs: %v", err)
	}
	backing, mnt := t.TempDir(), t.TempDir()
	if setup != nil {
		setup(backing)
	}
	f, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Unmount() })
	return f, backing, mnt
}

func cut(t *testing.T, f *FS) {
	t.Helper()
	if err := f.Cut(); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fsync fsyncs p (a file or a directory).
func fsync(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// want checks p's content after a cut; "" with gone means it must not exist.
func want(t *testing.T, p string, data string, gone bool) {
	t.Helper()
	got, err := os.ReadFile(p)
	switch {
	case gone && !errors.Is(err, os.ErrNotExist):
		t.Errorf("%s: exists after the cut (%q, %v)", filepath.Base(p), got, err)
	case gone:
	case err != nil:
		t.Errorf("%s: %v", filepath.Base(p), err)
	case string(got) != data:
		t.Errorf("%s: %q after the cut, want %q", filepath.Base(p), got, data)
	}
}

func durableFile(name, data string) func(string) {
	return func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			panic(err)
		}
	}
}

func TestWriteWithoutFsyncIsLost(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("a", "old"))
	write(t, filepath.Join(mnt, "a"), "new, never synced")
	if got, _ := os.ReadFile(filepath.Join(mnt, "a")); string(got) != "new, never synced" {
		t.Fatalf("the mount shows %q before the cut", got)
	}
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "old", false)
}

func TestFsyncedWriteSurvives(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("a", "old"))
	p := filepath.Join(mnt, "a")
	write(t, p, "synced")
	fsync(t, p)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(" and more, not synced")
	fh.Close()
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "synced", false)
}

func TestFdatasyncSurvives(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("a", "old"))
	fh, err := os.OpenFile(filepath.Join(mnt, "a"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("data")
	if err := unix.Fdatasync(int(fh.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := fh.Chmod(0o600); err != nil { // metadata: fdatasync does not cover it
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(fh.Fd())); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if s := f.Stats(); s.Fdatasync != 2 || s.Fsync != 0 {
		t.Errorf("stats %+v, want 2 fdatasyncs", s)
	}
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "data", false)
	if st, err := os.Stat(filepath.Join(backing, "a")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode after the cut: %v %v, want the synced 0644", st.Mode(), err)
	}
}

func TestCreateNeedsDirFsync(t *testing.T) {
	f, backing, mnt := mount(t, nil)
	for _, name := range []string{"synced-file-only", "synced-both", "synced-dir-only"} {
		write(t, filepath.Join(mnt, name), name)
	}
	fsync(t, filepath.Join(mnt, "synced-file-only"))
	fsync(t, filepath.Join(mnt, "synced-both"))
	fsync(t, mnt)
	write(t, filepath.Join(mnt, "after-dir-sync"), "x")
	fsync(t, filepath.Join(mnt, "after-dir-sync"))
	cut(t, f)
	want(t, filepath.Join(backing, "synced-file-only"), "synced-file-only", false)
	want(t, filepath.Join(backing, "synced-both"), "synced-both", false)
	// The name is durable, the data never was: an empty file.
	want(t, filepath.Join(backing, "synced-dir-only"), "", false)
	want(t, filepath.Join(backing, "after-dir-sync"), "", true)
}

func TestRenameNeedsDirFsync(t *testing.T) {
	f, backing, mnt := mount(t, func(dir string) {
		durableFile("a", "A")(dir)
		durableFile("b", "B")(dir)
	})
	if err := os.Rename(filepath.Join(mnt, "a"), filepath.Join(mnt, "a2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "b"), filepath.Join(mnt, "b2")); err != nil {
		t.Fatal(err)
	}
	fsync(t, filepath.Join(mnt, "a2")) // a file's fsync does not cover its name
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "A", false)
	want(t, filepath.Join(backing, "a2"), "", true)
	want(t, filepath.Join(backing, "b"), "B", false)
	want(t, filepath.Join(backing, "b2"), "", true)
}

func TestRenameOverTargetWithDirFsync(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("target", "old"))
	tmp := filepath.Join(mnt, ".tmp")
	write(t, tmp, "new")
	fsync(t, tmp)
	if err := os.Rename(tmp, filepath.Join(mnt, "target")); err != nil {
		t.Fatal(err)
	}
	fsync(t, mnt)
	cut(t, f)
	want(t, filepath.Join(backing, "target"), "new", false)
	want(t, filepath.Join(backing, ".tmp"), "", true)
}

// A rename across directories is one operation: an fsync of either
// directory makes all of it durable.
func TestRenameAcrossDirectories(t *testing.T) {
	for _, synced := range []string{"from", "to"} {
		t.Run(synced, func(t *testing.T) {
			f, backing, mnt := mount(t, func(dir string) {
				os.Mkdir(filepath.Join(dir, "from"), 0o755)
				os.Mkdir(filepath.Join(dir, "to"), 0o755)
				durableFile("from/x", "X")(dir)
			})
			if err := os.Rename(filepath.Join(mnt, "from/x"), filepath.Join(mnt, "to/y")); err != nil {
				t.Fatal(err)
			}
			fsync(t, filepath.Join(mnt, synced))
			cut(t, f)
			want(t, filepath.Join(backing, "from/x"), "", true)
			want(t, filepath.Join(backing, "to/y"), "X", false)
		})
	}
}

func TestUnlinkNeedsDirFsync(t *testing.T) {
	f, backing, mnt := mount(t, func(dir string) {
		durableFile("a", "A")(dir)
		durableFile("b", "B")(dir)
		os.Mkdir(filepath.Join(dir, "d"), 0o755)
		durableFile("d/c", "C")(dir)
	})
	if err := os.Remove(filepath.Join(mnt, "a")); err != nil {
		t.Fatal(err)
	}
	fsync(t, mnt)
	if err := os.Remove(filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "d/c")); err != nil {
		t.Fatal(err)
	}
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "", true)
	want(t, filepath.Join(backing, "b"), "B", false)
	want(t, filepath.Join(backing, "d/c"), "C", false)
}

// A new directory's entries are lost with it if its own name never became
// durable, whatever was synced inside it.
func TestNewDirectoryNeedsParentFsync(t *testing.T) {
	f, backing, mnt := mount(t, nil)
	for _, d := range []string{"kept", "lost"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(mnt, d, "f")
		write(t, p, d)
		fsync(t, p)
		fsync(t, filepath.Join(mnt, d))
		if d == "kept" {
			fsync(t, mnt)
		}
	}
	cut(t, f)
	want(t, filepath.Join(backing, "kept/f"), "kept", false)
	want(t, filepath.Join(backing, "lost"), "", true)
}

// syncfs on a FUSE mount never reaches the server: it makes nothing
// durable. This is why apply uses it only where the file system honours it.
func TestSyncfsMakesNothingDurable(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("a", "old"))
	write(t, filepath.Join(mnt, "a"), "new")
	write(t, filepath.Join(mnt, "b"), "new file")
	d, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		t.Fatal(err)
	}
	d.Close()
	unix.Sync()
	if s := f.Stats(); s != (Stats{}) {
		t.Errorf("syncfs and sync reached the server: %+v", s)
	}
	cut(t, f)
	want(t, filepath.Join(backing, "a"), "old", false)
	want(t, filepath.Join(backing, "b"), "", true)
}

// After a cut, the mount answers nothing: nothing done after the cut can
// become durable.
func TestNothingAfterTheCut(t *testing.T) {
	f, backing, mnt := mount(t, durableFile("a", "old"))
	fh, err := os.OpenFile(filepath.Join(mnt, "a"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cut(t, f) // detached: fh still holds the mount
	if _, err := fh.WriteAt([]byte("late"), 0); err == nil {
		if err := fh.Sync(); err == nil {
			t.Error("a write and fsync after the cut succeeded")
		}
	}
	want(t, filepath.Join(backing, "a"), "old", false)
}

// An orderly unmount keeps everything; metadata, symlinks, hard links and
// holes survive the trip through the backing directory.
func TestUnmountKeepsEverything(t *testing.T) {
	f, backing, mnt := mount(t, nil)
	os.Mkdir(filepath.Join(mnt, "d"), 0o750)
	write(t, filepath.Join(mnt, "d/f"), "F")
	os.Symlink("d/f", filepath.Join(mnt, "link"))
	os.Link(filepath.Join(mnt, "d/f"), filepath.Join(mnt, "hard"))
	sparse, err := os.Create(filepath.Join(mnt, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	sparse.WriteAt([]byte("end"), 3*pageSize+5)
	sparse.Close()
	if err := f.Unmount(); err != nil {
		t.Fatal(err)
	}
	want(t, filepath.Join(backing, "d/f"), "F", false)
	want(t, filepath.Join(backing, "hard"), "F", false)
	if got, err := os.Readlink(filepath.Join(backing, "link")); err != nil || got != "d/f" {
		t.Errorf("symlink: %q %v", got, err)
	}
	if st, err := os.Stat(filepath.Join(backing, "d")); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("directory mode: %v %v", st.Mode(), err)
	}
	got, _ := os.ReadFile(filepath.Join(backing, "sparse"))
	if exp := append(make([]byte, 3*pageSize+5), "end"...); !bytes.Equal(got, exp) {
		t.Errorf("sparse file: %d bytes, want %d", len(got), len(exp))
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(backing, "d/f"), &a)
	unix.Stat(filepath.Join(backing, "hard"), &b)
	if a.Ino != b.Ino {
		t.Error("the hard link is a copy")
	}

	// Mounted again: the same tree, durable from the start.
	f2, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	want(t, filepath.Join(mnt, "d/f"), "F", false)
	cut(t, f2)
	want(t, filepath.Join(backing, "d/f"), "F", false)
}

// A power loss keeps inode numbers and change times: programs record them
// to recognise their own writes.
func TestInodeAndCtimeSurviveCut(t *testing.T) {
	f, backing, mnt := mount(t, nil)
	p := filepath.Join(mnt, "a")
	write(t, p, "A")
	fsync(t, p)
	if err := os.Rename(p, filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	fsync(t, mnt)
	var before unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, "b"), &before); err != nil {
		t.Fatal(err)
	}
	cut(t, f)
	f2, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Unmount()
	var after unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, "b"), &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Ctim != before.Ctim {
		t.Errorf("after the cut: ino %d ctime %v, before: ino %d ctime %v", after.Ino, after.Ctim, before.Ino, before.Ctim)
	}
}
