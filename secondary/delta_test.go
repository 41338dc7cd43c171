package secondary_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// refsOf returns f's chunk list.
func refsOf(f *craftedFile) []index.ChunkRef {
	out := make([]index.ChunkRef, len(f.ids))
	for i, id := range f.ids {
		out[i] = index.ChunkRef{ID: id, Size: f.entry.Chunks[i].GetSize()}
	}
	return out
}

// asDelta returns f's entry with its chunk list as the delta d.
func asDelta(f *craftedFile, d index.ChunkDelta) *ncsyncv1.Entry {
	pe := proto.Clone(f.entry).(*ncsyncv1.Entry)
	pe.Chunks, pe.ChunkCount = nil, 0
	pd := &ncsyncv1.ChunkListDelta{BaseHash: d.Base[:], ResultHash: d.Result[:], ResultCount: d.Count}
	for _, e := range d.Edits {
		pe := &ncsyncv1.ChunkListEdit{CopyStart: e.CopyStart, CopyCount: e.CopyCount}
		for _, r := range e.Insert {
			pe.Insert = append(pe.Insert, &ncsyncv1.ChunkRef{Id: slices.Clone(r.ID[:]), Size: r.Size})
		}
		pd.Edits = append(pd.Edits, pe)
	}
	pe.ChunkDelta = pd
	return pe
}

// editedData returns data with n bytes overwritten at off.
func editedData(data []byte, off, n int, seed uint64) []byte {
	out := slices.Clone(data)
	copy(out[off:off+n], craftedData(seed, n))
	return out
}

func (p *craftedPrimary) listCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listed
}

