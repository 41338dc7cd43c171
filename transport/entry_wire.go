package transport

import (
	"fmt"
	"math"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// protocolErr returns an error wrapping ErrProtocol.
func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func kindToWire(k index.Kind) (ncsyncv1.EntryType, bool) {
	switch k {
	case index.KindFile:
		return ncsyncv1.EntryType_ENTRY_TYPE_FILE, true
	case index.KindDir:
		return ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY, true
	case index.KindSymlink:
		return ncsyncv1.EntryType_ENTRY_TYPE_SYMLINK, true
	}
	return 0, false
}

func kindFromWire(t ncsyncv1.EntryType) (index.Kind, bool) {
	switch t {
	case ncsyncv1.EntryType_ENTRY_TYPE_FILE:
		return index.KindFile, true
	case ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY:
		return index.KindDir, true
	case ncsyncv1.EntryType_ENTRY_TYPE_SYMLINK:
		return index.KindSymlink, true
	}
	return 0, false
}

// refsToWire converts refs with two allocations; the ids alias refs, so the
// result must be marshalled before refs change.
func refsToWire(refs []index.ChunkRef) []*ncsyncv1.ChunkRef {
	if len(refs) == 0 {
		return nil
	}
	vals := make([]ncsyncv1.ChunkRef, len(refs))
	ptrs := make([]*ncsyncv1.ChunkRef, len(refs))
	for i := range refs {
		vals[i].Id = refs[i].ID[:]
		vals[i].Size = refs[i].Size
		ptrs[i] = &vals[i]
	}
	return ptrs
}

// entryToWire converts e with the first inline of its chunks (all if
// inline >= len(e.Chunks)); chunk_count is always the total. It refuses
// entries a conforming receiver would refuse.
func entryToWire(e *index.Entry, inline int, lim Limits) (*ncsyncv1.Entry, error) {
	t, ok := kindToWire(e.Kind)
	if !ok {
		return nil, fmt.Errorf("send entry %q: invalid kind %v", e.Path, e.Kind)
	}
	if e.Size < 0 {
		return nil, fmt.Errorf("send entry %q: negative size %d", e.Path, e.Size)
	}
	if len(e.Chunks) > lim.MaxEntryChunks {
		return nil, fmt.Errorf("send entry %q: %d chunks exceed the limit of %d", e.Path, len(e.Chunks), lim.MaxEntryChunks)
	}
	pe := &ncsyncv1.Entry{
		Path:          e.Path,
		Sequence:      e.Seq,
		Type:          t,
		Mode:          e.Mode,
		Uid:           e.UID,
		Gid:           e.GID,
		MtimeNs:       e.MtimeNs,
		Size:          uint64(e.Size),
		SymlinkTarget: e.Target,
		Chunks:        refsToWire(e.Chunks[:min(inline, len(e.Chunks))]),
		ChunkCount:    uint64(len(e.Chunks)),
		Deleted:       e.Deleted,
	}
	if !e.FileID.IsZero() {
		pe.FileId = e.FileID[:]
	}
	if e.Version != (index.Version{}) {
		pe.Version = &ncsyncv1.Version{Epoch: e.Version.Epoch, Sequence: e.Version.Seq, Node: e.Version.Node}
	}
	return pe, nil
}

// idFromWire converts a 32-byte id; what names the id in errors.
func idFromWire(b []byte, what string) (chunker.ID, error) {
	var id chunker.ID
	if len(b) != len(id) {
		return id, protocolErr("%s has %d bytes, want %d", what, len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// appendRefs checks refs and appends them to dst. first is the index of
// refs[0] in the file, for messages.
func appendRefs(dst []index.ChunkRef, refs []*ncsyncv1.ChunkRef, first int, lim Limits) ([]index.ChunkRef, error) {
	for i, r := range refs {
		var ref index.ChunkRef
		if len(r.GetId()) != len(ref.ID) {
			return dst, protocolErr("chunk %d: id has %d bytes, want %d", first+i, len(r.GetId()), len(ref.ID))
		}
		if r.GetSize() == 0 || int64(r.GetSize()) > int64(lim.MaxChunkBytes) {
			return dst, protocolErr("chunk %d: size %d is outside 1..%d", first+i, r.GetSize(), lim.MaxChunkBytes)
		}
		copy(ref.ID[:], r.Id)
		ref.Size = r.Size
		dst = append(dst, ref)
	}
	return dst, nil
}

// entryDeltaToWire converts e with its chunk list as delta d.
func entryDeltaToWire(e *index.Entry, d *index.ChunkDelta, lim Limits) (*ncsyncv1.Entry, error) {
	pe, err := entryToWire(e, 0, lim)
	if err != nil {
		return nil, err
	}
	if e.Kind != index.KindFile || e.Deleted || d.Count != uint64(len(e.Chunks)) {
		return nil, fmt.Errorf("send entry %q: a delta of %d chunks for a %v (deleted %v) of %d", e.Path, d.Count, e.Kind, e.Deleted, len(e.Chunks))
	}
	pe.ChunkCount, pe.ChunkDelta = 0, deltaToWire(d)
	return pe, nil
}

// entryFromWire converts and checks pe. The entry may be incomplete: fewer
// chunks than pe.ChunkCount, the rest to come in MoreChunks; the caller
// appends them. Or its chunk list comes as a delta (returned, not nil),
// which the receiver applies to a base of its own. Whether a file's chunks
// add up to its size and hash to its file id is checked per entry by the
// writer (apply.ValidateEntry), so one inconsistent entry is refused alone
// instead of ending the session.
func entryFromWire(pe *ncsyncv1.Entry, lim Limits) (index.Entry, *index.ChunkDelta, error) {
	e, err := entryFromWire1(pe, lim)
	var d *index.ChunkDelta
	if err == nil && pe.GetChunkDelta() != nil {
		if e.Kind != index.KindFile || e.Deleted || pe.GetChunkCount() != 0 {
			err = protocolErr("a chunk delta with a %v (deleted %v) of %d chunks", e.Kind, e.Deleted, pe.GetChunkCount())
		} else {
			var dd index.ChunkDelta
			if dd, err = deltaFromWire(pe.ChunkDelta, lim); err == nil {
				d = &dd
			}
		}
	}
	if err != nil {
		return index.Entry{}, nil, fmt.Errorf("entry %q seq %d: %w", pe.GetPath(), pe.GetSequence(), err)
	}
	return e, d, nil
}

func entryFromWire1(pe *ncsyncv1.Entry, lim Limits) (index.Entry, error) {
	kind, ok := kindFromWire(pe.GetType())
	if !ok {
		return index.Entry{}, protocolErr("invalid type %d", int32(pe.GetType()))
	}
	if pe.GetSequence() == 0 {
		return index.Entry{}, protocolErr("sequence 0")
	}
	if pe.GetMode()&^0o7777 != 0 {
		return index.Entry{}, protocolErr("mode %#o has bits outside 07777", pe.GetMode())
	}
	if pe.GetSize() > math.MaxInt64 {
		return index.Entry{}, protocolErr("size %d overflows (negative)", pe.GetSize())
	}
	count := pe.GetChunkCount()
	if count > uint64(lim.MaxEntryChunks) {
		return index.Entry{}, protocolErr("%d chunks exceed the limit of %d", count, lim.MaxEntryChunks)
	}
	if uint64(len(pe.GetChunks())) > count {
		return index.Entry{}, protocolErr("%d chunks sent but chunk_count is %d", len(pe.GetChunks()), count)
	}
	if kind != index.KindFile && count != 0 {
		return index.Entry{}, protocolErr("a %v with %d chunks", kind, count)
	}
	if kind != index.KindFile && len(pe.GetFileId()) != 0 {
		return index.Entry{}, protocolErr("a %v with a file id", kind)
	}
	e := index.Entry{
		Path:    pe.GetPath(),
		Seq:     pe.GetSequence(),
		Kind:    kind,
		Mode:    pe.GetMode(),
		UID:     pe.GetUid(),
		GID:     pe.GetGid(),
		MtimeNs: pe.GetMtimeNs(),
		Size:    int64(pe.GetSize()),
		Target:  pe.GetSymlinkTarget(),
		Deleted: pe.GetDeleted(),
	}
	if v := pe.GetVersion(); v != nil {
		e.Version = index.Version{Epoch: v.Epoch, Seq: v.Sequence, Node: v.Node}
	}
	if len(pe.GetFileId()) != 0 {
		id, err := idFromWire(pe.FileId, "file id")
		if err != nil {
			return index.Entry{}, err
		}
		e.FileID = id
	}
	if count > 0 {
		// Grow as chunks arrive, not as announced.
		e.Chunks = make([]index.ChunkRef, 0, min(count, uint64(max(len(pe.Chunks), 1024))))
		var err error
		if e.Chunks, err = appendRefs(e.Chunks, pe.Chunks, 0, lim); err != nil {
			return index.Entry{}, err
		}
	}
	return e, nil
}
