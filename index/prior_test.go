package index

import (
	"slices"
	"testing"
)

// TestPrior: the journal keeps the previous chunk list of a large file
// while the file stays large, serves either version by sequence, and
// forgets it when the file is deleted, shrinks, or is stored by a
// secondary.
func TestPrior(t *testing.T) {
	db := openTest(t)
	v1 := journal(t, db, "f", bigFile("big", PriorMinChunks, 1))[0]
	if _, _, ok, err := db.Prior("f", "big"); ok || err != nil {
		t.Fatalf("prior of a new file: %v, %v", ok, err)
	}
	v2 := journal(t, db, "f", bigFile("big", PriorMinChunks+1, 2))[0]
	seq, chunks, ok, err := db.Prior("f", "big")
	if err != nil || !ok || seq != v1.Seq || !slices.Equal(chunks, v1.Chunks) {
		t.Fatalf("prior after an edit: seq %d ok %v err %v, want seq %d and v1's list", seq, ok, err, v1.Seq)
	}
	for _, v := range []Entry{v1, v2} {
		got, ok, err := db.ChunksAt("f", "big", v.Seq)
		if err != nil || !ok || !slices.Equal(got, v.Chunks) {
			t.Errorf("chunks at %d: ok %v err %v", v.Seq, ok, err)
		}
	}
	v3 := journal(t, db, "f", bigFile("big", PriorMinChunks, 3))[0]
	if _, ok, _ := db.ChunksAt("f", "big", v1.Seq); ok {
		t.Error("chunks of two versions ago are still served")
	}
	if seq, _, _, _ := db.Prior("f", "big"); seq != v2.Seq {
		t.Errorf("prior is seq %d, want %d", seq, v2.Seq)
	}

	small := journal(t, db, "f", bigFile("big", PriorMinChunks-1, 4))[0]
	if _, _, ok, _ := db.Prior("f", "big"); ok {
		t.Error("prior kept for a file that became small")
	}
	journal(t, db, "f", bigFile("big", PriorMinChunks, 5))
	if _, _, ok, _ := db.Prior("f", "big"); ok {
		t.Errorf("prior kept of a small version (seq %d)", small.Seq)
	}
	journal(t, db, "f", bigFile("big", PriorMinChunks, 6))
	journal(t, db, "f", tomb("big", KindFile))
	if _, _, ok, _ := db.Prior("f", "big"); ok {
		t.Error("prior kept past a deletion")
	}
	journal(t, db, "f", bigFile("big", PriorMinChunks, 7), bigFile("big", PriorMinChunks, 8))
	if err := db.Update("f", func(tx *Tx) error { return tx.Delete("big") }); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := db.Prior("f", "big"); ok {
		t.Error("prior kept past a purge")
	}
	journal(t, db, "f", bigFile("big", PriorMinChunks, 9), bigFile("big", PriorMinChunks, 10))
	err = db.Update("f", func(tx *Tx) error {
		e := bigFile("big", PriorMinChunks, 11)
		e.Seq = v3.Seq + 100
		return tx.Store(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := db.Prior("f", "big"); ok {
		t.Error("prior kept past a secondary's store")
	}
}
