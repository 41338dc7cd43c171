package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/ncsync/ncsync/chunker"
	bolt "go.etcd.io/bbolt"
)

// The chunk map has one row per (chunk id, live file) in the "chunks"
// bucket: key id(32) ‖ folder ‖ 0x00 ‖ path, value offset(8) ‖ size(4), the
// offset of the chunk's first occurrence in the file. Rows exist only for
// live files.
//
// Rows are not written as files are journaled but buffered per transaction
// and written sorted when it ends: bbolt does not split pages until commit,
// so unsorted inserts into one fresh leaf cost a memmove each (quadratic for
// a million rows), whereas sorted inserts append.

const rowValueLen = 12

// ChunkLoc is where a chunk's bytes can be read on this node.
type ChunkLoc struct {
	Folder, Path string
	Offset       int64
	Size         uint32
}

// pendingRow is a chunk map row waiting for the end of the transaction.
type pendingRow struct {
	id   chunker.ID
	path string
	off  int64
	size uint32
}

// hasRows reports whether e has chunk map rows: live files only.
func hasRows(e *Entry) bool {
	return !e.Deleted && e.Kind == KindFile
}

// updateRows replaces path's rows from oldSection (if oldRows) by those of
// e. An unchanged chunk list (a chmod, a touch) costs nothing.
func (tx *Tx) updateRows(oldRows bool, oldSection []byte, e *Entry, newSection []byte) error {
	newRows := hasRows(e)
	if oldRows && newRows && bytes.Equal(oldSection, newSection) {
		return nil
	}
	if oldRows {
		if err := tx.removeRows(e.Path, oldSection); err != nil {
			return err
		}
	}
	if newRows && len(e.Chunks) > 0 {
		tx.pending = slices.Grow(tx.pending, len(e.Chunks))
		var off int64
		for _, c := range e.Chunks {
			tx.pending = append(tx.pending, pendingRow{id: c.ID, path: e.Path, off: off, size: c.Size})
			off += int64(c.Size)
		}
		if tx.pendingPaths == nil {
			tx.pendingPaths = make(map[string]struct{})
		}
		tx.pendingPaths[e.Path] = struct{}{}
	}
	return nil
}

// removeRows deletes path's rows for the chunks in an encoded chunk section.
func (tx *Tx) removeRows(path string, section []byte) error {
	if _, ok := tx.pendingPaths[path]; ok {
		if err := tx.flushRows(); err != nil {
			return err
		}
	}
	var ids []chunker.ID
	err := forEachChunk(section, func(c ChunkRef) {
		ids = append(ids, c.ID)
	}, func(n int) {
		ids = make([]chunker.ID, 0, n)
	})
	if err != nil {
		return err
	}
	slices.SortFunc(ids, func(a, b chunker.ID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	// Backwards, so that rows written earlier in this transaction (one big
	// unsplit leaf) are removed from its end without shifting.
	var key []byte
	for i := len(ids) - 1; i >= 0; i-- {
		key = appendRowKey(key[:0], ids[i], tx.folder, path)
		if err := tx.chunks.Delete(key); err != nil {
			return err
		}
	}
	return nil
}

// flushRows writes the buffered rows in key order, one row per chunk id and
// file (the first offset).
func (tx *Tx) flushRows() error {
	if len(tx.pending) == 0 {
		return nil
	}
	rows := tx.pending
	// All rows share tx.folder, so (id, path) order is key order.
	slices.SortFunc(rows, func(a, b pendingRow) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	// bbolt keeps value slices until commit: one arena, never reused.
	vals := make([]byte, rowValueLen*len(rows))
	var key []byte
	for i, r := range rows {
		if i > 0 && r.id == rows[i-1].id && r.path == rows[i-1].path {
			continue
		}
		v := vals[i*rowValueLen : (i+1)*rowValueLen : (i+1)*rowValueLen]
		binary.BigEndian.PutUint64(v, uint64(r.off))
		binary.BigEndian.PutUint32(v[8:], r.size)
		key = appendRowKey(key[:0], r.id, tx.folder, r.path)
		if err := tx.chunks.Put(key, v); err != nil {
			return fmt.Errorf("chunk map row %q: %w", r.path, err)
		}
	}
	tx.pending = tx.pending[:0]
	clear(tx.pendingPaths)
	return nil
}

func appendRowKey(b []byte, id chunker.ID, folder, path string) []byte {
	b = append(b, id[:]...)
	b = append(b, folder...)
	b = append(b, 0)
	return append(b, path...)
}

// LookupChunk returns up to max places (max <= 0: all) in live files, in
// any folder, where the chunk id can be read, including this transaction's
// own writes.
func (tx *Tx) LookupChunk(id chunker.ID, max int) ([]ChunkLoc, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	if tx.writable {
		if err := tx.flushRows(); err != nil {
			return nil, fmt.Errorf("lookup chunk %s: %w", id, err)
		}
	}
	return lookupChunk(tx.chunks, id, max)
}

// LookupChunk returns up to max places (max <= 0: all) in live files, in
// any folder, where the chunk id can be read.
func (db *DB) LookupChunk(id chunker.ID, max int) ([]ChunkLoc, error) {
	var locs []ChunkLoc
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		locs, err = lookupChunk(btx.Bucket(bucketChunks), id, max)
		return err
	})
	return locs, err
}

func lookupChunk(b *bolt.Bucket, id chunker.ID, max int) ([]ChunkLoc, error) {
	var locs []ChunkLoc
	c := b.Cursor()
	for k, v := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, v = c.Next() {
		if max > 0 && len(locs) >= max {
			break
		}
		rest := k[len(id):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(v) != rowValueLen {
			return nil, fmt.Errorf("lookup chunk %s: row %q: %w", id, k, ErrCorrupt)
		}
		locs = append(locs, ChunkLoc{
			Folder: string(rest[:i]),
			Path:   string(rest[i+1:]),
			Offset: int64(binary.BigEndian.Uint64(v)),
			Size:   binary.BigEndian.Uint32(v[8:]),
		})
	}
	return locs, nil
}
