package watcher

import (
	"slices"
	"strings"
	"sync"
)

// fileID names a directory independently of its path, so that a directory
// moved while its events were lost is still recognised (inotify keeps one
// watch per inode: adding the new path would silently reuse the old one).
type fileID struct{ dev, ino uint64 }

// dirState is what the registry knows about one directory.
type dirState struct {
	id      fileID
	watched bool
	cause   error  // why it is not watched
	gen     uint64 // walk generation that last saw it
}

// registry records every directory of the tree the watcher has met, by
// relative path: watched ones, ones it could not watch, and ignored ones
// (not watched on purpose, remembered so that their removal is known to be
// a directory's). Safe for concurrent use: the run loop writes, Stats and
// Unwatched read.
type registry struct {
	mu      sync.Mutex
	dirs    map[string]*dirState
	byID    map[fileID]string
	kids    map[string]map[string]struct{} // parent → child names in dirs
	ignored map[string]struct{}
	watched int
}

func newRegistry() *registry {
	return &registry{
		dirs:    make(map[string]*dirState),
		byID:    make(map[fileID]string),
		kids:    make(map[string]map[string]struct{}),
		ignored: make(map[string]struct{}),
	}
}

// get returns the state of directory p.
func (r *registry) get(p string) (dirState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.dirs[p]
	if !ok {
		return dirState{}, false
	}
	return *st, true
}

// pathOf returns the path registered for id.
func (r *registry) pathOf(id fileID) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.byID[id]
	return p, ok
}

// isDir reports whether p is a directory the registry knows, ignored or not.
func (r *registry) isDir(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.dirs[p]; ok {
		return true
	}
	_, ok := r.ignored[p]
	return ok
}

// isIgnored reports whether p is a known ignored directory.
func (r *registry) isIgnored(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ignored[p]
	return ok
}

// set records directory p as watched (cause nil) or not (cause non-nil).
func (r *registry) set(p string, id fileID, cause error, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.dirs[p]
	if !ok {
		st = &dirState{}
		r.dirs[p] = st
		r.link(p)
	} else if st.watched {
		r.watched--
	}
	if ok && st.id != id && r.byID[st.id] == p {
		delete(r.byID, st.id)
	}
	st.id, st.watched, st.cause, st.gen = id, cause == nil, cause, gen
	if st.watched {
		r.watched++
	}
	r.byID[id] = p
	delete(r.ignored, p)
}

// see marks p as seen by walk generation gen.
func (r *registry) see(p string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.dirs[p]; ok {
		st.gen = gen
	}
}

// addIgnored remembers that p is an ignored directory.
func (r *registry) addIgnored(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ignored[p] = struct{}{}
}

// removeSubtree forgets p and every directory below it and returns the
// paths of those that were watched.
func (r *registry) removeSubtree(p string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var watched []string
	stack := []string{p}
	for len(stack) > 0 {
		q := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if st, ok := r.dirs[q]; ok {
			delete(r.dirs, q)
			if r.byID[st.id] == q {
				delete(r.byID, st.id)
			}
			if st.watched {
				r.watched--
				watched = append(watched, q)
			}
		}
		for name := range r.kids[q] {
			stack = append(stack, joinPath(q, name))
		}
		delete(r.kids, q)
	}
	r.unlink(p)
	if len(r.ignored) > 0 {
		for q := range r.ignored {
			if p == "" || q == p || strings.HasPrefix(q, p+"/") {
				delete(r.ignored, q)
			}
		}
	}
	return watched
}

// link records p as a child of its parent, and so on up while the parent
// is not a known directory, so that a walk from any ancestor reaches p.
func (r *registry) link(p string) {
	for p != "" {
		parent, name := splitPath(p)
		k := r.kids[parent]
		if k == nil {
			k = make(map[string]struct{})
			r.kids[parent] = k
		}
		if _, ok := k[name]; ok {
			return
		}
		k[name] = struct{}{}
		if _, known := r.dirs[parent]; known {
			return
		}
		p = parent
	}
}

// unlink removes p from its parent's children, and so on up while the
// parent is left an unknown directory with no children.
func (r *registry) unlink(p string) {
	for p != "" {
		parent, name := splitPath(p)
		k := r.kids[parent]
		delete(k, name)
		if len(k) > 0 {
			return
		}
		delete(r.kids, parent)
		if _, known := r.dirs[parent]; known {
			return
		}
		p = parent
	}
}

// stale returns the topmost directories not seen by walk generation gen.
func (r *registry) stale(gen uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p, st := range r.dirs {
		if st.gen != gen {
			out = append(out, p)
		}
	}
	return topmost(out)
}

// counts returns how many directories are watched and how many are not.
func (r *registry) counts() (watched, unwatched int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watched, len(r.dirs) - r.watched
}

// rootWatched reports whether the folder root itself is watched.
func (r *registry) rootWatched() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.dirs[""]
	return ok && st.watched
}

// unwatched returns the topmost directories that are not watched, sorted.
func (r *registry) unwatched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if len(r.dirs) == r.watched {
		return nil
	}
	for p, st := range r.dirs {
		if !st.watched {
			out = append(out, p)
		}
	}
	return topmost(out)
}

// causes returns, for the directories not watched, how many failed for
// each errno class, and one example of an unclassified error.
func (r *registry) causes() degradation {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := degradation{needed: len(r.dirs), unwatched: len(r.dirs) - r.watched}
	if d.unwatched == 0 {
		return d
	}
	for p, st := range r.dirs {
		if st.watched {
			continue
		}
		switch classify(st.cause) {
		case causeWatches:
			d.watchLimit++
		case causeFiles:
			d.fileLimit++
		default:
			if d.other == nil || p < d.otherPath {
				d.other, d.otherPath = st.cause, p
			}
		}
	}
	return d
}

// topmost sorts paths and drops those below another one in the list.
func topmost(paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	set := make(map[string]struct{}, len(paths))
	for _, p := range paths {
		set[p] = struct{}{}
	}
	out := paths[:0]
	for _, p := range paths {
		if !hasAncestorIn(p, set) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// hasAncestorIn reports whether a proper ancestor of p ("" included) is in set.
func hasAncestorIn(p string, set map[string]struct{}) bool {
	if p == "" {
		return false
	}
	if _, ok := set[""]; ok {
		return true
	}
	for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
		if _, ok := set[p[:i]]; ok {
			return true
		}
	}
	return false
}

// splitPath splits a non-empty relative path into parent ("" for the root)
// and name.
func splitPath(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// joinPath joins a relative directory ("" for the root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// clearIgnored forgets the ignored directories (a rewalk finds them again).
func (r *registry) clearIgnored() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ignored)
}
