package watcher

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

// handleEvent turns one inotify event into dirty paths and keeps the
// watches in step with the tree.
func (l *loop) handleEvent(ev fsnotify.Event) error {
	l.w.events.Add(1)
	if dir := l.w.opts.MarkerDir; dir != "" && (ev.Name == dir || filepath.Dir(ev.Name) == dir) {
		if name := filepath.Base(ev.Name); strings.HasPrefix(name, flushPrefix) {
			l.markerSeen(name)
		}
		return nil
	}
	p, ok := l.w.rel(ev.Name)
	if !ok {
		l.log.Debug("event outside the folder", "name", ev.Name)
		return nil
	}
	if p == "" {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return fmt.Errorf("watch %q: %w", l.w.root, ErrRootGone)
		}
		// The root's own metadata (a chmod, chown or touch of it): what
		// is below it has events of its own.
		if ev.Has(fsnotify.Chmod) {
			l.touch(index.RootPath)
		}
		return nil
	}
	if dir, name := splitPath(p); ignore.Reserved(name) {
		if dir == "" && (ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
			// One of ncsync's own names (a promoted secondary's private
			// directory, a marker an earlier version left) came or went
			// at the top: the root's mtime moved.
			l.touch(index.RootPath)
		}
		return nil
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		l.gone(p)
	}
	switch {
	case ev.Has(fsnotify.Create):
		l.created(p)
	case ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod):
		l.changed(p)
	}
	return nil
}

// gone handles p removed or renamed away (the new name, if inside the
// folder, comes as a Create). A directory's watches, and those of the
// directories below it, are dropped: fsnotify drops a moved directory's
// own watch, and the ones below would report under the old path.
func (l *loop) gone(p string) {
	if l.w.reg.isIgnored(p) {
		l.w.reg.removeSubtree(p)
		return
	}
	if _, known := l.w.reg.get(p); known {
		l.removeSubtree(p)
		l.touch(p)
		return
	}
	if !l.w.opts.Ignore.Match(p, false) {
		l.touch(p)
	}
}

// created handles p created or moved in. A directory is watched (with
// everything below it) before it is reported, so the scanner's rescan of
// it starts after the watches exist.
func (l *loop) created(p string) {
	var st unix.Stat_t
	if err := unix.Lstat(l.w.abs(p), &st); err != nil {
		l.changed(p) // gone again; its removal follows
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if l.w.opts.Ignore.Match(p, true) {
			l.w.reg.addIgnored(p)
			return
		}
		id := fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
		if cur, ok := l.w.reg.get(p); !ok || !cur.watched || cur.id != id {
			// Not yet met by a walk (one that did, as for mkdir -p, added
			// its watch before listing it: nothing can have been missed).
			l.addTree(p, false)
			l.checkDegraded()
		}
		l.touch(p)
		return
	}
	if l.w.reg.isDir(p) { // a directory replaced while its removal went unseen
		l.gone(p)
	}
	if !l.w.opts.Ignore.Match(p, false) {
		l.touch(p)
	}
}

// changed handles a write or attribute change of p.
func (l *loop) changed(p string) {
	if l.w.reg.isIgnored(p) {
		return
	}
	if _, known := l.w.reg.get(p); !known && l.w.opts.Ignore.Match(p, false) {
		return
	}
	l.touch(p)
}

// touch marks p dirty. Past maxPending paths held, everything collapses
// into one whole-folder rescan, which bounds memory in a storm.
func (l *loop) touch(p string) {
	if l.deb.len()+l.box.len() >= l.maxPending {
		l.w.overflows.Add(1)
		l.log.Warn("too many dirty paths: rescanning the whole folder", "limit", l.maxPending)
		l.deb.clear()
		l.box.wholeFolder(true)
		return
	}
	l.deb.touch(p, time.Now())
}
