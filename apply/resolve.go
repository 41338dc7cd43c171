package apply

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// split returns the parent directory ("" for the root) and the last
// component of a valid path.
func split(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// join joins a directory ("" for the root) and a name.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// stepDir opens the directory name in dirfd (rel is its path, for errors)
// without following a symlink. If create is set, a missing directory is
// created with mode 0700 (its own entry fixes the mode later, through the
// fd returned); created says whether this call created it.
func (f *Folder) stepDir(dirfd int, rel, name string, create bool) (fd int, created bool, err error) {
	for range 4 {
		fd, err = fsys.OpenDir(dirfd, name)
		switch {
		case err == nil:
			return fd, created, nil
		case errors.Is(err, unix.ENOENT) && create:
			fd, err = f.makeDir(dirfd, name)
			if err == nil {
				return fd, true, nil
			}
			if !errors.Is(err, unix.EEXIST) {
				return -1, false, fmt.Errorf("create directory %q: %w", rel, err)
			}
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			if err := notDir(dirfd, rel, name); err != nil {
				return -1, false, err
			}
			// A directory again: it changed under us; try once more.
		default:
			return -1, false, fmt.Errorf("open directory %q: %w", rel, err)
		}
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, false, refused(rel, "keeps changing between a directory and a symlink or file")
	}
	return -1, false, fmt.Errorf("open directory %q: %w", rel, err)
}

// reasonNotDir is the refusal reason for a file where a directory is needed.
const reasonNotDir = "is not a directory"

// notDir explains why name in dirfd could not be opened as a directory: a
// symlink or another non-directory stands where the path needs a directory.
// That is bad input (a *RefusedError naming that directory). It returns
// nil if name is a directory now.
func notDir(dirfd int, rel, name string) error {
	st, err := lstatAt(dirfd, name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("open directory %q: %w", rel, err)
	case err != nil:
		return fmt.Errorf("stat %q: %w", rel, err)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return refused(rel, "is a symlink; never written through")
	case !isDir(&st):
		return refused(rel, reasonNotDir)
	}
	return nil
}

// openDir opens the directory rel ("" is not allowed) beneath the root
// without following symlinks and without creating anything.
func (f *Folder) openDir(rel string) (int, error) {
	if fd, err := fsys.OpenBeneath(f.root, rel, unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
		return fd, nil
	}
	// Walk to find out which component is missing or unsafe.
	cur := f.root
	for i := 0; ; {
		j := strings.IndexByte(rel[i:], '/')
		end := len(rel)
		if j >= 0 {
			end = i + j
		}
		fd, _, err := f.stepDir(cur, rel[:end], rel[i:end], false)
		if cur != f.root {
			_ = unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		if end == len(rel) {
			return fd, nil
		}
		cur, i = fd, end+1
	}
}

// withDir calls fn with an fd of the directory rel ("" is the root).
func (f *Folder) withDir(rel string, fn func(dirfd int) error) error {
	if rel == "" {
		return fn(f.root)
	}
	fd, err := f.openDir(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// asEntryError turns a refusal that names a parent directory into one that
// names the entry, so the caller sees which entry was refused and why.
func asEntryError(p string, err error) error {
	var re *RefusedError
	if errors.As(err, &re) && re.Path != p {
		return &RefusedError{Path: p, Reason: fmt.Sprintf("parent %q %s", re.Path, re.Reason), Err: re.Err}
	}
	return err
}
