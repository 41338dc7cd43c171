package scanner

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// walker is the scan's one reading goroutine. It visits the tree depth
// first in name order and sends every decision, in journal order, to the
// committer; files to read go to the hashers as well and the committer
// waits for each in turn. Deletions found on the way are only remembered
// (as the roots of deleted subtrees) and sent at the end.
type walker struct {
	ctx   context.Context
	s     *Scanner
	root  int
	order chan<- *item
	jobs  chan<- *item
	list  *lister
	dead  []deadRoot      // roots of subtrees found deleted, in walk order
	seen  map[string]bool // ancestors of targets already visited: is it a directory
	buf   []byte          // getdents buffer
}

func newWalker(ctx context.Context, s *Scanner, root int, order, jobs chan<- *item) *walker {
	return &walker{
		ctx: ctx, s: s, root: root, order: order, jobs: jobs,
		list: newLister(s.store, s.cacheLimit),
		seen: map[string]bool{},
		buf:  make([]byte, 32<<10),
	}
}

func (w *walker) run(targets []string) error {
	if err := w.visitRoot(); err != nil {
		return err
	}
	for _, t := range targets {
		if err := w.target(t); err != nil {
			return err
		}
	}
	return w.deletions()
}

// visitRoot journals the folder root's own metadata (mode, owner, mtime)
// as the entry index.RootPath when it changed, so that it is replicated
// like any directory's. Every scan looks: creating or removing a name at
// the top moves the root's mtime.
func (w *walker) visitRoot() error {
	var st unix.Stat_t
	if err := fsys.Fstat(w.root, &st); err != nil {
		w.fail("", "stat the folder root", err)
		return nil
	}
	old, err := w.get(index.RootPath)
	if err != nil {
		return err
	}
	if old != nil && old.Kind != index.KindDir {
		old = nil
	}
	return w.decide(entryOf(index.RootPath, index.KindDir, &st), old)
}

// target scans one requested path: its parent directories one by one (each
// as a single path: new ones are journaled, none is followed if it is a
// symlink), then the path itself recursively.
func (w *walker) target(t string) error {
	if t == "" {
		return w.dir(w.root, "")
	}
	dirfd, parent := w.root, ""
	defer func() {
		if dirfd != w.root {
			unix.Close(dirfd)
		}
	}()
	comps := strings.Split(t, "/")
	last := len(comps) - 1
	for _, name := range comps[:last] {
		p := join(parent, name)
		isDir, ok := w.seen[p]
		if !ok {
			old, err := w.get(p)
			if err != nil {
				return err
			}
			if isDir, err = w.visit(dirfd, parent, name, old, false); err != nil {
				return err
			}
			w.seen[p] = isDir
		}
		if !isDir {
			return nil // gone, ignored or no longer a directory: handled above
		}
		fd, err := fsys.OpenDir(dirfd, name)
		if err != nil {
			w.fail(p, "open directory", err)
			return nil
		}
		if dirfd != w.root {
			unix.Close(dirfd)
		}
		dirfd, parent = fd, p
	}
	old, err := w.get(t)
	if err != nil {
		return err
	}
	_, err = w.visit(dirfd, parent, comps[last], old, true)
	return err
}

// dir merges the sorted listing of the directory open at fd with the
// index's children of p, visiting what is on disk and remembering what is
// gone.
func (w *walker) dir(fd int, p string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	names, err := readNames(fd, w.buf, nil)
	if err != nil {
		w.fail(p, "read directory", err)
		return nil
	}
	slices.Sort(names)
	kids, err := w.list.children(w.ctx, p)
	if err != nil {
		return err
	}
	i := 0
	for _, name := range names {
		for ; i < len(kids) && baseOf(kids[i].Path) < name; i++ {
			w.missing(&kids[i])
		}
		var old *index.Entry
		if i < len(kids) && baseOf(kids[i].Path) == name {
			old = &kids[i]
			i++
		}
		if _, err := w.visit(fd, p, name, old, true); err != nil {
			return err
		}
	}
	for ; i < len(kids); i++ {
		w.missing(&kids[i])
	}
	return nil
}

// visit examines name in the directory open at dirfd (path parent) against
// old, its live index entry or nil, and recurses into it if it is a
// directory and recurse is set. It reports whether the path is a directory
// the scan accepts (neither ignored nor skipped).
func (w *walker) visit(dirfd int, parent, name string, old *index.Entry, recurse bool) (bool, error) {
	p := join(parent, name)
	if ignore.Reserved(name) {
		return false, nil
	}
	if reason := badName(name, p); reason != "" {
		w.skip(p, reason, slog.LevelWarn)
		return false, nil
	}
	var st unix.Stat_t
	if err := fsys.LstatAt(dirfd, name, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			w.missing(old)
		} else {
			w.fail(p, "stat", err)
		}
		return false, nil
	}
	kind := fsys.KindOf(st.Mode)
	if w.s.opts.Ignore.Match(p, kind == index.KindDir) {
		return false, nil
	}
	if kind == 0 {
		w.skip(p, fsys.TypeName(st.Mode), slog.LevelInfo)
		w.missing(old)
		return false, nil
	}
	w.s.ctr.walked.Add(1)
	if old != nil && old.Kind != kind {
		// Type change. A directory's children go first: a secondary
		// refuses entries under a parent that is not a directory.
		if old.Kind == index.KindDir {
			if err := w.tombstoneTree(old.Path); err != nil {
				return false, err
			}
		}
		old = nil
	}
	switch kind {
	case index.KindDir:
		return true, w.visitDir(dirfd, name, p, &st, old, recurse)
	case index.KindSymlink:
		return false, w.visitSymlink(dirfd, name, p, &st, old)
	default:
		return false, w.visitFile(p, &st, old)
	}
}

func (w *walker) visitDir(dirfd int, name, p string, st *unix.Stat_t, old *index.Entry, recurse bool) error {
	if err := w.decide(entryOf(p, index.KindDir, st), old); err != nil {
		return err
	}
	if !recurse {
		return nil
	}
	fd, err := fsys.OpenDir(dirfd, name)
	if err != nil {
		w.fail(p, "open directory", err)
		return nil
	}
	defer unix.Close(fd)
	return w.dir(fd, p)
}
