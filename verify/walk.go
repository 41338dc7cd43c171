package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// Bounds of a Walker's reads.
const (
	// readAttempts is how often a file that changes while it is read is
	// read again before it is reported as unreadable.
	readAttempts = 3
	// retryDelay is the wait before the second attempt, doubled after.
	retryDelay = 20 * time.Millisecond
	// maxErrLen bounds an entry's Err (it travels in a manifest).
	maxErrLen   = 512
	dirBufSize  = 32 << 10
	linkBufSize = 256
)

// Walker lists a folder's tree from disk in walk order: the root's own
// entry first (index.RootPath, for its metadata, as the index journals
// it), then depth first, each directory's names in byte order. It
// skips what the scanner skips, so that both nodes list the same paths:
// paths matched by the folder's ignore patterns (and everything below an
// ignored directory), ncsync's reserved names, fifos, sockets and devices,
// names that are not valid UTF-8 and paths longer than index.MaxPathLen.
// Symlinks are listed, never followed. Each regular file is read through
// the chunker (chunker.DefaultConfig, as the primary's scanner) for its
// file id, with a stat before and after the read: a file that keeps
// changing while it is read is listed with Err set.
//
// Memory: one chunker buffer, and the sorted names of each directory on
// the current path from the root; no state per file. A Walker holds one
// open descriptor per directory level.
//
// A Walker is not safe for concurrent use. Close it when done.
type Walker struct {
	root    int
	ignore  *ignore.Matcher
	targets []string // not yet started, in walk order
	stack   []frame
	ch      *chunker.Chunker
	fh      chunker.FileHasher
	dirBuf  []byte
	linkBuf []byte
	files   uint64
	bytes   uint64
}

// frame is a directory being listed.
type frame struct {
	fd    int
	path  string
	names []string // sorted; each cleared once visited
	i     int
}

// NewWalker returns a Walker over the tree at root, skipping what m
// ignores (nil: nothing), listing paths (each with everything below it; no
// paths: the whole tree).
func NewWalker(root string, m *ignore.Matcher, paths []string) (*Walker, error) {
	targets, err := Targets(paths)
	if err != nil {
		return nil, err
	}
	ch, err := chunker.New(nil, chunker.DefaultConfig())
	if err != nil {
		return nil, err
	}
	fd, err := fsys.RetryEINTR(func() (int, error) {
		return unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("open folder root %q: %w", root, err)
	}
	return &Walker{root: fd, ignore: m, targets: targets, ch: ch,
		dirBuf: make([]byte, dirBufSize), linkBuf: make([]byte, linkBufSize)}, nil
}

// Close releases the walker's descriptors.
func (w *Walker) Close() error {
	for len(w.stack) > 0 {
		w.pop()
	}
	if w.root < 0 {
		return nil
	}
	err := unix.Close(w.root)
	w.root = -1
	return err
}

// Files and Bytes count the regular files and the bytes read so far.
func (w *Walker) Files() uint64 { return w.files }

// Bytes counts the file bytes read so far (rereads included).
func (w *Walker) Bytes() uint64 { return w.bytes }

// Next returns the next entry, or io.EOF after the last.
func (w *Walker) Next(ctx context.Context) (Entry, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Entry{}, err
		}
		if n := len(w.stack); n > 0 {
			f := &w.stack[n-1]
			if f.i == len(f.names) {
				w.pop()
				continue
			}
			name := f.names[f.i]
			f.names[f.i] = ""
			f.i++
			if e, ok := w.visit(ctx, f.fd, f.path, name); ok {
				return e, nil
			}
			continue
		}
		if len(w.targets) == 0 {
			return Entry{}, io.EOF
		}
		t := w.targets[0]
		w.targets = w.targets[1:]
		switch t {
		case "":
			root := w.rootEntry()
			names, err := w.list(w.root)
			if err != nil {
				return Entry{}, fmt.Errorf("list folder root: %w", err)
			}
			w.stack = append(w.stack, frame{fd: w.root, names: names})
			return root, nil
		case index.RootPath:
			return w.rootEntry(), nil
		}
		if e, ok := w.target(ctx, t); ok {
			return e, nil
		}
	}
}

// rootEntry is the folder root's own entry (index.RootPath): its
// metadata, replicated like any directory's.
func (w *Walker) rootEntry() Entry {
	var st unix.Stat_t
	if err := fsys.Fstat(w.root, &st); err != nil {
		return Entry{Path: index.RootPath, Kind: index.KindDir, Err: errText("stat", err)}
	}
	return entryOf(index.RootPath, index.KindDir, &st)
}

