package preserve

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/report"
)

// Defaults of Limits.
const (
	// DefaultMaxBytesPercent is the share of the store's file system the
	// store may take when Limits.MaxBytes is not set.
	DefaultMaxBytesPercent = 10
	// DefaultMaxFiles bounds the records of a store: each is a directory
	// and one or two files, so this also bounds the inodes ncsync takes.
	DefaultMaxFiles = 10_000
)

// recordOverhead is what a record takes besides its data: its directory
// and meta.json, a block each on common file systems.
const recordOverhead int64 = 8 << 10

// ErrFull is matched (errors.Is) by every *FullError.
var ErrFull = errors.New("conflict store is full")

// Limits bound a store. The zero value means the defaults.
type Limits struct {
	// MaxBytes bounds the bytes the records take on disk (allocated
	// blocks, st_blocks*512, of their data and metadata). 0 means
	// MaxBytesPercent of the store's file system.
	MaxBytes int64
	// MaxBytesPercent is used when MaxBytes is 0; 0 means
	// DefaultMaxBytesPercent.
	MaxBytesPercent float64
	// MaxFiles bounds the number of records; 0 means DefaultMaxFiles.
	MaxFiles int
}

// Usage is what a store holds and may hold.
type Usage struct {
	Dir      string
	Bytes    int64 // allocated by the records
	Files    int   // records
	MaxBytes int64
	MaxFiles int
}

// FullError is a Save refused because the version would take the store
// past its limits. Nothing was kept.
type FullError struct {
	Path  string // the version that was not kept
	Need  int64  // the bytes it would take
	Usage Usage
}

func (e *FullError) Error() string {
	u := e.Usage
	what := fmt.Sprintf("%s of %s (conflicts.max_bytes) in use, %s more needed", report.HumanBytes(u.Bytes), report.HumanBytes(u.MaxBytes), report.HumanBytes(e.Need))
	if u.Files+1 > u.MaxFiles {
		what = fmt.Sprintf("%d of %d records (conflicts.max_files)", u.Files, u.MaxFiles)
	}
	return fmt.Sprintf("conflict store %q is full: %s to keep %q; remove old versions with 'ncsync conflicts prune --older-than D' or raise the limit",
		u.Dir, what, e.Path)
}

// Is makes a *FullError match ErrFull.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// Usage counts the store's records and the space they take.
func (s *Store) Usage() (Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usage == nil {
		u, err := s.count()
		if err != nil {
			return Usage{}, err
		}
		s.usage = &u
	}
	u := *s.usage
	u.MaxBytes, u.MaxFiles = s.maxima()
	return u, nil
}

// reserve takes need bytes and one record from the limits, or fails with a
// *FullError. The store is counted again before a refusal: records pruned
// by another process, or a kept file that shrank, free room.
func (s *Store) reserve(path string, need int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxBytes, maxFiles := s.maxima()
	fits := func() bool {
		return s.usage.Bytes+need <= maxBytes && s.usage.Files+1 <= maxFiles
	}
	for attempt := 0; s.usage == nil || !fits(); attempt++ {
		if s.usage != nil && attempt > 0 {
			u := *s.usage
			u.MaxBytes, u.MaxFiles = maxBytes, maxFiles
			return &FullError{Path: path, Need: need, Usage: u}
		}
		u, err := s.count()
		if err != nil {
			return fmt.Errorf("preserve %q: %w", path, err)
		}
		s.usage = &u
	}
	s.usage.Bytes += need
	s.usage.Files++
	return nil
}

// settle replaces a reservation of need bytes and one record by what a
// Save actually added.
func (s *Store) settle(need, bytes int64, files int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usage != nil {
		s.usage.Bytes += bytes - need
		s.usage.Files += files - 1
	}
}

// release takes a removed record off the count.
func (s *Store) release(bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usage != nil {
		s.usage.Bytes -= bytes
		s.usage.Files--
	}
}

// maxima are the limits in force: MaxBytes, or its share of the file
// system as statfs reports it now.
func (s *Store) maxima() (int64, int) {
	maxFiles := s.lim.MaxFiles
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	if s.lim.MaxBytes > 0 {
		return s.lim.MaxBytes, maxFiles
	}
	pct := s.lim.MaxBytesPercent
	if pct <= 0 {
		pct = DefaultMaxBytesPercent
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(s.fd, &fs); err != nil {
		return 0, maxFiles // cannot tell: keep nothing rather than fill the disk
	}
	return int64(float64(fs.Blocks) * float64(fs.Frsize) * pct / 100), maxFiles
}

// count walks the store: its records and the bytes they take.
func (s *Store) count() (Usage, error) {
	ids, err := s.ids()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Dir: s.dir, Files: len(ids)}
	for _, id := range ids {
		u.Bytes += s.recordBytes(id)
	}
	return u, nil
}

// recordBytes is the space the record id takes: the allocated blocks of
// its directory, metadata and data.
func (s *Store) recordBytes(id ID) int64 {
	var n int64
	var st unix.Stat_t
	for _, p := range []string{string(id), string(id) + "/" + metaName, string(id) + "/" + dataName} {
		if unix.Fstatat(s.fd, p, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			n += allocated(&st)
		}
	}
	return n
}

// allocated is the space an object takes on disk.
func allocated(st *unix.Stat_t) int64 { return st.Blocks * 512 }

// names lists the store directory.
func (s *Store) names() ([]string, error) {
	return readNames(s.fd, ".")
}

// readNames lists the directory name in dirfd, "." and ".." excluded.
func readNames(dirfd int, name string) ([]string, error) {
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 32<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// maxRemoveDepth bounds how deep removeRecordDir descends: records hold
// no directories, so anything deeper was not made by a Store.
const maxRemoveDepth = 4

// removeRecordDir removes a record or temp record directory name in dirfd:
// its contents, then itself.
func removeRecordDir(dirfd int, name string) error {
	return removeDirDepth(dirfd, name, maxRemoveDepth)
}

func removeDirDepth(dirfd int, name string, depth int) error {
	names, err := readNames(dirfd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, n := range names {
		err := unix.Unlinkat(fd, n, 0)
		if errors.Is(err, unix.EISDIR) && depth > 0 {
			err = removeDirDepth(fd, n, depth-1)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s/%s: %w", name, n, err)
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}
