// Package fsys owns the file-system rules every package working in a folder
// tree shares: confined opens beneath a root that never follow a symlink
// (openat2, or a component walk where it is missing; beneath.go), the stat
// fingerprint and kind of an object, and the small system-call helpers
// (EINTR retries, *at calls, getdents listing, a descriptor reader), so
// that no package keeps its own copy.
package fsys

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// RetryEINTR repeats a system call interrupted by a signal.
func RetryEINTR[T any](call func() (T, error)) (T, error) {
	for {
		v, err := call()
		if !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
}

// LstatAt stats name in dirfd without following a symlink.
func LstatAt(dirfd int, name string, st *unix.Stat_t) error {
	_, err := RetryEINTR(func() (struct{}, error) {
		return struct{}{}, unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
	})
	return err
}

// Fstat stats an open descriptor.
func Fstat(fd int, st *unix.Stat_t) error {
	_, err := RetryEINTR(func() (struct{}, error) { return struct{}{}, unix.Fstat(fd, st) })
	return err
}

// OpenDir opens name in dirfd as a directory, refusing a symlink.
func OpenDir(dirfd int, name string) (int, error) {
	return RetryEINTR(func() (int, error) {
		return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
}

// OpenFile opens name in dirfd for reading, refusing a symlink; O_NONBLOCK
// keeps a fifo swapped in for the file from blocking the open.
func OpenFile(dirfd int, name string) (int, error) {
	return RetryEINTR(func() (int, error) {
		return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	})
}

// ReadNames appends a directory's names ("." and ".." excluded) to names,
// using buf for getdents.
func ReadNames(fd int, buf []byte, names []string) ([]string, error) {
	for {
		n, err := RetryEINTR(func() (int, error) { return unix.Getdents(fd, buf) })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// ReadlinkAt reads the target of the symlink name in dirfd, growing buf
// (returned for reuse) until the target fits.
func ReadlinkAt(dirfd int, name string, buf []byte) (string, []byte, error) {
	for {
		n, err := RetryEINTR(func() (int, error) { return unix.Readlinkat(dirfd, name, buf) })
		if err != nil {
			return "", buf, err
		}
		if n < len(buf) {
			return string(buf[:n]), buf, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// FDReader reads a file descriptor as an io.Reader (io.EOF at the end).
type FDReader int

func (r FDReader) Read(p []byte) (int, error) {
	n, err := RetryEINTR(func() (int, error) { return unix.Read(int(r), p) })
	switch {
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}
