package transport

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// envelopeReserve is kept free in every message for the SyncResponse and
// EntryBatch framing, the folder id and the head sequence.
const envelopeReserve = 1 << 10

// splitBatch turns b into Sync messages, each within lim: at most
// MaxBatchEntries entries, at most MaxEntryChunks chunks announced, under
// MaxMessageBytes. A file whose chunk list does not fit carries the first
// part inline and ends its message; MoreChunks messages with the rest follow
// at once. emit is called with each message in order; a message is not
// reused after emit returns.
func splitBatch(b *Batch, lim Limits, emit func(*ncsyncv1.SyncResponse) error) error {
	if b.Folder == "" {
		return fmt.Errorf("send batch: empty folder id")
	}
	budget := lim.MaxMessageBytes - envelopeReserve - len(b.Folder)
	perMsg := lim.refsPerMessage()
	var (
		cur    *ncsyncv1.EntryBatch
		size   int    // encoded size of cur's entries
		chunks uint64 // chunks announced in cur
		sent   bool   // at least one message emitted
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		m := cur
		cur, size, chunks, sent = nil, 0, 0, true
		return emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: m}})
	}
	var prevSeq uint64
	deltas := b.Deltas
	for i := range b.Entries {
		e := &b.Entries[i]
		if i > 0 && e.Seq <= prevSeq {
			return fmt.Errorf("send batch of %q: entry %q has seq %d after %d", b.Folder, e.Path, e.Seq, prevSeq)
		}
		prevSeq = e.Seq
		var d *index.ChunkDelta
		for len(deltas) > 0 && deltas[0].At <= i {
			if deltas[0].At == i {
				d = &deltas[0].Delta
			}
			deltas = deltas[1:]
		}
		pe, es, err := entryForBatch(e, d, perMsg, budget, lim)
		if err != nil {
			return err
		}
		count := pe.ChunkCount + pe.GetChunkDelta().GetResultCount() // the receiver counts what a delta builds
		if cur != nil && (size+es > budget || len(cur.Entries) >= lim.MaxBatchEntries ||
			chunks+count > uint64(lim.MaxEntryChunks)) {
			if err := flush(); err != nil {
				return err
			}
		}
		if es > budget {
			return fmt.Errorf("send entry %q: %d bytes do not fit in a message of %d", e.Path, es, lim.MaxMessageBytes)
		}
		if cur == nil {
			cur = &ncsyncv1.EntryBatch{FolderId: b.Folder, HeadSequence: b.Head, Stage: b.Stage, HeldAt: b.HeldAt}
		}
		cur.Entries = append(cur.Entries, pe)
		size += es
		chunks += count
		if len(pe.Chunks) == len(e.Chunks) || pe.ChunkDelta != nil {
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		perMore := min(perMsg, (budget-len(e.Path))/maxRefWireBytes)
		if perMore < 1 {
			return fmt.Errorf("send entry %q: path too long to continue its chunk list", e.Path)
		}
		for off := len(pe.Chunks); off < len(e.Chunks); off += perMore {
			more := &ncsyncv1.MoreChunks{
				FolderId: b.Folder,
				Path:     e.Path,
				Sequence: e.Seq,
				Chunks:   refsToWire(e.Chunks[off:min(off+perMore, len(e.Chunks))]),
			}
			if err := emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_MoreChunks{MoreChunks: more}}); err != nil {
				return err
			}
		}
	}
	if cur == nil && !sent {
		// An empty batch still tells the secondary the head.
		cur = &ncsyncv1.EntryBatch{FolderId: b.Folder, HeadSequence: b.Head, Stage: b.Stage, HeldAt: b.HeldAt}
	}
	return flush()
}

// entryForBatch converts e, with its chunk list as delta d if d is not nil
// and the entry fits budget so, and returns its encoded size in a batch.
func entryForBatch(e *index.Entry, d *index.ChunkDelta, perMsg, budget int, lim Limits) (*ncsyncv1.Entry, int, error) {
	if d != nil {
		pe, err := entryDeltaToWire(e, d, lim)
		if err != nil {
			return nil, 0, err
		}
		if es := entrySize(pe); es <= budget {
			return pe, es, nil
		}
	}
	pe, err := entryToWire(e, perMsg, lim)
	if err != nil {
		return nil, 0, err
	}
	return pe, entrySize(pe), nil
}

// entrySize is what pe adds to an EntryBatch.
func entrySize(pe *ncsyncv1.Entry) int {
	return protowire.SizeTag(2) + protowire.SizeBytes(proto.Size(pe))
}
