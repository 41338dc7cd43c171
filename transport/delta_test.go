package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// edited returns e at seq with one chunk in the middle replaced.
func edited(e index.Entry, seq uint64) index.Entry {
	e.Seq, e.Version.Seq = seq, seq
	e.Chunks = slices.Clone(e.Chunks)
	e.Chunks[len(e.Chunks)/2] = index.ChunkRef{ID: chunker.Sum([]byte(fmt.Sprint("edit", seq))), Size: e.Chunks[0].Size}
	ids := make([]chunker.ID, len(e.Chunks))
	for i, c := range e.Chunks {
		ids[i] = c.ID
	}
	e.FileID = chunker.FileID(ids)
	return e
}

// TestDeltaBatchRoundTrip: entries sent with deltas arrive without their
// chunks and with the deltas, at their places, which build the lists sent
// from the bases; the batch is a fraction of its size with whole lists.
func TestDeltaBatchRoundTrip(t *testing.T) {
	lim := DefaultLimits()
	baseA, baseB := fileEntry("a", 1, 4000, 65536), fileEntry("b", 2, 300, 1000)
	a, b := edited(baseA, 10), edited(baseB, 12)
	entries := []index.Entry{a, fileEntry("small", 11, 2, 10), b}
	deltas := []EntryDelta{{At: 0, Delta: index.DiffChunks(baseA.Chunks, a.Chunks)}, {At: 2, Delta: index.DiffChunks(baseB.Chunks, b.Chunks)}}
	msgs := collect(t, Batch{Folder: "f", Entries: entries, Deltas: deltas, Head: 12}, lim)
	whole := collect(t, Batch{Folder: "f", Entries: entries, Head: 12}, lim)
	got, err := assemble(lim, msgs)
	if err != nil || len(got) != 1 {
		t.Fatalf("assembled %d batches: %v", len(got), err)
	}
	if n, w := protoSize(msgs[0]), protoSize(whole[0]); n*50 > w {
		t.Errorf("with deltas %d bytes, whole %d", n, w)
	}
	rb := got[0]
	if len(rb.Deltas) != 2 || rb.Deltas[0].At != 0 || rb.Deltas[1].At != 2 {
		t.Fatalf("deltas at %+v", rb.Deltas)
	}
	for k, base := range []index.Entry{baseA, baseB} {
		d := rb.Deltas[k]
		e := rb.Entries[d.At]
		if e.Chunks != nil {
			t.Errorf("entry %q arrived with %d chunks and a delta", e.Path, len(e.Chunks))
		}
		list, err := d.Delta.Apply(base.Chunks, lim.MaxEntryChunks)
		if err != nil || !slices.Equal(list, entries[d.At].Chunks) {
			t.Errorf("delta of %q: %v", e.Path, err)
		}
		e.Chunks = list
		if !index.SameContent(e, entries[d.At]) || e.Seq != entries[d.At].Seq {
			t.Errorf("entry %q arrived as %+v", e.Path, e)
		}
	}
	if !slices.Equal(rb.Entries[1].Chunks, entries[1].Chunks) {
		t.Error("the entry without a delta lost its chunks")
	}
}

// TestDeltaTooLargeGoesWhole: a delta that does not fit a message is not
// sent; the entry goes with its whole list.
func TestDeltaTooLargeGoesWhole(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxMessageBytes = minMessageBytes
	base := fileEntry("a", 1, 4000, 100)
	next := fileEntry("a", 2, 4000, 100) // nothing in common
	msgs := collect(t, Batch{Folder: "f", Entries: []index.Entry{next},
		Deltas: []EntryDelta{{At: 0, Delta: index.DiffChunks(base.Chunks, next.Chunks)}}}, lim)
	got, err := assemble(lim, msgs)
	if err != nil || len(got) == 0 {
		t.Fatal(err)
	}
	if len(got[0].Deltas) != 0 || !slices.Equal(got[0].Entries[0].Chunks, next.Chunks) {
		t.Fatalf("got %d deltas, %d chunks", len(got[0].Deltas), len(got[0].Entries[0].Chunks))
	}
}

