package transport

import (
	"fmt"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// assembler turns received Sync messages into checked Messages. A Batch
// is an EntryBatch, then for each incomplete entry (in entry order) the
// MoreChunks that complete it; nothing else may come in between.
type assembler struct {
	lim     Limits
	batch   Batch
	counts  []uint64 // announced chunk count of each entry
	pending int      // index of the first incomplete entry; len(Entries) when done
	active  bool     // a batch is being assembled
}

// next takes the primary's next message after its Welcome. It returns a
// complete Message, or nil while a batch awaits its MoreChunks and for a
// Heartbeat.
func (a *assembler) next(m *ncsyncv1.SyncResponse) (Message, error) {
	if order, ok, err := orderFromWire(m); ok {
		if err == nil && a.active {
			err = protocolErr("%T while entry %q still awaits chunks", m.GetMsg(), a.batch.Entries[a.pending].Path)
		}
		return order, err
	}
	var done bool
	var err error
	switch msg := m.GetMsg().(type) {
	case *ncsyncv1.SyncResponse_Batch:
		done, err = a.start(msg.Batch)
	case *ncsyncv1.SyncResponse_MoreChunks:
		done, err = a.more(msg.MoreChunks)
	case *ncsyncv1.SyncResponse_Heartbeat:
		return nil, nil
	default:
		err = protocolErr("unexpected %T in a session", m.GetMsg())
	}
	if err != nil || !done {
		return nil, err
	}
	return a.take(), nil
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
	// Protocol 1 carried its orders and questions as flags of a batch.
	if pb.GetApplyStaged() || pb.GetTreeHashQuery() != 0 || pb.GetVerify() != nil {
		return false, protocolErr("batch of %q sets apply_staged, tree_hash_query or verify (protocol 1)", pb.FolderId)
	}
	if pb.GetHeldAt() != 0 && !pb.GetStage() {
		return false, protocolErr("batch of %q: a hold point on a batch not to stage", pb.FolderId)
	}
	b := Batch{Folder: pb.FolderId, Head: pb.GetHeadSequence(), Stage: pb.GetStage(), HeldAt: pb.GetHeldAt()}
	if len(pb.Entries) > 0 {
		b.Entries = make([]index.Entry, len(pb.Entries))
	}
	counts := make([]uint64, len(pb.Entries))
	var total uint64
	for i, pe := range pb.Entries {
		e, d, err := entryFromWire(pe, a.lim)
		if err != nil {
			return false, fmt.Errorf("batch of %q: %w", pb.FolderId, err)
		}
		if i > 0 && e.Seq <= b.Entries[i-1].Seq {
			return false, protocolErr("batch of %q: entry %q has seq %d after %d", pb.FolderId, e.Path, e.Seq, b.Entries[i-1].Seq)
		}
		total += pe.ChunkCount // at most MaxEntryChunks each: no overflow
		if d != nil {
			total += d.Count // the list it builds counts as sent whole
			b.Deltas = append(b.Deltas, EntryDelta{At: i, Delta: *d})
		}
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
