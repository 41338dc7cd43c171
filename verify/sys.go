package verify

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// retryEINTR repeats a system call interrupted by a signal.
func retryEINTR[T any](call func() (T, error)) (T, error) {
	for {
		v, err := call()
		if !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
}

func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	_, err := retryEINTR(func() (struct{}, error) {
		return struct{}{}, unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
	})
	return err
}

func fstat(fd int, st *unix.Stat_t) error {
	_, err := retryEINTR(func() (struct{}, error) { return struct{}{}, unix.Fstat(fd, st) })
	return err
}

// openDir opens name in dirfd as a directory, refusing a symlink.
func openDir(dirfd int, name string) (int, error) {
	return retryEINTR(func() (int, error) {
		return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
}

// openFile opens name in dirfd for reading, refusing a symlink; O_NONBLOCK
// keeps a fifo swapped in for the file from blocking the open.
func openFile(dirfd int, name string) (int, error) {
	return retryEINTR(func() (int, error) {
		return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	})
}

// readNames lists a directory's names ("." and ".." excluded), using buf
// for getdents.
func readNames(fd int, buf []byte) ([]string, error) {
	var names []string
	for {
		n, err := retryEINTR(func() (int, error) { return unix.Getdents(fd, buf) })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// readlinkAt reads the target of the symlink name in dirfd, growing buf
// (returned for reuse) until the target fits.
func readlinkAt(dirfd int, name string, buf []byte) (string, []byte, error) {
	for {
		n, err := retryEINTR(func() (int, error) { return unix.Readlinkat(dirfd, name, buf) })
		if err != nil {
			return "", buf, err
		}
		if n < len(buf) {
			return string(buf[:n]), buf, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// fdReader reads a file descriptor for the chunker.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	n, err := retryEINTR(func() (int, error) { return unix.Read(int(r), p) })
	switch {
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// kindOf maps st_mode to an entry kind; special files are 0.
func kindOf(mode uint32) index.Kind {
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

// entryOf fills an entry's metadata from its stat, the way the scanner
// does: permission bits with setuid, setgid and sticky; size for files
// only.
func entryOf(p string, kind index.Kind, st *unix.Stat_t) Entry {
	e := Entry{Path: p, Kind: kind, Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, MtimeNs: st.Mtim.Nano()}
	if kind == index.KindFile {
		e.Size = st.Size
	}
	return e
}

// settled reports whether a file's stat did not move while it was read.
func settled(before, after *unix.Stat_t) bool {
	return before.Dev == after.Dev && before.Ino == after.Ino && before.Size == after.Size &&
		before.Mtim == after.Mtim && before.Ctim == after.Ctim
}
