package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ncsync/ncsync/chunker"
)

// Entry record layout, version 1 (all integers varints, strings length
// prefixed, every varint minimal so that a record has exactly one encoding):
//
//	version(1) path seq kind(1) flags(1) mode uid gid mtime size target
//	[fileid(32) if flagFileID] v.epoch v.seq v.node
//	stat.dev stat.ino stat.size stat.mtime stat.ctime
//	nchunks {id(32) size}...
//
// The chunk list comes last so that readers that need only the metadata
// (counters, tree hash, lag) can skip it and compare it as raw bytes.
const entryVersion = 1

const (
	flagDeleted = 1 << iota
	flagFileID
	flagsKnown = flagDeleted | flagFileID
)

// minChunkLen is the smallest encoded chunk ref: an id and a one-byte size.
const minChunkLen = len(chunker.ID{}) + 1

// encodeEntry returns a fresh encoding of e (bbolt keeps the slice until
// commit, so it must not be reused) and the offset of its chunk section.
func encodeEntry(e *Entry) ([]byte, int) {
	n := 96 + len(e.Path) + len(e.Target) + len(e.Version.Node) + len(e.Chunks)*(minChunkLen+4)
	b := appendHeader(make([]byte, 0, n), e)
	off := len(b)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	for _, c := range e.Chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	return b, off
}

// encodeWithChunkSection encodes e's header followed by an already encoded
// chunk section, so metadata can change without decoding the chunks.
func encodeWithChunkSection(e *Entry, section []byte) []byte {
	b := appendHeader(make([]byte, 0, 96+len(e.Path)+len(e.Target)+len(e.Version.Node)+len(section)), e)
	return append(b, section...)
}

func appendHeader(b []byte, e *Entry) []byte {
	b = append(b, entryVersion)
	b = appendString(b, e.Path)
	b = binary.AppendUvarint(b, e.Seq)
	var flags byte
	if e.Deleted {
		flags |= flagDeleted
	}
	if !e.FileID.IsZero() {
		flags |= flagFileID
	}
	b = append(b, byte(e.Kind), flags)
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendVarint(b, e.MtimeNs)
	b = binary.AppendVarint(b, e.Size)
	b = appendString(b, e.Target)
	if flags&flagFileID != 0 {
		b = append(b, e.FileID[:]...)
	}
	b = binary.AppendUvarint(b, e.Version.Epoch)
	b = binary.AppendUvarint(b, e.Version.Seq)
	b = appendString(b, e.Version.Node)
	b = binary.AppendUvarint(b, e.Stat.Dev)
	b = binary.AppendUvarint(b, e.Stat.Ino)
	b = binary.AppendVarint(b, e.Stat.Size)
	b = binary.AppendVarint(b, e.Stat.MtimeNs)
	b = binary.AppendVarint(b, e.Stat.CtimeNs)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry decodes a whole entry record.
func decodeEntry(b []byte) (Entry, error) {
	e, section, err := decodeHeader(b)
	if err != nil {
		return Entry{}, err
	}
	if e.Chunks, err = decodeChunks(section); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// decodeChunks decodes a chunk section; nil if it holds none.
func decodeChunks(section []byte) ([]ChunkRef, error) {
	var chunks []ChunkRef
	err := forEachChunk(section, func(c ChunkRef) {
		chunks = append(chunks, c)
	}, func(n int) {
		if n > 0 {
			chunks = make([]ChunkRef, 0, n)
		}
	})
	if err != nil {
		return nil, err
	}
	return chunks, nil
}

// decodeHeader decodes everything but the chunk list, which it returns
// undecoded (and unchecked: forEachChunk checks it).
func decodeHeader(b []byte) (Entry, []byte, error) {
	r := reader{b: b}
	var e Entry
	if v := r.byte(); r.err == nil && v != entryVersion {
		return Entry{}, nil, fmt.Errorf("entry version %d: %w", v, ErrCorrupt)
	}
	e.Path = r.string()
	e.Seq = r.uvarint()
	e.Kind = Kind(r.byte())
	flags := r.byte()
	e.Mode = r.uint32()
	e.UID = r.uint32()
	e.GID = r.uint32()
	e.MtimeNs = r.varint()
	e.Size = r.varint()
	e.Target = r.string()
	if flags&flagFileID != 0 {
		r.bytes(e.FileID[:])
	}
	e.Version.Epoch = r.uvarint()
	e.Version.Seq = r.uvarint()
	e.Version.Node = r.string()
	e.Stat.Dev = r.uvarint()
	e.Stat.Ino = r.uvarint()
	e.Stat.Size = r.varint()
	e.Stat.MtimeNs = r.varint()
	e.Stat.CtimeNs = r.varint()
	if r.err != nil {
		return Entry{}, nil, r.err
	}
	switch {
	case e.Kind < KindFile || e.Kind > KindSymlink:
		return Entry{}, nil, fmt.Errorf("entry kind %d: %w", e.Kind, ErrCorrupt)
	case flags&^flagsKnown != 0:
		return Entry{}, nil, fmt.Errorf("entry flags %#x: %w", flags, ErrCorrupt)
	case flags&flagFileID != 0 && e.FileID.IsZero():
		return Entry{}, nil, fmt.Errorf("entry zero file id: %w", ErrCorrupt)
	}
	e.Deleted = flags&flagDeleted != 0
	return e, r.b, nil
}

// forEachChunk decodes a chunk section, calling size once with the count
// (bounded by the bytes present) before the first chunk.
func forEachChunk(section []byte, fn func(ChunkRef), size func(int)) error {
	r := reader{b: section}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/minChunkLen) {
		return fmt.Errorf("chunk count %d for %d bytes: %w", n, len(r.b), ErrCorrupt)
	}
	if size != nil && r.err == nil {
		size(int(n))
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var c ChunkRef
		r.bytes(c.ID[:])
		c.Size = r.uint32()
		if r.err == nil {
			fn(c)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes: %w", len(r.b), ErrCorrupt)
	}
	return r.err
}

// reader decodes varint records; the first error sticks and later reads
// return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("bad %s: %w", what, ErrCorrupt)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail("byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(dst []byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(dst) {
		r.fail("fixed field")
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	ux := uint64(v) << 1
	if v < 0 {
		ux = ^ux
	}
	if n <= 0 || n != uvarintLen(ux) {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.fail("uint32")
		return 0
	}
	return uint32(v)
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail("string length")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// done fails unless every byte was consumed.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes: %w", len(r.b), ErrCorrupt)
	}
	return r.err
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
