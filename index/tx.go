package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Tx is one bbolt transaction scoped to a folder. It is valid only inside the
// function passed to Update or View and must not be used from other
// goroutines.
type Tx struct {
	db       *DB
	folder   string
	btx      *bolt.Tx
	writable bool
	done     bool

	// nil in a View of a folder that does not exist yet.
	entries, journal, stateB *bolt.Bucket
	chunks                   *bolt.Bucket

	st    folderState
	dirty bool

	pending      []pendingRow // chunk map rows not yet written, see chunkmap.go
	pendingPaths map[string]struct{}

	meta *Meta // loaded on the first Journal that needs it
}

// Update runs fn in one read-write transaction on folder, creating the
// folder if needed. If fn returns an error nothing is written; otherwise
// the commit is durable (fsync) unless Options.NoSync. Callers batch many
// writes into one Update. Inside fn use only the Tx: another DB method that
// writes (Update, SetMeta, SetPeerAck) or Wait would deadlock.
func (db *DB) Update(folder string, fn func(*Tx) error) error {
	if err := validFolder(folder); err != nil {
		return err
	}
	var raised bool
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		fb, err := btx.CreateBucketIfNotExists(folderBucketName(folder))
		if err != nil {
			return err
		}
		tx := &Tx{db: db, folder: folder, btx: btx, writable: true}
		if tx.entries, err = fb.CreateBucketIfNotExists(bucketEntries); err != nil {
			return err
		}
		if tx.journal, err = fb.CreateBucketIfNotExists(bucketJournal); err != nil {
			return err
		}
		if tx.stateB, err = fb.CreateBucketIfNotExists(bucketState); err != nil {
			return err
		}
		// Journal keys only ever append: pack its pages full.
		tx.journal.FillPercent = 1.0
		tx.chunks = btx.Bucket(bucketChunks)
		if tx.st, err = readState(fb); err != nil {
			return err
		}
		before := tx.st.Head
		err = fn(tx)
		if err == nil {
			err = tx.finish()
		}
		tx.done = true
		raised = tx.st.Head > before
		return err
	})
	if err != nil {
		return fmt.Errorf("update folder %q: %w", folder, err)
	}
	if raised {
		db.notify(folder)
	}
	return nil
}

// View runs fn in a read-only transaction on folder. A folder that does not
// exist reads as empty. fn must not call Update (bbolt may deadlock).
func (db *DB) View(folder string, fn func(*Tx) error) error {
	if err := validFolder(folder); err != nil {
		return err
	}
	err := db.bolt.View(func(btx *bolt.Tx) error {
		tx := &Tx{db: db, folder: folder, btx: btx, chunks: btx.Bucket(bucketChunks)}
		if fb := btx.Bucket(folderBucketName(folder)); fb != nil {
			tx.entries = fb.Bucket(bucketEntries)
			tx.journal = fb.Bucket(bucketJournal)
			tx.stateB = fb.Bucket(bucketState)
			var err error
			if tx.st, err = readState(fb); err != nil {
				return err
			}
		}
		defer func() { tx.done = true }()
		return fn(tx)
	})
	if err != nil {
		return fmt.Errorf("view folder %q: %w", folder, err)
	}
	return nil
}

// finish writes what the Tx buffered: chunk map rows and the state record.
func (tx *Tx) finish() error {
	if err := tx.flushRows(); err != nil {
		return err
	}
	if !tx.dirty {
		return nil
	}
	return tx.stateB.Put(keyState, tx.st.encode())
}

func (tx *Tx) check(write bool) error {
	switch {
	case tx.done:
		return ErrTxDone
	case write && !tx.writable:
		return ErrReadOnly
	}
	return nil
}

// Folder returns the folder the Tx works on.
func (tx *Tx) Folder() string { return tx.folder }

// Head returns the folder's head as of this transaction, writes included.
func (tx *Tx) Head() uint64 { return tx.st.Head }

// Position returns the folder's applied position as of this transaction.
func (tx *Tx) Position() uint64 { return tx.st.Position }

// Get returns the entry for path, tombstones included.
func (tx *Tx) Get(path string) (Entry, bool, error) {
	return tx.get(path, true)
}

