package apply

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// ReadAt fills buf with the bytes of the regular file at p (beneath the
// root, never through a symlink) starting at off. Reading past the end is
// io.ErrUnexpectedEOF. It is meant for reusing chunks already on this node
// and may be called from a ChunkSource during Apply.
func (f *Folder) ReadAt(p string, off int64, buf []byte) error {
	if err := ValidatePath(p); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("read %q: negative offset %d", p, off)
	}
	fd, err := f.openFile(p)
	if err != nil {
		return fmt.Errorf("read %q: %w", p, err)
	}
	defer unix.Close(fd)
	for n := 0; n < len(buf); {
		m, err := unix.Pread(fd, buf[n:], off+int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read %q: %w", p, err)
		case m == 0:
			return fmt.Errorf("read %q at %d: %w", p, off+int64(n), io.ErrUnexpectedEOF)
		}
		n += m
	}
	return nil
}

// openFile opens the regular file p for reading, confined. O_NONBLOCK keeps
// a fifo planted at p from blocking the open.
func (f *Folder) openFile(p string) (int, error) {
	fd, err := fsys.OpenBeneath(f.root, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		if err == nil {
			err = errors.New("not a regular file")
		}
		return -1, err
	}
	return fd, nil
}

// Stat returns the local stat of p (beneath the root; a symlink is not
// followed, and a symlink or non-directory on the way is an error) and its
// kind: 0 for a fifo, socket or device. A missing path is an error
// matching fs.ErrNotExist.
func (f *Folder) Stat(p string) (index.Stat, index.Kind, error) {
	if err := ValidatePath(p); err != nil {
		return index.Stat{}, 0, err
	}
	dir, name := split(p)
	var st unix.Stat_t
	err := f.withDir(dir, func(dirfd int) error {
		var err error
		st, err = lstatAt(dirfd, name)
		return err
	})
	if err != nil {
		return index.Stat{}, 0, fmt.Errorf("stat %q: %w", p, asEntryError(p, err))
	}
	return fsys.StatOf(&st), fsys.KindOf(st.Mode), nil
}