// A file's chunk list sent as a delta is built from what this node holds
// for the path; when it holds another version it fetches the whole list,
// and a version the primary no longer holds is skipped until the newer
// entry comes. A delta that does not build the list it names, or a list
// fetched for it with another hash, is refused like any bad input: the
// file is not touched.
func TestChunkDeltas(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	p := env.primary
	if h := env.nextHello(t); !h.GetChunkDeltas() {
		t.Fatal("the Hello does not announce chunk deltas")
	}
	const size = 2 << 20
	v1 := newCraftedFile(t, "big.bin", 1, craftedData(1, size), 0o644, false)
	v1.register(p)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 1, Entries: []*ncsyncv1.Entry{v1.entry}})
	if a := env.nextAck(t); a.GetSequence() != 1 || len(a.GetFailures()) != 0 {
		t.Fatalf("ack of v1: %v", a)
	}
	path := filepath.Join(env.root, "big.bin")
	ack := func(what string, seq, processed uint64, failures int) {
		t.Helper()
		a := env.nextAck(t)
		if a.GetSequence() != seq || a.GetProcessed() != processed || len(a.GetFailures()) != failures {
			t.Fatalf("ack %s: seq %d processed %d failures %v, want seq %d processed %d and %d failures",
				what, a.GetSequence(), a.GetProcessed(), a.GetFailures(), seq, processed, failures)
		}
	}

	t.Run("built from the base held", func(t *testing.T) {
		v2 := newCraftedFile(t, "big.bin", 2, editedData(v1.data, size/2, 4096, 2), 0o644, false)
		v2.register(p)
		d := index.DiffChunks(refsOf(v1), refsOf(v2))
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2, Entries: []*ncsyncv1.Entry{asDelta(v2, d)}})
		ack("of v2", 2, 0, 0)
		checkFile(t, path, v2.data, 0o644, v2.entry.MtimeNs)
		if n := p.listCalls(); n != 0 {
			t.Errorf("fetched %d chunk lists, want none", n)
		}
		v1 = v2
	})

	t.Run("wrong result hash refused", func(t *testing.T) {
		v3 := newCraftedFile(t, "big.bin", 3, editedData(v1.data, 100, 4096, 3), 0o644, false)
		v3.register(p)
		d := index.DiffChunks(refsOf(v1), refsOf(v3))
		d.Result[0] ^= 1
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 3, Entries: []*ncsyncv1.Entry{asDelta(v3, d)}})
		ack("of a delta with a wrong result hash", 3, 0, 1)
		checkFile(t, path, v1.data, 0o644, v1.entry.MtimeNs)
	})

	t.Run("another base: the list is fetched", func(t *testing.T) {
		v4 := newCraftedFile(t, "big.bin", 4, editedData(v1.data, 1000, 100, 4), 0o644, false)
		v4.register(p)
		other := newCraftedFile(t, "x", 1, craftedData(99, size), 0o644, false)
		p.mu.Lock()
		p.lists["big.bin@4"] = v4.entry.Chunks
		p.mu.Unlock()
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 4, Entries: []*ncsyncv1.Entry{asDelta(v4, index.DiffChunks(refsOf(other), refsOf(v4)))}})
		ack("of a delta against another base", 4, 0, 0)
		checkFile(t, path, v4.data, 0o644, v4.entry.MtimeNs)
		if n := p.listCalls(); n != 1 {
			t.Errorf("fetched %d chunk lists, want 1", n)
		}
		v1 = v4
	})

	t.Run("another base, a fetched list with another hash refused", func(t *testing.T) {
		v5 := newCraftedFile(t, "big.bin", 5, editedData(v1.data, 5000, 100, 5), 0o644, false)
		v5.register(p)
		other := newCraftedFile(t, "x", 1, craftedData(98, size), 0o644, false)
		p.mu.Lock()
		p.lists["big.bin@5"] = v1.entry.Chunks // not v5's
		p.mu.Unlock()
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 5, Entries: []*ncsyncv1.Entry{asDelta(v5, index.DiffChunks(refsOf(other), refsOf(v5)))}})
		ack("of a delta whose fetched list differs", 5, 0, 1)
		checkFile(t, path, v1.data, 0o644, v1.entry.MtimeNs)
	})

	t.Run("another base, the version gone: skipped until the next", func(t *testing.T) {
		v6 := newCraftedFile(t, "big.bin", 6, editedData(v1.data, 7000, 100, 6), 0o644, false)
		other := newCraftedFile(t, "x", 1, craftedData(97, size), 0o644, false)
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 6, Entries: []*ncsyncv1.Entry{asDelta(v6, index.DiffChunks(refsOf(other), refsOf(v6)))}})
		ack("of a delta whose version is gone", 5, 6, 0)
		checkFile(t, path, v1.data, 0o644, v1.entry.MtimeNs)
		v7 := newCraftedFile(t, "big.bin", 7, editedData(v1.data, 9000, 100, 7), 0o600, false)
		v7.register(p)
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 7, Entries: []*ncsyncv1.Entry{asDelta(v7, index.DiffChunks(refsOf(v1), refsOf(v7)))}})
		ack("of the next version", 7, 0, 0)
		checkFile(t, path, v7.data, 0o600, v7.entry.MtimeNs)
	})
	if t.Failed() {
		env.log.mu.Lock()
		defer env.log.mu.Unlock()
		for _, l := range env.log.lines {
			fmt.Println(l)
		}
	}
}

// Two versions sent back to back, the second as a delta against the
// first: the second arrives before the first is applied, so its base is
// the list this session received, not the index's; nothing is fetched.
func TestChunkDeltaAgainstListInFlight(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	p := env.primary
	env.nextHello(t)
	v1 := newCraftedFile(t, "big.bin", 1, craftedData(21, 8<<20), 0o644, false)
	if len(v1.ids) < index.PriorMinChunks {
		t.Fatalf("v1 has %d chunks, fewer than %d", len(v1.ids), index.PriorMinChunks)
	}
	v1.register(p)
	v2 := newCraftedFile(t, "big.bin", 2, editedData(v1.data, 3<<20, 4096, 22), 0o644, false)
	v2.register(p)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2, Entries: []*ncsyncv1.Entry{v1.entry}})
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2, Entries: []*ncsyncv1.Entry{asDelta(v2, index.DiffChunks(refsOf(v1), refsOf(v2)))}})
	for {
		a := env.nextAck(t)
		if len(a.GetFailures()) != 0 {
			t.Fatalf("refused: %v", a.GetFailures())
		}
		if a.GetSequence() == 2 {
			break
		}
	}
	checkFile(t, filepath.Join(env.root, "big.bin"), v2.data, 0o644, v2.entry.MtimeNs)
	if n := p.listCalls(); n != 0 {
		t.Errorf("fetched %d chunk lists, want none", n)
	}
}