// target visits one requested path, resolving its parents one component
// at a time without following symlinks. A parent that is missing, not a
// directory or ignored leaves the path absent.
func (w *Walker) target(ctx context.Context, t string) (Entry, bool) {
	dirfd, parent := w.root, ""
	defer func() {
		if dirfd != w.root {
			unix.Close(dirfd)
		}
	}()
	comps := strings.Split(t, "/")
	last := len(comps) - 1
	for _, c := range comps[:last] {
		p := join(parent, c)
		if w.ignore.Match(p, true) {
			return Entry{}, false
		}
		fd, err := fsys.OpenDir(dirfd, c)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return Entry{}, false
		}
		if err != nil {
			return Entry{Path: t, Err: errText("open parent directory", err)}, true
		}
		if dirfd != w.root {
			unix.Close(dirfd)
		}
		dirfd, parent = fd, p
	}
	return w.visit(ctx, dirfd, parent, comps[last])
}

// visit examines name in the directory open at dirfd (path parent). It
// reports false for a path that is not listed (gone, ignored, reserved,
// special). A directory is pushed, to be listed next.
func (w *Walker) visit(ctx context.Context, dirfd int, parent, name string) (Entry, bool) {
	p := join(parent, name)
	if ignore.Reserved(name) || !utf8.ValidString(name) || len(p) > index.MaxPathLen {
		return Entry{}, false
	}
	for attempt := 0; ; attempt++ {
		var st unix.Stat_t
		if err := fsys.LstatAt(dirfd, name, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return Entry{}, false
			}
			return Entry{Path: p, Err: errText("stat", err)}, true
		}
		kind := fsys.KindOf(st.Mode)
		if kind == 0 || w.ignore.Match(p, kind == index.KindDir) {
			return Entry{}, false
		}
		e := entryOf(p, kind, &st)
		switch kind {
		case index.KindDir:
			w.push(dirfd, name, &e)
		case index.KindSymlink:
			var err error
			if e.Target, w.linkBuf, err = fsys.ReadlinkAt(dirfd, name, w.linkBuf); err != nil {
				e.Err = errText("read symlink", err)
			}
		case index.KindFile:
			err := w.readFile(ctx, dirfd, name, &e)
			switch {
			case errors.Is(err, fsys.ErrGone):
				return Entry{}, false
			case errors.Is(err, fsys.ErrUnsettled) && attempt+1 < readAttempts:
				if !fsys.Sleep(ctx, retryDelay<<attempt) {
					return Entry{Path: p, Err: errText("read", ctx.Err())}, true
				}
				continue
			case errors.Is(err, fsys.ErrUnsettled):
				e = Entry{Path: p, Kind: kind, Err: errText("read", fmt.Errorf("%w (tried %d times)", err, readAttempts))}
			case err != nil:
				e = Entry{Path: p, Kind: kind, Err: errText("read", err)}
			}
		}
		return e, true
	}
}

// readFile reads name in dirfd through the chunker and sets e's file id
// and metadata (from the stat after the read). The read counts only if
// the file's stat did not move and the bytes read equal its size.
func (w *Walker) readFile(ctx context.Context, dirfd int, name string, e *Entry) error {
	fd, err := fsys.OpenFile(dirfd, name)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
		return fsys.ErrGone
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var before, after unix.Stat_t
	if err := fsys.Fstat(fd, &before); err != nil {
		return err
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return fsys.ErrUnsettled // swapped for something else since the lstat
	}
	w.ch.Reset(fsys.FDReader(fd))
	w.fh.Reset()
	var n int64
	for i := 0; ; i++ {
		if i%64 == 63 && ctx.Err() != nil {
			return ctx.Err()
		}
		c, _, err := w.ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		w.fh.Add(c.ID)
		n += int64(c.Length)
		w.bytes += uint64(c.Length)
	}
	w.files++
	if err := fsys.Fstat(fd, &after); err != nil {
		return err
	}
	if !settled(&before, &after) || n != after.Size {
		return fsys.ErrUnsettled
	}
	*e = entryOf(e.Path, index.KindFile, &after)
	e.FileID = w.fh.Sum()
	return nil
}

// push opens directory name in dirfd and lists it onto the stack; a
// failure is recorded in e (nothing below it is listed).
func (w *Walker) push(dirfd int, name string, e *Entry) {
	fd, err := fsys.OpenDir(dirfd, name)
	if err != nil {
		e.Err = errText("open directory", err)
		return
	}
	names, err := w.list(fd)
	if err != nil {
		unix.Close(fd)
		e.Err = errText("list directory", err)
		return
	}
	w.stack = append(w.stack, frame{fd: fd, path: e.Path, names: names})
}

func (w *Walker) list(fd int) ([]string, error) {
	names, err := fsys.ReadNames(fd, w.dirBuf, nil)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func (w *Walker) pop() {
	n := len(w.stack) - 1
	if fd := w.stack[n].fd; fd != w.root {
		unix.Close(fd)
	}
	w.stack[n] = frame{}
	w.stack = w.stack[:n]
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// errText renders err for an entry's Err, bounded.
func errText(op string, err error) string {
	s := op + ": " + err.Error()
	if len(s) > maxErrLen {
		s = strings.ToValidUTF8(s[:maxErrLen], "") + "…"
	}
	return s
}
