package secondary

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/preserve"
)

// withStore returns an index and the options of a secondary with one
// folder, "data", and a conflict store, all in a temporary directory.
func withStore(t *testing.T) (*index.DB, Options) {
	t.Helper()
	dir := t.TempDir()
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root := filepath.Join(dir, "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return db, Options{Node: "nfs2", PrimaryNode: "nfs1", Folders: []config.Folder{{ID: "data", Path: root}}, ConflictDir: filepath.Join(dir, "conflicts")}
}

func TestLocalKeeper(t *testing.T) {
	db, opts := withStore(t)
	root := opts.Folders[0].Path
	s, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	written := index.Stat{Ino: 7, Size: 3, MtimeNs: 11, CtimeNs: 12}
	if err := db.Update("data", func(tx *index.Tx) error {
		if err := tx.Store(index.Entry{Path: "a", Seq: 1, Kind: index.KindFile, Size: 3, Stat: written}); err != nil {
			return err
		}
		return tx.Store(index.Entry{Path: "gone", Seq: 2, Kind: index.KindFile, Deleted: true})
	}); err != nil {
		t.Fatal(err)
	}

	// The plan: what ncsync last wrote is the recorded stat, zero for
	// deleted and unknown paths, whatever the primary sent.
	entries := []index.Entry{{Path: "a", Seq: 10, Stat: index.Stat{Ino: 99}}, {Path: "gone", Seq: 11, Stat: index.Stat{Ino: 98}}, {Path: "new", Seq: 12}}
	pl, err := s.plan(s.folders["data"], entries)
	if err != nil {
		t.Fatal(err)
	}
	if want := []index.Stat{written, {}, {}}; len(pl.work) != 3 || !slices.Equal(pl.known.LastWritten, want) {
		t.Fatalf("planned %d entries, last written %+v, want %+v", len(pl.work), pl.known.LastWritten, want)
	}
	k := s.keeper("data").(*localKeeper)
	if st, ok := k.LastWritten("a"); !ok || st != written {
		t.Fatalf("LastWritten(a) = %+v, %v", st, ok)
	}
	if _, ok := k.LastWritten("gone"); ok {
		t.Fatal("LastWritten(gone): a deleted path counts as written")
	}

	// Keep: a durable record with the reason, counted.
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(d)
	v := apply.LocalVersion{Path: "a", Dir: d, Name: "a", Kind: index.KindFile, LastWritten: written,
		By: index.Entry{Path: "a", Seq: 5, Kind: index.KindFile, Version: index.Version{Epoch: 2}}}
	// The caller's context reaches the store: cancelled, nothing is kept.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := k.Keep(ctx, v); !errors.Is(err, context.Canceled) {
		t.Fatalf("Keep with a cancelled context: %v", err)
	}
	if n := s.localChanges("data"); n != 0 {
		t.Fatalf("localChanges = %d after a cancelled Keep", n)
	}
	if err := k.Keep(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	if n := s.localChanges("data"); n != 1 {
		t.Fatalf("localChanges = %d, want 1", n)
	}
	recs, err := s.Conflicts(t.Context())
	if err != nil || len(recs) != 1 {
		t.Fatalf("Conflicts = %+v, %v", recs, err)
	}
	r := recs[0]
	if r.Path != "a" || r.Folder != "data" || r.Node != "nfs2" || r.Cause != preserve.CauseLocalChange || r.Size != 5 ||
		!strings.Contains(r.Reason, "changed on this node since ncsync wrote it") || !strings.Contains(r.Reason, "sequence 5, epoch 2") {
		t.Fatalf("record %+v", r)
	}
	s.Close()

	// The count is read back from the store.
	s2, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := s2.localChanges("data"); n != 1 {
		t.Fatalf("after reopening: localChanges = %d, want 1", n)
	}
}

func TestLocalReason(t *testing.T) {
	cases := []struct {
		v    apply.LocalVersion
		want string
	}{
		{apply.LocalVersion{Path: "d/x", Kind: index.KindFile, By: index.Entry{Path: "d", Kind: index.KindDir, Deleted: true}},
			`file created on this node, not by ncsync; the primary deleted the directory "d"`},
		{apply.LocalVersion{Path: "d/x", Kind: index.KindFile, LastWritten: index.Stat{Ino: 1}, By: index.Entry{Path: "d", Kind: index.KindFile}},
			`file changed on this node since ncsync wrote it; the primary replaced the directory "d" with a file`},
		{apply.LocalVersion{Path: "l", Kind: index.KindSymlink, LastWritten: index.Stat{Ino: 1}, By: index.Entry{Path: "l", Kind: index.KindSymlink, Deleted: true}},
			`symlink changed on this node since ncsync wrote it; the primary deleted it`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := localReason(tc.v); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestNoConflictDir(t *testing.T) {
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, Options{Node: "nfs2", PrimaryNode: "nfs1", Folders: []config.Folder{{ID: "data", Path: t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.keeper("data") != nil {
		t.Fatal("a keeper without a conflict dir")
	}
	pl, err := s.plan(s.folders["data"], []index.Entry{{Path: "a", Seq: 1, Stat: index.Stat{Ino: 3}}})
	if err != nil || len(pl.work) != 1 || pl.known.LastWritten != nil {
		t.Fatalf("planned without a store: %+v (%v)", pl, err)
	}
}
