package primary

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// bigEntry is a file of n chunks whose ids depend on salt from chunk
// from on (the chunks before are shared by every salt).
func bigEntry(path string, n, from int, salt uint32) index.Entry {
	e := index.Entry{Path: path, Kind: index.KindFile, Mode: 0o644}
	ids := make([]chunker.ID, n)
	for i := range n {
		var b [8]byte
		binary.LittleEndian.PutUint32(b[:], uint32(i))
		if i >= from {
			binary.LittleEndian.PutUint32(b[4:], salt)
		}
		ids[i] = chunker.Sum(b[:])
		e.Chunks = append(e.Chunks, index.ChunkRef{ID: ids[i], Size: 1000})
		e.Size += 1000
	}
	e.FileID = chunker.FileID(ids)
	return e
}

// The primary sends a large file's list as a delta against the version
// journaled before, only when the peer was sent that version and the
// delta is much smaller than the list; and serves either version's list.
func TestAddDeltas(t *testing.T) {
	db := openTestDB(t)
	p := &Primary{db: db, folders: map[string]*folder{"data": {}}}
	n := index.PriorMinChunks * 4
	journal := func(es ...index.Entry) []index.Entry {
		t.Helper()
		var out []index.Entry
		err := db.Update("data", func(tx *index.Tx) error {
			for _, e := range es {
				s, err := tx.Journal(e)
				if err != nil {
					return err
				}
				out = append(out, s)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	v1 := journal(bigEntry("big", n, n, 1), bigEntry("small", index.PriorMinChunks-1, 0, 1), bigEntry("new", n, 0, 1))
	v2 := journal(bigEntry("big", n, n-1, 2), bigEntry("small", index.PriorMinChunks-1, 3, 2), bigEntry("new", n, 0, 2))
	tests := []struct {
		name string
		pos  uint64
		want []int // entries of v2 with a delta
	}{
		{"peer sent the previous versions", v1[2].Seq, []int{0}},
		{"peer sent only the first", v1[0].Seq, []int{0}},
		{"peer sent none", v1[0].Seq - 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := transport.Batch{Folder: "data", Entries: v2}
			if err := p.addDeltas("data", &b, tt.pos); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, d := range b.Deltas {
				got = append(got, d.At)
				list, err := d.Delta.Apply(v1[d.At].Chunks, 1<<20)
				if err != nil || !slices.Equal(list, v2[d.At].Chunks) {
					t.Errorf("delta of %q: %v", v2[d.At].Path, err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("deltas for entries %v, want %v (small files and whole rewrites go whole)", got, tt.want)
			}
		})
	}

	ctx := context.Background()
	for _, v := range []index.Entry{v1[0], v2[0]} {
		got, err := p.ChunkList(ctx, "data", "big", v.Seq)
		if err != nil || !slices.Equal(got, v.Chunks) {
			t.Errorf("chunk list of seq %d: %v", v.Seq, err)
		}
	}
	journal(bigEntry("big", n, n-2, 3))
	if _, err := p.ChunkList(ctx, "data", "big", v1[0].Seq); !errors.Is(err, transport.ErrChunkMissing) {
		t.Errorf("chunk list of a version no longer held: %v", err)
	}
	if _, err := p.ChunkList(ctx, "nope", "big", v2[0].Seq); err == nil {
		t.Error("chunk list of a folder not replicated")
	}
}
