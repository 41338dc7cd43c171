package index

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
)

func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func openTest(t testing.TB) *DB {
	t.Helper()
	db := openAt(t, filepath.Join(t.TempDir(), "index.db"))
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// file returns a live file entry whose chunks are ID{b} of 1000 bytes each.
func file(path string, ids ...byte) Entry {
	e := Entry{Path: path, Kind: KindFile, Mode: 0o644, MtimeNs: 1}
	var all []chunker.ID
	for _, b := range ids {
		id := chunker.ID{b}
		all = append(all, id)
		e.Chunks = append(e.Chunks, ChunkRef{ID: id, Size: 1000})
		e.Size += 1000
	}
	e.FileID = chunker.FileID(all)
	return e
}

func dir(path string) Entry          { return Entry{Path: path, Kind: KindDir, Mode: 0o755} }
func tomb(path string, k Kind) Entry { return Entry{Path: path, Kind: k, Deleted: true} }

func journal(t testing.TB, db *DB, folder string, es ...Entry) []Entry {
	t.Helper()
	var out []Entry
	err := db.Update(folder, func(tx *Tx) error {
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
		t.Fatalf("journal: %v", err)
	}
	return out
}

func since(t testing.TB, db *DB, folder string, after uint64, max int) ([]string, uint64) {
	t.Helper()
	var got []string
	last, err := db.Since(folder, after, max, func(e Entry) error {
		got = append(got, fmt.Sprintf("%s@%d", e.Path, e.Seq))
		return nil
	})
	if err != nil {
		t.Fatalf("since: %v", err)
	}
	return got, last
}

func TestPersistenceAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := openAt(t, path)
	meta := Meta{ClusterID: "c", Node: "n1", Epoch: 2, Lineage: []EpochMark{
		{Epoch: 1, Node: "n0"}, {Epoch: 2, Node: "n1", Start: map[string]uint64{"f": 3}, StartedNs: 99}}}
	if err := db.SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	want := journal(t, db, "f", dir("a"), file("a/x", 1, 2), file("b", 3))
	err := db.Update("f", func(tx *Tx) error {
		if err := tx.SetStat("b", Stat{Ino: 42}); err != nil {
			return err
		}
		return tx.SetPosition(2)
	})
	if err != nil {
		t.Fatal(err)
	}
	want[2].Stat.Ino = 42
	if err := db.Update("g", func(tx *Tx) error { return tx.Store(Entry{Path: "s", Seq: 10, Kind: KindDir}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPeerAck("peer1", "f", 3); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	defer db.Close()
	if got, err := db.Meta(); err != nil || !reflect.DeepEqual(got, meta) {
		t.Errorf("meta = %+v, %v", got, err)
	}
	for _, w := range want {
		got, ok, err := db.Get("f", w.Path)
		if err != nil || !ok || !reflect.DeepEqual(got, w) {
			t.Errorf("get %q = %+v %v %v, want %+v", w.Path, got, ok, err, w)
		}
		err = db.View("f", func(tx *Tx) error {
			got, ok, err = tx.GetHeader(w.Path)
			return err
		})
		w.Chunks = nil
		if err != nil || !ok || !reflect.DeepEqual(got, w) {
			t.Errorf("header of %q = %+v %v %v, want %+v", w.Path, got, ok, err, w)
		}
	}
	if h, _ := db.Head("f"); h != 3 {
		t.Errorf("head f = %d", h)
	}
	if p, _ := db.Position("f"); p != 2 {
		t.Errorf("position f = %d", p)
	}
	if h, _ := db.Head("g"); h != 10 {
		t.Errorf("head g = %d", h)
	}
	if fs, _ := db.Folders(); !reflect.DeepEqual(fs, []string{"f", "g"}) {
		t.Errorf("folders = %v", fs)
	}
	if acks, _ := db.PeerAcks("peer1"); !reflect.DeepEqual(acks, map[string]uint64{"f": 3}) {
		t.Errorf("acks = %v", acks)
	}
	if st, _ := db.Stats("f"); st != (FolderStats{Files: 2, Dirs: 1, Bytes: 3000}) {
		t.Errorf("stats = %+v", st)
	}
	if locs, _ := db.LookupChunk(chunker.ID{3}, 0); len(locs) != 1 || locs[0].Path != "b" {
		t.Errorf("chunk 3 at %+v", locs)
	}
}

func TestJournalAndSince(t *testing.T) {
	db := openTest(t)
	if err := db.SetMeta(Meta{Node: "n1", Epoch: 4}); err != nil {
		t.Fatal(err)
	}
	got := journal(t, db, "f", dir("a"), file("a/x", 1), file("b", 2))
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.Version != (Version{Epoch: 4, Seq: e.Seq, Node: "n1"}) {
			t.Errorf("entry %d: seq %d version %+v", i, e.Seq, e.Version)
		}
	}
	// Rewriting a/x twice and b once moves them to the end, once each.
	explicit := file("a/x", 9)
	explicit.Version = Version{Epoch: 1, Node: "old"}
	journal(t, db, "f", file("a/x", 5), file("b", 6), explicit)
	if e, _, _ := db.Get("f", "a/x"); e.Version != (Version{Epoch: 1, Seq: 6, Node: "old"}) {
		t.Errorf("explicit version became %+v", e.Version)
	}

	tests := []struct {
		after    uint64
		max      int
		want     []string
		wantLast uint64
	}{
		{0, 0, []string{"a@1", "b@5", "a/x@6"}, 6},
		{0, 2, []string{"a@1", "b@5"}, 5},
		{1, 1, []string{"b@5"}, 5},
		{5, 10, []string{"a/x@6"}, 6},
		{6, 10, nil, 6},
		{100, 10, nil, 100},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("after%d_max%d", tc.after, tc.max), func(t *testing.T) {
			got, last := since(t, db, "f", tc.after, tc.max)
			if !reflect.DeepEqual(got, tc.want) || last != tc.wantLast {
				t.Errorf("since = %v last %d, want %v last %d", got, last, tc.want, tc.wantLast)
			}
		})
	}
	if h, _ := db.Head("f"); h != 6 {
		t.Errorf("head = %d", h)
	}
	if got, _ := since(t, db, "nosuch", 0, 0); got != nil {
		t.Errorf("since on missing folder = %v", got)
	}
}

func TestFailedUpdateWritesNothing(t *testing.T) {
	db := openTest(t)
	boom := errors.New("boom")
	err := db.Update("f", func(tx *Tx) error {
		if _, err := tx.Journal(file("x", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update = %v", err)
	}
	if h, _ := db.Head("f"); h != 0 {
		t.Errorf("head = %d after rollback", h)
	}
	if locs, _ := db.LookupChunk(chunker.ID{1}, 0); len(locs) != 0 {
		t.Errorf("chunk rows survived rollback: %+v", locs)
	}
}

func TestStoreAndPosition(t *testing.T) {
	db := openTest(t)
	store := func(es ...Entry) error {
		return db.Update("f", func(tx *Tx) error {
			for _, e := range es {
				if err := tx.Store(e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	a := file("a", 1)
	a.Seq = 7
	b := dir("b")
	b.Seq = 5
	if err := store(a, b); err != nil {
		t.Fatal(err)
	}
	if h, _ := db.Head("f"); h != 7 {
		t.Errorf("head = %d, want 7 (highest stored, not the last)", h)
	}
	if got, _ := since(t, db, "f", 0, 0); !reflect.DeepEqual(got, []string{"b@5", "a@7"}) {
		t.Errorf("journal after store = %v", got)
	}
	a2 := file("a", 2)
	a2.Seq = 9
	if err := store(a2); err != nil {
		t.Fatal(err)
	}
	if got, _ := since(t, db, "f", 0, 0); !reflect.DeepEqual(got, []string{"b@5", "a@9"}) {
		t.Errorf("journal after restore = %v", got)
	}
	// A promoted secondary continues the journal after what it stored.
	if got := journal(t, db, "f", dir("c")); got[0].Seq != 10 {
		t.Errorf("journal after store assigned %d", got[0].Seq)
	}

	errCases := []struct {
		name string
		e    Entry
		want error
	}{
		{"seq 0", dir("z"), ErrInvalid},
		{"seq held by another path", Entry{Path: "z", Seq: 5, Kind: KindDir}, ErrSeqConflict},
		{"empty path", Entry{Seq: 20, Kind: KindDir}, ErrInvalid},
		{"NUL in path", Entry{Path: "a\x00b", Seq: 20, Kind: KindDir}, ErrInvalid},
		{"long path", Entry{Path: strings.Repeat("a", MaxPathLen+1), Seq: 20, Kind: KindDir}, ErrInvalid},
		{"bad kind", Entry{Path: "z", Seq: 20, Kind: 9}, ErrInvalid},
		{"negative size", Entry{Path: "z", Seq: 20, Kind: KindFile, Size: -1}, ErrInvalid},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			if err := store(tc.e); !errors.Is(err, tc.want) {
				t.Errorf("store = %v, want %v", err, tc.want)
			}
		})
	}

	setPos := func(seq uint64) error {
		return db.Update("f", func(tx *Tx) error { return tx.SetPosition(seq) })
	}
	for _, step := range []struct {
		seq  uint64
		fail bool
	}{{5, false}, {5, false}, {9, false}, {8, true}, {0, true}, {10, false}} {
		err := setPos(step.seq)
		if (err != nil) != step.fail || (step.fail && !errors.Is(err, ErrBackwards)) {
			t.Errorf("SetPosition(%d) = %v, want failure %v", step.seq, err, step.fail)
		}
	}
	if p, _ := db.Position("f"); p != 10 {
		t.Errorf("position = %d", p)
	}
}

func TestWalkPrefix(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", dir("a"), file("a/x", 1), dir("a/y"), file("a/y/z", 2), file("ab/x", 3),
		file("a-b", 4), file("a.txt", 5), file("b", 6), tomb("a/gone", KindFile))
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "a-b", "a.txt", "a/gone", "a/x", "a/y", "a/y/z", "ab/x", "b"}},
		{"a", []string{"a", "a/gone", "a/x", "a/y", "a/y/z"}},
		{"a/y", []string{"a/y", "a/y/z"}},
		{"a/x", []string{"a/x"}},
		{"ab", []string{"ab/x"}},
		{"c", nil},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			var got []string
			err := db.Walk("f", tc.prefix, func(e Entry) error {
				got = append(got, e.Path)
				return nil
			})
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("walk %q = %v %v, want %v", tc.prefix, got, err, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if err := db.Walk("f", "", func(Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("walk stop = %v after %d", err, n)
	}
}

func TestSetStatAndDelete(t *testing.T) {
	db := openTest(t)
	journal(t, db, "f", file("a", 1, 2), file("b", 3))
	err := db.Update("f", func(tx *Tx) error {
		if err := tx.SetStat("a", Stat{Dev: 1, Ino: 2, Size: 2000, MtimeNs: 3, CtimeNs: 4}); err != nil {
			return err
		}
		if err := tx.SetStat("nope", Stat{}); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("SetStat missing = %v", err)
		}
		if err := tx.Delete("b"); err != nil {
			return err
		}
		return tx.Delete("never") // not an error
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := db.Get("f", "a")
	if a.Seq != 1 || a.Stat.Ino != 2 || len(a.Chunks) != 2 {
		t.Errorf("after SetStat: %+v", a)
	}
	if h, _ := db.Head("f"); h != 2 {
		t.Errorf("head moved: %d", h)
	}
	if _, ok, _ := db.Get("f", "b"); ok {
		t.Error("b still there")
	}
	if got, _ := since(t, db, "f", 0, 0); !reflect.DeepEqual(got, []string{"a@1"}) {
		t.Errorf("journal = %v", got)
	}
	if locs, _ := db.LookupChunk(chunker.ID{3}, 0); len(locs) != 0 {
		t.Errorf("deleted b's chunk still mapped: %+v", locs)
	}
	if st, _ := db.Stats("f"); st != (FolderStats{Files: 1, Bytes: 2000}) {
		t.Errorf("stats = %+v", st)
	}
}

func TestTxMisuse(t *testing.T) {
	db := openTest(t)
	var leaked *Tx
	journal(t, db, "f", dir("a"))
	err := db.View("f", func(tx *Tx) error {
		leaked = tx
		if _, err := tx.Journal(dir("b")); !errors.Is(err, ErrReadOnly) {
			return fmt.Errorf("journal in view = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := leaked.Get("a"); !errors.Is(err, ErrTxDone) {
		t.Errorf("get after view = %v", err)
	}
	if err := db.Update("", func(*Tx) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty folder = %v", err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	db := openAt(t, path)
	defer db.Close()
	start := time.Now()
	_, err := Open(path, Options{Timeout: 200 * time.Millisecond, NoSync: true})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("index %q is locked by another ncsync process", path); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", d)
	}
}

func TestPeers(t *testing.T) {
	db := openTest(t)
	for _, a := range []struct {
		peer, folder string
		seq          uint64
	}{{"p1", "f", 5}, {"p1", "g", 2}, {"p2", "f", 9}, {"p1", "f", 3}} {
		if err := db.SetPeerAck(a.peer, a.folder, a.seq); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.PeerAcks("p1"); !reflect.DeepEqual(got, map[string]uint64{"f": 3, "g": 2}) {
		t.Errorf("p1 = %v", got)
	}
	if got, _ := db.PeerAcks("nobody"); len(got) != 0 {
		t.Errorf("nobody = %v", got)
	}
	if got, _ := db.Peers(); !reflect.DeepEqual(got, []string{"p1", "p2"}) {
		t.Errorf("peers = %v", got)
	}
}
