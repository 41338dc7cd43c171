package preserve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// restorePrefix names the private directory Restore builds in: hidden, and
// never matching Nextcloud's *.config.php.
const restorePrefix = ".ncsync-restore-"

// Restore copies record id out to the path to (made absolute), which must
// not exist: an existing destination fails with ErrExists and is left
// alone, also when it appears during the restore. The object is built in a
// private directory (0700, the caller's) made next to to, where no other
// user can reach it: a file is written there, checked against the kept
// size and BLAKE3 and fsynced; mode, mtime and (when the caller is root)
// owner are set there, through the fd or, for a symlink, by its name in
// the private directory; then it is moved into place without replacing
// anything. Setuid and setgid bits are not restored. The record stays in
// the store.
func (s *Store) Restore(ctx context.Context, id ID, to string) (Record, error) {
	rec, err := s.Get(id)
	if err != nil {
		return Record{}, err
	}
	to, err = filepath.Abs(to)
	if err != nil {
		return rec, fmt.Errorf("restore %s to %q: %w", id, to, err)
	}
	parent, err := os.Open(filepath.Dir(to))
	if err != nil {
		return rec, fmt.Errorf("restore %s to %q: %w", id, to, err)
	}
	defer parent.Close()
	dfd, name := int(parent.Fd()), filepath.Base(to)
	if err := unix.Fstatat(dfd, name, &unix.Stat_t{}, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return rec, fmt.Errorf("restore %s to %q: %w: choose another --to or remove it first", id, to, ErrExists)
	}
	err = s.restoreInto(ctx, rec, dfd, name)
	if errors.Is(err, unix.EEXIST) {
		err = fmt.Errorf("%w: choose another --to or remove it first", ErrExists)
	}
	if err != nil {
		return rec, fmt.Errorf("restore %s to %q: %w", id, to, err)
	}
	if err := parent.Sync(); err != nil {
		return rec, fmt.Errorf("restore %s to %q: fsync directory: %w", id, to, err)
	}
	return rec, nil
}

// restoreInto builds rec in a private directory made in dfd and moves it
// to name in dfd.
func (s *Store) restoreInto(ctx context.Context, rec Record, dfd int, name string) error {
	var priv string
	var err error
	for range idAttempts {
		priv = restorePrefix + strconv.FormatUint(rand.Uint64(), 36)
		if err = unix.Mkdirat(dfd, priv, 0o700); !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create private directory: %w", err)
	}
	defer unix.Unlinkat(dfd, priv, unix.AT_REMOVEDIR)
	pfd, err := unix.Openat(dfd, priv, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open private directory: %w", err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat private directory: %w", err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o777 != 0o700 {
		return fmt.Errorf("private directory %q was replaced", priv)
	}
	const tmp = "object"
	switch rec.Kind {
	case KindFile:
		err = s.restoreFile(ctx, rec, pfd, tmp)
	case KindSymlink:
		err = restoreSymlink(rec, pfd, tmp)
	case KindDir:
		err = restoreDir(rec, pfd, tmp)
	}
	if err == nil {
		err = placeNoReplace(pfd, tmp, dfd, name, rec.Kind == KindDir)
	}
	if err != nil {
		if rec.Kind == KindDir {
			_ = unix.Unlinkat(pfd, tmp, unix.AT_REMOVEDIR)
		} else {
			_ = unix.Unlinkat(pfd, tmp, 0)
		}
	}
	return err
}

// restoreFile writes the kept file to name in the private directory pfd,
// checked, with its metadata, fsynced.
func (s *Store) restoreFile(ctx context.Context, rec Record, pfd int, name string) error {
	src, err := s.openData(rec.ID)
	if err != nil {
		return fmt.Errorf("%w: kept data: %w", ErrCorrupt, err)
	}
	defer src.Close()
	fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	out := os.NewFile(uintptr(fd), name)
	defer out.Close()
	n, sum, err := copyHashed(ctx, out, src, make([]byte, copyBuf))
	if err != nil {
		return err
	}
	if n != rec.Size || sum != rec.Hash {
		return fmt.Errorf("%w: kept data has %d bytes with BLAKE3 %x, the record says %d bytes, %s", ErrCorrupt, n, sum, rec.Size, rec.HashHex())
	}
	if err := setMeta(fd, rec); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// placeNoReplace moves name in pfd to to in dfd unless to exists (EEXIST).
func placeNoReplace(pfd int, name string, dfd int, to string, dir bool) error {
	err := unix.Renameat2(pfd, name, dfd, to, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// No RENAME_NOREPLACE on this file system.
	if !dir {
		// link never replaces; the temp name goes with the private
		// directory.
		return unix.Linkat(pfd, name, dfd, to, 0)
	}
	// A rename would replace an empty directory: check first.
	if err := unix.Fstatat(dfd, to, &unix.Stat_t{}, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(pfd, name, dfd, to)
}

// restoreSymlink creates the kept symlink as name in the private directory
// pfd and sets its owner and mtime there, by name: no one else can reach
// it.
func restoreSymlink(rec Record, pfd int, name string) error {
	if err := unix.Symlinkat(rec.Target, pfd, name); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := unix.Fchownat(pfd, name, int(rec.UID), int(rec.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(rec.MtimeNs)}
	return unix.UtimesNanoAt(pfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func restoreDir(rec Record, pfd int, name string) error {
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setMeta(fd, rec)
}

// setMeta sets owner (as root), mode without setuid/setgid, and mtime
// through fd.
func setMeta(fd int, rec Record) error {
	if os.Geteuid() == 0 {
		if err := unix.Fchown(fd, int(rec.UID), int(rec.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, rec.Mode&^(unix.S_ISUID|unix.S_ISGID)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := futimens(fd, rec.MtimeNs); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// futimens sets fd's mtime and leaves its atime: utimensat(fd, NULL, ...),
// which x/sys does not wrap.
func futimens(fd int, mtimeNs int64) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtimeNs)}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
