package secondary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/stage"
	"github.com/ncsync/ncsync/transport"
)

// source supplies the chunks of one batch's files. Before the batch is
// applied it decides, for every chunk, whether a file on this node already
// holds it; all the others are fetched from the primary in one ordered,
// pipelined stream for the whole batch, so small files do not each cost a
// round trip.
type source struct {
	ctx    context.Context
	s      *Secondary
	c      *transport.Client
	folder string

	plans map[uint64]*plan // by entry seq

	remote []remoteChunk // every remote chunk of the batch, in file order
	bases  []patchBase   // bytes of previous versions that remote chunks replaced
	next   int           // index in remote of the next chunk the stream yields
	stream *transport.ChunkStream

	fetched map[uint64]int64
	reused  map[uint64]int64
	buf     []byte

	stash *stage.Stage // chunks staged while paused; nil outside a resume

	waited time.Duration // blocked on the primary's chunk stream

	drained   chan struct{} // closed once every remote chunk was read, or at close
	drainOnce sync.Once
}

// stagedPath marks, in a plan, a chunk read from the stash; heldPath one
// that a kept temp file holds (apply.Folder.Resumable), which apply does
// not ask for (no real path holds a NUL).
const (
	stagedPath = "\x00staged"
	heldPath   = "\x00held"
)

type remoteChunk struct {
	seq uint64
	id  chunker.ID
}

// plan says where each chunk of one file comes from.
type plan struct {
	local []index.ChunkLoc // zero Path: remote
	first int              // index in source.remote of this file's first remote chunk

	// The version of the file the index holds at its path, which apply
	// copies chunks from if the file is still what ncsync wrote: its
	// recorded stat and each chunk's offset in it (-1: not there); nil
	// offsets if there is none.
	priorStat index.Stat
	prior     []int64
	priorSize int64 // that version's size
}

func newSource(ctx context.Context, s *Secondary, c *transport.Client, folder string, entries []index.Entry, stash *stage.Stage) *source {
	src := &source{ctx: ctx, s: s, c: c, folder: folder, plans: make(map[uint64]*plan),
		fetched: make(map[uint64]int64), reused: make(map[uint64]int64), stash: stash}
	// One read transaction for every lookup of the batch: thousands of
	// small files cost one transaction, not one each.
	err := s.db.View(folder, func(tx *index.Tx) error {
		src.plan(entries, func(id chunker.ID) (index.ChunkLoc, bool) { return s.localChunk(tx, id) },
			func(p string) (index.Entry, bool) {
				e, ok, err := tx.Get(p)
				return e, ok && err == nil && !e.Deleted && e.Kind == index.KindFile
			})
		return nil
	})
	if err != nil { // without the chunk map, everything comes from the primary
		src.plans, src.remote = make(map[uint64]*plan), nil
		src.plan(entries, nil, nil)
	}
	src.drained = make(chan struct{})
	if len(src.remote) == 0 {
		src.markDrained()
	}
	return src
}

// markDrained says the batch needs nothing more from the network.
func (src *source) markDrained() { src.drainOnce.Do(func() { close(src.drained) }) }

// openStream asks the primary for the remote chunks not read yet.
func (src *source) openStream() error {
	if src.stream != nil || src.next >= len(src.remote) {
		return nil
	}
	ids := make([]chunker.ID, 0, len(src.remote)-src.next)
	for _, r := range src.remote[src.next:] {
		ids = append(ids, r.id)
	}
	st, err := src.c.FetchChunksFrom(src.ctx, src.folder, ids, src.readBases())
	if err != nil {
		return err
	}
	src.stream = st
	return nil
}

// plan decides where each chunk of entries comes from: a kept temp file
// that holds the file's first chunks, the file itself if it was written
// before a crash and not recorded (resume.go), a local file that lookup
// finds (nil: none), else the primary. A file apply writes in line takes
// first the chunks the version at its path holds, as previous finds it in
// the index (nil: none): apply copies those from it (apply.PriorReader).
func (src *source) plan(entries []index.Entry, lookup func(chunker.ID) (index.ChunkLoc, bool), previous func(string) (index.Entry, bool)) {
	f := src.s.folders[src.folder]
	for _, e := range entries {
		if e.Deleted || e.Kind != index.KindFile || len(e.Chunks) == 0 {
			continue
		}
		p := &plan{local: make([]index.ChunkLoc, len(e.Chunks)), first: len(src.remote)}
		held := f.w.Resumable(e)
		if held < len(e.Chunks) && src.s.resumingFolder(src.folder) && src.s.inPlace(f, src.folder, e, p.local) {
			held = len(e.Chunks) // planned from the file in place
		} else {
			for i := range held {
				p.local[i] = index.ChunkLoc{Path: heldPath}
			}
		}
		at := src.priorOffsets(p, e, previous)
		for i, ref := range e.Chunks[held:] {
			i += held
			if off, ok := at[ref.ID]; ok {
				p.prior[i] = off
				p.local[i] = index.ChunkLoc{Folder: src.folder, Path: e.Path, Offset: off, Size: ref.Size}
				continue
			}
			if src.stash != nil && src.stash.Has(ref.ID) {
				p.local[i] = index.ChunkLoc{Path: stagedPath}
				continue
			}
			if lookup != nil {
				if loc, ok := lookup(ref.ID); ok {
					p.local[i] = loc
					continue
				}
			}
			src.remote = append(src.remote, remoteChunk{seq: e.Seq, id: ref.ID})
		}
		src.planBases(e, p, p.priorSize)
		src.plans[e.Seq] = p
	}
}

