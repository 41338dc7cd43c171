package secondary

import (
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// An edit replaces a run of a file's chunks by a run of new ones. The new
// chunks are fetched as patches against the bytes of the run they
// replaced, which the version of the file at its path still holds:
// between the end of the chunk before the run and the start of the one
// after it, both found in that version (source.priorOffsets), or its
// start and end.

// patchBase is a byte range of a file's previous version offered as the
// base of some of the batch's remote chunks.
type patchBase struct {
	path      string
	off, size int64
	remote    []int // indexes in source.remote
}

// planBases records the base of each run of e's remote chunks (from index
// first in src.remote) that replaced a run of the previous version's
// bytes, of priorSize bytes in all.
func (src *source) planBases(e index.Entry, p *plan, priorSize int64) {
	if p.prior == nil {
		return
	}
	end := func(i int) int64 { return p.prior[i] + int64(e.Chunks[i].Size) }
	k := p.first // index in src.remote of the next remote chunk of e
	for i := 0; i < len(e.Chunks); {
		if p.local[i].Path != "" {
			i++
			continue
		}
		j := i
		for j < len(e.Chunks) && p.local[j].Path == "" {
			j++
		}
		// e.Chunks[i:j] are remote, and src.remote[k:k+j-i].
		var from, to int64 = 0, priorSize
		ok := true
		if i > 0 {
			ok = p.prior[i-1] >= 0
			if ok {
				from = end(i - 1)
			}
		}
		if j < len(e.Chunks) {
			ok = ok && p.prior[j] >= 0
			if ok {
				to = p.prior[j]
			}
		}
		if ok && from < to && to-from <= transport.MaxPatchBase {
			b := patchBase{path: e.Path, off: from, size: to - from}
			for r := k; r < k+j-i; r++ {
				b.remote = append(b.remote, r)
			}
			src.bases = append(src.bases, b)
		}
		k += j - i
		i = j
	}
}

// maxStreamBases bounds the base bytes read for one chunk stream.
const maxStreamBases = 16 << 20

// readBases reads the bases of the remote chunks from src.next on, their
// chunk indexes relative to src.next; none if the primary takes none.
// A base that cannot be read is left out: its chunks come whole.
func (src *source) readBases() []transport.Base {
	if len(src.bases) == 0 || !src.c.ChunkPatches() {
		return nil
	}
	f := src.s.folders[src.folder]
	var out []transport.Base
	var total int64
	for _, b := range src.bases {
		if b.remote[0] < src.next || total+b.size > maxStreamBases {
			continue
		}
		data := make([]byte, b.size)
		if err := f.w.ReadAt(b.path, b.off, data); err != nil {
			continue
		}
		tb := transport.Base{Data: data}
		for _, r := range b.remote {
			tb.Chunks = append(tb.Chunks, r-src.next)
		}
		out = append(out, tb)
		total += b.size
	}
	return out
}
