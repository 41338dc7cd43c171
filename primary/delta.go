package primary

import (
	"context"
	"fmt"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// Chunk list deltas. A large file's entry goes to a secondary that takes
// deltas (Hello.ChunkDeltas) as the edits of its list against the list
// the journal held for the path before (index.DB.Prior): the version that
// secondary most likely holds, as it was sent that version (its sequence
// is at or before where the secondary was sent up to). A secondary that
// holds something else fetches the whole list (ChunkList).

// addDeltas adds to b the deltas of its large files that pay, for a peer
// sent up to pos before b.
func (p *Primary) addDeltas(folder string, b *transport.Batch, pos uint64) error {
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.Kind != index.KindFile || e.Deleted || len(e.Chunks) < index.PriorMinChunks {
			continue
		}
		seq, base, ok, err := p.db.Prior(folder, e.Path)
		if err != nil {
			return err
		}
		if !ok || seq > pos || seq >= e.Seq {
			continue // the peer was never sent it
		}
		d := index.DiffChunks(base, e.Chunks)
		if worthDelta(&d) {
			b.Deltas = append(b.Deltas, transport.EntryDelta{At: i, Delta: d})
		}
	}
	return nil
}

// worthDelta reports whether d is much smaller than the list it builds:
// its inserted refs and its edits (about a third of a ref each) take at
// most an eighth of the list's refs.
func worthDelta(d *index.ChunkDelta) bool {
	n := uint64(len(d.Edits))
	for _, e := range d.Edits {
		n += uint64(len(e.Insert))
	}
	return n*8 <= d.Count
}

// ChunkList implements transport.ChunkListSource: the chunk list of path
// at seq, while the index holds that version (the current one, or the
// one before it of a large file).
func (p *Primary) ChunkList(ctx context.Context, folder, path string, seq uint64) ([]index.ChunkRef, error) {
	if _, ok := p.folders[folder]; !ok {
		return nil, fmt.Errorf("folder %q: %w", folder, errNoFolder)
	}
	refs, ok, err := p.db.ChunksAt(folder, path, seq)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, transport.ErrChunkMissing
	}
	return refs, nil
}
