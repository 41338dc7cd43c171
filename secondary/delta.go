package secondary

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// Chunk list deltas. The primary may send a large file's chunk list as
// edits of the list this node most likely holds for the path (see
// index.ChunkDelta). The list is built as the batch arrives, before its
// chunks are planned: from a list this session received for the path last
// (the batch that brought it may not be applied yet), or from the index.
// A delta applies only to the base whose hash it names, and its result
// must have the hash it names. A node that holds no such base (it skipped
// that version, the file was changed here or healed) fetches the whole
// list of that version from the primary, and checks it against the same
// hash. Never a guess:
//   - a delta that does not build the list it names, applied to the base
//     it names, or a fetched list without that hash, is bad input: the
//     entry is refused like any other (nothing is written);
//   - a version the primary no longer holds (the file changed again) is
//     skipped like one whose chunks are gone (skips.go): the newer entry
//     follows.

// buildLists builds the chunk lists that b carries as deltas. An entry
// whose list could not be built gets its outcome noted in its folder's
// unbuilt (looked at by plan, batch.go); its Chunks stay nil. Errors
// other than those end the session.
func (s *Secondary) buildLists(ctx context.Context, c *transport.Client, b *transport.Batch) error {
	f, ok := s.folders[b.Folder]
	if !ok {
		return nil // refused with the batch (checkBatch)
	}
	defer f.rememberLists(b)
	for _, d := range b.Deltas {
		e := &b.Entries[d.At]
		list, err := s.buildList(ctx, c, f, e, &d.Delta)
		switch {
		case err == nil:
			e.Chunks = list
			continue
		case errors.Is(err, transport.ErrChunkMissing):
			err = fmt.Errorf("chunk list of %q (seq %d): %w", e.Path, e.Seq, errChunkGone)
		case errors.Is(err, index.ErrDeltaInvalid):
			err = &apply.RefusedError{Path: e.Path, Reason: "its chunk list does not match the hash the primary sent", Err: err}
		default:
			return err
		}
		if b.Stage {
			// A staged entry must be whole: have the batch sent again.
			return fmt.Errorf("stage %q (seq %d) of folder %q: %w", e.Path, e.Seq, b.Folder, err)
		}
		f.unbuilt.set(e.Seq, err)
	}
	b.Deltas = nil
	return nil
}

// buildList returns the list delta d builds from a base this node holds
// for e's path, or fetches it. It fails with index.ErrDeltaInvalid for a
// list that is not the one d names, transport.ErrChunkMissing if the
// primary no longer holds it.
func (s *Secondary) buildList(ctx context.Context, c *transport.Client, f *folder, e *index.Entry, d *index.ChunkDelta) ([]index.ChunkRef, error) {
	limit := s.opts.Limits.MaxEntryChunks
	if limit == 0 {
		limit = transport.DefaultMaxEntryChunks
	}
	if base, ok := f.recent.get(e.Path); ok {
		list, err := d.Apply(base, limit)
		if !errors.Is(err, index.ErrDeltaBase) {
			return list, err
		}
	}
	old, ok, err := s.db.Get(f.cfg.ID, e.Path)
	if err != nil {
		return nil, err
	}
	if ok && !old.Deleted && old.Kind == index.KindFile {
		list, err := d.Apply(old.Chunks, limit)
		if !errors.Is(err, index.ErrDeltaBase) {
			return list, err
		}
	}
	s.log.Info("fetching a chunk list sent as a delta: this node does not hold its base", "folder", f.cfg.ID, "path", e.Path, "seq", e.Seq)
	list, err := c.FetchChunkList(ctx, f.cfg.ID, e.Path, e.Seq)
	if err != nil {
		return nil, err
	}
	f.counts.listsFetched.Add(1)
	if uint64(len(list)) != d.Count || index.ListHash(list) != d.Result {
		return nil, fmt.Errorf("%w: the list fetched for it has %d chunks and another hash", index.ErrDeltaInvalid, len(list))
	}
	return list, nil
}

// rememberLists keeps the lists of b's large files as bases for the
// deltas of the next batches.
func (f *folder) rememberLists(b *transport.Batch) {
	for i := range b.Entries {
		if e := &b.Entries[i]; e.Kind == index.KindFile && !e.Deleted && e.Chunks != nil {
			f.recent.put(e.Path, e.Chunks)
		}
	}
}

// unbuilt holds, for the current session, the outcome of a folder's
// entries whose chunk lists could not be built, by sequence.
type unbuilt struct {
	mu   sync.Mutex
	errs map[uint64]error
}

func (u *unbuilt) set(seq uint64, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.errs == nil {
		u.errs = make(map[uint64]error)
	}
	u.errs[seq] = err
}

// get returns the outcome of the entry at seq, nil if its list was built
// (or came whole).
func (u *unbuilt) get(seq uint64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.errs[seq]
}

// begin starts a session: the primary sends everything again.
func (u *unbuilt) begin() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.errs = nil
}

// recentLists keeps the chunk lists of large files this session received
// last, by path, as bases for deltas that arrive before the batch that
// brought them is applied. At most recentRefs refs in all; the oldest go
// first.
type recentLists struct {
	mu    sync.Mutex
	lists map[string][]index.ChunkRef
	order []string // oldest first
	refs  int
}

// recentRefs bounds the refs recentLists keeps (36 bytes each: 2.3 MiB,
// the lists of sixteen 256 MiB files).
const recentRefs = 64 << 10

func (r *recentLists) put(path string, list []index.ChunkRef) {
	if len(list) < index.PriorMinChunks || len(list) > recentRefs {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lists == nil {
		r.lists = make(map[string][]index.ChunkRef)
	}
	if old, ok := r.lists[path]; ok {
		r.refs -= len(old)
		r.order = slices.DeleteFunc(r.order, func(p string) bool { return p == path })
	}
	for r.refs+len(list) > recentRefs && len(r.order) > 0 {
		r.refs -= len(r.lists[r.order[0]])
		delete(r.lists, r.order[0])
		r.order = r.order[1:]
	}
	r.lists[path] = list
	r.order = append(r.order, path)
	r.refs += len(list)
}

func (r *recentLists) get(path string) ([]index.ChunkRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.lists[path]
	return l, ok
}

// begin starts a session.
func (r *recentLists) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists, r.order, r.refs = nil, nil, 0
}