// GetHeader is Get without the chunk list (Chunks is nil): a lookup of an
// entry's kind, metadata, sequence or local stat decodes only those.
func (tx *Tx) GetHeader(path string) (Entry, bool, error) {
	return tx.get(path, false)
}

func (tx *Tx) get(path string, chunks bool) (Entry, bool, error) {
	if err := tx.check(false); err != nil {
		return Entry{}, false, err
	}
	if tx.entries == nil {
		return Entry{}, false, nil
	}
	v := tx.entries.Get([]byte(path))
	if v == nil {
		return Entry{}, false, nil
	}
	e, section, err := decodeHeader(v)
	if err == nil && chunks {
		e.Chunks, err = decodeChunks(section)
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("get %q: %w", path, err)
	}
	return e, true, nil
}

// Journal is the primary's write: it assigns e.Seq = head+1 (and
// e.Version.Seq = e.Seq; a zero Version.Epoch and Node are taken from Meta),
// stores e, moves the path's journal key to the new sequence and updates the
// chunk map and counters. It returns the stored entry.
func (tx *Tx) Journal(e Entry) (Entry, error) {
	if err := tx.check(true); err != nil {
		return Entry{}, err
	}
	if err := validEntry(&e); err != nil {
		return Entry{}, fmt.Errorf("journal: %w", err)
	}
	if e.Version.Epoch == 0 && e.Version.Node == "" {
		if tx.meta == nil {
			m, err := readMeta(tx.btx)
			if err != nil {
				return Entry{}, fmt.Errorf("journal %q: %w", e.Path, err)
			}
			tx.meta = &m
		}
		e.Version.Epoch, e.Version.Node = tx.meta.Epoch, tx.meta.Node
	}
	e.Seq = tx.st.Head + 1
	e.Version.Seq = e.Seq
	if err := tx.put(&e, true); err != nil {
		return Entry{}, fmt.Errorf("journal %q: %w", e.Path, err)
	}
	return e, nil
}

// Store is the secondary's write: it stores e as applied under the
// primary's e.Seq, journals it there (so a promoted secondary can serve
// it), raises Head if e.Seq is higher and updates chunk map and counters.
// A sequence already journaled for another path is refused with
// ErrSeqConflict.
func (tx *Tx) Store(e Entry) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if err := validEntry(&e); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if e.Seq == 0 {
		return fmt.Errorf("store %q: sequence 0: %w", e.Path, ErrInvalid)
	}
	if err := tx.put(&e, false); err != nil {
		return fmt.Errorf("store %q: %w", e.Path, err)
	}
	return nil
}

// put writes e at e.Seq, replacing the path's previous entry. With
// prior (the primary's journal) it keeps the previous chunk list of a
// large file (prior.go); without, it forgets any kept.
func (tx *Tx) put(e *Entry, prior bool) error {
	key := []byte(e.Path)
	seqKey := seqKey(e.Seq)
	if p := tx.journal.Get(seqKey); p != nil && !bytes.Equal(p, key) {
		return fmt.Errorf("sequence %d held by %q: %w", e.Seq, p, ErrSeqConflict)
	}
	val, off := encodeEntry(e)
	var old Entry
	var oldSection []byte
	hasOld := false
	if v := tx.entries.Get(key); v != nil {
		var err error
		if old, oldSection, err = decodeHeader(v); err != nil {
			return err
		}
		hasOld = true
		if err := tx.unjournal(&old); err != nil {
			return err
		}
		if err := tx.st.Stats.add(&old, -1); err != nil {
			return err
		}
	}
	if err := tx.updateRows(hasOld && hasRows(&old), oldSection, e, val[off:]); err != nil {
		return err
	}
	var was *Entry
	if hasOld {
		was = &old
	}
	if err := tx.keepPrior(was, oldSection, e, val[off:], prior); err != nil {
		return err
	}
	if err := tx.entries.Put(key, val); err != nil {
		return err
	}
	if err := tx.journal.Put(seqKey, key); err != nil {
		return err
	}
	_ = tx.st.Stats.add(e, +1)
	if e.Seq > tx.st.Head {
		tx.st.Head = e.Seq
	}
	tx.dirty = true
	return nil
}

