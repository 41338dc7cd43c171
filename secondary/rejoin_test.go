package secondary

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys/fsystest"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/transport"
)

// oldPrimary sets up a node that was the primary of epoch 1 ("me") with
// shared.txt journaled, and returns it with the sequence where a new
// primary took over.
func oldPrimary(t *testing.T, conflicts bool) (*Secondary, string, uint64) {
	t.Helper()
	root := t.TempDir()
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	meta := index.Meta{ClusterID: "c", Node: "me", Epoch: 1, Lineage: []index.EpochMark{{Epoch: 1, Node: "me"}}}
	if err := db.SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	opts := Options{Node: "me", ClusterID: "c", Primary: "127.0.0.1:1", PrimaryNode: "p",
		Folders: []config.Folder{{ID: "f", Path: root}}, Apply: apply.Options{}}
	if conflicts {
		opts.ConflictDir = filepath.Join(t.TempDir(), "conflicts")
	}
	s, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for p, data := range map[string]string{"shared.txt": "shared\n", "keep/other.txt": "other\n", "same.txt": "same\n"} {
		writeTestFile(t, filepath.Join(root, p), data)
	}
	if err := s.scanOwnChanges(context.Background(), meta); err != nil {
		t.Fatal(err)
	}
	start, err := db.Head("f")
	if err != nil || start == 0 {
		t.Fatalf("head after the first scan: %d, %v", start, err)
	}
	return s, root, start
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newTerm(start uint64) (transport.Welcome, *index.EpochMark) {
	mk := index.EpochMark{Epoch: 2, Node: "p2", Start: map[string]uint64{"f": start}}
	w := transport.Welcome{ClusterID: "c", Node: "p2", Epoch: 2, Folders: map[string]uint64{"f": start + 5},
		Lineage: []index.EpochMark{{Epoch: 1, Node: "me"}, mk}}
	return w, &mk
}

// TestRejoinPreservesAndRewinds: an old primary's changes after the
// takeover, including those made while ncsync was down, are preserved,
// removed from the tree and purged from the index, which goes back to the
// takeover point at position 0 under the new lineage.
func TestRejoinPreservesAndRewinds(t *testing.T) {
	s, root, start := oldPrimary(t, true)
	// Written while down: a change, a new file in a new directory, a deletion.
	writeTestFile(t, filepath.Join(root, "shared.txt"), "changed while down\n")
	writeTestFile(t, filepath.Join(root, "new/dir/n.txt"), "new\n")
	if err := os.Remove(filepath.Join(root, "keep/other.txt")); err != nil {
		t.Fatal(err)
	}
	meta, _ := s.db.Meta()
	w, next := newTerm(start)
	moved, err := s.adopt(context.Background(), meta, w, next)
	if err != nil || !moved {
		t.Fatalf("adopt = %v, %v; want moved", moved, err)
	}
	recs, err := s.Conflicts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, r := range recs {
		if r.Cause != preserve.CauseRejoin || r.Epoch != 1 || r.Node != "me" || r.Seq <= start {
			t.Errorf("record %+v", r)
		}
		kept = append(kept, r.Path)
	}
	slices.Sort(kept)
	if want := []string{"new/dir/n.txt", "shared.txt"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	for _, p := range []string{"shared.txt", "new/dir/n.txt", "new/dir", "new"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q still in the tree: %v", p, err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "same.txt")); err != nil || string(data) != "same\n" {
		t.Errorf("an unchanged file was touched: %q, %v", data, err)
	}
	if h, _ := s.db.Head("f"); h != start {
		t.Errorf("head %d, want the takeover point %d", h, start)
	}
	if p, _ := s.db.Position("f"); p != 0 {
		t.Errorf("position %d, want 0 (a full resend)", p)
	}
	if _, ok, _ := s.db.Get("f", "new/dir/n.txt"); ok {
		t.Error("a diverged entry is still in the index")
	}
	if got, _ := s.db.Meta(); got.Epoch != 2 || len(got.Lineage) != 2 || got.Leads("me") {
		t.Errorf("meta after rejoin: %+v", got)
	}
	// The shared history is held: a resent entry of it is not applied again.
	e, ok, err := s.db.Get("f", "same.txt")
	if err != nil || !ok {
		t.Fatalf("same.txt: %v %v", ok, err)
	}
	pl, err := s.plan(s.folders["f"], []index.Entry{e})
	if err != nil || len(pl.work) != 0 || pl.results[0].Err != nil || pl.results[0].Stat != e.Stat {
		t.Errorf("held entry: %+v, %v", pl, err)
	}
}

// TestRejoinWithoutStoreRefuses: with nowhere to keep diverged versions,
// the rejoin is refused and nothing changes.
func TestRejoinWithoutStoreRefuses(t *testing.T) {
	s, root, start := oldPrimary(t, false)
	writeTestFile(t, filepath.Join(root, "shared.txt"), "changed while down\n")
	meta, _ := s.db.Meta()
	w, next := newTerm(start)
	if _, err := s.adopt(context.Background(), meta, w, next); !errors.Is(err, errNoStore) {
		t.Fatalf("adopt: %v, want errNoStore", err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "shared.txt")); string(data) != "changed while down\n" {
		t.Errorf("shared.txt = %q", data)
	}
	if got, _ := s.db.Meta(); got.Epoch != 1 {
		t.Errorf("epoch %d after a refused rejoin", got.Epoch)
	}
}

// TestRejoinNothingDiverged: an old primary whose every change reached the
// new primary follows on from its head.
func TestRejoinNothingDiverged(t *testing.T) {
	s, _, start := oldPrimary(t, false)
	meta, _ := s.db.Meta()
	w, next := newTerm(start)
	moved, err := s.adopt(context.Background(), meta, w, next)
	if err != nil || !moved {
		t.Fatalf("adopt = %v, %v", moved, err)
	}
	if p, _ := s.db.Position("f"); p != start {
		t.Errorf("position %d, want %d", p, start)
	}
}

// TestRejoinKeepsOnce: a secondary ahead of the new primary whose diverged
// file was also edited locally after ncsync wrote it (its index stat is
// stale) keeps that file once, as a rejoin record: the removal that
// follows compares with the stat seen when it was kept, not with the
// index's, so the local-change check does not keep it a second time.
func TestRejoinKeepsOnce(t *testing.T) {
	s, root, start := oldPrimary(t, true)
	ctx := context.Background()
	meta, _ := s.db.Meta()
	writeTestFile(t, filepath.Join(root, "late.txt"), "got from the old primary only\n")
	if err := s.scanOwnChanges(ctx, meta); err != nil { // journaled after start, stat recorded
		t.Fatal(err)
	}
	// This node followed "p" (it does not lead its epoch), and the file
	// was then edited locally: the index's stat no longer matches.
	meta.Lineage = []index.EpochMark{{Epoch: 1, Node: "p"}}
	if err := s.db.SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(root, "late.txt"), "edited here afterwards, a different size\n")
	mk := index.EpochMark{Epoch: 2, Node: "p2", Start: map[string]uint64{"f": start}}
	w := transport.Welcome{ClusterID: "c", Node: "p2", Epoch: 2, Folders: map[string]uint64{"f": start},
		Lineage: []index.EpochMark{{Epoch: 1, Node: "p"}, mk}}
	if moved, err := s.adopt(ctx, meta, w, &mk); err != nil || !moved {
		t.Fatalf("adopt = %v, %v", moved, err)
	}
	recs, err := s.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Path != "late.txt" || recs[0].Cause != preserve.CauseRejoin ||
		recs[0].Size != int64(len("edited here afterwards, a different size\n")) {
		t.Fatalf("records %+v, want one rejoin record of the edited late.txt", recs)
	}
	if _, err := os.Lstat(filepath.Join(root, "late.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("late.txt still in the tree: %v", err)
	}
}

// TestRejoinWithoutOpenat2: on a kernel without openat2 (Linux before
// 5.6: RHEL 8, Ubuntu 18.04) a rejoin still preserves and rewinds.
func TestRejoinWithoutOpenat2(t *testing.T) {
	fsystest.RunWithoutOpenat2(t, "TestRejoinPreservesAndRewinds")
}