// TestDeltaRefused: a batch carrying a malformed delta ends the session as
// a protocol violation, before any list is built.
func TestDeltaRefused(t *testing.T) {
	lim := fuzzLimits()
	base := fileEntry("a", 1, 100, 100)
	next := edited(base, 2)
	good := func() *ncsyncv1.Entry {
		pe, err := entryDeltaToWire(&next, new(index.DiffChunks(base.Chunks, next.Chunks)), lim)
		if err != nil {
			t.Fatal(err)
		}
		return pe
	}
	ref := &ncsyncv1.ChunkRef{Id: make([]byte, 32), Size: 100}
	tests := []struct {
		name string
		edit func(pe *ncsyncv1.Entry)
	}{
		{"short base hash", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.BaseHash = pe.ChunkDelta.BaseHash[:31] }},
		{"no result hash", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.ResultHash = nil }},
		{"count over the limit", func(pe *ncsyncv1.Entry) {
			pe.ChunkDelta.ResultCount = uint64(lim.MaxEntryChunks) + 1
			pe.ChunkDelta.Edits[0].CopyCount += pe.ChunkDelta.ResultCount - 100
		}},
		{"edits add more", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.Edits[0].CopyCount++ }},
		{"edits add less", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.Edits[0].CopyCount-- }},
		{"overflowing copy", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.Edits[0].CopyCount = 1<<64 - 1 }},
		{"empty edit", func(pe *ncsyncv1.Entry) {
			pe.ChunkDelta.Edits = append(pe.ChunkDelta.Edits, &ncsyncv1.ChunkListEdit{CopyStart: 3})
		}},
		{"more edits than chunks", func(pe *ncsyncv1.Entry) {
			for range 200 {
				pe.ChunkDelta.Edits = append(pe.ChunkDelta.Edits, &ncsyncv1.ChunkListEdit{CopyCount: 1})
			}
		}},
		{"inserted chunk of size 0", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.Edits[0].Insert = []*ncsyncv1.ChunkRef{{Id: ref.Id}} }},
		{"inserted chunk over the size limit", func(pe *ncsyncv1.Entry) {
			pe.ChunkDelta.Edits[0].Insert = []*ncsyncv1.ChunkRef{{Id: ref.Id, Size: uint32(lim.MaxChunkBytes) + 1}}
		}},
		{"short inserted id", func(pe *ncsyncv1.Entry) { pe.ChunkDelta.Edits[0].Insert[0].Id = ref.Id[:5] }},
		{"with a chunk count", func(pe *ncsyncv1.Entry) { pe.ChunkCount = 1 }},
		{"with chunks", func(pe *ncsyncv1.Entry) { pe.ChunkCount, pe.Chunks = 1, []*ncsyncv1.ChunkRef{ref} }},
		{"of a directory", func(pe *ncsyncv1.Entry) { pe.Type, pe.FileId = ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY, nil }},
		{"of a deletion", func(pe *ncsyncv1.Entry) { pe.Deleted = true }},
	}
	// The good one passes, so each case fails by its own change.
	if _, err := assemble(lim, []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Batch{Batch: &ncsyncv1.EntryBatch{FolderId: "f", Entries: []*ncsyncv1.Entry{good()}}}}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := good()
			tt.edit(pe)
			got, err := assemble(lim, []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Batch{Batch: &ncsyncv1.EntryBatch{FolderId: "f", Entries: []*ncsyncv1.Entry{pe}}}}})
			if !errors.Is(err, ErrProtocol) || len(got) != 0 {
				t.Fatalf("assembled %d batches: %v", len(got), err)
			}
		})
	}
	t.Run("deltas over the batch's chunk limit", func(t *testing.T) {
		pb := &ncsyncv1.EntryBatch{FolderId: "f"}
		for seq := uint64(1); seq <= 3; seq++ {
			pe := good()
			pe.Sequence = seq
			pe.ChunkDelta.ResultCount = uint64(lim.MaxEntryChunks)/3 + 1
			pe.ChunkDelta.Edits = []*ncsyncv1.ChunkListEdit{{CopyCount: pe.ChunkDelta.ResultCount}}
			pb.Entries = append(pb.Entries, pe)
		}
		if _, err := assemble(lim, []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Batch{Batch: pb}}}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("assembled: %v", err)
		}
	})
}

