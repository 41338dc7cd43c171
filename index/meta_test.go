package index

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ncsync/ncsync/chunker"
)

func TestMetaVersion1StillDecodes(t *testing.T) {
	// A version 1 record (before the flags byte): cluster "c", node "n",
	// epoch 1, one mark {1, "n", no starts, started 0}.
	v1 := []byte{metaVersion1, 1, 'c', 1, 'n', 1, 1, 1, 1, 'n', 0, 0}
	got, err := decodeMeta(v1)
	want := Meta{ClusterID: "c", Node: "n", Epoch: 1, Lineage: []EpochMark{{Epoch: 1, Node: "n"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decode v1 = %+v, %v; want %+v", got, err, want)
	}
	if _, err := decodeMeta(append(encodeMeta(&want)[:len(encodeMeta(&want))-1], 0x80)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown flag bits: %v, want ErrCorrupt", err)
	}
}

func TestMetaLeads(t *testing.T) {
	m := Meta{Node: "a", Epoch: 2, Lineage: []EpochMark{{Epoch: 1, Node: "a"}, {Epoch: 2, Node: "b"}}}
	for _, tc := range []struct {
		node string
		meta Meta
		want bool
	}{
		{"b", m, true},
		{"a", m, false},
		{"a", Meta{}, false},
		{"b", Meta{Epoch: 3, Lineage: m.Lineage}, false}, // saw epoch 3, not its mark
	} {
		if got := tc.meta.Leads(tc.node); got != tc.want {
			t.Errorf("%+v.Leads(%q) = %v", tc.meta, tc.node, got)
		}
	}
}

func TestRejoin(t *testing.T) {
	db := openTest(t)
	if err := db.SetMeta(Meta{ClusterID: "c", Node: "n1", Epoch: 1, Lineage: []EpochMark{{Epoch: 1, Node: "n1"}}}); err != nil {
		t.Fatal(err)
	}
	// Seqs 1..4 are shared history; 5 and 6 were journaled after the
	// promotion elsewhere (divergence at 4).
	journal(t, db, "f", dir("a"), file("a/x", 1), file("b", 2), file("c", 3), file("a/x", 4), file("new", 5))
	journal(t, db, "g", file("g1", 9))
	m := Meta{ClusterID: "c", Node: "n1", Epoch: 2, Lineage: []EpochMark{
		{Epoch: 1, Node: "n1"}, {Epoch: 2, Node: "n2", Start: map[string]uint64{"f": 4, "g": 1}}}}
	if err := db.Rejoin(m, map[string]Rewind{"f": {To: 4, Position: 0}, "g": {To: 1, Position: 1}}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Meta(); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("meta = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		folder   string
		head     uint64
		pos      uint64
		present  []string
		purged   []string
		stats    FolderStats
		lookupID byte
	}{
		{"f", 4, 0, []string{"a", "b", "c"}, []string{"a/x", "new"}, FolderStats{Files: 2, Dirs: 1, Bytes: 2000}, 4},
		{"g", 1, 1, []string{"g1"}, nil, FolderStats{Files: 1, Bytes: 1000}, 0},
	} {
		t.Run(tc.folder, func(t *testing.T) {
			if h, _ := db.Head(tc.folder); h != tc.head {
				t.Errorf("head = %d, want %d", h, tc.head)
			}
			if p, _ := db.Position(tc.folder); p != tc.pos {
				t.Errorf("position = %d, want %d", p, tc.pos)
			}
			for _, p := range tc.present {
				if _, ok, _ := db.Get(tc.folder, p); !ok {
					t.Errorf("%q purged", p)
				}
			}
			for _, p := range tc.purged {
				if _, ok, _ := db.Get(tc.folder, p); ok {
					t.Errorf("%q not purged", p)
				}
			}
			if st, _ := db.Stats(tc.folder); st != tc.stats {
				t.Errorf("stats = %+v, want %+v", st, tc.stats)
			}
			if tc.lookupID != 0 {
				if locs, _ := db.LookupChunk(chunker.ID{tc.lookupID}, 0); len(locs) != 0 {
					t.Errorf("chunk of a purged entry still mapped: %+v", locs)
				}
			}
		})
	}
	// The new primary's entries can now be stored at the purged sequences.
	err := db.Update("f", func(tx *Tx) error {
		if err := tx.Store(Entry{Path: "d", Seq: 5, Kind: KindDir}); err != nil {
			return err
		}
		return tx.SetPosition(5)
	})
	if err != nil {
		t.Fatalf("store after rejoin: %v", err)
	}
	if err := db.Rejoin(m, map[string]Rewind{"f": {To: 1, Position: 2}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("position after To: %v, want ErrInvalid", err)
	}
}
