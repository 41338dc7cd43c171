package apply

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// finish ends a batch: it sets directory metadata, deepest first and after
// all children, makes the directories durable, records the stat of Dir
// entries and closes every fd the batch opened.
func (b *batch) finish() {
	defer b.closeDirs()
	list := b.touchedDirs()
	if len(list) == 0 {
		return
	}
	for _, d := range list {
		b.restoreDir(d)
	}
	if err := b.syncDirs(list); err != nil {
		b.f.log.Error("directories of the batch are not durable", "err", err)
		for i := range b.results {
			if b.results[i].Err == nil {
				b.results[i].Err = fmt.Errorf("apply %q: %w", b.entries[i].Path, err)
			}
		}
	}
	for _, d := range list {
		if len(d.entries) == 0 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(d.fd, &st) == nil {
			for _, i := range d.entries {
				b.results[i].Stat = fsys.StatOf(&st)
			}
		}
	}
}

// touchedDirs lists the directories whose metadata the batch restores,
// deepest first: those it created, changed or has an entry for.
func (b *batch) touchedDirs() []*dirState {
	var list []*dirState
	for _, d := range b.dirs {
		if d.touched || d.created || len(d.entries) > 0 {
			list = append(list, d)
		}
	}
	slices.SortFunc(list, func(x, y *dirState) int {
		return cmp.Compare(depth(y.path), depth(x.path))
	})
	return list
}

// restoreDir sets d's replicated metadata: from the batch's last Dir entry
// for it, else from Known.Dirs (everything for a directory this batch created
// as a missing parent, only the mtime for others).
func (b *batch) restoreDir(d *dirState) {
	if n := len(d.entries); n > 0 {
		e := &b.entries[d.entries[n-1]]
		if err := b.setMeta(d.fd, e.UID, e.GID, e.Mode, e.MtimeNs); err != nil {
			for _, i := range d.entries {
				if b.results[i].Err == nil {
					b.fail(i, fmt.Errorf("set metadata of directory %q: %w", e.Path, err))
				}
			}
		}
		return
	}
	if b.known.Dirs == nil {
		return
	}
	m, ok := b.known.Dirs(d.path)
	if !ok || m.Deleted || m.Kind != index.KindDir {
		return
	}
	var err error
	if d.created {
		err = b.setMeta(d.fd, m.UID, m.GID, m.Mode, m.MtimeNs)
	} else {
		err = futimens(d.fd, m.MtimeNs)
	}
	if err != nil {
		b.f.log.Warn("could not restore directory metadata", "path", d.path, "err", err)
	}
}

// syncDirs makes the batch's directory changes durable: an fsync of each
// directory, or one syncfs.
func (b *batch) syncDirs(list []*dirState) error {
	if b.syncFS(len(list)) {
		if err := unix.Syncfs(b.f.root); err != nil {
			return fmt.Errorf("syncfs: %w", err)
		}
		return nil
	}
	return fsyncDirs(list)
}

// fsyncDirs fsyncs each directory of list.
func fsyncDirs(list []*dirState) error {
	fds := make([]int, len(list))
	for k, d := range list {
		fds[k] = d.fd
	}
	for k, err := range fsyncAll(fds) {
		if err != nil {
			return fmt.Errorf("fsync directory %q: %w", list[k].path, err)
		}
	}
	return nil
}

// depth is the number of directories above p's last component; -1 for
// the root.
func depth(p string) int {
	if p == "" {
		return -1
	}
	return strings.Count(p, "/")
}

func (b *batch) closeDirs() {
	for _, d := range b.dirs {
		d.close()
	}
	clear(b.dirs)
}
