package preserve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	metaName   = "meta.json"
	dataName   = "data"
	tempPrefix = ".tmp-"
	// idAttempts bounds the retries when a fresh ID is already taken.
	idAttempts = 16
)

// Store is a directory of preserved versions. Its methods are safe for
// concurrent use, also by several processes: the one writer (the daemon)
// publishes each record with a rename, readers need no lock.
type Store struct {
	dir string
}

// Open opens the store at dir (an absolute path under the state
// directory), creating it with mode 0700 if it is missing.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("open conflict store %q: not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open conflict store %q: not a directory", dir)
	}
	return &Store{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Sweep removes what a crashed Save left behind (temp record directories)
// and returns how many it removed. Only the store's writer may call it, and
// only while it is not saving: a temp directory may be a Save in progress.
func (s *Store) Sweep() (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("sweep conflict store %q: %w", s.dir, err)
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return n, fmt.Errorf("sweep conflict store %q: %w", s.dir, err)
		}
		n++
	}
	return n, nil
}

// SaveAt preserves the object name in the directory dirfd without
// following a symlink (see Save). Special files are refused with
// ErrUnsupported, before they are opened.
func (s *Store) SaveAt(ctx context.Context, it Item, dirfd int, name string) (Record, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		flags |= unix.O_DIRECTORY
	case unix.S_IFLNK:
		flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	default:
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, ErrUnsupported)
	}
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return s.Save(ctx, it, f)
}

// Save preserves the object open as src: a regular file (opened for
// reading: its bytes are copied and fsynced, with their BLAKE3-256), a
// directory (recorded only), or a symlink (opened with O_PATH|O_NOFOLLOW:
// its target is recorded). Mode, owner and mtime come from src. When Save
// returns, the record is durable and listed. A file that keeps changing
// while it is copied fails with ErrUnstable; nothing is kept then.
//
// For the rejoin of an old primary: Item{Folder: F, Path: P, Epoch: E,
// Node: the old primary, Seq: its entry's sequence, Cause: CauseRejoin}
// with src the local version of P that lost to the new primary.
func (s *Store) Save(ctx context.Context, it Item, src *os.File) (Record, error) {
	if it.Time.IsZero() {
		it.Time = time.Now()
	}
	rec := Record{Folder: it.Folder, Path: it.Path, Epoch: it.Epoch, Node: it.Node, Seq: it.Seq,
		Cause: it.Cause, Reason: it.Reason, Preserved: it.Time.UTC(), ID: newID(it.Time)}
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		rec.Kind = KindFile
	case unix.S_IFDIR:
		rec.Kind = KindDir
	case unix.S_IFLNK:
		rec.Kind = KindSymlink
	default:
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, ErrUnsupported)
	}
	setStat(&rec, &st)
	if rec.Kind == KindSymlink {
		target, err := readlinkFd(int(src.Fd()))
		if err != nil {
			return Record{}, fmt.Errorf("preserve symlink %q: %w", it.Path, err)
		}
		rec.Target, rec.Size = target, int64(len(target))
	}
	if err := rec.validate(); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w: %w", it.Path, ErrBadItem, err)
	}
	tmp, err := os.MkdirTemp(s.dir, tempPrefix)
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	published := false
	defer func() {
		if !published {
			_ = os.RemoveAll(tmp)
		}
	}()
	if rec.Kind == KindFile {
		if err := copyStable(ctx, src, filepath.Join(tmp, dataName), &rec); err != nil {
			return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
		}
	}
	meta, err := EncodeRecord(rec)
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	if err := writeSynced(filepath.Join(tmp, metaName), meta); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	if err := syncDir(tmp); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	if rec, err = s.publish(tmp, rec); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	published = true
	if err := syncDir(s.dir); err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	rec.KeptAt = s.keptAt(rec)
	return rec, nil
}

// publish renames the temp record directory to its ID, choosing another
// ID (and rewriting meta.json) if the first is taken.
func (s *Store) publish(tmp string, rec Record) (Record, error) {
	for attempt := 0; ; attempt++ {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, filepath.Join(s.dir, string(rec.ID)), unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// No RENAME_NOREPLACE here: a rename over an existing record
			// directory fails anyway (it is not empty).
			err = os.Rename(tmp, filepath.Join(s.dir, string(rec.ID)))
		}
		if err == nil {
			return rec, nil
		}
		taken := errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY)
		if !taken || attempt == idAttempts {
			return rec, fmt.Errorf("publish record %s: %w", rec.ID, err)
		}
		rec.ID = newID(rec.Preserved)
		meta, err := EncodeRecord(rec)
		if err != nil {
			return rec, err
		}
		if err := writeSynced(filepath.Join(tmp, metaName), meta); err != nil {
			return rec, err
		}
	}
}

// keptAt is where rec's version lies.
func (s *Store) keptAt(rec Record) string {
	if rec.Kind == KindFile {
		return filepath.Join(s.dir, string(rec.ID), dataName)
	}
	return filepath.Join(s.dir, string(rec.ID))
}

// setStat copies an object's metadata into rec.
func setStat(rec *Record, st *unix.Stat_t) {
	rec.Mode = st.Mode & 0o7777
	rec.UID, rec.GID = st.Uid, st.Gid
	rec.MtimeNs = st.Mtim.Nano()
	if rec.Kind == KindFile {
		rec.Size = st.Size
	}
}

// readlinkFd reads the target of a symlink opened with O_PATH|O_NOFOLLOW.
func readlinkFd(fd int) (string, error) {
	buf := make([]byte, maxPathLen+1)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	if n > maxPathLen {
		return "", fmt.Errorf("target longer than %d bytes", maxPathLen)
	}
	return string(buf[:n]), nil
}