// priorOffsets returns where each chunk of the version previous finds at
// e's path sits in it, and prepares p.prior, if apply writes e in line
// (apply.InLine); nil otherwise.
func (src *source) priorOffsets(p *plan, e index.Entry, previous func(string) (index.Entry, bool)) map[chunker.ID]int64 {
	if previous == nil || !apply.InLine(e) {
		return nil
	}
	prev, ok := previous(e.Path)
	if !ok || prev.Stat == (index.Stat{}) || len(prev.Chunks) == 0 {
		return nil
	}
	at := make(map[chunker.ID]int64, len(prev.Chunks))
	var off int64
	for _, ref := range prev.Chunks {
		if _, dup := at[ref.ID]; !dup {
			at[ref.ID] = off
		}
		off += int64(ref.Size)
	}
	p.priorStat, p.prior, p.priorSize = prev.Stat, make([]int64, len(e.Chunks)), off
	for i := range p.prior {
		p.prior[i] = -1
	}
	return at
}

// localChunk finds a live file on this node that holds the chunk.
func (s *Secondary) localChunk(tx *index.Tx, id chunker.ID) (index.ChunkLoc, bool) {
	locs, err := tx.LookupChunk(id, 4)
	if err != nil {
		return index.ChunkLoc{}, false
	}
	for _, l := range locs {
		if _, ok := s.folders[l.Folder]; ok {
			return l, true
		}
	}
	return index.ChunkLoc{}, false
}

// Chunks implements apply.ChunkSource.
func (src *source) Chunks(ctx context.Context, e index.Entry) (apply.ChunkReader, error) {
	p, ok := src.plans[e.Seq]
	if !ok {
		return nil, fmt.Errorf("no chunk plan for %q (seq %d)", e.Path, e.Seq)
	}
	// Entries the writer skipped (refused) leave their remote chunks unread:
	// drop them so the stream lines up with this file.
	for src.next < p.first {
		if _, err := src.nextRemote(); err != nil {
			return nil, err
		}
	}
	return &reader{src: src, e: e, p: p}, nil
}

// nextRemote returns the next chunk of the batch's remote stream. The
// stream is opened on first use, and again after a chunk the primary sent
// was refused (a protocol error ends a stream).
func (src *source) nextRemote() (transport.Chunk, error) {
	if src.next >= len(src.remote) {
		return transport.Chunk{}, errors.New("read past the batch's remote chunks")
	}
	if err := src.openStream(); err != nil {
		return transport.Chunk{}, err
	}
	t0 := time.Now()
	ch, err := src.stream.Next()
	src.waited += time.Since(t0)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, transport.ErrProtocol) {
			// Bad data for this chunk: skip it and reopen after it.
			src.closeStream()
			src.next++
		}
		return transport.Chunk{}, err
	}
	if src.next++; src.next == len(src.remote) {
		src.markDrained()
	}
	return ch, nil
}

// closeStream closes the chunk stream, if open, and counts its patches.
func (src *source) closeStream() {
	if src.stream == nil {
		return
	}
	src.stream.Close()
	patched, refused := src.stream.PatchStats()
	f := src.s.folders[src.folder]
	f.counts.patched.Add(patched)
	f.counts.patchesRefused.Add(refused)
	src.stream = nil
}

func (src *source) close() {
	src.closeStream()
	src.markDrained()
}

// reader yields one file's chunks.
type reader struct {
	src *source
	e   index.Entry
	p   *plan
	i   int
}

// Next implements apply.ChunkReader.
func (r *reader) Next() ([]byte, error) {
	data, _, err := r.NextVerified()
	return data, err
}

