package fsys

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// Errors of the tree readers (scanner, verify) when a file is read.
var (
	// ErrGone: the path no longer names a regular file beneath the root.
	ErrGone = errors.New("no longer a regular file")
	// ErrUnsettled: the file's stat moved while it was read.
	ErrUnsettled = errors.New("changed while being read")
)

// StatOf is what the index remembers of an object's stat: the fingerprint
// that tells whether it changed since.
func StatOf(st *unix.Stat_t) index.Stat {
	return index.Stat{
		Dev:     st.Dev,
		Ino:     st.Ino,
		Size:    st.Size,
		MtimeNs: st.Mtim.Nano(),
		CtimeNs: st.Ctim.Nano(),
	}
}

// KindOf maps st_mode to an entry kind; special files (fifos, sockets,
// devices) are 0 (TypeName says which).
func KindOf(mode uint32) index.Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return index.KindFile
	case unix.S_IFDIR:
		return index.KindDir
	case unix.S_IFLNK:
		return index.KindSymlink
	}
	return 0
}

// TypeName names the file type of st_mode, for messages about objects
// that cannot be replicated.
func TypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "unknown file type"
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
