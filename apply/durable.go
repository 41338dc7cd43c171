package apply

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// syncfsHonoured lists the file systems (statfs f_type) whose syncfs(2)
// writes back and commits every file's data and every directory change on
// that file system, as a per-file fsync would. Everywhere else syncfs may
// return success having made nothing durable: on FUSE (GlusterFS native
// mounts, s3fs, sshfs) the kernel flushes its own page cache but never asks
// the server to sync, and NFS has no such call at all. A folder there is
// made durable with an fsync of each file and each directory.
var syncfsHonoured = map[int64]string{
	unix.EXT4_SUPER_MAGIC:  "ext4", // also ext2 and ext3
	unix.XFS_SUPER_MAGIC:   "xfs",
	unix.BTRFS_SUPER_MAGIC: "btrfs",
	unix.TMPFS_MAGIC:       "tmpfs", // nothing to write back: both calls are no-ops
}

// fsSync is how a folder's file system may be made durable.
type fsSync struct {
	syncfs bool   // syncfs(2) on the root reaches the storage
	fsType string // for the logs: a name, or the magic number in hex
}

// probeSync reads the f_type of the file system holding fd.
func probeSync(fd int) (fsSync, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fsSync{}, fmt.Errorf("statfs: %w", err)
	}
	return syncFor(int64(st.Type)), nil
}

// syncFor maps a statfs f_type to how that file system is made durable.
func syncFor(magic int64) fsSync {
	if name, ok := syncfsHonoured[magic]; ok {
		return fsSync{syncfs: true, fsType: name}
	}
	name := fmt.Sprintf("%#x", magic)
	switch magic {
	case unix.FUSE_SUPER_MAGIC:
		name = "fuse"
	case unix.NFS_SUPER_MAGIC:
		name = "nfs"
	}
	return fsSync{fsType: name}
}
