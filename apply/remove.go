package apply

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// removeAll removes name in dirfd and, if it is a directory, everything
// beneath it. It works through fds and never follows a symlink: a symlink
// is unlinked, not descended. A name already gone is success.
func removeAll(dirfd int, name string) error {
	for attempt := 0; ; attempt++ {
		err := unix.Unlinkat(dirfd, name, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
			return err
		}
		if err := emptyDir(dirfd, name); err != nil {
			return err
		}
		err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		// Something was added or swapped in meanwhile: go again, a few times.
		retry := errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTDIR)
		if !retry || attempt == 3 {
			return err
		}
	}
}

// emptyDir removes everything in the directory name of dirfd, with a
// bounded number of fds however deep the tree (walkTree). If name is no
// longer a directory, there is nothing to empty. A directory that gets a
// new entry meanwhile is left for removeAll's next attempt.
func emptyDir(dirfd int, name string) error {
	return walkTree(dirfd, name, name, func(fd int, child, _ string) (bool, error) {
		err := unix.Unlinkat(fd, child, 0)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return false, nil
		case errors.Is(err, unix.EISDIR), errors.Is(err, unix.EPERM):
			return true, nil
		}
		return false, err
	}, func(fd int, child, _ string) error {
		err := unix.Unlinkat(fd, child, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	})
}

// readDir calls fn for each entry of the directory fd except "." and "..",
// with its d_type (DT_UNKNOWN on file systems that do not say). fn may
// remove the entry it is given.
func readDir(fd int, fn func(name string, typ uint8) error) error {
	buf := make([]byte, 8<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read directory: %w", err)
		}
		if n <= 0 {
			return nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return errors.New("read directory: malformed dirent")
			}
			typ := b[18]
			raw := b[19:reclen]
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			b = b[reclen:]
			if name := string(raw); name != "." && name != ".." {
				if err := fn(name, typ); err != nil {
					return err
				}
			}
		}
	}
}

// removeTemps removes every temp object ncsync left beneath the root (a
// crash between creating and renaming): the private directories with
// everything in them, except the kept temp files in the root's (noted in
// f.kept), and temp files older versions made next to their targets. The
// walk is confined: it never follows a symlink. It returns how many it
// removed.
func (f *Folder) removeTemps() (int, error) {
	fd, err := unix.Openat(f.root, ".", dirFlags, 0)
	if err != nil {
		return 0, fmt.Errorf("open root: %w", err)
	}
	n := 0
	err = removeTempsIn(fd, "", &n, &f.kept)
	return n, err
}

// removeTempsIn cleans the directory fd (at rel) and those beneath it, and
// closes fd.
func removeTempsIn(fd int, rel string, n *int, kept *keptFiles) error {
	defer unix.Close(fd)
	return readDir(fd, func(name string, typ uint8) error {
		p := join(rel, name)
		if rel == "" && name == tempDirName {
			// The root's private directory is emptied, not removed,
			// so that the root's mtime stays the primary's.
			return emptyTempDir(fd, n, kept)
		}
		if isTemp(name) {
			if err := removeAll(fd, name); err != nil {
				return fmt.Errorf("remove leftover temp %q: %w", p, err)
			}
			*n++
			return nil
		}
		if typ != unix.DT_DIR && typ != unix.DT_UNKNOWN {
			return nil
		}
		child, err := unix.Openat(fd, name, dirFlags, 0)
		switch {
		case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOENT),
			errors.Is(err, unix.EACCES):
			return nil // not a directory (or a symlink to one), gone, or closed to us
		case err != nil:
			return fmt.Errorf("open directory %q: %w", p, err)
		}
		return removeTempsIn(child, p, n, kept)
	})
}

// emptyTempDir removes what is in the private directory at the root rootfd,
// or whatever else stands at its name, except kept temp files (regular
// files, checked again before any use), which it notes in kept.
func emptyTempDir(rootfd int, n *int, kept *keptFiles) error {
	fd, err := fsys.OpenDir(rootfd, tempDirName)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
		*n++
		return removeAll(rootfd, tempDirName)
	case err != nil:
		return fmt.Errorf("open %s: %w", tempDirName, err)
	}
	defer unix.Close(fd)
	return readDir(fd, func(name string, typ uint8) error {
		if isPartial(name) && typ == unix.DT_REG {
			kept.note(name, "")
			return nil
		}
		if err := removeAll(fd, name); err != nil {
			return fmt.Errorf("remove leftover temp %q: %w", tempDirName+"/"+name, err)
		}
		*n++
		return nil
	})
}
