package index

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
)

// locs returns "folder:path@offset" for every place chunk b is mapped.
func locs(t testing.TB, db *DB, b byte) []string {
	t.Helper()
	ls, err := db.LookupChunk(chunker.ID{b}, 0)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	var out []string
	for _, l := range ls {
		if l.Size != 1000 {
			t.Errorf("chunk %d in %q: size %d", b, l.Path, l.Size)
		}
		out = append(out, fmt.Sprintf("%s:%s@%d", l.Folder, l.Path, l.Offset))
	}
	return out
}

func TestChunkMap(t *testing.T) {
	db := openTest(t)
	steps := []struct {
		name  string
		apply func(tx *Tx) error
		want  map[byte][]string // chunk → locations after the step
	}{
		{"create", func(tx *Tx) error {
			_, err := tx.Journal(file("a", 1, 2, 1))
			if err == nil {
				_, err = tx.Journal(file("b", 2))
			}
			return err
		}, map[byte][]string{1: {"f:a@0"}, 2: {"f:a@1000", "f:b@0"}}},
		{"overwrite", func(tx *Tx) error {
			_, err := tx.Journal(file("a", 3, 1))
			return err
		}, map[byte][]string{1: {"f:a@1000"}, 2: {"f:b@0"}, 3: {"f:a@0"}}},
		{"metadata only", func(tx *Tx) error {
			e := file("a", 3, 1)
			e.Mode = 0o600
			_, err := tx.Journal(e)
			return err
		}, map[byte][]string{1: {"f:a@1000"}, 3: {"f:a@0"}}},
		{"tombstone", func(tx *Tx) error {
			_, err := tx.Journal(tomb("b", KindFile))
			return err
		}, map[byte][]string{2: nil}},
		{"resurrect", func(tx *Tx) error {
			_, err := tx.Journal(file("b", 2, 2))
			return err
		}, map[byte][]string{2: {"f:b@0"}}},
		{"tombstone keeping the chunk list", func(tx *Tx) error {
			e := file("b", 2, 2)
			e.Deleted = true
			_, err := tx.Journal(e)
			return err
		}, map[byte][]string{2: nil}},
		{"file becomes dir", func(tx *Tx) error {
			_, err := tx.Journal(dir("b"))
			return err
		}, map[byte][]string{2: nil}},
		{"secondary store", func(tx *Tx) error {
			e := file("c", 4)
			e.Seq = 100
			return tx.Store(e)
		}, map[byte][]string{4: {"f:c@0"}}},
		{"purge", func(tx *Tx) error {
			return tx.Delete("a")
		}, map[byte][]string{1: nil, 3: nil}},
		{"write then rewrite in one tx", func(tx *Tx) error {
			for _, e := range []Entry{file("d", 5, 6), file("d", 6, 7), file("e", 5)} {
				if _, err := tx.Journal(e); err != nil {
					return err
				}
			}
			// Visible to the transaction itself before commit.
			got, err := tx.LookupChunk(chunker.ID{7}, 0)
			if err != nil || len(got) != 1 || got[0].Path != "d" || got[0].Offset != 1000 {
				return fmt.Errorf("in-tx lookup = %+v, %v", got, err)
			}
			_, err = tx.Journal(tomb("e", KindFile))
			return err
		}, map[byte][]string{5: nil, 6: {"f:d@0"}, 7: {"f:d@1000"}}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := db.Update("f", s.apply); err != nil {
				t.Fatal(err)
			}
			for b, want := range s.want {
				if got := locs(t, db, b); !reflect.DeepEqual(got, want) {
					t.Errorf("chunk %d at %v, want %v", b, got, want)
				}
			}
		})
	}
}

func TestChunkMapAcrossFolders(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", file("x", 1))
	journal(t, db, "f2", file("x", 1), file("y", 1))
	if got := locs(t, db, 1); !reflect.DeepEqual(got, []string{"f:x@0", "f2:x@0", "f2:y@0"}) {
		t.Errorf("locs = %v", got)
	}
	if got, _ := db.LookupChunk(chunker.ID{1}, 2); len(got) != 2 {
		t.Errorf("max 2 gave %d", len(got))
	}
	// A folder whose name extends another's must not confuse the key.
	journal(t, db, "f", tomb("x", KindFile))
	if got := locs(t, db, 1); !reflect.DeepEqual(got, []string{"f2:x@0", "f2:y@0"}) {
		t.Errorf("after tombstone locs = %v", got)
	}
}

// bigFile returns a file of n distinct chunks of 1000 bytes, ids derived
// from salt and the index.
func bigFile(path string, n int, salt uint32) Entry {
	e := Entry{Path: path, Kind: KindFile, Chunks: make([]ChunkRef, n)}
	for i := range e.Chunks {
		var id chunker.ID
		binary.LittleEndian.PutUint32(id[:], uint32(i)*2654435761)
		binary.LittleEndian.PutUint32(id[4:], salt)
		e.Chunks[i] = ChunkRef{ID: id, Size: 1000}
	}
	e.Size = int64(n) * 1000
	e.FileID = chunker.ID{byte(salt), 1}
	return e
}

// TestLargeFile journals a file with many chunks, rewrites half of it and
// deletes it; each step must stay roughly linear.
func TestLargeFile(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	db := openTest(t)
	start := time.Now()
	e := bigFile(strings.Repeat("d/", 20)+"big", n, 1)
	journal(t, db, "f", e)
	t.Logf("journal %d chunks: %v", n, time.Since(start))

	e2 := e
	e2.Chunks = slices.Clone(e.Chunks)
	for i := 0; i < n; i += 2 {
		e2.Chunks[i].ID[31] = 1
	}
	start = time.Now()
	journal(t, db, "f", e2)
	t.Logf("rewrite half: %v", time.Since(start))

	mid := n/2 + 1 // odd index: unchanged chunk
	got, err := db.LookupChunk(e.Chunks[mid].ID, 0)
	if err != nil || len(got) != 1 || got[0].Offset != int64(mid)*1000 {
		t.Fatalf("unchanged chunk at %+v, %v", got, err)
	}
	if got, _ := db.LookupChunk(e.Chunks[0].ID, 0); len(got) != 0 {
		t.Fatalf("replaced chunk still mapped at %+v", got)
	}
	start = time.Now()
	if err := db.Update("f", func(tx *Tx) error { return tx.Delete(e.Path) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("delete: %v", time.Since(start))
	if got, _ := db.LookupChunk(e2.Chunks[mid].ID, 0); len(got) != 0 {
		t.Fatalf("deleted file's chunk still mapped at %+v", got)
	}
}
