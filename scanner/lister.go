package scanner

import (
	"context"
	"strings"

	"github.com/ncsync/ncsync/index"
)

// lister answers "which live entries does the index hold directly under
// this directory", in name order, for the merge with a directory listing.
//
// The index can only walk a whole subtree, so asking it once per directory
// would read every entry once per ancestor. Instead, when a walk of a
// subtree fits in the cache limit, the lister keeps all of it grouped by
// parent directory and answers the subdirectories from memory; only when a
// subtree is larger than the limit does it keep just the direct children
// and walk again one level down. Memory stays bounded by the limit (plus
// one directory's children), reads stay close to one per entry, and the
// scan streams: nothing is loaded for the whole tree. The cost left is a
// subtree larger than the limit being read once more per level until its
// parts fit (a chain like data/alice/files with a million files below is
// read three times); an index call listing one directory's children would
// remove it.
//
// Cached entries have their chunk lists dropped (the scanner rereads the
// entry when it needs them) and tombstones are left out. Groups are taken
// out of the cache as they are used; groups never asked for (under an
// ignored directory, say) stay until the scan ends.
type lister struct {
	store  Store
	limit  int
	groups map[string][]index.Entry // parent dir → its live children, name order
	held   int                      // entries in groups
	whole  map[string]bool          // dirs whose whole subtree is in groups
}

func newLister(store Store, limit int) *lister {
	return &lister{store: store, limit: limit, groups: map[string][]index.Entry{}, whole: map[string]bool{}}
}

// children returns the live entries directly under dir ("" is the root).
func (l *lister) children(ctx context.Context, dir string) ([]index.Entry, error) {
	if kids, ok := l.groups[dir]; ok {
		delete(l.groups, dir)
		l.held -= len(kids)
		return kids, nil
	}
	if l.covered(dir) {
		return nil, nil
	}
	return l.load(ctx, dir)
}

// covered reports whether dir lies strictly inside a subtree held whole,
// so that no group for it means no children. The walker asks for each
// directory at most once per scan (groups are consumed by the answer).
func (l *lister) covered(dir string) bool {
	if dir == "" {
		return false
	}
	if l.whole[""] {
		return true
	}
	for i := 0; i < len(dir); i++ {
		if dir[i] == '/' && l.whole[dir[:i]] {
			return true
		}
	}
	return false
}

func (l *lister) load(ctx context.Context, dir string) ([]index.Entry, error) {
	var (
		direct   []index.Entry
		groups   = map[string][]index.Entry{}
		n        int
		overflow bool
	)
	under := dir + "/"
	if dir == "" {
		under = ""
	}
	err := l.store.View(func(tx Txn) error {
		seen := 0
		return tx.Walk(dir, func(e index.Entry) error {
			if seen++; seen%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if e.Deleted || !strings.HasPrefix(e.Path, under) || e.Path == dir || e.Path == index.RootPath {
				return nil
			}
			e.Chunks = nil
			parent := parentOf(e.Path)
			if parent == dir {
				direct = append(direct, e)
				return nil
			}
			if overflow {
				return nil
			}
			groups[parent] = append(groups[parent], e)
			if n++; l.held+n > l.limit {
				overflow = true
				clear(groups)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if !overflow {
		for k, v := range groups {
			l.held += len(v) - len(l.groups[k])
			l.groups[k] = v
		}
		l.whole[dir] = true
	}
	return direct, nil
}

// parentOf returns the directory part of a clean relative path ("" for a
// top-level name).
func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// baseOf returns the last component of a clean relative path.
func baseOf(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// join appends name to the directory path dir ("" is the root).
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
