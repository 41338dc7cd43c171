package apply

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// reflinkFS mounts a fresh file system of type fs (xfs or btrfs, which
// clone files with FICLONE) on a loop device and returns its mount point,
// or skips the test with the reason it cannot.
func reflinkFS(t *testing.T, fs string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop device needs root")
	}
	mkfs, err := exec.LookPath("mkfs." + fs)
	if err != nil {
		t.Skipf("no mkfs.%s to make a file system that clones", fs)
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(img)
	if err == nil {
		err = fh.Truncate(512 << 20)
		fh.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", img}
	if fs == "xfs" {
		args = []string{"-q", "-m", "reflink=1", img}
	}
	if out, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
		t.Skipf("mkfs.%s: %v: %s", fs, err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop device: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	return mnt
}

// usedBytes is what the file system at p has allocated.
func usedBytes(t *testing.T, p string) int64 {
	t.Helper()
	unix.Sync()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// On a file system that clones (XFS, btrfs), an edit that shifted nothing
// clones the previous version and writes only the changed chunks: the new
// version shares the old one's blocks. Edits that shift chunks copy them
// with copy_file_range. Every result is the new version.
func TestPriorClone(t *testing.T) {
	const size = 8 << 20
	old := content(1, size)
	for _, fs := range []string{"xfs", "btrfs"} {
		t.Run(fs, func(t *testing.T) {
			mnt := reflinkFS(t, fs)
			for _, tc := range edits {
				t.Run(tc.name, func(t *testing.T) {
					root := filepath.Join(mnt, tc.name)
					if err := os.Mkdir(root, 0o755); err != nil {
						t.Fatal(err)
					}
					f, err := Open(root, Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					src := newPriorSource()
					e1 := fileEntry(t, src.memSource, "big", old, 0o644)
					if r := applyPrior(t, f, src, index.Stat{}, e1); r.Err != nil {
						t.Fatal(r.Err)
					}
					// A second name holds the previous version's blocks.
					if err := os.Link(filepath.Join(root, "big"), filepath.Join(root, "v1")); err != nil {
						t.Fatal(err)
					}
					st, _, err := f.Stat("big")
					if err != nil {
						t.Fatal(err)
					}
					src.stat["big"] = st
					src.read = 0
					before := usedBytes(t, mnt)
					want := tc.edit(old)
					e2 := fileEntry(t, src.memSource, "big", want, 0o644)
					if r := applyPrior(t, f, src, st, e2); r.Err != nil {
						t.Fatal(r.Err)
					}
					if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, want) {
						t.Fatalf("content differs: %d bytes, want %d", len(got), len(want))
					}
					grew := usedBytes(t, mnt) - before
					inPlace := tc.name != "insert-front"
					if inPlace && grew > size/4 {
						t.Errorf("the new version took %d more bytes: not cloned", grew)
					}
					t.Logf("%s: %d bytes more on the file system, %d chunks copied, %d read", tc.name, grew, src.skipped, src.read)
				})
			}
		})
	}
}
