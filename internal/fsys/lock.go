package fsys

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Reading under the writers' locks.
//
// Programs that rewrite a file in place lock it while they do: Nextcloud's
// config writer takes flock(LOCK_EX), truncates the file, writes it and
// unlocks, and its readers take flock(LOCK_SH). Between the truncate and
// the write the file is empty or partial, and a stat taken before and after
// a read can agree on such a state. Writes from NFS clients reach the
// server's kernel as POSIX byte-range locks taken by lockd/nfsd, which
// flock does not see, so a reader has to ask both: a shared flock and an
// open-file-description read lock (F_OFD_SETLK, F_RDLCK) over the whole
// file. OFD locks conflict with POSIX locks of any process but, unlike
// POSIX locks, belong to the open file description: closing another
// descriptor of the same file in this process does not drop them.
//
// Both are taken without blocking: a file locked exclusively by someone is
// reported as being written (ErrBeingWritten) and the caller tries again
// later. A reader holds them for one read of the file only, so a writer
// waiting in flock(LOCK_EX) or F_SETLKW waits at most that long. A writer
// that only tries its lock (LOCK_NB, F_SETLK) fails during that read, as
// it would against any other reader of the file.
//
// Cost: four system calls per file read (flock and fcntl to lock, the same
// to unlock), and the kernel's lock context allocated for the inode on the
// first lock. See the README for the measured effect on an initial copy.

// ErrBeingWritten means a file is locked exclusively by another open file:
// a writer holds flock(LOCK_EX), or a POSIX or OFD write lock on some range.
var ErrBeingWritten = errors.New("locked by a writer")

// ReadLock is the pair of shared locks held on an open file while it is
// read. The zero value holds nothing.
type ReadLock struct {
	fd     int
	flock  bool // flock(LOCK_SH) held
	ofd    bool // F_OFD_SETLK F_RDLCK held
	active bool
}

// LockForRead takes a shared flock and an OFD read lock over the whole of
// fd, which must be open for reading, without waiting. If another open file
// holds either exclusively it takes neither and fails with ErrBeingWritten.
// A file system that supports neither kind of lock (EINVAL, ENOLCK,
// EOPNOTSUPP) is read without it: such a file has no writer's lock to
// respect. The caller must Unlock when the read is done.
func LockForRead(fd int) (ReadLock, error) {
	l := ReadLock{fd: fd, active: true}
	err := flockRetry(fd, unix.LOCK_SH|unix.LOCK_NB)
	switch {
	case err == nil:
		l.flock = true
	case errors.Is(err, unix.EWOULDBLOCK):
		return ReadLock{}, ErrBeingWritten
	case !unsupported(err):
		return ReadLock{}, fmt.Errorf("flock: %w", err)
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 0} // Len 0: to the end, however it grows
	_, err = RetryEINTR(func() (struct{}, error) { return struct{}{}, unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk) })
	switch {
	case err == nil:
		l.ofd = true
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
		l.Unlock()
		return ReadLock{}, ErrBeingWritten
	case !unsupported(err):
		l.Unlock()
		return ReadLock{}, fmt.Errorf("fcntl F_OFD_SETLK: %w", err)
	}
	return l, nil
}

// Unlock releases what LockForRead took. It may be called more than once.
// Closing the descriptor releases both locks as well, as long as no other
// descriptor shares its open file description.
func (l *ReadLock) Unlock() {
	if !l.active {
		return
	}
	if l.ofd {
		lk := unix.Flock_t{Type: unix.F_UNLCK}
		_, _ = RetryEINTR(func() (struct{}, error) { return struct{}{}, unix.FcntlFlock(uintptr(l.fd), unix.F_OFD_SETLK, &lk) })
	}
	if l.flock {
		_ = flockRetry(l.fd, unix.LOCK_UN)
	}
	*l = ReadLock{}
}

func flockRetry(fd, how int) error {
	_, err := RetryEINTR(func() (struct{}, error) { return struct{}{}, unix.Flock(fd, how) })
	return err
}

// unsupported reports a lock refused because the file system has no locks.
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP)
}
