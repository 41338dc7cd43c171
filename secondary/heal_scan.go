package secondary

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
	"github.com/ncsync/ncsync/scanner"
)

// divergence is a scanner.Store over one folder's index that journals
// nothing: the scanner compares the tree with the index as on a primary,
// and what it would journal (a path where the tree differs) or restat (the
// same content and metadata under another stat fingerprint) is recorded
// here instead. The index is only read.
type divergence struct {
	db     *index.DB
	folder string

	mu     sync.Mutex
	found  map[string]index.Entry // the tree's version of each differing path (Deleted: gone)
	restat map[string]index.Stat
	seq    uint64
}

// reset forgets what the last scan found.
func (d *divergence) reset() {
	d.mu.Lock()
	d.found, d.restat = map[string]index.Entry{}, map[string]index.Stat{}
	d.mu.Unlock()
}

// View implements scanner.Store.
func (d *divergence) View(fn func(scanner.Txn) error) error {
	return d.db.View(d.folder, func(tx *index.Tx) error { return fn(divTxn{d, tx}) })
}

// Update implements scanner.Store in a read transaction: the scanner's
// writes go to d.
func (d *divergence) Update(fn func(scanner.Txn) error) error {
	return d.db.View(d.folder, func(tx *index.Tx) error { return fn(divTxn{d, tx}) })
}

type divTxn struct {
	d  *divergence
	tx *index.Tx
}

func (t divTxn) Get(p string) (index.Entry, bool, error) {
	t.d.mu.Lock()
	e, ok := t.d.found[p]
	t.d.mu.Unlock()
	if ok {
		return e, true, nil
	}
	return t.tx.Get(p)
}

func (t divTxn) Journal(e index.Entry) (index.Entry, error) {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	t.d.seq++
	e.Seq = t.d.seq
	t.d.found[e.Path] = e
	return e, nil
}

func (t divTxn) SetStat(p string, st index.Stat) error {
	t.d.mu.Lock()
	t.d.restat[p] = st
	t.d.mu.Unlock()
	return nil
}

func (t divTxn) Walk(prefix string, fn func(index.Entry) error) error { return t.tx.Walk(prefix, fn) }

// noVersion stamps the scanner's entries, which are never journaled.
func noVersion() index.Version { return index.Version{} }

// audit compares the whole tree with the index, without holding applyMu:
// batches go on meanwhile, so what it finds is only a candidate, looked
// at again by a pass. It returns the paths to look at.
func (h *healer) audit(ctx context.Context) ([]string, error) {
	h.div.reset()
	res, err := h.scan.Scan(ctx, "")
	if err != nil {
		return nil, err
	}
	found := slices.Collect(maps.Keys(h.div.found))
	found = slices.AppendSeq(found, maps.Keys(h.div.restat))
	found = append(found, res.Failed...)
	if len(found) > 0 {
		h.log.Info("audit: paths differ from what ncsync last wrote", "paths", len(found))
	} else {
		h.log.Debug("audit: the tree is what ncsync last wrote")
	}
	return found, nil
}

// differs is the cheap first look at p, made under applyMu with the
// folder's root open at rootfd: false when the tree holds what the index
// says ncsync last wrote there (for a file or symlink the same stat
// fingerprint; for a directory the same inode, mode, owner and mtime),
// or nothing where the index has nothing, or when p is not the primary's
// to decide (ignored here, refused, ncsync's own names). A path that
// differs is then scanned.
func (h *healer) differs(tx *index.Tx, rootfd int, refused map[string]bool, p string) bool {
	if p == "" || inTree(refused, p) || slices.ContainsFunc(strings.Split(p, "/"), ignore.Reserved) {
		return false
	}
	e, ok, err := tx.Get(p)
	if err != nil {
		return true // the scanner will say
	}
	live := ok && !e.Deleted
	if p == index.RootPath {
		// The root's own metadata, like any directory's. Without an entry
		// (a primary that does not replicate it), nothing to put back.
		var st unix.Stat_t
		return live && (fsys.Fstat(rootfd, &st) != nil || !h.sameDir(&e, &st))
	}
	st, err := lstatBeneath(rootfd, p)
	if err != nil {
		gone := errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
		return !gone || live && !h.f.ignore.MatchPath(p, e.Kind == index.KindDir)
	}
	kind := fsys.KindOf(st.Mode)
	if h.f.ignore.MatchPath(p, kind == index.KindDir) {
		return false
	}
	switch {
	case !live || kind != e.Kind:
		return true
	case kind == index.KindDir:
		return !h.sameDir(&e, &st)
	}
	return fsys.StatOf(&st) != e.Stat
}

// sameDir reports whether the directory st is the one ncsync made for e
// (its inode, when recorded) with e's metadata as ncsync sets it.
func (h *healer) sameDir(e *index.Entry, st *unix.Stat_t) bool {
	if e.Stat.Ino != 0 && (e.Stat.Dev != st.Dev || e.Stat.Ino != st.Ino) {
		return false
	}
	if st.Mode&0o7777 != appliedMode(e.Mode) || st.Mtim.Nano() != e.MtimeNs {
		return false
	}
	return !h.s.opts.Apply.Chown || st.Uid == e.UID && st.Gid == e.GID
}

// equivalent reports whether the tree's version d of a path is e as
// ncsync writes it: the same content and replicated metadata, with the
// mode as applied and, when ncsync does not set owners, any owner.
func (h *healer) equivalent(d, e index.Entry) bool {
	if d.Kind != e.Kind || d.Deleted || e.Deleted || d.Size != e.Size || d.Target != e.Target ||
		d.FileID != e.FileID || d.Mode != appliedMode(e.Mode) || d.MtimeNs != e.MtimeNs {
		return false
	}
	return !h.s.opts.Apply.Chown || d.UID == e.UID && d.GID == e.GID
}

// appliedMode is the mode apply gives an entry's object: setuid and
// setgid are never set on a secondary.
func appliedMode(mode uint32) uint32 { return mode & 0o7777 &^ (unix.S_ISUID | unix.S_ISGID) }

// lstatBeneath stats p beneath rootfd without following a symlink on the
// way or at p.
func lstatBeneath(rootfd int, p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	parent, name := path.Split(p)
	dirfd, err := fsys.OpenDirBeneath(rootfd, strings.TrimSuffix(parent, "/"))
	if err != nil {
		return st, err
	}
	if dirfd != rootfd {
		defer unix.Close(dirfd)
	}
	return st, fsys.LstatAt(dirfd, name, &st)
}

// refusedPaths are the folder's paths whose last entry this node refused:
// what is there stays as it is (see applyBatch).
func (h *healer) refusedPaths() (map[string]bool, error) {
	list, err := h.s.db.Refused()
	if err != nil {
		return nil, fmt.Errorf("refused entries: %w", err)
	}
	out := map[string]bool{}
	for _, r := range list {
		if r.Folder == h.id {
			out[r.Path] = true
		}
	}
	return out, nil
}

// inTree reports whether p or one of its parents is in set.
func inTree(set map[string]bool, p string) bool {
	if len(set) == 0 {
		return false
	}
	for {
		if set[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}
