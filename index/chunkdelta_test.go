package index

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/chunker"
)

// refs returns a list of one chunk per byte of ids, of 1000 bytes each.
func refs(ids ...byte) []ChunkRef {
	out := make([]ChunkRef, len(ids))
	for i, b := range ids {
		out[i] = ChunkRef{ID: chunker.ID{b}, Size: 1000}
	}
	return out
}

func TestDiffChunksRoundTrip(t *testing.T) {
	base := bigFile("f", 4000, 1).Chunks
	edited := slices.Clone(base)
	edited[1234] = ChunkRef{ID: chunker.ID{0xee}, Size: 4096}
	inserted := append(refs(0xaa, 0xab), base[1:]...) // the first chunk changed, one more
	tests := []struct {
		name      string
		base      []ChunkRef
		next      []ChunkRef
		wantEdits int
	}{
		{"same", base, base, 1},
		{"one chunk changed", base, edited, 2},
		{"insert at the front", base, inserted, 2},
		{"truncated", base, base[:100], 1},
		{"appended", base, append(slices.Clone(base), refs(1, 2, 3)...), 1},
		{"moved halves", base, append(slices.Clone(base[2000:]), base[:2000]...), 2},
		{"from nothing", nil, refs(1, 2, 3), 1},
		{"to nothing", base, nil, 0},
		{"repeated chunk", refs(1, 1, 2), refs(1, 1, 1, 2), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DiffChunks(tt.base, tt.next)
			if len(d.Edits) != tt.wantEdits {
				t.Errorf("%d edits, want %d: %+v", len(d.Edits), tt.wantEdits, d.Edits)
			}
			got, err := d.Apply(tt.base, testMaxChunks)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !slices.Equal(got, tt.next) {
				t.Fatalf("apply built %d chunks, want %d (or they differ)", len(got), len(tt.next))
			}
		})
	}
}

// testMaxChunks is the transport's default chunk limit of a file.
const testMaxChunks = 4 << 20

// TestChunkDeltaRefused: a delta applied to another base, or whose edits
// do not build the list it names, or leave the base's bounds, or exceed
// the limit, yields an error and no list.
func TestChunkDeltaRefused(t *testing.T) {
	base := refs(1, 2, 3, 4, 5, 6, 7, 8)
	next := refs(1, 2, 3, 9, 5, 6, 7, 8)
	good := DiffChunks(base, next)
	tamper := func(f func(d *ChunkDelta)) ChunkDelta {
		d := good
		d.Edits = slices.Clone(good.Edits)
		for i := range d.Edits {
			d.Edits[i].Insert = slices.Clone(d.Edits[i].Insert)
		}
		f(&d)
		return d
	}
	tests := []struct {
		name  string
		d     ChunkDelta
		base  []ChunkRef
		limit int
		want  error
	}{
		{"another base", good, refs(1, 2, 3, 4, 5, 6, 7), 100, ErrDeltaBase},
		{"base with another size", good, append(refs(1, 2, 3, 4, 5, 6, 7), ChunkRef{ID: chunker.ID{8}, Size: 999}), 100, ErrDeltaBase},
		{"another inserted chunk", tamper(func(d *ChunkDelta) { d.Edits[0].Insert[0].ID[1] = 1 }), base, 100, ErrDeltaInvalid},
		{"another inserted size", tamper(func(d *ChunkDelta) { d.Edits[0].Insert[0].Size++ }), base, 100, ErrDeltaInvalid},
		{"another run", tamper(func(d *ChunkDelta) { d.Edits[1].CopyStart = 3 }), base, 100, ErrDeltaInvalid},
		{"count too low", tamper(func(d *ChunkDelta) { d.Count-- }), base, 100, ErrDeltaInvalid},
		{"count too high", tamper(func(d *ChunkDelta) { d.Count++ }), base, 100, ErrDeltaInvalid},
		{"past the base", tamper(func(d *ChunkDelta) { d.Edits[1].CopyCount = 5 }), base, 100, ErrDeltaInvalid},
		{"start past the base", tamper(func(d *ChunkDelta) { d.Edits[1].CopyStart = 9 }), base, 100, ErrDeltaInvalid},
		{"overflowing run", tamper(func(d *ChunkDelta) { d.Edits[1].CopyStart, d.Edits[1].CopyCount = 4, math.MaxUint64 }), base, 100, ErrDeltaInvalid},
		{"overflowing start", tamper(func(d *ChunkDelta) { d.Edits[1].CopyStart, d.Edits[1].CopyCount = math.MaxUint64, 2 }), base, 100, ErrDeltaInvalid},
		{"over the limit", good, base, 7, ErrDeltaInvalid},
		{"huge count", tamper(func(d *ChunkDelta) { d.Count = math.MaxUint64 }), base, math.MaxInt, ErrDeltaInvalid},
		{"runs past the count", tamper(func(d *ChunkDelta) {
			d.Edits = append(d.Edits, ChunkEdit{CopyStart: 0, CopyCount: 8})
		}), base, 100, ErrDeltaInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.Apply(tt.base, tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("apply: %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("apply built a list along with %v", err)
			}
		})
	}
}

