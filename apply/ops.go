package apply

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// remove applies a tombstone: the object at e.Path goes, a directory with
// everything beneath it (the primary deleted all of it). Already gone is
// success.
func (b *batch) remove(ctx context.Context, i int) error {
	e := &b.entries[i]
	parent, name := split(e.Path)
	d, err := b.dir(parent, false)
	var re *RefusedError
	if errors.Is(err, unix.ENOENT) || errors.As(err, &re) && re.Reason == reasonNotDir {
		return nil // nothing can be there
	}
	if err != nil {
		return err
	}
	st, err := lstatAt(d.fd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %q: %w", e.Path, err)
	}
	if err := b.beforeReplace(ctx, d, name, i, &st); err != nil {
		return err
	}
	d.touched = true
	if isDir(&st) {
		b.forget(e.Path)
		err = removeAll(d.fd, name)
	} else {
		err = unix.Unlinkat(d.fd, name, 0)
		if errors.Is(err, unix.EISDIR) { // replaced by a directory meanwhile
			b.forget(e.Path)
			if st, err = lstatAt(d.fd, name); err == nil {
				err = b.beforeReplace(ctx, d, name, i, &st)
			}
			if err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
			err = removeAll(d.fd, name)
		}
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete %q: %w", e.Path, err)
	}
	return nil
}

// mkdir makes sure a directory exists at entries[i].Path, replacing a
// non-directory there. Its metadata is set by finish, after its children.
func (b *batch) mkdir(ctx context.Context, i int) error {
	e := &b.entries[i]
	parent, name := split(e.Path)
	pd, err := b.dir(parent, true)
	if err != nil {
		return err
	}
	st, err := lstatAt(pd.fd, name)
	switch {
	case err == nil && isDir(&st):
	case err == nil || errors.Is(err, unix.ENOENT):
		if err == nil { // a file or symlink in the way: the type changed
			if err := b.beforeReplace(ctx, pd, name, i, &st); err != nil {
				return err
			}
			pd.touched = true
			if err := unix.Unlinkat(pd.fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("replace %q with a directory: %w", e.Path, err)
			}
		}
		pd.touched = true
		fd, err := b.f.makeDir(pd.fd, name)
		switch {
		case err == nil:
			b.forget(e.Path)
			b.dirs[e.Path] = &dirState{path: e.Path, fd: fd}
		case !errors.Is(err, unix.EEXIST):
			return fmt.Errorf("create directory %q: %w", e.Path, err)
		}
	default:
		return fmt.Errorf("stat %q: %w", e.Path, err)
	}
	d, err := b.dir(e.Path, false)
	if err != nil {
		return err
	}
	d.entries = append(d.entries, i)
	return nil
}

// symlink creates entries[i] as a temp symlink in the private directory,
// sets its owner and mtime there (where no one else can reach the name) and
// renames it over the target, so the path never goes missing.
func (b *batch) symlink(ctx context.Context, i int) error {
	e := &b.entries[i]
	parent, name := split(e.Path)
	d, err := b.dir(parent, true)
	if err != nil {
		return err
	}
	tmpdir, tmp, err := b.f.newTemp(d.fd, func(tmpdir int, tmp string) error {
		return unix.Symlinkat(e.Target, tmpdir, tmp)
	})
	if err != nil {
		return fmt.Errorf("create temp symlink for %q: %w", e.Path, err)
	}
	d.touched = true
	if err := b.placeSymlink(ctx, d, tmpdir, tmp, name, i); err != nil {
		_ = unix.Unlinkat(tmpdir, tmp, 0)
		return err
	}
	st, err := lstatAt(d.fd, name)
	if err != nil {
		return fmt.Errorf("stat %q: %w", e.Path, err)
	}
	b.results[i].Stat = fsys.StatOf(&st)
	return nil
}

func (b *batch) placeSymlink(ctx context.Context, d *dirState, tmpdir int, tmp, name string, i int) error {
	e := &b.entries[i]
	if b.f.opts.Chown {
		if err := unix.Fchownat(tmpdir, tmp, int(e.UID), int(e.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown symlink %q: %w", e.Path, err)
		}
	}
	if err := lutimens(tmpdir, tmp, e.MtimeNs); err != nil {
		return fmt.Errorf("set mtime of symlink %q: %w", e.Path, err)
	}
	var forgets []string
	err := b.prepareTarget(ctx, d, name, i, &forgets)
	for _, p := range forgets {
		b.forget(p)
	}
	if err != nil {
		return err
	}
	if err := unix.Renameat(tmpdir, tmp, d.fd, name); err != nil {
		return fmt.Errorf("rename symlink into place %q: %w", e.Path, err)
	}
	return nil
}

// prepareTarget readies name in d to be renamed over with e: a directory
// there is removed with its contents (the type changed on the primary;
// its path is added to forgets, for the batch's goroutine to drop from its
// cache), a non-directory must still be what the caller last recorded.
func (b *batch) prepareTarget(ctx context.Context, d *dirState, name string, i int, forgets *[]string) error {
	e := &b.entries[i]
	st, err := lstatAt(d.fd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %q: %w", e.Path, err)
	}
	if err := b.beforeReplace(ctx, d, name, i, &st); err != nil || !isDir(&st) {
		return err
	}
	*forgets = append(*forgets, e.Path)
	if err := removeAll(d.fd, name); err != nil {
		return fmt.Errorf("remove directory %q to replace it: %w", e.Path, err)
	}
	return nil
}

// checkLocal refuses to replace or remove a non-directory at e.Path that is
// not what ncsync last wrote there (written, when known). Directories are
// not checked: their stat changes with every child this package writes.
func checkLocal(e *index.Entry, written index.Stat, st *unix.Stat_t) error {
	if written == (index.Stat{}) || isDir(st) {
		return nil
	}
	if fsys.StatOf(st) != written {
		return fmt.Errorf("apply %q: %w", e.Path, ErrLocalChange)
	}
	return nil
}
