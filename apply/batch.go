package apply

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// maxPending bounds the temp files of one group commit. Two groups may be
// open at once (one committing while the next is written), so this also
// bounds the fds held to twice as many.
const maxPending = 256

// batch is the state of one Apply call.
type batch struct {
	f       *Folder
	entries []index.Entry
	results []Result
	src     ChunkSource
	known   Known

	// dirs caches an fd per directory used by the batch, by path ("" is
	// the root). Metadata and fsyncs at the end go through these fds: they
	// name the directories actually written, whatever was renamed since.
	dirs map[string]*dirState

	usedFS bool // a group of this batch was synced with syncfs

	writers *writers // writes small files in the background; nil: none

	pending      []*pendingFile      // the group being written: temp files, not yet renamed
	pendingBytes int64               // their size
	pendingPaths map[string]struct{} // final paths of pending and committing files
	pendingUnder map[string]int      // directories with pending or committing files beneath

	// The group being committed by a goroutine of its own while the next
	// one is written (commitAsync); nil if none.
	committing []*pendingFile
	committed  chan struct{} // closed when committing is done
	forgets    []string      // directories the commit replaced: forget them

	// Checkpoints (checkpoint.go): durable is told of entries done before
	// the end of the batch; nil: only at the end.
	durable        Durable
	next           int       // the entry being applied
	reported       int       // entries reported to durable so far
	lastCheckpoint time.Time // of the last report (or the start)
}

// dirState is one directory the batch holds open.
type dirState struct {
	path    string
	fd      int   // -1 once closed
	touched bool  // a name in it was created, renamed or removed
	created bool  // created by this batch as a missing parent (mode 0700)
	entries []int // indexes of the batch's Dir entries for this path
}

func newBatch(f *Folder, entries []index.Entry, results []Result, src ChunkSource, known Known) *batch {
	b := &batch{
		f: f, entries: entries, results: results, src: src, known: known,
		dirs:         make(map[string]*dirState),
		pendingPaths: make(map[string]struct{}),
		pendingUnder: make(map[string]int),
	}
	b.dirs[""] = &dirState{fd: f.root}
	return b
}

// dir returns the directory rel ("" is the root), opened beneath the root
// without following symlinks. If create is set, missing directories on the
// way are created (0700, marked created).
func (b *batch) dir(rel string, create bool) (*dirState, error) {
	if d, ok := b.dirs[rel]; ok {
		return d, nil
	}
	if fsys.HasOpenat2() {
		if fd, err := fsys.OpenBeneath(b.f.root, rel, unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
			d := &dirState{path: rel, fd: fd}
			b.dirs[rel] = d
			return d, nil
		}
	}
	// Walk down from the nearest directory already open: it creates what
	// is missing and names the component that is unsafe.
	anc := rel
	for {
		anc, _ = split(anc)
		if _, ok := b.dirs[anc]; ok {
			break
		}
	}
	cur := b.dirs[anc]
	rest := rel[len(anc):]
	if anc != "" {
		rest = rest[1:]
	}
	for c := range strings.SplitSeq(rest, "/") {
		p := join(cur.path, c)
		fd, created, err := b.f.stepDir(cur.fd, p, c, create)
		if err != nil {
			return nil, err
		}
		if created {
			cur.touched = true
		}
		d := &dirState{path: p, fd: fd, created: created}
		b.dirs[p] = d
		cur = d
	}
	return cur, nil
}

// forget closes and drops the cached directory p and those beneath it: p
// is about to be removed or replaced.
func (b *batch) forget(p string) {
	for k, d := range b.dirs {
		if k == p || strings.HasPrefix(k, p) && len(k) > len(p) && k[len(p)] == '/' {
			d.close()
			delete(b.dirs, k)
		}
	}
}

func (d *dirState) close() {
	if d.path != "" && d.fd >= 0 {
		_ = unix.Close(d.fd)
	}
	d.fd = -1
}

// conflicts reports whether p interacts with a pending (written, not yet
// renamed) file: the same path, a pending file where p needs a directory,
// or, unless p is a directory entry (whose metadata waits for the end),
// pending files beneath p. Such an entry waits for the group to commit.
func (b *batch) conflicts(p string, dirEntry bool) bool {
	if len(b.pending) == 0 && b.committing == nil {
		return false
	}
	if _, ok := b.pendingPaths[p]; ok {
		return true
	}
	for d, _ := split(p); d != ""; d, _ = split(d) {
		if _, ok := b.pendingPaths[d]; ok {
			return true
		}
	}
	return !dirEntry && b.pendingUnder[p] > 0
}

// syncFS decides whether n objects (the files of a group commit, or the
// directories at the end) are made durable with one syncfs rather than an
// fsync each. Under SyncAuto, once a group used syncfs, the directories do
// too: the renames of a large group dirty many of them.
func (b *batch) syncFS(n int) bool {
	switch b.f.mode {
	case SyncFS:
		return true
	case SyncAuto:
		if n >= autoFSObjects || b.usedFS {
			b.usedFS = true
			return true
		}
	}
	return false
}

func (b *batch) addPending(pf *pendingFile) {
	b.pending = append(b.pending, pf)
	p := b.entries[pf.i].Path
	b.pendingPaths[p] = struct{}{}
	for d, _ := split(p); d != ""; d, _ = split(d) {
		b.pendingUnder[d]++
	}
}

// dropFailed waits for the writer goroutines writing files of g, fails the entries
// whose temp file could not be written and returns the others (g itself
// is left as it is: its paths are unmarked later).
func (b *batch) dropFailed(g []*pendingFile) []*pendingFile {
	ok := make([]*pendingFile, 0, len(g))
	for _, pf := range g {
		if pf.written != nil {
			<-pf.written
		}
		if pf.err != nil {
			b.fail(pf.i, pf.err)
			continue
		}
		ok = append(ok, pf)
	}
	return ok
}

// unmark drops g's paths from the pending maps.
func (b *batch) unmark(g []*pendingFile) {
	for _, pf := range g {
		p := b.entries[pf.i].Path
		delete(b.pendingPaths, p)
		for d, _ := split(p); d != ""; d, _ = split(d) {
			if b.pendingUnder[d]--; b.pendingUnder[d] == 0 {
				delete(b.pendingUnder, d)
			}
		}
	}
}
