package scanner

import (
	"errors"
	"io"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// noOpenat2 is set once openat2 turns out to be unavailable (kernel before
// 5.6, or a seccomp filter answering ENOSYS).
var noOpenat2 atomic.Bool

// openFile opens the file at rel beneath root for reading without
// following any symlink on the way, so a directory swapped for a symlink
// while the scan runs cannot make it read outside the tree. O_NONBLOCK
// keeps a fifo swapped in for the file from blocking the open.
func openFile(root int, rel string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
		for try := 0; ; try++ {
			fd, err := fsys.RetryEINTR(func() (int, error) { return unix.Openat2(root, rel, &how) })
			if errors.Is(err, unix.EAGAIN) && try < 10 { // a concurrent rename raced the lookup
				continue
			}
			if !errors.Is(err, unix.ENOSYS) {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	// Fallback: intermediate symlinks are followed, but the final one is not
	// and the caller checks what it opened with fstat.
	return fsys.RetryEINTR(func() (int, error) { return unix.Openat(root, rel, flags, 0) })
}

// readNames lists a directory's names ("." and ".." excluded) into names,
// using buf for getdents. It reads from offset 0 whatever was read before.
func readNames(fd int, buf []byte, names []string) ([]string, error) {
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return names, err
	}
	return fsys.ReadNames(fd, buf, names)
}

// kindOf maps st_mode to an entry kind, or gives the reason the object
// cannot be replicated.
func kindOf(mode uint32) (index.Kind, string) {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return index.KindFile, ""
	case unix.S_IFDIR:
		return index.KindDir, ""
	case unix.S_IFLNK:
		return index.KindSymlink, ""
	case unix.S_IFIFO:
		return 0, "fifo"
	case unix.S_IFSOCK:
		return 0, "socket"
	case unix.S_IFCHR:
		return 0, "character device"
	case unix.S_IFBLK:
		return 0, "block device"
	}
	return 0, "unknown file type"
}

// fingerprint is what the index remembers of a path's stat.
func fingerprint(st *unix.Stat_t) index.Stat {
	return index.Stat{
		Dev:     uint64(st.Dev),
		Ino:     uint64(st.Ino),
		Size:    st.Size,
		MtimeNs: st.Mtim.Nano(),
		CtimeNs: st.Ctim.Nano(),
	}
}

// entryOf fills the replicated metadata of a path from its stat. Mode keeps
// the permission bits with setuid, setgid and sticky exactly as the kernel
// has them (st_mode & 07777). Size is the file size for files and 0 for
// directories and symlinks, whose st_size depends on the file system.
func entryOf(p string, kind index.Kind, st *unix.Stat_t) index.Entry {
	e := index.Entry{
		Path:    p,
		Kind:    kind,
		Mode:    st.Mode & 0o7777,
		UID:     st.Uid,
		GID:     st.Gid,
		MtimeNs: st.Mtim.Nano(),
		Stat:    fingerprint(st),
	}
	if kind == index.KindFile {
		e.Size = st.Size
	}
	return e
}
