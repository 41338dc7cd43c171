package index

import (
	"errors"
	"reflect"
	"testing"
)

func listChanges(t *testing.T, db *DB, folder string, since, until uint64) ([]Change, ChangeRange, error) {
	t.Helper()
	var out []Change
	r, err := db.Changes(folder, since, until, func(c Change) error {
		out = append(out, c)
		return nil
	})
	return out, r, err
}

func TestChanges(t *testing.T) {
	db := openTest(t)
	// seqs: a 1, a/x 2, b 3, c 4; then b rewritten (5), a/x deleted (6).
	journal(t, db, "f", dir("a"), file("a/x", 1), file("b", 2), file("c", 3))
	journal(t, db, "f", file("b", 2, 3), tomb("a/x", KindFile))
	for _, tc := range []struct {
		since, until uint64
		want         []Change
	}{
		{0, 0, []Change{{"a", KindDir, false, 1}, {"c", KindFile, false, 4}, {"b", KindFile, false, 5}, {"a/x", KindFile, true, 6}}},
		{4, 0, []Change{{"b", KindFile, false, 5}, {"a/x", KindFile, true, 6}}},
		{4, 5, []Change{{"b", KindFile, false, 5}, {"a/x", KindFile, true, 6}}}, // later changes listed too
		{6, 6, nil},
	} {
		got, r, err := listChanges(t, db, "f", tc.since, tc.until)
		if err != nil || !reflect.DeepEqual(got, tc.want) || r != (ChangeRange{Floor: 0, Head: 6}) {
			t.Errorf("Changes(%d, %d) = %+v, %+v, %v; want %+v", tc.since, tc.until, got, r, err, tc.want)
		}
	}
	for _, tc := range []struct {
		since, until uint64
		want         error
	}{
		{7, 0, ErrJournalRange}, // a start from another history
		{2, 7, ErrJournalRange}, // not applied that far yet
		{5, 4, ErrJournalRange}, // a start after the end
	} {
		if _, _, err := listChanges(t, db, "f", tc.since, tc.until); !errors.Is(err, tc.want) {
			t.Errorf("Changes(%d, %d): %v, want %v", tc.since, tc.until, err, tc.want)
		}
	}
}

// TestChangesAfterRejoin: a rejoin that purged entries raises the floor
// past the old head, because the purged paths went back to older
// versions at sequences a listing from before would skip.
func TestChangesAfterRejoin(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", file("a", 1), file("b", 2), file("c", 3)) // 1..3
	journal(t, db, "f", file("a", 9), file("d", 4))               // diverged: a 4, d 5
	journal(t, db, "g", file("g1", 1))
	// A rewind that purges nothing (an old primary whose journal is all
	// shared history) keeps the floor.
	if err := db.Rejoin(Meta{ClusterID: "c"}, map[string]Rewind{"f": {To: 3, Position: 0}, "g": {To: 1, Position: 1}}); err != nil {
		t.Fatal(err)
	}
	for folder, want := range map[string]uint64{"f": 6, "g": 0} {
		if got, err := db.Floor(folder); err != nil || got != want {
			t.Errorf("floor of %s = %d, %v; want %d", folder, got, err, want)
		}
	}
	// A base taken before the rejoin (3 or 5) is refused; the new
	// primary's history, once past the old head, answers again.
	for _, since := range []uint64{0, 3, 5} {
		if _, _, err := listChanges(t, db, "f", since, 0); !errors.Is(err, ErrJournalRange) {
			t.Errorf("Changes(%d) after the rejoin: %v, want ErrJournalRange", since, err)
		}
	}
	err := db.Update("f", func(tx *Tx) error {
		for i, p := range []string{"a", "e", "f", "g"} {
			if err := tx.Store(Entry{Path: p, Seq: uint64(4 + i), Kind: KindDir}); err != nil {
				return err
			}
		}
		return tx.SetPosition(7)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, r, err := listChanges(t, db, "f", 6, 0)
	want := []Change{{"g", KindDir, false, 7}}
	if err != nil || !reflect.DeepEqual(got, want) || r != (ChangeRange{Floor: 6, Head: 7}) {
		t.Errorf("Changes(6) = %+v, %+v, %v; want %+v", got, r, err, want)
	}
}
