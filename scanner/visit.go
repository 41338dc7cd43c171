package scanner

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// visitFile decides what a regular file needs: nothing if its stat
// fingerprint is unchanged, a new entry reusing the old chunks if only its
// permissions or owner changed, otherwise a read (by a hasher).
//
// Reusing the chunks without reading is done only when the inode, size and
// mtime are unchanged and mode, uid or gid differ from the entry: a chmod
// or chown explains the new ctime. A ctime change with no such explanation
// (a write followed by restoring the mtime, a chown and back, an xattr
// change) is read again, and if the content and metadata turn out the same
// only the stat is updated. The remaining blind spot, a chmod together with
// a same-size rewrite that restores the mtime, is accepted.
func (w *walker) visitFile(p string, st *unix.Stat_t, old *index.Entry) error {
	if old != nil && old.Stat == fsys.StatOf(st) {
		return nil
	}
	if old != nil && metadataOnly(old, st) {
		full, err := w.get(p) // the cached entry has no chunk list
		if err != nil {
			return err
		}
		if full != nil && full.Kind == index.KindFile && full.Stat == old.Stat {
			e := *full
			meta := entryOf(p, index.KindFile, st)
			e.Mode, e.UID, e.GID, e.Stat = meta.Mode, meta.UID, meta.GID, w.s.smudge(meta.Stat)
			return w.decide(e, old)
		}
	}
	it := &item{entry: index.Entry{Path: p}, done: make(chan struct{})}
	if old != nil {
		it.old, it.hasOld = *old, true
	}
	return w.emit(it)
}

func metadataOnly(old *index.Entry, st *unix.Stat_t) bool {
	o, now := old.Stat, fsys.StatOf(st)
	return o.CtimeNs != 0 && // not smudged (see Scanner.smudge)
		o.Dev == now.Dev && o.Ino == now.Ino && o.Size == now.Size && o.MtimeNs == now.MtimeNs &&
		old.Size == now.Size && old.MtimeNs == now.MtimeNs &&
		(old.Mode != st.Mode&0o7777 || old.UID != st.Uid || old.GID != st.Gid)
}

// visitSymlink records a symlink and its target; the target is never
// followed. The link is stat'ed again after readlink so that a link
// replaced in between is not recorded with the other link's target.
func (w *walker) visitSymlink(dirfd int, name, p string, st *unix.Stat_t, old *index.Entry) error {
	if old != nil && old.Stat == fsys.StatOf(st) {
		return nil
	}
	for range w.s.maxAttempts {
		target, err := readlinkAt(dirfd, name)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				return nil // gone or replaced: the next scan sees what it became
			}
			w.fail(p, "readlink", err)
			return nil
		}
		var after unix.Stat_t
		if err := fsys.LstatAt(dirfd, name, &after); err != nil && !errors.Is(err, unix.ENOENT) {
			w.fail(p, "stat", err)
			return nil
		} else if err != nil || after.Mode&unix.S_IFMT != unix.S_IFLNK {
			return nil // gone or replaced: the next scan sees what it became
		}
		if fsys.StatOf(&after) != fsys.StatOf(st) {
			*st = after
			continue
		}
		if !utf8.ValidString(target) {
			w.skip(p, "symlink target is not valid UTF-8", slog.LevelWarn)
			w.missing(old)
			return nil
		}
		e := entryOf(p, index.KindSymlink, st)
		e.Target = target
		return w.decide(e, old)
	}
	w.fail(p, "readlink", fsys.ErrUnsettled)
	return nil
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := fsys.RetryEINTR(func() (int, error) { return unix.Readlinkat(dirfd, name, buf) })
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// decide sends e to be journaled if it differs from old in anything
// replicated, or only its stat to be recorded if just the fingerprint moved.
func (w *walker) decide(e index.Entry, old *index.Entry) error {
	if old != nil && index.SameContent(*old, e) {
		if old.Stat == e.Stat {
			return nil
		}
		return w.emit(&item{op: opSetStat, entry: e})
	}
	return w.emit(&item{op: opJournal, entry: e})
}

// get reads p's live entry (nil if none or a tombstone).
func (w *walker) get(p string) (*index.Entry, error) {
	var e index.Entry
	var ok bool
	err := w.s.store.View(func(tx Txn) error {
		var err error
		e, ok, err = tx.Get(p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", p, err)
	}
	if !ok || e.Deleted {
		return nil, nil
	}
	return &e, nil
}

// badName says why a path cannot be replicated, or "".
func badName(name, p string) string {
	switch {
	case !utf8.ValidString(name):
		return "name is not valid UTF-8"
	case len(p) > index.MaxPathLen:
		return "path is longer than " + strconv.Itoa(index.MaxPathLen) + " bytes"
	}
	return ""
}

func (w *walker) skip(p, reason string, level slog.Level) {
	w.s.ctr.skipped.Add(1)
	w.s.log.Log(w.ctx, level, "skipping path", "path", strconv.Quote(p), "reason", reason)
}

func (w *walker) fail(p, op string, err error) { w.s.fail(p, op, err) }

// missing records that old (may be nil) is no longer on disk. Ignored and
// reserved paths are left alone: an ignore pattern added later must not
// delete the secondaries' copies.
func (w *walker) missing(old *index.Entry) {
	if old == nil || ignore.Reserved(baseOf(old.Path)) ||
		w.s.opts.Ignore.Match(old.Path, old.Kind == index.KindDir) {
		return
	}
	w.dead = append(w.dead, deadRoot{path: old.Path, kind: old.Kind})
}
