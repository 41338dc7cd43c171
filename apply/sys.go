package apply

import (
	"errors"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// Flags for opening a directory beneath the root: never through a symlink.
const (
	dirFlags     = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	tempAttempts = 16 // names tried before giving up on a temp file
)

// timespec converts nanoseconds since the epoch to a Timespec with
// 0 <= Nsec < 1e9, as utimensat requires (also before 1970).
func timespec(ns int64) unix.Timespec {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	return unix.Timespec{Sec: sec, Nsec: nsec}
}

// times is the utimensat argument that sets mtime and leaves atime alone.
func times(mtimeNs int64) [2]unix.Timespec {
	return [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, timespec(mtimeNs)}
}

// futimens sets fd's mtime: utimensat(fd, NULL, ts, 0), which is what libc's
// futimens does. x/sys has no wrapper (its Futimes goes through
// /proc/self/fd, and UtimesNanoAt passes "" rather than NULL).
func futimens(fd int, mtimeNs int64) error {
	ts := times(mtimeNs)
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// lutimens sets the mtime of name in dirfd without following a symlink.
func lutimens(dirfd int, name string, mtimeNs int64) error {
	ts := times(mtimeNs)
	return unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// writeAll writes b to fd at its current offset.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// lstatAt is fstatat(AT_SYMLINK_NOFOLLOW).
func lstatAt(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := fsys.LstatAt(dirfd, name, &st)
	return st, err
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// syncWorkers bounds concurrent fsyncs: several in flight let the file
// system commit them in one journal transaction.
const syncWorkers = 32

// fsyncAll fsyncs every fd, several at a time, and returns the error of
// each (nil entries for success). It returns after every fsync finished.
func fsyncAll(fds []int) []error {
	errs := make([]error, len(fds))
	if len(fds) == 1 {
		errs[0] = unix.Fsync(fds[0])
		return errs
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(syncWorkers, len(fds)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = unix.Fsync(fds[i])
			}
		})
	}
	for i := range fds {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
