package chunker

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID names content: the BLAKE3-256 of a chunk's bytes, or a file's id (see
// FileID). The zero ID names nothing.
type ID [32]byte

// Sum returns the BLAKE3-256 of data.
func Sum(data []byte) ID {
	return blake3.Sum256(data)
}

// String returns id in lowercase hex.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool {
	return id == ID{}
}

// ParseID parses the 64-digit hex form written by String (either case).
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("parse id %q: want %d hex digits, have %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("parse id %q: %w", s, err)
	}
	return id, nil
}

// FileID returns a file's id: the BLAKE3-256 of its chunk ids in order,
// concatenated. It needs only the chunk ids, so a file is read once. An empty
// file's id is FileID(nil).
func FileID(ids []ID) ID {
	var h FileHasher
	for _, id := range ids {
		h.Add(id)
	}
	return h.Sum()
}

// FileHasher computes FileID incrementally, one chunk id at a time. The zero
// value is ready to use; Reset makes it reusable without allocating.
type FileHasher struct {
	h *blake3.Hasher
}

// Add appends the next chunk id of the file.
func (f *FileHasher) Add(id ID) {
	if f.h == nil {
		f.h = blake3.New()
	}
	_, _ = f.h.Write(id[:])
}

// Sum returns the FileID of the ids added so far. It does not change the
// state: more ids may be added after it.
func (f *FileHasher) Sum() ID {
	if f.h == nil {
		f.h = blake3.New()
	}
	var id ID
	f.h.Sum(id[:0])
	return id
}

// Reset forgets all added ids.
func (f *FileHasher) Reset() {
	if f.h != nil {
		f.h.Reset()
	}
}
