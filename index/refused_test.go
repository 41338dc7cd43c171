package index

import (
	"reflect"
	"testing"
)

func TestRefusals(t *testing.T) {
	db := openTest(t)
	if got, err := db.Refused(); err != nil || len(got) != 0 {
		t.Fatalf("fresh index: %+v, %v", got, err)
	}
	journal(t, db, "f", file("a", 1), file("b", 2), file("c", 3))
	note := func(folder, path string, seq uint64) {
		t.Helper()
		if err := db.Update(folder, func(tx *Tx) error { return tx.NoteRefused(path, seq, "bad "+path) }); err != nil {
			t.Fatal(err)
		}
	}
	note("f", "x/y", 2)
	note("f", "z", 3)
	note("g", "x/y", 9)
	want := []Refusal{{"f", "x/y", 2, "bad x/y"}, {"f", "z", 3, "bad z"}, {"g", "x/y", 9, "bad x/y"}}
	if got, err := db.Refused(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("refused = %+v, %v; want %+v", got, err, want)
	}
	// Stored again: settled, in that folder only.
	if err := db.Update("g", func(tx *Tx) error { return tx.ClearRefused("x/y") }); err != nil {
		t.Fatal(err)
	}
	if err := db.View("f", func(tx *Tx) error { return tx.ClearRefused("z") }); err == nil {
		t.Error("ClearRefused in a read-only Tx")
	}
	// A rewind to 2 forgets the refusals that are sent again (after 2).
	if err := db.Rejoin(Meta{ClusterID: "c"}, map[string]Rewind{"f": {To: 2, Position: 2}}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Refused(); err != nil || !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("after clear and rewind: %+v, %v; want %+v", got, err, want[:1])
	}
}
