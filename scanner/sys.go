package scanner

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// readNames lists a directory's names ("." and ".." excluded) into names,
// using buf for getdents. It reads from offset 0 whatever was read before.
func readNames(fd int, buf []byte, names []string) ([]string, error) {
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return names, err
	}
	return fsys.ReadNames(fd, buf, names)
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
		Stat:    fsys.StatOf(st),
	}
	if kind == index.KindFile {
		e.Size = st.Size
	}
	return e
}
