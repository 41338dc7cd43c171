package preserve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	metaName   = "meta.json"
	dataName   = "data"
	tempPrefix = ".tmp-"
	// idAttempts bounds the retries when a fresh ID is already taken.
	idAttempts = 16
	// FolderStoreName is the store a folder keeps at its own root when the
	// state directory is on another file system (see OpenInFolder). It
	// begins with ignore.ReservedPrefix, so it is never scanned, replicated
	// or accepted from a peer, and it matches nothing Nextcloud loads.
	FolderStoreName = ".ncsync-conflicts"
)

// dirFlags open a directory without following a symlink.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// Store is a directory of preserved versions. Its methods are safe for
// concurrent use, also by several processes: the one writer (the daemon)
// publishes each record with a rename, readers need no lock. Everything is
// done through the descriptor of the store's directory, opened once, so a
// path swapped for a symlink later leads nowhere.
type Store struct {
	dir string
	fd  int
	dev uint64 // the file system the store is on
	lim Limits

	mu    sync.Mutex
	usage *Usage // counted at the first Save, then kept up to date; nil before
}

// Open opens the store at dir (an absolute path under the state
// directory), creating it with mode 0700 if it is missing. lim applies to
// Save; readers pass the zero Limits.
func Open(dir string, lim Limits) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("open conflict store %q: not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	fd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	return newStore(dir, fd, lim)
}

// OpenInFolder opens (creating it if needed) the store FolderStoreName at
// the root of a folder: on the folder's own file system, so that a local
// file is kept by a hard link instead of a copy. The store is a directory
// of mode 0700 owned by this process's user; anything else at that name
// (a symlink, a file, another user's directory) is refused, since local
// users may be able to write the folder root.
func OpenInFolder(root string, lim Limits) (*Store, error) {
	dir := filepath.Join(root, FolderStoreName)
	rfd, err := unix.Open(root, dirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open conflict store %q: folder root: %w", dir, err)
	}
	defer unix.Close(rfd)
	var rs unix.Stat_t
	if err := unix.Fstat(rfd, &rs); err != nil {
		return nil, fmt.Errorf("open conflict store %q: folder root: %w", dir, err)
	}
	err = unix.Mkdirat(rfd, FolderStoreName, 0o700)
	if err == nil {
		// The root keeps the mtime it had: the primary's, which Nextcloud
		// and verify compare.
		_ = futimens(rfd, rs.Mtim.Nano())
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	fd, err := unix.Openat(rfd, FolderStoreName, dirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open conflict store %q: %w (remove what is there; ncsync recreates it)", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("open conflict store %q: owned by uid %d with mode %04o, want uid %d and 0700: "+
			"not made by ncsync; move it away (ncsync recreates it)", dir, st.Uid, st.Mode&0o7777, os.Geteuid())
	}
	return newStore(dir, fd, lim)
}

func newStore(dir string, fd int, lim Limits) (*Store, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open conflict store %q: %w", dir, err)
	}
	return &Store{dir: dir, fd: fd, dev: st.Dev, lim: lim}, nil
}

// Close releases the store's directory.
func (s *Store) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Dev returns the file system (st_dev) the store is on.
func (s *Store) Dev() uint64 { return s.dev }

