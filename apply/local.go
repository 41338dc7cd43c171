package apply

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/conflict"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// LocalKeeper preserves what something other than ncsync put at a path
// (a local edit on a secondary, a file created there) before Apply replaces
// or removes it. Set it in Options.Local; Apply calls it from its own
// goroutine, one call at a time.
//
// With a LocalKeeper, the caller must give Apply what ncsync last wrote
// at every entry's path (Known.LastWritten): anything found at a path
// whose LastWritten is zero is then a local object.
type LocalKeeper interface {
	// LastWritten returns the stat recorded after ncsync's last change to
	// path; ok is false if ncsync never wrote it or last removed it.
	// Apply asks it about the objects inside a directory it is about to
	// remove or replace.
	LastWritten(path string) (st index.Stat, ok bool)
	// Keep preserves the object v describes. It must open v.Name in v.Dir
	// without following a symlink and must not keep v.Dir. ctx is Apply's:
	// once it ends, Keep should give up with its error. An error leaves
	// the object where it is and fails the entry, which is retried: nothing
	// local is ever replaced without having been kept first.
	Keep(ctx context.Context, v LocalVersion) error
}

// LocalVersion is an object that changed locally and is about to be
// replaced or removed.
type LocalVersion struct {
	Path        string      // folder-relative path of the object
	Dir         int         // fd of its directory, valid during Keep only
	Name        string      // its name in Dir
	Kind        index.Kind  // what it is
	Found       index.Stat  // its stat as Apply found it
	LastWritten index.Stat  // what ncsync last wrote there, as recorded; zero: never written
	By          index.Entry // the replicated change that replaces or removes it (for a child of a removed directory, the directory's entry)
}

// beforeReplace runs before Apply replaces or removes the object st at
// name in d for entry e. Without a LocalKeeper it refuses a changed
// non-directory (ErrLocalChange), as before. With one, a changed file or
// symlink is kept first (conflict.BeforeApply decides), and for a
// directory every object beneath it that ncsync did not write is kept.
func (b *batch) beforeReplace(ctx context.Context, d *dirState, name string, i int, st *unix.Stat_t) error {
	e := &b.entries[i]
	k := b.f.opts.Local
	if k == nil {
		return checkLocal(e, b.known.writtenAt(i), st)
	}
	if isDir(st) {
		if e.Kind == index.KindDir && !e.Deleted {
			return nil // stays a directory
		}
		return b.keepTree(ctx, k, d.fd, name, e.Path, e)
	}
	return b.keepIfChanged(ctx, k, d.fd, name, e.Path, b.lastWritten(e.Path, b.known.writtenAt(i), st), e, st)
}

// keepIfChanged keeps the non-directory st at name in dirfd (path p) if it
// is not what ncsync last wrote there (written; zero: never written) and
// differs from what e puts there.
func (b *batch) keepIfChanged(ctx context.Context, k LocalKeeper, dirfd int, name, p string, written index.Stat, e *index.Entry, st *unix.Stat_t) error {
	current := fingerprint(st)
	w := conflict.Fingerprint{}
	if written != (index.Stat{}) {
		// The recorded stat has no type: a changed object has a new ctime,
		// so taking the current type loses nothing.
		w = conflict.Fingerprint{Kind: current.Kind, Ino: written.Ino, Size: written.Size,
			MtimeNs: written.MtimeNs, CtimeNs: written.CtimeNs}
	}
	incoming := conflict.Absent
	if !e.Deleted && e.Path == p {
		incoming = conflictKind(e.Kind)
	}
	if conflict.BeforeApply(w, current, incoming) != conflict.ActionPreserveThenApply {
		return nil
	}
	if e.Path == p && b.sameAsIncoming(dirfd, name, e, st) {
		// The local object already is what the primary sends (a crash
		// between rename and index commit, a pre-seeded tree): nothing of
		// it would be lost.
		return nil
	}
	v := LocalVersion{Path: p, Dir: dirfd, Name: name, Kind: fsys.KindOf(st.Mode), Found: fsys.StatOf(st), LastWritten: written, By: *e}
	if err := k.Keep(ctx, v); err != nil {
		return fmt.Errorf("apply %q: keep the local version first: %w: %w", p, ErrLocalChange, err)
	}
	return nil
}

// keepTree keeps every object beneath the directory name in dirfd (path
// p) that ncsync did not write, before e removes or replaces it.
// Directories themselves have no content to keep; ncsync's own temp files
// are skipped. However deep the tree, it holds a bounded number of fds.
func (b *batch) keepTree(ctx context.Context, k LocalKeeper, dirfd int, name, p string, e *index.Entry) error {
	return walkTree(dirfd, name, p, func(fd int, child, cp string) (bool, error) {
		if isTemp(child) {
			return false, nil
		}
		st, err := lstatAt(fd, child)
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("apply %q: stat %q: %w", e.Path, cp, err)
		}
		if isDir(&st) {
			return true, nil
		}
		if fsys.KindOf(st.Mode) == 0 {
			return false, nil // fifos, sockets, devices: nothing to preserve
		}
		written, _ := k.LastWritten(cp)
		return false, b.keepIfChanged(ctx, k, fd, child, cp, b.lastWritten(cp, written, &st), e, &st)
	}, nil)
}

// lastWritten returns what ncsync last wrote at p: recorded, from the
// caller, unless it does not match st and this batch wrote p since (its
// stat is not in the caller's index yet). The search of the batch is
// linear, so it is made only on a mismatch.
func (b *batch) lastWritten(p string, recorded index.Stat, st *unix.Stat_t) index.Stat {
	if recorded.Ino == st.Ino && recorded.CtimeNs == st.Ctim.Nano() {
		return recorded
	}
	for i := len(b.entries) - 1; i >= 0; i-- {
		if b.entries[i].Path == p && b.results[i].Err == nil && b.results[i].Stat != (index.Stat{}) {
			return b.results[i].Stat
		}
	}
	return recorded
}

// sameAsIncoming reports whether the local object at name already holds
// e's content: a symlink with e's target, or a file of e's size whose
// bytes match each of e's chunks. Metadata is not compared.
func (b *batch) sameAsIncoming(dirfd int, name string, e *index.Entry, st *unix.Stat_t) bool {
	switch {
	case e.Deleted:
		return false
	case e.Kind == index.KindSymlink && fsys.KindOf(st.Mode) == index.KindSymlink:
		buf := make([]byte, len(e.Target)+1)
		n, err := unix.Readlinkat(dirfd, name, buf)
		return err == nil && n == len(e.Target) && string(buf[:n]) == e.Target
	case e.Kind != index.KindFile || fsys.KindOf(st.Mode) != index.KindFile || st.Size != e.Size:
		return false
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	v, err := verifyPrefix(fd, e, nil) // partial.go
	var after unix.Stat_t
	return err == nil && v.chunks == len(e.Chunks) && unix.Fstat(fd, &after) == nil && after.Size == v.off
}

// growTo returns a buffer of n bytes, reusing buf when it is large enough.
func growTo(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

func fingerprint(st *unix.Stat_t) conflict.Fingerprint {
	return conflict.Fingerprint{Kind: conflictKind(fsys.KindOf(st.Mode)), Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
}

func conflictKind(k index.Kind) conflict.Kind {
	switch k {
	case index.KindFile:
		return conflict.File
	case index.KindDir:
		return conflict.Dir
	case index.KindSymlink:
		return conflict.Symlink
	}
	return conflict.Absent
}
