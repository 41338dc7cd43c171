package index

import (
	"testing"

	"github.com/ncsync/ncsync/chunker"
)

func TestLagBytes(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", dir("a"), file("a/x", 1, 2), file("b", 3), Entry{Path: "l", Kind: KindSymlink, Target: "b"})
	// seqs: a 1, a/x 2, b 3, l 4; then b is rewritten (5) and a/x deleted (6).
	journal(t, db, "f", file("b", 3, 4, 5), tomb("a/x", KindFile))
	tests := []struct {
		after          uint64
		entries, bytes uint64
	}{
		{0, 4, 3000}, // a, l, b (3000), tombstone a/x
		{1, 3, 3000},
		{4, 2, 3000},
		{5, 1, 0},
		{6, 0, 0},
		{1 << 62, 0, 0},
	}
	for _, tc := range tests {
		entries, bytes, err := db.LagBytes("f", tc.after)
		if err != nil || entries != tc.entries || bytes != tc.bytes {
			t.Errorf("LagBytes(%d) = %d, %d, %v; want %d, %d", tc.after, entries, bytes, err, tc.entries, tc.bytes)
		}
	}
	if e, b, err := db.LagBytes("none", 0); e != 0 || b != 0 || err != nil {
		t.Errorf("LagBytes on missing folder = %d %d %v", e, b, err)
	}
	for _, tc := range []struct {
		limit int
		want  Lag
	}{
		{0, Lag{4, 3000, true}},
		{4, Lag{4, 3000, true}},
		{2, Lag{2, 0, false}}, // journal order: a (1), l (4), b (5), a/x (6)
	} {
		if got, err := db.Lag("f", 0, tc.limit); err != nil || got != tc.want {
			t.Errorf("Lag(0, limit %d) = %+v, %v; want %+v", tc.limit, got, err, tc.want)
		}
	}
}

// TestLags checks that one read for several positions counts what Lag
// counts for each, and that a limit makes every count a lower bound.
func TestLags(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", dir("a"), file("a/x", 1, 2), file("b", 3), Entry{Path: "l", Kind: KindSymlink, Target: "b"})
	journal(t, db, "f", file("b", 3, 4, 5), tomb("a/x", KindFile))
	afters := []uint64{4, 0, 6, 1, 5, 1 << 62, 0}
	lags, err := db.Lags("f", afters, 0)
	if err != nil || len(lags) != len(afters) {
		t.Fatalf("Lags: %v, %v", lags, err)
	}
	for i, after := range afters {
		want, err := db.Lag("f", after, 0)
		if err != nil || lags[i] != want {
			t.Errorf("Lags at %d: %+v; Lag %+v, %v", after, lags[i], want, err)
		}
	}
	lags, err = db.Lags("f", []uint64{0, 4}, 2)
	if err != nil || lags[0] != (Lag{2, 0, false}) || lags[1] != (Lag{0, 0, false}) {
		t.Errorf("Lags with limit 2: %+v, %v; want lower bounds (2, 0) and (0, 0)", lags, err)
	}
	if lags, err := db.Lags("f", nil, 0); err != nil || len(lags) != 0 {
		t.Errorf("Lags of no position: %v, %v", lags, err)
	}
}

func TestTreeHash(t *testing.T) {
	link := Entry{Path: "l", Kind: KindSymlink, Target: "a/x"}
	// db1: a straight history.
	db1 := openTest(t)
	journal(t, db1, "f", dir("a"), file("a/x", 1, 2), link)

	// db2: the same live content reached another way, as a secondary with
	// other sequences, versions, stats and a tombstone for a removed path.
	db2 := openTest(t)
	err := db2.Update("f", func(tx *Tx) error {
		for i, e := range []Entry{file("a/x", 9), file("junk", 3), dir("a"), tomb("junk", KindFile), file("a/x", 1, 2), link} {
			e.Seq = uint64(10 + i)
			e.Version = Version{Epoch: 5, Seq: e.Seq, Node: "other"}
			e.Stat = Stat{Ino: uint64(i)}
			if err := tx.Store(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h1, n1, head1, err := db1.TreeHash("f")
	if err != nil {
		t.Fatal(err)
	}
	h2, n2, head2, err := db2.TreeHash("f")
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || n1 != 3 || n2 != 3 {
		t.Errorf("hashes %s (%d entries) vs %s (%d)", h1, n1, h2, n2)
	}
	if head1 != 3 || head2 != 15 {
		t.Errorf("heads %d, %d", head1, head2)
	}
	empty, n, _, err := db1.TreeHash("none")
	if err != nil || n != 0 || empty == h1 {
		t.Errorf("empty folder: %s %d %v", empty, n, err)
	}

	// Any replicated field changes the hash.
	changes := map[string]func(*Entry){
		"mode":   func(e *Entry) { e.Mode = 0o600 },
		"uid":    func(e *Entry) { e.UID = 1 },
		"gid":    func(e *Entry) { e.GID = 1 },
		"mtime":  func(e *Entry) { e.MtimeNs++ },
		"size":   func(e *Entry) { e.Size++ },
		"fileid": func(e *Entry) { e.FileID = chunker.ID{7} },
		"kind":   func(e *Entry) { e.Kind = KindSymlink },
		"target": func(e *Entry) { e.Target = "t" },
		"path":   func(e *Entry) { e.Path = "a/y" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			x := file("a/x", 1, 2)
			change(&x)
			journal(t, db, "f", dir("a"), x, link)
			if h, _, _, _ := db.TreeHash("f"); h == h1 {
				t.Errorf("changing %s kept the hash", name)
			}
		})
	}
}
