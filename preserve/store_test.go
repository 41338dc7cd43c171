package preserve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "conflicts"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func item(p string) Item {
	return Item{Folder: "data", Path: p, Epoch: 3, Node: "nfs2", Cause: CauseLocalChange, Reason: "test"}
}

// saveAt preserves name in dir through SaveAt.
func saveAt(t *testing.T, s *Store, dir, name string, it Item) (Record, error) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return s.SaveAt(context.Background(), it, int(d.Fd()), name)
}

func TestSaveListRestore(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	content := bytes.Repeat([]byte("local edit\n"), 100_000) // > one copy buffer
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	f := filepath.Join(tree, "a.txt")
	if err := os.WriteFile(f, content, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../target", filepath.Join(tree, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tree, "d"), 0o751); err != nil {
		t.Fatal(err)
	}

	rf, err := saveAt(t, s, tree, "a.txt", item("x/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := saveAt(t, s, tree, "l", item("x/l"))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := saveAt(t, s, tree, "d", item("x/d"))
	if err != nil {
		t.Fatal(err)
	}
	if rf.Kind != KindFile || rf.Size != int64(len(content)) || rf.Hash != blake3.Sum256(content) ||
		rf.Mode != 0o640 || rf.MtimeNs != mtime.UnixNano() || rf.KeptAt != filepath.Join(s.Dir(), string(rf.ID), "data") {
		t.Fatalf("file record %+v", rf)
	}
	if rl.Kind != KindSymlink || rl.Target != "../target" || rd.Kind != KindDir || rd.Mode != 0o751 {
		t.Fatalf("symlink %+v, dir %+v", rl, rd)
	}
	if kept, err := os.ReadFile(rf.KeptAt); err != nil || !bytes.Equal(kept, content) {
		t.Fatalf("kept copy differs (%v)", err)
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("listed %d records, want 3", len(list))
	}
	seen := map[ID]Record{}
	for _, r := range list {
		seen[r.ID] = r
	}
	for _, want := range []Record{rf, rl, rd} {
		if got := seen[want.ID]; got != want {
			t.Fatalf("listed %+v\nwant %+v", got, want)
		}
	}

	out := t.TempDir()
	for _, r := range []Record{rf, rl, rd} {
		t.Run("restore "+string(r.Kind), func(t *testing.T) {
			to := filepath.Join(out, string(r.Kind))
			if _, err := s.Restore(context.Background(), r.ID, to); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(to, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mtim.Nano() != r.MtimeNs {
				t.Fatalf("mtime %d, want %d", st.Mtim.Nano(), r.MtimeNs)
			}
			switch r.Kind {
			case KindFile:
				got, err := os.ReadFile(to)
				if err != nil || !bytes.Equal(got, content) || st.Mode&0o7777 != 0o640 {
					t.Fatalf("restored file differs: mode %o err %v", st.Mode&0o7777, err)
				}
			case KindSymlink:
				if got, err := os.Readlink(to); err != nil || got != "../target" {
					t.Fatalf("restored link %q %v", got, err)
				}
			case KindDir:
				if st.Mode&0o7777 != 0o751 {
					t.Fatalf("restored dir mode %o", st.Mode&0o7777)
				}
			}
			// Never over an existing path.
			if _, err := s.Restore(context.Background(), r.ID, to); !errors.Is(err, ErrExists) {
				t.Fatalf("second restore: %v, want ErrExists", err)
			}
		})
	}
	left, _ := os.ReadDir(out)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), restorePrefix) {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

func TestRestoreRefusals(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := saveAt(t, s, tree, "f", item("f"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	existing := filepath.Join(out, "existing")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		id   ID
		to   string
		want error
	}{
		{"existing file", r.ID, existing, ErrExists},
		{"unknown id", "20000101-000000-00000000", filepath.Join(out, "x"), ErrNotFound},
		{"traversal id", "../../etc", filepath.Join(out, "y"), ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Restore(context.Background(), tc.id, tc.to); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep me" {
		t.Fatalf("existing file changed: %q", got)
	}

	// Kept data that no longer matches its hash is not restored.
	if err := os.WriteFile(r.KeptAt, []byte("jello"), 0o600); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(out, "damaged")
	if _, err := s.Restore(context.Background(), r.ID, to); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged data: %v, want ErrCorrupt", err)
	}
	if _, err := os.Lstat(to); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("damaged restore left %q", to)
	}
}

func TestSaveRefusesSpecialFiles(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(tree, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := saveAt(t, s, tree, "fifo", item("fifo")); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("fifo: %v, want ErrUnsupported", err)
	}
	if _, err := saveAt(t, s, tree, "f", Item{Path: "../x"}); err == nil {
		t.Fatal("missing file saved")
	}
	if err := os.WriteFile(filepath.Join(tree, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := saveAt(t, s, tree, "f", Item{Folder: "data", Path: "../x", Node: "n", Cause: CauseLocalChange}); !errors.Is(err, ErrBadItem) {
		t.Fatalf("bad item: %v, want ErrBadItem", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("refused saves left records: %+v", list)
	}
	if ents, _ := os.ReadDir(s.Dir()); len(ents) != 0 {
		t.Fatalf("refused saves left %d entries in the store", len(ents))
	}
}

func TestListSkipsDamagedAndSweep(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, err := saveAt(t, s, tree, "f", item("good"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := saveAt(t, s, tree, "f", item("bad"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), string(bad.ID), metaName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A crashed Save's temp directory: not listed, swept.
	if err := os.MkdirAll(filepath.Join(s.Dir(), tempPrefix+"123", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), string(bad.ID)) {
		t.Fatalf("List error %v, want ErrCorrupt naming %s", err, bad.ID)
	}
	if len(list) != 1 || list[0].ID != good.ID {
		t.Fatalf("listed %+v, want only %s", list, good.ID)
	}
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), tempPrefix+"123")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temp directory not swept")
	}
}

func TestSaveIDCollision(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[ID]bool{}
	for range 20 { // same second: the random part keeps them apart
		it := item("f")
		it.Time = at
		r, err := saveAt(t, s, tree, "f", it)
		if err != nil {
			t.Fatal(err)
		}
		if seen[r.ID] {
			t.Fatalf("id %s used twice", r.ID)
		}
		seen[r.ID] = true
		if got, err := s.Get(r.ID); err != nil || got.ID != r.ID {
			t.Fatalf("Get(%s) = %+v, %v", r.ID, got, err)
		}
	}
}

func TestSaveBeneath(t *testing.T) {
	s := openStore(t)
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a/b/f"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "a/link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		rel  string
		ok   bool
		kind Kind
	}{
		{"a/b/f", true, KindFile},
		{"a/link", true, KindSymlink}, // the link itself, not what it points to
		{"a/b", true, KindDir},
		{"a/link/secret", false, ""}, // through a symlink
		{"../x", false, ""},
		{"a/missing", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.rel, func(t *testing.T) {
			r, err := s.SaveBeneath(context.Background(), item("x"), root, tc.rel)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && r.Kind != tc.kind {
				t.Fatalf("kind %s, want %s", r.Kind, tc.kind)
			}
		})
	}
	if _, err := s.SaveBeneath(context.Background(), item("x"), root, "a/missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v, want ErrNotExist", err)
	}
	list, _ := s.List()
	for _, r := range list {
		if r.Kind == KindFile && r.Size != int64(len("inside")) {
			t.Fatalf("kept a file from outside the root: %+v", r)
		}
	}
}
