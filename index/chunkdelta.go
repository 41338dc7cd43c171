package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"

	"github.com/ncsync/ncsync/chunker"
)

// A chunk list delta describes a file's chunk list as edits of another
// list, its base: runs of the base's chunks copied in order, and chunk
// refs inserted between them. An edit of a large file changes a few
// chunks, so the delta of its new list against the old one is a few
// runs and a few refs instead of thousands of refs.
//
// Both lists are named by ListHash. Whoever builds the list from a delta
// proves it holds the base the delta was made against (the base's hash),
// and that the result is the list the delta's maker meant (the result's
// hash): a damaged or crafted delta, or one applied to another base,
// yields an error, never another list.

// ChunkDelta is a chunk list as edits of a base list.
type ChunkDelta struct {
	Base   chunker.ID // ListHash of the base
	Result chunker.ID // ListHash of the list the edits build
	Count  uint64     // chunks of that list
	Edits  []ChunkEdit
}

// ChunkEdit appends CopyCount chunks of the base from CopyStart, then
// Insert.
type ChunkEdit struct {
	CopyStart, CopyCount uint64
	Insert               []ChunkRef
}

// Errors of ChunkDelta.Apply, wrapped by what it returns.
var (
	// ErrDeltaBase: the list is not the delta's base.
	ErrDeltaBase = errors.New("chunk list delta: not the base it was made against")
	// ErrDeltaInvalid: the delta's edits do not build the list it names
	// (out of the base's bounds, a different count or hash, over a limit).
	ErrDeltaInvalid = errors.New("chunk list delta: invalid")
)

// listHashContext separates list hashes from chunk and file ids.
const listHashContext = "ncsync 2026 chunk list v1"

// ListHash returns the hash of a chunk list's encoding: BLAKE3 in key
// derivation mode (context listHashContext) over each ref's id and size
// (4 bytes, little endian), in order.
func ListHash(refs []ChunkRef) chunker.ID {
	h := blake3.NewDeriveKey(listHashContext)
	var buf [36 * 64]byte
	n := 0
	for _, r := range refs {
		copy(buf[n:], r.ID[:])
		binary.LittleEndian.PutUint32(buf[n+32:], r.Size)
		n += 36
		if n == len(buf) {
			_, _ = h.Write(buf[:n])
			n = 0
		}
	}
	_, _ = h.Write(buf[:n])
	var id chunker.ID
	h.Sum(id[:0])
	return id
}

// DiffChunks returns next as edits of base. Runs of chunks that base holds
// in the same order are copied; a run is continued where the last one
// ended when it can, and otherwise taken from the first place base holds
// the chunk.
func DiffChunks(base, next []ChunkRef) ChunkDelta {
	d := ChunkDelta{Base: ListHash(base), Result: ListHash(next), Count: uint64(len(next))}
	first := make(map[ChunkRef]int, len(base))
	for i := len(base) - 1; i >= 0; i-- {
		first[base[i]] = i
	}
	var cur ChunkEdit // inserts accumulate after its copy
	flush := func() {
		if cur.CopyCount > 0 || len(cur.Insert) > 0 {
			d.Edits = append(d.Edits, cur)
		}
		cur = ChunkEdit{}
	}
	end := -1 // where the last run ended in base
	for j := 0; j < len(next); {
		i, ok := end, end >= 0 && end < len(base) && base[end] == next[j]
		if !ok {
			i, ok = first[next[j]]
		}
		if !ok {
			cur.Insert = append(cur.Insert, next[j])
			j++
			continue
		}
		n := 1
		for i+n < len(base) && j+n < len(next) && base[i+n] == next[j+n] {
			n++
		}
		if len(cur.Insert) == 0 && cur.CopyCount > 0 && cur.CopyStart+cur.CopyCount == uint64(i) {
			cur.CopyCount += uint64(n) // continues the run
		} else {
			flush()
			cur.CopyStart, cur.CopyCount = uint64(i), uint64(n)
		}
		end = i + n
		j += n
	}
	flush()
	return d
}

// Apply builds the delta's list from base. It fails with ErrDeltaBase if
// base is not the delta's base, and with ErrDeltaInvalid if the edits
// leave base's bounds, build more than maxChunks chunks or a list other
// than the one the delta names. Memory grows with the chunks built, not
// with what the delta claims.
func (d *ChunkDelta) Apply(base []ChunkRef, maxChunks int) ([]ChunkRef, error) {
	if d.Count > uint64(maxChunks) {
		return nil, fmt.Errorf("%w: %d chunks exceed the limit of %d", ErrDeltaInvalid, d.Count, maxChunks)
	}
	if ListHash(base) != d.Base {
		return nil, ErrDeltaBase
	}
	nb := uint64(len(base))
	out := make([]ChunkRef, 0, min(d.Count, nb+d.inserted()))
	for k, e := range d.Edits {
		if e.CopyStart > nb || e.CopyCount > nb-e.CopyStart {
			return nil, fmt.Errorf("%w: edit %d copies %d chunks from %d of a base of %d", ErrDeltaInvalid, k, e.CopyCount, e.CopyStart, nb)
		}
		if e.CopyCount > d.Count-uint64(len(out)) || uint64(len(e.Insert)) > d.Count-uint64(len(out))-e.CopyCount {
			return nil, fmt.Errorf("%w: edit %d builds more than %d chunks", ErrDeltaInvalid, k, d.Count)
		}
		out = append(out, base[e.CopyStart:e.CopyStart+e.CopyCount]...)
		out = append(out, e.Insert...)
	}
	if uint64(len(out)) != d.Count {
		return nil, fmt.Errorf("%w: the edits build %d chunks, not %d", ErrDeltaInvalid, len(out), d.Count)
	}
	if ListHash(out) != d.Result {
		return nil, fmt.Errorf("%w: the list built does not have the hash the delta names", ErrDeltaInvalid)
	}
	return out, nil
}

// inserted returns how many refs the edits insert.
func (d *ChunkDelta) inserted() uint64 {
	var n uint64
	for _, e := range d.Edits {
		n += uint64(len(e.Insert))
	}
	return n
}
