package index

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/ncsync/ncsync/chunker"
	"github.com/zeebo/blake3"
)

// Get returns folder's entry for path, tombstones included.
func (db *DB) Get(folder, path string) (Entry, bool, error) {
	var e Entry
	var ok bool
	err := db.View(folder, func(tx *Tx) error {
		var err error
		e, ok, err = tx.Get(path)
		return err
	})
	return e, ok, err
}

// Walk calls fn for each entry of folder whose path is prefix or lies under
// prefix+"/" ("" means all), in path byte order, tombstones included. It
// runs in one read transaction: fn must not block for long nor write to the
// DB.
func (db *DB) Walk(folder, prefix string, fn func(Entry) error) error {
	return db.View(folder, func(tx *Tx) error { return tx.Walk(prefix, fn) })
}

// Since calls fn for the entries with Seq > after in sequence order, at most
// max of them (max <= 0: no limit). Each path appears once, at its latest
// sequence. It returns the sequence of the last entry visited, or after if
// none. It runs in one read transaction: fn must copy what it needs and not
// block on the network nor write to the DB.
func (db *DB) Since(folder string, after uint64, max int, fn func(Entry) error) (uint64, error) {
	last, _, err := db.SinceHead(folder, after, max, fn)
	return last, err
}

// SinceHead is Since that also returns the folder's head in the same
// snapshot: when last equals head, the entries visited bring a peer at
// after exactly to the folder's state at head.
func (db *DB) SinceHead(folder string, after uint64, max int, fn func(Entry) error) (last, head uint64, err error) {
	last = after
	err = db.View(folder, func(tx *Tx) error {
		head = tx.st.Head
		n := 0
		return tx.since(after, func(seq uint64, e Entry, section []byte) (bool, error) {
			if max > 0 && n >= max {
				return false, nil
			}
			var err error
			if e.Chunks, err = decodeChunks(section); err != nil {
				return false, fmt.Errorf("since %d: seq %d: %w", after, seq, err)
			}
			if err := fn(e); err != nil {
				return false, err
			}
			n++
			last = seq
			return true, nil
		})
	})
	return last, head, err
}

// since walks the journal after seq, handing fn the header and raw chunk
// section of each entry whose sequence is still its journal key (Journal and
// Store never leave stale keys behind; this is defence in depth). fn returns
// false to stop.
func (tx *Tx) since(after uint64, fn func(seq uint64, e Entry, section []byte) (bool, error)) error {
	if tx.journal == nil || after == ^uint64(0) {
		return nil
	}
	c := tx.journal.Cursor()
	for k, p := c.Seek(seqKey(after + 1)); k != nil; k, p = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("journal key %x: %w", k, ErrCorrupt)
		}
		seq := binary.BigEndian.Uint64(k)
		v := tx.entries.Get(p)
		if v == nil {
			continue
		}
		e, section, err := decodeHeader(v)
		if err != nil {
			return fmt.Errorf("journal seq %d %q: %w", seq, p, err)
		}
		if e.Seq != seq {
			continue
		}
		more, err := fn(seq, e, section)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// LagBytes returns how many entries of folder (any kind, tombstones
// included) have Seq > after, and the total size of the live files among
// them: what a peer at after still has to apply. It reads every such
// entry; Lag bounds the work.
func (db *DB) LagBytes(folder string, after uint64) (entries, bytes uint64, err error) {
	l, err := db.Lag(folder, after, 0)
	return l.Entries, l.Bytes, err
}

// Lag is what a peer still has to apply (see DB.Lag).
type Lag struct {
	Entries, Bytes uint64
	// Exact is false when the count stopped at the limit: Entries and
	// Bytes are then lower bounds.
	Exact bool
}

// Lag is LagBytes reading at most limit entries (0: no limit), so that a
// status request stays cheap while a peer is far behind.
func (db *DB) Lag(folder string, after uint64, limit int) (Lag, error) {
	l := Lag{Exact: true}
	err := db.View(folder, func(tx *Tx) error {
		return tx.since(after, func(_ uint64, e Entry, _ []byte) (bool, error) {
			if limit > 0 && l.Entries == uint64(limit) {
				l.Exact = false
				return false, nil
			}
			l.Entries++
			if hasRows(&e) {
				l.Bytes += uint64(e.Size)
			}
			return true, nil
		})
	})
	return l, err
}

// Lags is Lag for several peers of folder at once, at positions afters,
// in one read of the journal from the lowest of them: a status request
// with many secondaries far behind reads their common lag once, not once
// per secondary. It reads at most limit entries (0: no limit); when it
// stops there, every Lag is a lower bound.
func (db *DB) Lags(folder string, afters []uint64, limit int) ([]Lag, error) {
	lags := make([]Lag, len(afters))
	if len(afters) == 0 {
		return lags, nil
	}
	for i := range lags {
		lags[i].Exact = true
	}
	from := slices.Min(afters)
	var read int
	err := db.View(folder, func(tx *Tx) error {
		return tx.since(from, func(seq uint64, e Entry, _ []byte) (bool, error) {
			if limit > 0 && read == limit {
				for i := range lags {
					lags[i].Exact = false
				}
				return false, nil
			}
			read++
			for i, after := range afters {
				if seq > after {
					lags[i].Entries++
					if hasRows(&e) {
						lags[i].Bytes += uint64(e.Size)
					}
				}
			}
			return true, nil
		})
	})
	return lags, err
}

// TreeHash returns a BLAKE3 hash over every live entry of folder in path
// order (path, kind, mode, uid, gid, mtime, size, target, file id; not
// sequence, version or local stat), the number of live entries and the
// folder's head, all from one snapshot. Two folders with the same live
// content hash equal whatever their histories.
func (db *DB) TreeHash(folder string) (hash chunker.ID, entries uint64, head uint64, err error) {
	h := blake3.New()
	err = db.View(folder, func(tx *Tx) error {
		head = tx.st.Head
		if tx.entries == nil {
			return nil
		}
		var buf []byte
		c := tx.entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, _, err := decodeHeader(v)
			if err != nil {
				return fmt.Errorf("tree hash %q: %w", k, err)
			}
			if e.Deleted {
				continue
			}
			buf = appendTreeRecord(buf[:0], &e)
			_, _ = h.Write(buf)
			entries++
		}
		return nil
	})
	if err != nil {
		return chunker.ID{}, 0, 0, err
	}
	h.Sum(hash[:0])
	return hash, entries, head, nil
}

// appendTreeRecord is one entry's contribution to TreeHash; every variable
// field is length prefixed so records cannot run into each other.
func appendTreeRecord(b []byte, e *Entry) []byte {
	b = appendString(b, e.Path)
	b = append(b, byte(e.Kind))
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendVarint(b, e.MtimeNs)
	b = binary.AppendVarint(b, e.Size)
	b = appendString(b, e.Target)
	return append(b, e.FileID[:]...)
}
