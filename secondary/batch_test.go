package secondary

import (
	"errors"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
)

// TestPlan: one read of the index plans a batch: ignored entries are
// refused, entries held already get their recorded stat, the others are
// applied with what ncsync last wrote at their paths and the metadata of
// their directories; apply's prefixes map back to the batch's.
func TestPlan(t *testing.T) {
	db, opts := withStore(t)
	s, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	heldSt, xSt, dSt := index.Stat{Ino: 3}, index.Stat{Ino: 4}, index.Stat{Ino: 1}
	rootE := index.Entry{Path: index.RootPath, Seq: 9, Kind: index.KindDir, Mode: 0o711}
	d := index.Entry{Path: "d", Seq: 1, Kind: index.KindDir, Mode: 0o750, Stat: dSt}
	de := index.Entry{Path: "d/e", Seq: 2, Kind: index.KindDir, Mode: 0o700}
	held := index.Entry{Path: "held.txt", Seq: 3, Kind: index.KindFile, Mode: 0o644, Stat: heldSt}
	x := index.Entry{Path: "x.txt", Seq: 4, Kind: index.KindFile, Mode: 0o644, Stat: xSt}
	if err := db.Update("data", func(tx *index.Tx) error {
		for _, e := range []index.Entry{d, de, held, x, rootE} {
			if err := tx.Store(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Resent after a rejoin (position 0): held.txt is held.
	sent := held
	sent.Stat = index.Stat{}
	x2 := x
	x2.Seq, x2.Mode, x2.Stat = 6, 0o600, index.Stat{}
	d2 := d
	d2.Seq, d2.Mode, d2.Stat = 8, 0o755, index.Stat{}
	batch := []index.Entry{sent,
		{Path: "nextcloud.log", Seq: 5, Kind: index.KindFile, Mode: 0o644}, // ignored by default
		x2,
		{Path: "d/e/new.txt", Seq: 7, Kind: index.KindFile, Mode: 0o644},
		d2}
	pl, err := s.plan(s.folders["data"], batch)
	if err != nil {
		t.Fatal(err)
	}
	if pl.results[0].Err != nil || pl.results[0].Stat != heldSt {
		t.Errorf("held entry: %+v", pl.results[0])
	}
	if !errors.Is(pl.results[1].Err, errIgnoredHere) {
		t.Errorf("ignored entry: %v", pl.results[1].Err)
	}
	if want := []int{2, 3, 4}; !slices.Equal(pl.at, want) || len(pl.work) != 3 || pl.work[0].Path != "x.txt" {
		t.Fatalf("work %v at %v, want x.txt, d/e/new.txt, d at %v", pl.work, pl.at, want)
	}
	if want := []index.Stat{xSt, {}, dSt}; !slices.Equal(pl.known.LastWritten, want) {
		t.Errorf("last written %+v, want %+v", pl.known.LastWritten, want)
	}
	for _, tc := range []struct {
		path string
		mode uint32 // 0: unknown
	}{{"d", 0o755}, {"d/e", 0o700}, {"", 0o711}, {"x.txt", 0}} {
		m, ok := pl.known.Dirs(tc.path)
		if ok != (tc.mode != 0) || ok && m.Mode != tc.mode {
			t.Errorf("Dirs(%q) = %#o, %v; want %#o", tc.path, m.Mode, ok, tc.mode)
		}
	}

	// Apply's prefixes are the batch's, skipped entries included.
	var got []int
	durable := pl.durable(func(n int, rs []apply.Result) { got = append(got, n) })
	rs := []apply.Result{{Stat: index.Stat{Ino: 6}}, {}, {}}
	durable(1, rs)
	durable(3, rs)
	if !slices.Equal(got, []int{3, 5}) || pl.results[2].Stat.Ino != 6 {
		t.Errorf("durable prefixes %v, results %+v", got, pl.results)
	}

	// A replay refuses the batch.
	if err := db.Update("data", func(tx *index.Tx) error { return tx.SetPosition(6) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.plan(s.folders["data"], batch[2:]); err == nil {
		t.Error("a replayed entry was planned")
	}
}