// unjournal removes old's journal key if it still points at old's path.
func (tx *Tx) unjournal(old *Entry) error {
	k := seqKey(old.Seq)
	if p := tx.journal.Get(k); p != nil && string(p) == old.Path {
		return tx.journal.Delete(k)
	}
	return nil
}

// SetStat replaces only the local stat fingerprint of path; the entry keeps
// its sequence and is not journaled again.
func (tx *Tx) SetStat(path string, st Stat) error {
	if err := tx.check(true); err != nil {
		return err
	}
	v := tx.entries.Get([]byte(path))
	if v == nil {
		return fmt.Errorf("set stat %q: %w", path, ErrNotFound)
	}
	e, section, err := decodeHeader(v)
	if err != nil {
		return fmt.Errorf("set stat %q: %w", path, err)
	}
	e.Stat = st
	if err := tx.entries.Put([]byte(path), encodeWithChunkSection(&e, section)); err != nil {
		return fmt.Errorf("set stat %q: %w", path, err)
	}
	return nil
}

// SetPosition records a secondary's durable applied position. It fails with
// ErrBackwards if seq is below the current position.
func (tx *Tx) SetPosition(seq uint64) error {
	if err := tx.check(true); err != nil {
		return err
	}
	if seq < tx.st.Position {
		return fmt.Errorf("set position %d in folder %q (at %d): %w", seq, tx.folder, tx.st.Position, ErrBackwards)
	}
	if seq != tx.st.Position {
		tx.st.Position = seq
		tx.dirty = true
	}
	return nil
}

// Delete purges path's entry entirely (tombstone compaction): its journal
// key, chunk map rows and counters go with it. Deleting a missing path is
// not an error. Head does not move.
func (tx *Tx) Delete(path string) error {
	if err := tx.check(true); err != nil {
		return err
	}
	key := []byte(path)
	v := tx.entries.Get(key)
	if v == nil {
		return nil
	}
	old, section, err := decodeHeader(v)
	if err == nil {
		err = tx.unjournal(&old)
	}
	if err == nil && hasRows(&old) {
		err = tx.removeRows(old.Path, section)
	}
	if err == nil {
		err = tx.st.Stats.add(&old, -1)
	}
	if err == nil {
		err = tx.forgetPrior(&old, section)
	}
	if err == nil {
		err = tx.entries.Delete(key)
	}
	if err != nil {
		return fmt.Errorf("delete %q: %w", path, err)
	}
	tx.dirty = true
	return nil
}

// Walk calls fn for each entry whose path is prefix or lies under prefix+"/"
// ("" means all), in path byte order, tombstones included. fn must not
// modify the Tx; collect paths and change them after Walk returns.
func (tx *Tx) Walk(prefix string, fn func(Entry) error) error {
	if err := tx.check(false); err != nil {
		return err
	}
	if tx.entries == nil {
		return nil
	}
	visit := func(v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("walk %q: %w", prefix, err)
		}
		return fn(e)
	}
	c := tx.entries.Cursor()
	var under []byte
	if prefix != "" {
		if v := tx.entries.Get([]byte(prefix)); v != nil {
			if err := visit(v); err != nil {
				return err
			}
		}
		under = []byte(prefix + "/")
	}
	k, v := c.First()
	if under != nil {
		k, v = c.Seek(under)
	}
	for ; k != nil && bytes.HasPrefix(k, under); k, v = c.Next() {
		if err := visit(v); err != nil {
			return err
		}
	}
	return nil
}

func validEntry(e *Entry) error {
	if e.Path == RootPath {
		if e.Kind != KindDir || e.Deleted {
			return fmt.Errorf("entry %q: the folder root's own entry is a directory, never deleted: %w", e.Path, ErrInvalid)
		}
	} else if err := validPath(e.Path); err != nil {
		return err
	}
	if e.Kind < KindFile || e.Kind > KindSymlink {
		return fmt.Errorf("entry %q kind %d: %w", e.Path, e.Kind, ErrInvalid)
	}
	if e.Size < 0 {
		return fmt.Errorf("entry %q size %d: %w", e.Path, e.Size, ErrInvalid)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}