// listSource serves chunk lists from a map, by path and sequence.
type listSource struct {
	*fakeSource
	lists map[string][]index.ChunkRef
}

func (s listSource) ChunkList(ctx context.Context, folder, path string, seq uint64) ([]index.ChunkRef, error) {
	l, ok := s.lists[fmt.Sprint(folder, "/", path, "@", seq)]
	if !ok {
		return nil, ErrChunkMissing
	}
	return l, nil
}

func TestFetchChunkList(t *testing.T) {
	p := cluster(t)
	lim := DefaultLimits()
	lim.MaxMessageBytes = minMessageBytes // a long list takes several messages
	lim.MaxFetchIDs = 1000
	long := fileEntry("big", 3, 5000, 7).Chunks
	src := listSource{newFakeSource(), map[string][]index.ChunkRef{"f/big@3": long, "f/empty@4": nil}}
	_, addr := startServer(t, p.serverTLS(t, "p1"), lim, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), lim)
	ctx := context.Background()
	got, err := c.FetchChunkList(ctx, "f", "big", 3)
	if err != nil || !slices.Equal(got, long) {
		t.Fatalf("fetched %d chunks: %v", len(got), err)
	}
	if got, err := c.FetchChunkList(ctx, "f", "empty", 4); err != nil || len(got) != 0 {
		t.Fatalf("fetched %d chunks of an empty list: %v", len(got), err)
	}
	if _, err := c.FetchChunkList(ctx, "f", "big", 2); !errors.Is(err, ErrChunkMissing) {
		t.Fatalf("a version no longer held: %v", err)
	}
	if _, err := c.FetchChunkList(ctx, "f", "big", 0); err == nil || !contains(err.Error(), "sequence 0") {
		t.Fatalf("sequence 0: %v", err)
	}

	// A primary that does not serve lists says so.
	_, addr = startServer(t, p.serverTLS(t, "p1"), lim, newFakeSource())
	c = dial(t, addr, p.clientTLS(t, "s1"), lim)
	if _, err := c.FetchChunkList(ctx, "f", "big", 3); err == nil {
		t.Fatal("fetched a list from a primary without lists")
	}
}

// TestChunkListAnswerRefused: the answers of a crafted primary are refused.
func TestChunkListAnswerRefused(t *testing.T) {
	lim := fuzzLimits()
	ref := &ncsyncv1.ChunkRef{Id: make([]byte, 32), Size: 100}
	tests := []struct {
		name string
		msgs []*ncsyncv1.FetchChunkListResponse
	}{
		{"over the limit", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: uint64(lim.MaxEntryChunks) + 1, Chunks: []*ncsyncv1.ChunkRef{ref}}}},
		{"more than announced", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: 1, Chunks: []*ncsyncv1.ChunkRef{ref, ref}}}},
		{"more later", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: 1, Chunks: []*ncsyncv1.ChunkRef{ref}}, {Chunks: []*ncsyncv1.ChunkRef{ref}}}},
		{"count again", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: 2, Chunks: []*ncsyncv1.ChunkRef{ref}}, {ChunkCount: 2, Chunks: []*ncsyncv1.ChunkRef{ref}}}},
		{"missing with chunks", []*ncsyncv1.FetchChunkListResponse{{Missing: true, Chunks: []*ncsyncv1.ChunkRef{ref}}}},
		{"missing later", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: 2, Chunks: []*ncsyncv1.ChunkRef{ref}}, {Missing: true}}},
		{"bad ref", []*ncsyncv1.FetchChunkListResponse{{ChunkCount: 1, Chunks: []*ncsyncv1.ChunkRef{{Id: ref.Id}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refs []index.ChunkRef
			var count uint64
			var err error
			for i, m := range tt.msgs {
				if refs, count, err = takeChunkList(refs, count, i == 0, m, lim); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("took %d chunks: %v", len(refs), err)
			}
		})
	}
}
