package transport

import (
	"fmt"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// assembler turns received Sync messages into checked Batches: an
// EntryBatch, then for each incomplete entry (in entry order) the
// MoreChunks that complete it.
type assembler struct {
	lim     Limits
	batch   Batch
	counts  []uint64 // announced chunk count of each entry
	pending int      // index of the first incomplete entry; len(Entries) when done
	active  bool     // a batch is being assembled
}

// start takes a new EntryBatch. done reports whether the batch is complete.
func (a *assembler) start(pb *ncsyncv1.EntryBatch) (done bool, err error) {
	if a.active {
		return false, protocolErr("batch of %q while entry %q still awaits chunks", pb.GetFolderId(), a.batch.Entries[a.pending].Path)
	}
	if pb.GetFolderId() == "" {
		return false, protocolErr("batch with an empty folder id")
	}
	if n := len(pb.GetEntries()); n > a.lim.MaxBatchEntries {
		return false, protocolErr("batch of %q: %d entries exceed the limit of %d", pb.FolderId, n, a.lim.MaxBatchEntries)
	}
	marker, query := pb.GetApplyStaged(), pb.GetTreeHashQuery() != 0
	verify := pb.GetVerify() != nil // manifest.go
	if (marker || query || verify) && (pb.GetStage() || len(pb.GetEntries()) > 0 || marker && query || verify && (marker || query)) {
		return false, protocolErr("batch of %q: a marker or query with entries, or staged", pb.FolderId)
	}
	if pb.GetHeldAt() != 0 && !pb.GetStage() {
		return false, protocolErr("batch of %q: a hold point on a batch not to stage", pb.FolderId)
	}
	b := Batch{Folder: pb.FolderId, Head: pb.GetHeadSequence(), Stage: pb.GetStage(), HeldAt: pb.GetHeldAt(), ApplyStaged: marker, TreeHashQuery: pb.GetTreeHashQuery()}
	if verify {
		q, err := verifyQueryFromWire(pb.GetVerify(), a.lim)
		if err != nil {
			return false, fmt.Errorf("batch of %q: %w", pb.FolderId, err)
		}
		b.Verify = &q
	}
	if len(pb.Entries) > 0 {
		b.Entries = make([]index.Entry, len(pb.Entries))
	}
	counts := make([]uint64, len(pb.Entries))
	var total uint64
	for i, pe := range pb.Entries {
		e, err := entryFromWire(pe, a.lim)
		if err != nil {
			return false, fmt.Errorf("batch of %q: %w", pb.FolderId, err)
		}
		if i > 0 && e.Seq <= b.Entries[i-1].Seq {
			return false, protocolErr("batch of %q: entry %q has seq %d after %d", pb.FolderId, e.Path, e.Seq, b.Entries[i-1].Seq)
		}
		total += pe.ChunkCount
		if total > uint64(a.lim.MaxEntryChunks) {
			return false, protocolErr("batch of %q: more than %d chunks in total", pb.FolderId, a.lim.MaxEntryChunks)
		}
		b.Entries[i], counts[i] = e, pe.ChunkCount
	}
	a.batch, a.counts, a.pending, a.active = b, counts, 0, true
	a.skipComplete()
	return !a.active, nil
}

// more takes a MoreChunks message. done reports whether the batch is
// complete.
func (a *assembler) more(m *ncsyncv1.MoreChunks) (done bool, err error) {
	if !a.active {
		return false, protocolErr("chunks for %q seq %d without an entry awaiting them", m.GetPath(), m.GetSequence())
	}
	e := &a.batch.Entries[a.pending]
	if m.GetFolderId() != a.batch.Folder || m.GetPath() != e.Path || m.GetSequence() != e.Seq {
		return false, protocolErr("chunks for %q seq %d in folder %q, want %q seq %d in %q",
			m.GetPath(), m.GetSequence(), m.GetFolderId(), e.Path, e.Seq, a.batch.Folder)
	}
	want := a.counts[a.pending]
	if len(m.GetChunks()) == 0 || uint64(len(e.Chunks))+uint64(len(m.Chunks)) > want {
		return false, protocolErr("entry %q seq %d: %d more chunks after %d of %d", e.Path, e.Seq, len(m.GetChunks()), len(e.Chunks), want)
	}
	if e.Chunks, err = appendRefs(e.Chunks, m.Chunks, len(e.Chunks), a.lim); err != nil {
		return false, fmt.Errorf("entry %q seq %d: %w", e.Path, e.Seq, err)
	}
	a.skipComplete()
	return !a.active, nil
}

// skipComplete advances pending past complete entries and ends the batch
// when none is left.
func (a *assembler) skipComplete() {
	for a.pending < len(a.batch.Entries) && uint64(len(a.batch.Entries[a.pending].Chunks)) == a.counts[a.pending] {
		a.pending++
	}
	a.active = a.pending < len(a.batch.Entries)
}

// take returns the completed batch and resets the assembler.
func (a *assembler) take() Batch {
	b := a.batch
	a.batch, a.counts, a.pending, a.active = Batch{}, nil, 0, false
	return b
}
