package apply

import (
	"testing"

	"golang.org/x/sys/unix"
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
