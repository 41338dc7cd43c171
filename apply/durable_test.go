package apply

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/lazyfs"
)

// TestSyncFor: syncfs only where the file system honours it; FUSE, NFS
// and unknown file systems get an fsync per file and per directory.
func TestSyncFor(t *testing.T) {
	for _, tc := range []struct {
		magic  int64
		syncfs bool
		name   string
	}{
		{unix.EXT4_SUPER_MAGIC, true, "ext4"},
		{unix.XFS_SUPER_MAGIC, true, "xfs"},
		{unix.BTRFS_SUPER_MAGIC, true, "btrfs"},
		{unix.TMPFS_MAGIC, true, "tmpfs"},
		{unix.FUSE_SUPER_MAGIC, false, "fuse"},
		{unix.NFS_SUPER_MAGIC, false, "nfs"},
		{unix.OVERLAYFS_SUPER_MAGIC, false, "0x794c7630"},
	} {
		got := syncFor(tc.magic)
		if got.syncfs != tc.syncfs || got.fsType != tc.name {
			t.Errorf("syncFor(%#x) = %+v, want syncfs=%v fs=%s", tc.magic, got, tc.syncfs, tc.name)
		}
	}
}

// TestOpenKeepsSyncModeWhereHonoured: on the test's own file system (one
// of those that honour syncfs), Open keeps the mode asked for.
func TestOpenKeepsSyncModeWhereHonoured(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		t.Fatal(err)
	}
	fss, err := probeSync(fd)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !fss.syncfs {
		t.Skipf("the temp directory is on %s, which does not honour syncfs", fss.fsType)
	}
	for _, mode := range []SyncMode{SyncAuto, SyncFile, SyncFS} {
		f, _ := openTest(t, Options{Sync: mode}, false)
		if f.mode != mode {
			t.Errorf("Open on %s with %s: mode %s", fss.fsType, mode, f.mode)
		}
	}
}

// TestApplyDurableOnFUSE applies batches on a FUSE file system that keeps
// what was not made durable in memory, then cuts the power: every file
// Apply reported applied must be there, whole, with its metadata. Under
// SyncAuto and SyncFS a large group used to be synced with syncfs, which a
// FUSE server never receives: the files were lost.
func TestApplyDurableOnFUSE(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("lazyfs: %v", err)
	}
	for _, mode := range []SyncMode{SyncAuto, SyncFile, SyncFS} {
		t.Run(mode.String(), func(t *testing.T) {
			backing, mnt := t.TempDir(), t.TempDir()
			lfs, err := lazyfs.Mount(backing, mnt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = lfs.Unmount() })
			f, err := Open(mnt, Options{Sync: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.mode != SyncFile {
				t.Errorf("mode on FUSE: %s, want file", f.mode)
			}
			src := newSource()
			want := map[string][]byte{}
			var entries []index.Entry
			for i := range 3 * autoFSObjects { // large enough for syncfs under SyncAuto
				p := fmt.Sprintf("d%d/f%d", i%5, i)
				data := content(byte(i), 100+i*37)
				entries = append(entries, fileEntry(t, src, p, data, 0o640))
				want[p] = data
			}
			mustApply(t, f, src, nil, entries...)
			mustApply(t, f, src, nil, fileEntry(t, src, "single", content(9, 99), 0o600))
			want["single"] = content(9, 99)
			f.Close()
			if err := lfs.Cut(); err != nil {
				t.Fatal(err)
			}
			for p, data := range want {
				got, err := os.ReadFile(filepath.Join(backing, p))
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s after the cut: %d bytes, %v; want %d bytes", p, len(got), err, len(data))
					continue
				}
				checkMeta(t, filepath.Join(backing, p), map[bool]uint32{true: 0o600, false: 0o640}[p == "single"], mtime)
			}
		})
	}
}
