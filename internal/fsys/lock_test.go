package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// openTwice creates a file and opens it twice: the writer's descriptor
// (read-write) and the reader's (read-only), as two open file descriptions.
func openTwice(t *testing.T) (writer, reader int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.php")
	if err := os.WriteFile(p, []byte("<?php $CONFIG = array();\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(w); unix.Close(r) })
	return w, r
}

func TestLockForReadSeesWriters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lock   func(t *testing.T, fd int)
		unlock func(t *testing.T, fd int)
	}{
		{"flock exclusive", func(t *testing.T, fd int) { must(t, unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)) },
			func(t *testing.T, fd int) { must(t, unix.Flock(fd, unix.LOCK_UN)) }},
		// A POSIX lock as nfsd takes for an NFS client: a traditional
		// record lock conflicts with an OFD lock even within one process.
		{"posix write lock on a range", func(t *testing.T, fd int) { must(t, fcntlLock(fd, unix.F_SETLK, unix.F_WRLCK, 10, 5)) },
			func(t *testing.T, fd int) { must(t, fcntlLock(fd, unix.F_SETLK, unix.F_UNLCK, 0, 0)) }},
		{"ofd write lock on the whole file", func(t *testing.T, fd int) { must(t, fcntlLock(fd, unix.F_OFD_SETLK, unix.F_WRLCK, 0, 0)) },
			func(t *testing.T, fd int) { must(t, fcntlLock(fd, unix.F_OFD_SETLK, unix.F_UNLCK, 0, 0)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := openTwice(t)
			tc.lock(t, w)
			if l, err := LockForRead(r); !errors.Is(err, ErrBeingWritten) {
				l.Unlock()
				t.Fatalf("LockForRead while a writer holds its lock: err %v, want ErrBeingWritten", err)
			}
			tc.unlock(t, w)
			l, err := LockForRead(r)
			if err != nil {
				t.Fatalf("LockForRead after the writer unlocked: %v", err)
			}
			l.Unlock()
		})
	}
}

// While the read lock is held, writers cannot take theirs; after Unlock
// they can at once. Shared readers are not disturbed.
func TestLockForReadHoldsBothUntilUnlock(t *testing.T) {
	w, r := openTwice(t)
	l, err := LockForRead(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(w, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Errorf("a reader's flock(LOCK_SH) failed while we read: %v", err)
	}
	must(t, unix.Flock(w, unix.LOCK_UN))
	if err := unix.Flock(w, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Errorf("flock(LOCK_EX) while we read: %v, want EWOULDBLOCK", err)
	}
	if err := fcntlLock(w, unix.F_SETLK, unix.F_WRLCK, 0, 0); !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		t.Errorf("POSIX write lock while we read: %v, want EAGAIN", err)
	}
	l.Unlock()
	l.Unlock() // a second Unlock is harmless
	must(t, unix.Flock(w, unix.LOCK_EX|unix.LOCK_NB))
	must(t, fcntlLock(w, unix.F_SETLK, unix.F_WRLCK, 0, 0))
}

// A zero ReadLock holds nothing and Unlock on it does nothing.
func TestReadLockZero(t *testing.T) {
	var l ReadLock
	l.Unlock()
}

func fcntlLock(fd, cmd int, typ int16, start, n int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: n}
	return unix.FcntlFlock(uintptr(fd), cmd, &lk)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
