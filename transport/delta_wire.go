package transport

import (
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// deltaToWire converts d; the ids alias d, so the result must be
// marshalled before d changes.
func deltaToWire(d *index.ChunkDelta) *ncsyncv1.ChunkListDelta {
	pd := &ncsyncv1.ChunkListDelta{BaseHash: d.Base[:], ResultHash: d.Result[:], ResultCount: d.Count,
		Edits: make([]*ncsyncv1.ChunkListEdit, len(d.Edits))}
	for i, e := range d.Edits {
		pd.Edits[i] = &ncsyncv1.ChunkListEdit{CopyStart: e.CopyStart, CopyCount: e.CopyCount, Insert: refsToWire(e.Insert)}
	}
	return pd
}

// deltaFromWire converts and checks pd: 32-byte hashes, a result of at most
// MaxEntryChunks chunks, edits that each add a chunk or more and together
// add exactly that many (counted without overflow), inserted refs as valid
// as those of a whole list. Whether the copies lie within the base, and
// whether the result is the list named, is checked when the delta is
// applied to the receiver's base (index.ChunkDelta.Apply).
func deltaFromWire(pd *ncsyncv1.ChunkListDelta, lim Limits) (index.ChunkDelta, error) {
	var d index.ChunkDelta
	var err error
	if d.Base, err = idFromWire(pd.GetBaseHash(), "chunk delta base hash"); err != nil {
		return index.ChunkDelta{}, err
	}
	if d.Result, err = idFromWire(pd.GetResultHash(), "chunk delta result hash"); err != nil {
		return index.ChunkDelta{}, err
	}
	d.Count = pd.GetResultCount()
	if d.Count > uint64(lim.MaxEntryChunks) {
		return index.ChunkDelta{}, protocolErr("chunk delta of %d chunks exceeds the limit of %d", d.Count, lim.MaxEntryChunks)
	}
	if uint64(len(pd.GetEdits())) > d.Count {
		return index.ChunkDelta{}, protocolErr("chunk delta of %d chunks in %d edits", d.Count, len(pd.Edits))
	}
	d.Edits = make([]index.ChunkEdit, len(pd.GetEdits()))
	var built uint64 // chunks the edits add, at most d.Count
	for i, pe := range pd.GetEdits() {
		n := pe.GetCopyCount()
		if n > d.Count-built || uint64(len(pe.GetInsert())) > d.Count-built-n {
			return index.ChunkDelta{}, protocolErr("chunk delta: edit %d adds more than the %d chunks announced", i, d.Count)
		}
		if n == 0 && len(pe.GetInsert()) == 0 {
			return index.ChunkDelta{}, protocolErr("chunk delta: edit %d adds nothing", i)
		}
		built += n + uint64(len(pe.Insert))
		e := index.ChunkEdit{CopyStart: pe.GetCopyStart(), CopyCount: n}
		if len(pe.Insert) > 0 {
			if e.Insert, err = appendRefs(make([]index.ChunkRef, 0, len(pe.Insert)), pe.Insert, 0, lim); err != nil {
				return index.ChunkDelta{}, err
			}
		}
		d.Edits[i] = e
	}
	if built != d.Count {
		return index.ChunkDelta{}, protocolErr("chunk delta: edits add %d chunks, %d announced", built, d.Count)
	}
	return d, nil
}