// Sweep removes what a crashed Save or Prune left behind (temp record
// directories) and returns how many it removed. Only the store's writer
// may call it, and only while it is not saving: a temp directory may be a
// Save in progress. A temp directory of a Save by hard link holds only a
// second name of a file that is still in the tree.
func (s *Store) Sweep() (int, error) {
	names, err := s.names()
	if err != nil {
		return 0, fmt.Errorf("sweep conflict store %q: %w", s.dir, err)
	}
	n := 0
	for _, name := range names {
		if len(name) < len(tempPrefix) || name[:len(tempPrefix)] != tempPrefix {
			continue
		}
		if err := removeRecordDir(s.fd, name); err != nil {
			return n, fmt.Errorf("sweep conflict store %q: %w", s.dir, err)
		}
		n++
	}
	if n > 0 {
		s.mu.Lock()
		s.usage = nil // recounted at the next Save
		s.mu.Unlock()
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
// reading), a directory (recorded only), or a symlink (opened with
// O_PATH|O_NOFOLLOW: its target is recorded). Mode, owner and mtime come
// from src. When Save returns, the record is durable and listed.
//
// A file on the store's file system with no other hard link is kept by a
// hard link to the very inode open as src: instant, and no space beyond
// what the file already takes (it stays its owner's, in its owner's
// quota); the caller then replaces or removes the original name as it
// would have anyway. Any other file is copied sparse-aware (see
// copyStable). A file that keeps changing while it is read fails with
// ErrUnstable; nothing is kept then.
//
// Before anything is written, the space the version takes (the blocks the
// file has allocated, st_blocks, plus its metadata) and one more record
// are checked against the store's Limits: past them Save fails with a
// *FullError (errors.Is ErrFull) and keeps nothing.
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
	need := recordOverhead
	if rec.Kind == KindFile {
		need += allocated(&st)
	}
	if err := s.reserve(it.Path, need); err != nil {
		return Record{}, err
	}
	rec, err := s.save(ctx, rec, src, &st)
	if err != nil {
		s.settle(need, 0, 0)
		return Record{}, fmt.Errorf("preserve %q: %w", it.Path, err)
	}
	s.settle(need, s.recordBytes(rec.ID), 1)
	return rec, nil
}

// save builds the record in a temp directory and publishes it.
func (s *Store) save(ctx context.Context, rec Record, src *os.File, st *unix.Stat_t) (Record, error) {
	tmp, tfd, err := s.mkTemp()
	if err != nil {
		return rec, err
	}
	published := false
	defer func() {
		unix.Close(tfd)
		if !published {
			_ = removeRecordDir(s.fd, tmp)
		}
	}()
	if rec.Kind == KindFile {
		linked := false
		if st.Dev == s.dev && st.Nlink == 1 {
			if linked, err = linkStable(ctx, src, tfd, dataName, &rec); err != nil {
				return rec, err
			}
		}
		if !linked {
			if err := copyStable(ctx, src, tfd, dataName, &rec); err != nil {
				return rec, err
			}
		}
	}
	meta, err := EncodeRecord(rec)
	if err != nil {
		return rec, err
	}
	if err := writeSynced(tfd, metaName, meta); err != nil {
		return rec, err
	}
	if err := unix.Fsync(tfd); err != nil {
		return rec, fmt.Errorf("fsync record directory: %w", err)
	}
	if rec, err = s.publish(tmp, tfd, rec); err != nil {
		return rec, err
	}
	published = true
	if err := unix.Fsync(s.fd); err != nil {
		return rec, fmt.Errorf("fsync conflict store %q: %w", s.dir, err)
	}
	rec.KeptAt = s.keptAt(rec)
	return rec, nil
}

// mkTemp creates a fresh temp record directory and opens it.
func (s *Store) mkTemp() (string, int, error) {
	for range idAttempts {
		name := tempPrefix + strconv.FormatUint(rand.Uint64(), 36)
		err := unix.Mkdirat(s.fd, name, 0o700)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", -1, fmt.Errorf("create record directory in %q: %w", s.dir, err)
		}
		fd, err := unix.Openat(s.fd, name, dirFlags, 0)
		if err != nil {
			_ = unix.Unlinkat(s.fd, name, unix.AT_REMOVEDIR)
			return "", -1, fmt.Errorf("open record directory in %q: %w", s.dir, err)
		}
		return name, fd, nil
	}
	return "", -1, fmt.Errorf("create record directory in %q: %w", s.dir, unix.EEXIST)
}

// publish renames the temp record directory to its ID, choosing another
// ID (and rewriting meta.json) if the first is taken.
func (s *Store) publish(tmp string, tfd int, rec Record) (Record, error) {
	for attempt := 0; ; attempt++ {
		err := unix.Renameat2(s.fd, tmp, s.fd, string(rec.ID), unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// No RENAME_NOREPLACE here: a rename over an existing record
			// directory fails anyway (it is not empty).
			err = unix.Renameat(s.fd, tmp, s.fd, string(rec.ID))
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
		if err := writeSynced(tfd, metaName, meta); err != nil {
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

// openData opens a file record's kept bytes for reading.
func (s *Store) openData(id ID) (*os.File, error) {
	fd, err := unix.Openat(s.fd, string(id)+"/"+dataName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dataName), nil
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
