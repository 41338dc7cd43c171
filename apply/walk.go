package apply

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// errTreeMoved: a directory being walked was moved away meanwhile.
var errTreeMoved = errors.New("a directory was moved while its tree was walked")

// treeFrame is one directory on the way down an iterative walk: its name
// in its parent, its identity, and what is left of its listing.
type treeFrame struct {
	name, path string
	dev, ino   uint64
	names      []string
	next       int
}

// walkTree walks the directory name in dirfd (path p) depth first, with
// one fd of the tree open at a time whatever its depth (a deep local tree
// must not exhaust the fds). fn is called for each object beneath it with
// the fd of its directory; it returns true for a directory to walk into.
// post, if not nil, is called with the parent's fd once a directory's
// objects are done (to remove it). A directory that is gone or no longer
// a directory when it is opened is skipped. Going back up, the parent is
// opened through ".." and must be the directory that was walked down
// through; otherwise the path is walked again from dirfd.
func walkTree(dirfd int, name, p string, fn func(fd int, child, cp string) (bool, error), post func(fd int, child, cp string) error) error {
	fd, top, err := openFrame(dirfd, name, p)
	if err != nil || fd < 0 {
		return err
	}
	stack := []treeFrame{top}
	defer func() { _ = unix.Close(fd) }()
	for len(stack) > 0 {
		t := &stack[len(stack)-1]
		if t.next < len(t.names) {
			child := t.names[t.next]
			t.next++
			cp := join(t.path, child)
			descend, err := fn(fd, child, cp)
			if err != nil {
				return err
			}
			if !descend {
				continue
			}
			cfd, f, err := openFrame(fd, child, cp)
			if err != nil {
				return err
			}
			if cfd >= 0 {
				_ = unix.Close(fd)
				fd = cfd
				stack = append(stack, f)
			}
			continue
		}
		done := *t
		stack = stack[:len(stack)-1]
		if len(stack) == 0 {
			return nil
		}
		pfd, err := parentOf(fd, dirfd, stack)
		_ = unix.Close(fd)
		fd = pfd
		if err != nil {
			fd = -1
			_ = unix.Close(pfd)
			return fmt.Errorf("%q: %w", done.path, err)
		}
		if post != nil {
			if err := post(fd, done.name, done.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// openFrame opens and lists the directory name in dirfd; fd is -1 if it
// is gone or no longer a directory.
func openFrame(dirfd int, name, p string) (int, treeFrame, error) {
	fd, err := fsys.OpenDir(dirfd, name)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return -1, treeFrame{}, nil
	}
	if err != nil {
		return -1, treeFrame{}, fmt.Errorf("open directory %q: %w", p, err)
	}
	var st unix.Stat_t
	if err := fsys.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, treeFrame{}, fmt.Errorf("stat directory %q: %w", p, err)
	}
	names, err := fsys.ReadNames(fd, make([]byte, 8<<10), nil)
	if err != nil {
		_ = unix.Close(fd)
		return -1, treeFrame{}, fmt.Errorf("read directory %q: %w", p, err)
	}
	return fd, treeFrame{name: name, path: p, dev: st.Dev, ino: st.Ino, names: names}, nil
}

// parentOf opens the directory of stack's last frame from fd (a child of
// it): through "..", else (it was moved) by walking stack's names down
// from dirfd again, each directory checked against its frame.
func parentOf(fd, dirfd int, stack []treeFrame) (int, error) {
	want := &stack[len(stack)-1]
	if pfd, err := fsys.OpenDir(fd, ".."); err == nil {
		if sameDir(pfd, want) {
			return pfd, nil
		}
		_ = unix.Close(pfd)
	}
	cur := dirfd
	for i := range stack {
		next, err := fsys.OpenDir(cur, stack[i].name)
		if cur != dirfd {
			_ = unix.Close(cur)
		}
		if err != nil {
			return -1, fmt.Errorf("%w: %w", errTreeMoved, err)
		}
		if !sameDir(next, &stack[i]) {
			_ = unix.Close(next)
			return -1, errTreeMoved
		}
		cur = next
	}
	return cur, nil
}

func sameDir(fd int, f *treeFrame) bool {
	var st unix.Stat_t
	return fsys.Fstat(fd, &st) == nil && st.Dev == f.dev && st.Ino == f.ino
}