// NextVerified implements apply.VerifiedChunkReader: the next chunk, from a
// local file when the plan says so and the bytes there still hash to the
// chunk's id, otherwise from the primary (the transport checks that what it
// receives hashes to the id it asked for).
func (r *reader) NextVerified() ([]byte, chunker.ID, error) {
	if r.i >= len(r.e.Chunks) {
		return nil, chunker.ID{}, io.EOF
	}
	i, ref := r.i, r.e.Chunks[r.i]
	r.i++
	src := r.src
	if r.p.local[i].Path == stagedPath {
		data, err := src.stash.ReadChunk(ref.ID, src.buf[:0])
		if err != nil {
			return nil, chunker.ID{}, err
		}
		src.buf = data
		return data, ref.ID, nil
	}
	if r.p.local[i].Path == heldPath {
		// Apply did not continue the kept temp file that holds it.
		data, err := src.fetchOne(r.e.Seq, ref.ID)
		return data, ref.ID, err
	}
	if loc := r.p.local[i]; loc.Path != "" {
		src.buf = growTo(src.buf, int(ref.Size))
		f := src.s.folders[loc.Folder]
		if err := f.w.ReadAt(loc.Path, loc.Offset, src.buf); err == nil && chunker.Sum(src.buf) == ref.ID {
			src.reused[r.e.Seq] += int64(ref.Size)
			src.s.reusedBytes.Add(int64(ref.Size))
			return src.buf, ref.ID, nil
		}
		// The local copy changed since it was indexed: fetch this one chunk.
		data, err := src.fetchOne(r.e.Seq, ref.ID)
		return data, ref.ID, err
	}
	ch, err := src.nextRemote()
	if errors.Is(err, transport.ErrProtocol) {
		return nil, chunker.ID{}, &apply.RefusedError{Path: r.e.Path, Reason: "bad chunk data from the primary", Err: err}
	}
	if err != nil {
		return nil, chunker.ID{}, err
	}
	if ch.Missing {
		return nil, chunker.ID{}, fmt.Errorf("chunk %s of %q: %w", ref.ID, r.e.Path, errChunkGone)
	}
	src.fetched[r.e.Seq] += int64(len(ch.Data))
	src.s.fetchedBytes.Add(int64(len(ch.Data)))
	return ch.Data, ch.ID, nil
}

// errChunkGone means the primary's file changed after it journaled the
// entry; a newer entry for the path is on its way, so the batch is retried.
var errChunkGone = errors.New("the primary no longer holds it (the file changed); a newer version follows")

func (src *source) fetchOne(seq uint64, id chunker.ID) ([]byte, error) {
	st, err := src.c.FetchChunks(src.ctx, src.folder, []chunker.ID{id})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ch, err := st.Next()
	if err != nil {
		return nil, err
	}
	if ch.Missing {
		return nil, fmt.Errorf("chunk %s: %w", id, errChunkGone)
	}
	src.buf = append(src.buf[:0], ch.Data...)
	src.fetched[seq] += int64(len(ch.Data))
	src.s.fetchedBytes.Add(int64(len(ch.Data)))
	return src.buf, nil
}

// Prior implements apply.PriorReader.
func (r *reader) Prior() (index.Stat, []int64) { return r.p.priorStat, r.p.prior }

// Skip implements apply.PriorReader: apply copied the next n chunks from
// the file's previous version.
func (r *reader) Skip(n int) error {
	for ; n > 0 && r.i < len(r.e.Chunks); n-- {
		if r.p.local[r.i].Path == "" {
			if _, err := r.src.nextRemote(); err != nil {
				return err
			}
		} else {
			size := int64(r.e.Chunks[r.i].Size)
			r.src.reused[r.e.Seq] += size
			r.src.s.reusedBytes.Add(size)
		}
		r.i++
	}
	return nil
}

// SkipTo implements apply.ResumableReader: apply continues a kept temp
// file that holds the first k chunks. Remote chunks among them (the file
// holds more than the plan expected) are dropped from the stream; held
// ones it lacks are fetched one by one when read.
func (r *reader) SkipTo(k int) error {
	for ; r.i < k && r.i < len(r.e.Chunks); r.i++ {
		if r.p.local[r.i].Path == "" {
			if _, err := r.src.nextRemote(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close drops the file's remaining remote chunks if the writer stopped
// early, so the stream stays in step with the next file.
func (r *reader) Close() error {
	for ; r.i < len(r.e.Chunks); r.i++ {
		if r.p.local[r.i].Path == "" {
			if _, err := r.src.nextRemote(); err != nil {
				return err
			}
		}
	}
	return nil
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