func TestListHash(t *testing.T) {
	a := refs(1, 2, 3)
	if ListHash(a) != ListHash(refs(1, 2, 3)) {
		t.Fatal("equal lists hash differently")
	}
	for _, other := range [][]ChunkRef{refs(1, 2), refs(1, 3, 2), refs(1, 2, 3, 3), {{ID: chunker.ID{1}, Size: 1000}, {ID: chunker.ID{2}, Size: 1000}, {ID: chunker.ID{3}, Size: 1001}}} {
		if ListHash(other) == ListHash(a) {
			t.Errorf("%v hashes like %v", other, a)
		}
	}
	ids := []chunker.ID{{1}, {2}, {3}}
	if ListHash(a) == chunker.FileID(ids) {
		t.Error("a list hash equals the file id of its chunks")
	}
	if ListHash(nil) == (chunker.ID{}) {
		t.Error("the empty list hashes to zero")
	}
}

// FuzzChunkDelta: any delta applied to any base either fails or builds
// exactly the list whose hash it names, within the limit; the delta of two
// lists always builds the second from the first.
func FuzzChunkDelta(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5}, []byte{1, 2, 9, 4, 5}, []byte{0, 2, 7, 3, 2, 1, 5})
	f.Add([]byte{}, []byte{1}, []byte{})
	f.Add([]byte{1, 1, 1}, []byte{1, 1}, []byte{255, 255, 255, 255, 0, 1})
	f.Fuzz(func(t *testing.T, b, n, edits []byte) {
		base, next := refs(b...), refs(n...)
		d := DiffChunks(base, next)
		got, err := d.Apply(base, 1<<10)
		if err != nil || !slices.Equal(got, next) {
			t.Fatalf("diff of %v and %v: built %v, %v", b, n, got, err)
		}
		// Edits from the fuzzer, naming next as their result.
		var crafted ChunkDelta
		crafted.Base, crafted.Result, crafted.Count = ListHash(base), ListHash(next), uint64(len(next))
		for len(edits) >= 3 {
			e := ChunkEdit{CopyStart: uint64(edits[0]), CopyCount: uint64(edits[1])}
			if edits[0] == 255 {
				e.CopyStart = math.MaxUint64 - uint64(edits[1])
			}
			e.Insert = refs(edits[3:min(len(edits), 3+int(edits[2]%4))]...)
			crafted.Edits = append(crafted.Edits, e)
			edits = edits[min(len(edits), 3+int(edits[2]%4)):]
		}
		if len(edits) > 0 {
			crafted.Count = binary.LittleEndian.Uint64(append(slices.Clone(edits), make([]byte, 8)...))
		}
		got, err = crafted.Apply(base, 1<<10)
		if err == nil && (!slices.Equal(got, next) || ListHash(got) != crafted.Result) {
			t.Fatalf("crafted delta built %v, not %v", got, next)
		}
	})
}
