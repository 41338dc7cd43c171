package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// ChunkSource supplies the bytes of a file's chunks, in file order. Apply
// calls it from its own goroutine, once per file with at least one chunk,
// in entry order; a file refused before its data is needed is skipped.
type ChunkSource interface {
	// Chunks returns a reader over e's chunks. The reader yields exactly
	// len(e.Chunks) chunks, in order.
	Chunks(ctx context.Context, e index.Entry) (ChunkReader, error)
}

// ChunkReader yields one file's chunks. Apply always closes it, also when
// it stops early (a chunk did not match, a write failed).
type ChunkReader interface {
	// Next returns the next chunk's bytes, valid until the next call. The
	// Folder verifies the size and BLAKE3 of each against its ChunkRef.
	Next() ([]byte, error)
	Close() error
}

// VerifiedChunkReader is a ChunkReader that checks each chunk itself (a
// secondary's source verifies every chunk it fetches or copies against the
// id it asked for). Apply then compares the id it reports with the
// ChunkRef's instead of hashing the bytes a second time.
type VerifiedChunkReader interface {
	ChunkReader
	// NextVerified returns the next chunk's bytes, valid until the next
	// call, and the BLAKE3-256 of exactly those bytes. Next is not called
	// when NextVerified is used.
	NextVerified() (data []byte, id chunker.ID, err error)
}

// ResumableReader is a ChunkReader that can start after a file's first
// chunks. Apply continues a kept temp file that holds them (see
// Folder.Resumable, partial.go) and calls SkipTo before the first Next; a
// source that planned with Resumable then need not have fetched them. A
// reader that is not a ResumableReader is read past them instead.
type ResumableReader interface {
	ChunkReader
	// SkipTo makes chunk k (k > 0) the next one the reader yields.
	SkipTo(k int) error
}

// DirMeta returns the replicated metadata (mode, uid, gid, mtime) of the
// directory at path ("" is the folder root) as last known, so a directory's
// mtime can be restored after its contents change. ok is false if it is
// unknown; the directory is then left as it is.
type DirMeta func(path string) (e index.Entry, ok bool)

// Known is what the caller's index holds about the paths of a batch, read
// before Apply. Apply reads nothing of it from the entries: an Entry says
// what the primary sends, Known what this node wrote before, and
// Result.Stat what Apply has just written.
type Known struct {
	// LastWritten[i] is what ncsync last wrote at entries[i].Path: the
	// Result.Stat the caller recorded after its last change to the path,
	// zero if ncsync never wrote the path or last removed it. Nil means
	// zero for every entry. A non-directory found at a path that does not
	// match it is a local change (see LocalKeeper); without a LocalKeeper
	// a non-zero LastWritten that does not match fails the entry with
	// ErrLocalChange.
	LastWritten []index.Stat
	// Dirs answers the replicated metadata of the directories the entries
	// are written in (their parents and the parents' ancestors); nil: none
	// known.
	Dirs DirMeta
}

// writtenAt returns k.LastWritten[i], zero if there is none.
func (k *Known) writtenAt(i int) index.Stat {
	if i < len(k.LastWritten) {
		return k.LastWritten[i]
	}
	return index.Stat{}
}

// Result is the outcome of one entry.
type Result struct {
	// Err is nil if the entry was applied and is durable. Bad input is a
	// *RefusedError (it fails again if retried); other errors may be
	// transient (no space, I/O, a cancelled context, ErrLocalChange).
	Err error
	// Stat is the local stat of what Apply has just written at the
	// entry's path (zero for a deletion), to be recorded in the index with
	// the entry: the next Apply of the path gets it back in
	// Known.LastWritten.
	Stat index.Stat
}

// Apply applies entries in order and returns one Result per entry. A
// refused or failed entry is reported in its Result and the others go on.
// The error is for what makes the whole folder unusable (the root is gone)
// or a cancelled ctx; the Results then say which entries were applied.
//
// When Apply returns, every entry whose Result has a nil Err is durable.
// Files are group-committed: temp files are written and fsynced (or one
// syncfs, see SyncFS), then renamed over their targets, then every touched
// directory gets its replicated metadata back and is fsynced once.
//
// What is found at a path before it is replaced or removed is compared with
// known.LastWritten (see Known).
//
// Directory metadata is set at the end of the batch, after the children:
// each Dir entry's owner, mode and mtime, and for every other directory in
// which a name was created, renamed or removed, the mtime from
// known.Dirs. Directories created only as missing parents get its owner
// and mode too, or stay 0700 until their own entry arrives.
//
// When ctx ends, the entries not yet started fail with its error, and the
// files already complete are committed all the same: what arrived is not
// lost with a session.
func (f *Folder) Apply(ctx context.Context, entries []index.Entry, src ChunkSource, known Known) ([]Result, error) {
	return f.apply(ctx, entries, src, known, nil)
}

func (f *Folder) apply(ctx context.Context, entries []index.Entry, src ChunkSource, known Known, durable Durable) ([]Result, error) {
	results := make([]Result, len(entries))
	if err := f.checkRoot(); err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results, err
	}
	b := newBatch(f, entries, results, src, known)
	b.durable, b.lastCheckpoint = durable, time.Now()
	b.writers = newWriters()
	defer b.writers.stop()
	var stopped error
	for i := range entries {
		if stopped = ctx.Err(); stopped != nil {
			for j := i; j < len(entries); j++ {
				results[j].Err = fmt.Errorf("apply %q: %w", entries[j].Path, stopped)
			}
			break
		}
		b.next = i
		b.pollCommit()
		b.apply(ctx, i)
	}
	if stopped == nil {
		stopped = ctx.Err() // cancelled during the last entry
	}
	// Complete files are committed even when ctx ended: they are verified,
	// and whoever resumes need not fetch them again.
	b.next, b.durable = len(entries), nil
	b.flush(ctx)
	b.finish()
	if err := f.checkRoot(); err != nil {
		for i := range results {
			if results[i].Err == nil {
				results[i].Err = err
			}
		}
		return results, err
	}
	return results, stopped
}

// apply applies entries[i], recording a failure in its result.
func (b *batch) apply(ctx context.Context, i int) {
	e := &b.entries[i]
	if err := validateEntry(e, b.f.opts, &b.f.fileHasher); err != nil {
		b.fail(i, err)
		return
	}
	if e.Path == index.RootPath {
		// Only metadata, set on the root with the other directories'.
		root := b.dirs[""]
		root.entries = append(root.entries, i)
		return
	}
	if b.conflicts(e.Path, !e.Deleted && e.Kind == index.KindDir) {
		b.flush(ctx)
	}
	var err error
	switch {
	case e.Deleted:
		err = b.remove(ctx, i)
	case e.Kind == index.KindFile:
		err = b.writeFile(ctx, i)
	case e.Kind == index.KindDir:
		err = b.mkdir(ctx, i)
	case e.Kind == index.KindSymlink:
		err = b.symlink(ctx, i)
	}
	if err != nil {
		b.fail(i, err)
	}
}

// fail records err as entries[i]'s outcome.
func (b *batch) fail(i int, err error) {
	e := &b.entries[i]
	err = asEntryError(e.Path, err)
	b.results[i].Err = err
	b.f.log.Warn("entry not applied", "entry", *e, "err", err)
}
