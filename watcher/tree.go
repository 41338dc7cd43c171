package watcher

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
)

// watchResult says what became of one directory.
type watchResult int

const (
	watchGone   watchResult = iota // not a directory (any more): nothing to do
	watchOK                        // watched
	watchFailed                    // could not be watched: recorded as unwatched
)

// addTree watches directory p and every directory below it, skipping
// ignored and reserved names. Each directory's watch is added before it is
// listed, so a subdirectory created meanwhile is either listed or reported
// by the new watch. Directories that cannot be watched are recorded (and
// still listed, to count them); with stopOnFailure the walk stops at the
// first one, which is how a retry gives up while watches are still short.
// It reports whether any directory could not be watched.
func (l *loop) addTree(p string, stopOnFailure bool) (failed bool) {
	stack := []string{p}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f, res := l.watchDir(dir)
		if res == watchFailed {
			failed = true
			if stopOnFailure {
				if f != nil {
					f.Close()
				}
				return failed
			}
		}
		if f == nil {
			continue
		}
		names, err := l.w.listDirs(f)
		if err != nil {
			// Subdirectories it holds may go unwatched: count it as
			// unwatched, so that it is rescanned every scan_interval and
			// listed again at the next retry.
			l.log.Warn("cannot list directory: rescanning it until it can be watched whole", "path", dir, "err", err)
			if st, ok := l.w.reg.get(dir); ok {
				l.w.reg.set(dir, st.id, err, l.gen)
			}
		}
		for _, name := range names {
			if ignore.Reserved(name) {
				continue
			}
			c := joinPath(dir, name)
			if l.w.opts.Ignore.Match(c, true) {
				l.w.reg.addIgnored(c)
				continue
			}
			stack = append(stack, c)
		}
	}
	return failed
}

// watchDir makes sure directory p is watched and returns it opened for
// listing. A directory already watched under the same identity is left as
// is (one whose listing failed counts as unwatched, and is watched again); one known under another path (moved while its events were lost) has
// its old watches dropped first, since inotify would hand back the old
// watch for the same inode.
func (l *loop) watchDir(p string) (*os.File, watchResult) {
	abs := l.w.abs(p)
	cur, known := l.w.reg.get(p)
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if known {
			l.removeSubtree(p)
		}
		return nil, watchGone
	}
	id := fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if known && cur.id == id && cur.watched {
		l.w.reg.see(p, l.gen)
		f, err := openDir(abs, id)
		if err != nil {
			return nil, watchGone
		}
		return f, watchOK
	}
	if known && cur.id != id {
		l.removeSubtree(p)
	}
	if q, ok := l.w.reg.pathOf(id); ok && q != p {
		l.removeSubtree(q)
	}
	err := l.src.Add(abs)
	if err != nil && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
		return nil, watchGone
	}
	f, oerr := openDir(abs, id)
	if oerr != nil {
		// Replaced or removed since the lstat: the watch may be on something
		// else. Drop it; the parent's events report what is there now.
		if err == nil {
			_ = l.src.Remove(abs)
		}
		return nil, watchGone
	}
	l.w.reg.set(p, id, err, l.gen)
	if err != nil {
		if classify(err) == causeOther {
			l.log.Warn("cannot watch directory", "path", p, "err", err)
		}
		return f, watchFailed
	}
	return f, watchOK
}

// removeSubtree forgets directory p and everything below it, dropping
// their watches. Errors are expected (the kernel drops the watches of
// deleted directories itself) and ignored.
func (l *loop) removeSubtree(p string) {
	for _, q := range l.w.reg.removeSubtree(p) {
		_ = l.src.Remove(l.w.abs(q))
	}
}

// rewalk reconciles the watches with the tree after events were lost: it
// watches every directory not watched yet and drops the watches of
// directories that are gone.
func (l *loop) rewalk() {
	l.gen++
	l.w.reg.clearIgnored()
	l.addTree("", false)
	for _, p := range l.w.reg.stale(l.gen) {
		l.removeSubtree(p)
	}
}

// errChanged reports a directory replaced between lstat and open.
var errChanged = errors.New("directory changed while being watched")

// openDir opens directory abs for listing without following a symlink and
// checks that it is still the directory id.
func openDir(abs string, id fileID) (*os.File, error) {
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", abs, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat %q: %w", abs, err)
	}
	if (fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}) != id {
		unix.Close(fd)
		return nil, fmt.Errorf("open %q: %w", abs, errChanged)
	}
	return os.NewFile(uintptr(fd), abs), nil
}

// subdirs returns the names of the directories in f, which it closes.
func subdirs(f *os.File) ([]string, error) {
	defer f.Close()
	var names []string
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return names, fmt.Errorf("list %q: %w", f.Name(), err)
		}
	}
}
