package index

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The primary keeps, per large file, the chunk list its journal held
// before the current one: the base a secondary most likely holds, against
// which the current list is sent as a delta (see ChunkDelta). One list per
// path, only for files whose old and new lists both have at least
// PriorMinChunks chunks, gone with the path: the store is bounded by the
// lists of the live large files.

// PriorMinChunks is the smallest chunk list whose previous version the
// journal keeps. Below it a list is small enough to send whole.
const PriorMinChunks = 64

// bucketPrior holds, per path of a folder, uvarint(seq) followed by the
// chunk section (as in an entry record) of the path's previous entry.
var bucketPrior = []byte("prior")

// chunkCount returns the count a chunk section starts with.
func chunkCount(section []byte) uint64 {
	n, k := binary.Uvarint(section)
	if k <= 0 {
		return 0
	}
	return n
}

// priorWorthy reports whether e is a live file whose chunk section (section)
// is long enough for its previous list to be kept.
func priorWorthy(e *Entry, section []byte) bool {
	return e.Kind == KindFile && !e.Deleted && chunkCount(section) >= PriorMinChunks
}

// priorBucket returns the folder's prior bucket, creating it if create;
// nil if it does not exist (and create is false).
func (tx *Tx) priorBucket(create bool) (*bolt.Bucket, error) {
	fb := tx.btx.Bucket(folderBucketName(tx.folder))
	if fb == nil {
		return nil, nil
	}
	if b := fb.Bucket(bucketPrior); b != nil || !create {
		return b, nil
	}
	return fb.CreateBucket(bucketPrior)
}

// keepPrior runs when e (chunk section section) replaces old (oldSection;
// nil if the path had no entry). With journal (the primary's Journal) it
// records old as the path's previous version when both are large files;
// otherwise it forgets the path's previous version. A previous version is
// kept only while the path's entry is a large file, so a path whose old
// entry is none has none to forget.
func (tx *Tx) keepPrior(old *Entry, oldSection []byte, e *Entry, section []byte, journal bool) error {
	if old == nil || !priorWorthy(old, oldSection) {
		return nil
	}
	keep := journal && priorWorthy(e, section)
	b, err := tx.priorBucket(keep)
	if err != nil || b == nil {
		return err
	}
	key := []byte(e.Path)
	if !keep {
		if b.Get(key) == nil {
			return nil
		}
		return b.Delete(key)
	}
	v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(oldSection)), old.Seq)
	return b.Put(key, append(v, oldSection...))
}

// forgetPrior removes the previous version of old's path, if kept (only
// while old, with chunk section section, is a large file).
func (tx *Tx) forgetPrior(old *Entry, section []byte) error {
	if !priorWorthy(old, section) {
		return nil
	}
	b, err := tx.priorBucket(false)
	if err != nil || b == nil || b.Get([]byte(old.Path)) == nil {
		return err
	}
	return b.Delete([]byte(old.Path))
}

// Prior returns the chunk list path had in the journal before its current
// entry, and that entry's sequence; ok is false if none is kept.
func (tx *Tx) Prior(path string) (seq uint64, chunks []ChunkRef, ok bool, err error) {
	if err := tx.check(false); err != nil {
		return 0, nil, false, err
	}
	b, err := tx.priorBucket(false)
	if err != nil || b == nil {
		return 0, nil, false, err
	}
	v := b.Get([]byte(path))
	if v == nil {
		return 0, nil, false, nil
	}
	seq, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, nil, false, fmt.Errorf("prior of %q: %w", path, ErrCorrupt)
	}
	if chunks, err = decodeChunks(v[k:]); err != nil {
		return 0, nil, false, fmt.Errorf("prior of %q: %w", path, err)
	}
	return seq, chunks, true, nil
}

// Prior is Tx.Prior in a read transaction of folder.
func (db *DB) Prior(folder, path string) (seq uint64, chunks []ChunkRef, ok bool, err error) {
	err = db.View(folder, func(tx *Tx) error {
		seq, chunks, ok, err = tx.Prior(path)
		return err
	})
	return seq, chunks, ok, err
}

// ChunksAt returns the chunk list of path's entry at sequence seq: the
// current entry's, or the previous one's while it is kept. ok is false
// if the index no longer holds that version.
func (db *DB) ChunksAt(folder, path string, seq uint64) (chunks []ChunkRef, ok bool, err error) {
	err = db.View(folder, func(tx *Tx) error {
		e, found, err := tx.Get(path)
		if err != nil || !found {
			return err
		}
		if e.Seq == seq {
			if !e.Deleted && e.Kind == KindFile {
				chunks, ok = e.Chunks, true
			}
			return nil
		}
		ps, pc, found, err := tx.Prior(path)
		if err == nil && found && ps == seq {
			chunks, ok = pc, true
		}
		return err
	})
	return chunks, ok, err
}
