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

// restorePrefix names Restore's temp files: hidden, and never matching
// Nextcloud's *.config.php.
const restorePrefix = ".ncsync-restore-"

// Restore copies record id out to the path to (made absolute), which must
// not exist: an existing destination fails with ErrExists and is left
// alone, also when it appears during the restore. A file is written to a
// temp file next to to, checked against the kept size and BLAKE3, fsynced
// and then linked into place without replacing anything; a symlink or a
// directory is created as such. Mode and mtime are those kept; the owner
// too when the caller is root. Setuid and setgid bits are not restored.
// The record stays in the store.
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
	switch rec.Kind {
	case KindFile:
		err = s.restoreFile(ctx, rec, dfd, name)
	case KindSymlink:
		err = restoreSymlink(rec, dfd, name)
	case KindDir:
		err = restoreDir(rec, dfd, name)
	}
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

func (s *Store) restoreFile(ctx context.Context, rec Record, dfd int, name string) error {
	src, err := s.openData(rec.ID)
	if err != nil {
		return fmt.Errorf("%w: kept data: %w", ErrCorrupt, err)
	}
	defer src.Close()
	var tmp string
	var fd int
	for range idAttempts {
		tmp = restorePrefix + strconv.FormatUint(rand.Uint64(), 36)
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	out := os.NewFile(uintptr(fd), tmp)
	placed := false
	defer func() {
		out.Close()
		if !placed {
			_ = unix.Unlinkat(dfd, tmp, 0)
		}
	}()
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
	if err := placeNoReplace(dfd, tmp, name); err != nil {
		return err
	}
	placed = true
	return nil
}

// placeNoReplace moves tmp to name in dfd unless name exists (EEXIST).
func placeNoReplace(dfd int, tmp, name string) error {
	err := unix.Renameat2(dfd, tmp, dfd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE on this file system: link (which never
		// replaces), then drop the temp name.
		if err = unix.Linkat(dfd, tmp, dfd, name, 0); err == nil {
			_ = unix.Unlinkat(dfd, tmp, 0)
		}
	}
	return err
}

func restoreSymlink(rec Record, dfd int, name string) error {
	if err := unix.Symlinkat(rec.Target, dfd, name); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		_ = unix.Fchownat(dfd, name, int(rec.UID), int(rec.GID), unix.AT_SYMLINK_NOFOLLOW)
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(rec.MtimeNs)}
	return unix.UtimesNanoAt(dfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func restoreDir(rec Record, dfd int, name string) error {
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
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
