package index

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"testing"
)

// walkStats recounts a folder the slow way.
func walkStats(t *testing.T, db *DB, folder string) FolderStats {
	t.Helper()
	var st FolderStats
	err := db.Walk(folder, "", func(e Entry) error {
		switch {
		case e.Deleted:
			st.Tombstones++
		case e.Kind == KindFile:
			st.Files++
			st.Bytes += uint64(e.Size)
		case e.Kind == KindDir:
			st.Dirs++
		case e.Kind == KindSymlink:
			st.Symlinks++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStatsProperty applies random journals, stores, tombstones, purges and
// stat updates over a small path set and compares the maintained counters
// and chunk map with a full recount after every transaction.
func TestStatsProperty(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			db := openTest(t)
			paths := []string{"a", "a/b", "a/b/c", "d", "e", "f/g"}
			for round := range 60 {
				err := db.Update("f", func(tx *Tx) error {
					for range 1 + r.IntN(8) {
						p := paths[r.IntN(len(paths))]
						var e Entry
						switch r.IntN(4) {
						case 0:
							e = dir(p)
						case 1:
							e = Entry{Path: p, Kind: KindSymlink, Target: "x"}
						default:
							ids := make([]byte, r.IntN(4))
							for i := range ids {
								ids[i] = byte(r.IntN(6))
							}
							e = file(p, ids...)
						}
						var err error
						switch op := r.IntN(10); {
						case op < 5:
							_, err = tx.Journal(e)
						case op < 6:
							e.Seq = tx.Head() + 1 + uint64(r.IntN(3))
							err = tx.Store(e)
						case op < 8:
							e.Deleted = true // sometimes keeping its chunk list
							if r.IntN(2) == 0 {
								e = tomb(p, e.Kind)
							}
							_, err = tx.Journal(e)
						case op < 9:
							err = tx.Delete(p)
						default:
							if err = tx.SetStat(p, Stat{Ino: r.Uint64()}); err != nil {
								if _, ok, _ := tx.Get(p); !ok {
									err = nil
								}
							}
						}
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				got, err := db.Stats("f")
				if err != nil {
					t.Fatal(err)
				}
				if want := walkStats(t, db, "f"); got != want {
					t.Fatalf("round %d: stats %+v, walk %+v", round, got, want)
				}
				checkChunkMap(t, db, "f")
			}
		})
	}
}

// checkChunkMap verifies that the chunk map (chunk ids 0..5) holds exactly
// one row per chunk id and live file, at the chunk's first offset.
func checkChunkMap(t *testing.T, db *DB, folder string) {
	t.Helper()
	want := map[string]bool{}
	err := db.Walk(folder, "", func(e Entry) error {
		if e.Deleted || e.Kind != KindFile {
			return nil
		}
		seen := map[byte]bool{}
		var off int64
		for _, c := range e.Chunks {
			if !seen[c.ID[0]] {
				seen[c.ID[0]] = true
				want[fmt.Sprintf("%d %s @%d", c.ID[0], e.Path, off)] = true
			}
			off += int64(c.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for b := range byte(6) {
		ls, err := db.LookupChunk([32]byte{b}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			got[fmt.Sprintf("%d %s @%d", b, l.Path, l.Offset)] = true
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("chunk map %v, want %v", got, want)
	}
}

// TestOpenDoesNotLoadEntries builds a 100k-entry index and checks that
// opening it and reading its counters costs next to no heap.
func TestOpenDoesNotLoadEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100k entries")
	}
	db := openTest(t)
	path := db.Path()
	for b := range 10 {
		err := db.Update("f", func(tx *Tx) error {
			for i := range 10_000 {
				if _, err := tx.Journal(file(fmt.Sprintf("dir%d/file%05d", b, i), byte(i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db = openAt(t, path)
	defer db.Close()
	st, err := db.Stats("f")
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if st.Files != 100_000 {
		t.Fatalf("files = %d", st.Files)
	}
	// Allocated, not live: an upper bound on what Open touched.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("open + stats allocated %d bytes for 100k entries", grew)
	}
}
