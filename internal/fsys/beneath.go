package fsys

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Confinement. Every path ncsync opens inside a folder is resolved beneath
// the folder's root fd without following any symlink, so that a directory
// swapped for a symlink by a local user can never lead outside the tree.
// openat2 (Linux ≥ 5.6) does that in one call; where it is missing (older
// kernels such as RHEL 8's 4.18, or a seccomp filter answering ENOSYS or
// EPERM) the same rules hold through a walk, one component at a time, each
// opened with O_NOFOLLOW|O_DIRECTORY. Both give the same errors: ELOOP for a
// symlink on the way, ENOTDIR for a non-directory, EXDEV for "..".

// NoOpenat2Env names the environment switch that makes ncsync use the
// component walk even where the kernel has openat2: a diagnostic and test
// switch (CI runs the confinement tests a second time with it), never
// needed in production. Its value must be "1".
const NoOpenat2Env = "NCSYNC_NO_OPENAT2"

// Resolve is what openat2 must refuse: any symlink (magic links too) and
// any step out of the starting directory.
const Resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

var (
	probeOnce sync.Once
	openat2OK atomic.Bool
)

// HasOpenat2 reports whether confined opens use openat2. The kernel is
// probed once per process (a seccomp filter answers ENOSYS or EPERM);
// NoOpenat2Env=1 turns it off, and so does an ENOSYS seen later.
func HasOpenat2() bool {
	probeOnce.Do(probe)
	return openat2OK.Load()
}

func probe() {
	if os.Getenv(NoOpenat2Env) == "1" {
		return
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: Resolve})
	if err == nil {
		_ = unix.Close(fd)
		openat2OK.Store(true)
	}
}

// UseOpenat2 turns openat2 on or off for the whole process and returns the
// previous setting. Tests use it to run the component walk on a kernel that
// has openat2; turning it on where the kernel lacks it only costs one
// failed call before the walk.
func UseOpenat2(on bool) (was bool) {
	was = HasOpenat2()
	openat2OK.Store(on)
	return was
}

// openat2Retries bounds the retries of openat2's EAGAIN (a rename anywhere
// on the system raced the lookup) before the walk is used instead.
const openat2Retries = 8

// OpenBeneath opens rel, a relative slash-separated path (not ""), beneath
// the directory dirfd with flags (O_NOFOLLOW and O_CLOEXEC are added):
// never through a symlink, never out of dirfd. A symlink on the way or at
// rel fails with ELOOP (ENOTDIR when flags has O_DIRECTORY, as the kernel
// says it), a non-directory on the way with ENOTDIR, a ".." with EXDEV.
func OpenBeneath(dirfd int, rel string, flags int) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if HasOpenat2() {
		how := unix.OpenHow{Flags: uint64(flags), Resolve: Resolve}
		for range openat2Retries {
			fd, err := RetryEINTR(func() (int, error) { return unix.Openat2(dirfd, rel, &how) })
			switch {
			case errors.Is(err, unix.EAGAIN):
				continue
			case errors.Is(err, unix.ENOSYS): // filtered after the probe
				openat2OK.Store(false)
			default:
				return fd, err
			}
			break
		}
	}
	return walk(dirfd, rel, flags)
}

// walk is OpenBeneath without openat2: each directory on the way is opened
// with O_NOFOLLOW|O_DIRECTORY from the one before, so it holds two fds at
// most.
func walk(dirfd int, rel string, flags int) (int, error) {
	if rel == "" {
		return -1, unix.ENOENT
	}
	cur := dirfd
	for {
		name, rest, more := strings.Cut(rel, "/")
		if name == ".." {
			closeUnless(cur, dirfd)
			return -1, unix.EXDEV
		}
		f := flags
		if more {
			f = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		fd, err := RetryEINTR(func() (int, error) { return unix.Openat(cur, name, f, 0) })
		if more && errors.Is(err, unix.ENOTDIR) && isSymlink(cur, name) {
			err = unix.ELOOP // O_DIRECTORY answers first; say it as openat2 does
		}
		closeUnless(cur, dirfd)
		if err != nil || !more {
			return fd, err
		}
		cur, rel = fd, rest
	}
}

func isSymlink(dirfd int, name string) bool {
	var st unix.Stat_t
	return LstatAt(dirfd, name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

func closeUnless(fd, keep int) {
	if fd != keep {
		_ = unix.Close(fd)
	}
}

// OpenDirBeneath opens the directory rel beneath dirfd for reading; "" is
// dirfd itself, returned as is (the caller must not close it twice).
func OpenDirBeneath(dirfd int, rel string) (int, error) {
	if rel == "" {
		return dirfd, nil
	}
	return OpenBeneath(dirfd, rel, unix.O_RDONLY|unix.O_DIRECTORY)
}
