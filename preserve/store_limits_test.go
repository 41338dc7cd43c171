package preserve

import (
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

// tmpfs mounts a tmpfs of the given size on a new directory, so a store
// there is on another file system than t.TempDir(): the copy path.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// sparseFile makes a file of size bytes with a little data at its start,
// middle and end and holes in between, and returns its content when
// wantContent is set.
func sparseFile(t *testing.T, path string, size int64, wantContent bool) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var content []byte
	if wantContent {
		content = make([]byte, size)
	}
	for _, off := range []int64{0, size / 2, size - 5} {
		if _, err := f.WriteAt([]byte("data!"), off); err != nil {
			t.Fatal(err)
		}
		if wantContent {
			copy(content[off:], "data!")
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return content
}

func blocksOf(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// A 1 GiB sparse file at a path the primary replaces is kept without
// allocating its size, on the copy path (the store on another file
// system) and on the link path (the same one).
func TestSaveSparseFile(t *testing.T) {
	const size = 1 << 30
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"copy", func(t *testing.T) string { return tmpfs(t, "64m") }},
		{"link", func(t *testing.T) string { return t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := t.TempDir()
			s, err := Open(filepath.Join(tc.store(t), "conflicts"), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sparseFile(t, filepath.Join(tree, "big"), size, false)
			rec, err := saveAt(t, s, tree, "big", item("big"))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Size != size {
				t.Fatalf("record size %d, want %d", rec.Size, size)
			}
			if got := blocksOf(t, rec.KeptAt); got > 1<<20 {
				t.Fatalf("kept copy allocates %d bytes for a file with 15 bytes of data", got)
			}
			u, err := s.Usage()
			if err != nil || u.Files != 1 || u.Bytes > 1<<20 {
				t.Fatalf("usage %+v, %v: want 1 record of about nothing", u, err)
			}
			var kept, orig unix.Stat_t
			_ = unix.Stat(rec.KeptAt, &kept)
			_ = unix.Stat(filepath.Join(tree, "big"), &orig)
			if linked := kept.Ino == orig.Ino; linked != (tc.name == "link") {
				t.Fatalf("kept by link: %v, want %v", linked, tc.name == "link")
			}
			if tc.name == "copy" && kept.Mode&0o777 != 0o600 {
				t.Fatalf("copy has mode %o, want 0600", kept.Mode&0o777)
			}
		})
	}
}

// The hash of a sparse file covers its holes as zeros, on both paths, and
// the copy reads back the same bytes.
func TestSaveSparseHash(t *testing.T) {
	for _, store := range []func(t *testing.T) string{
		func(t *testing.T) string { return tmpfs(t, "64m") },
		func(t *testing.T) string { return t.TempDir() },
	} {
		tree := t.TempDir()
		s, err := Open(filepath.Join(store(t), "conflicts"), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		content := sparseFile(t, filepath.Join(tree, "f"), 9<<20+3, true)
		rec, err := saveAt(t, s, tree, "f", item("f"))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Hash != blake3.Sum256(content) || rec.Size != int64(len(content)) {
			t.Fatalf("record %d bytes %x, want %d %x", rec.Size, rec.Hash, len(content), blake3.Sum256(content))
		}
		if kept, err := os.ReadFile(rec.KeptAt); err != nil || blake3.Sum256(kept) != rec.Hash {
			t.Fatalf("kept bytes differ (%v)", err)
		}
	}
}

func TestLimits(t *testing.T) {
	tree := t.TempDir()
	content := make([]byte, 256<<10)
	for i := range content {
		content[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(tree, "f"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("bytes", func(t *testing.T) {
		s, err := Open(filepath.Join(tmpfs(t, "16m"), "c"), Limits{MaxBytes: 600 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range 2 {
			if _, err := saveAt(t, s, tree, "f", item("f")); err != nil {
				t.Fatal(err)
			}
		}
		_, err = saveAt(t, s, tree, "f", item("f"))
		var full *FullError
		if !errors.As(err, &full) || !errors.Is(err, ErrFull) || full.Path != "f" ||
			!strings.Contains(err.Error(), "conflicts.max_bytes") || !strings.Contains(err.Error(), "prune") {
			t.Fatalf("third save: %v, want a FullError naming max_bytes and prune", err)
		}
		names, _ := s.names()
		if len(names) != 2 {
			t.Fatalf("store holds %v after the refusal, want the 2 records only", names)
		}
	})
	t.Run("files", func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "c"), Limits{MaxFiles: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		old := item("f")
		old.Time = time.Now().Add(-48 * time.Hour)
		if _, err := saveAt(t, s, tree, "f", old); err != nil {
			t.Fatal(err)
		}
		if _, err := saveAt(t, s, tree, "f", item("f")); err != nil {
			t.Fatal(err)
		}
		if _, err := saveAt(t, s, tree, "f", item("f")); !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "conflicts.max_files") {
			t.Fatalf("third save: %v, want ErrFull naming max_files", err)
		}
		if p, err := s.Prune(context.Background(), time.Now().Add(-24*time.Hour), false); err != nil || len(p) != 1 {
			t.Fatalf("prune: %v, %v", p, err)
		}
		if _, err := saveAt(t, s, tree, "f", item("f")); err != nil {
			t.Fatalf("save after prune: %v", err)
		}
	})
	t.Run("percent", func(t *testing.T) {
		dir := tmpfs(t, "4m")
		s, err := Open(filepath.Join(dir, "c"), Limits{}) // 10 % of 4 MiB
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if u, err := s.Usage(); err != nil || u.MaxBytes < 400<<10 || u.MaxBytes > 420<<10 || u.MaxFiles != DefaultMaxFiles {
			t.Fatalf("usage %+v, %v: want 10%% of 4 MiB and %d files", u, err, DefaultMaxFiles)
		}
		if _, err := saveAt(t, s, tree, "f", item("f")); err != nil {
			t.Fatal(err)
		}
		if _, err := saveAt(t, s, tree, "f", item("f")); !errors.Is(err, ErrFull) {
			t.Fatalf("second 256 KiB save into a 410 KiB limit: %v, want ErrFull", err)
		}
	})
}

func TestPrune(t *testing.T) {
	s := openStore(t)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var ids []ID
	for _, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, time.Hour, 0} {
		it := item("f")
		it.Time = now.Add(-age)
		r, err := saveAt(t, s, tree, "f", it)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	before, _ := s.Usage()
	cutoff := now.Add(-24 * time.Hour)
	dry, err := s.Prune(context.Background(), cutoff, true)
	if err != nil || len(dry) != 2 || dry[0].Record.ID != ids[0] || dry[1].Record.ID != ids[1] {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if list, _ := s.List(); len(list) != 4 {
		t.Fatalf("dry run removed records: %d left", len(list))
	}
	pruned, err := s.Prune(context.Background(), cutoff, false)
	if err != nil || len(pruned) != 2 {
		t.Fatalf("prune: %+v, %v", pruned, err)
	}
	list, _ := s.List()
	if len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[3] {
		t.Fatalf("left %+v, want the two younger records", list)
	}
	after, _ := s.Usage()
	if after.Files != 2 || after.Bytes != before.Bytes-pruned[0].Bytes-pruned[1].Bytes {
		t.Fatalf("usage %+v after pruning %+v from %+v", after, pruned, before)
	}
	names, _ := s.names()
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix) {
			t.Fatalf("prune left %s", n)
		}
	}
}

func TestOpenInFolder(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 10, time.UTC)
	if err := os.Chtimes(root, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	s, err := OpenInFolder(root, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(root); err != nil || !fi.ModTime().Equal(mtime) {
		t.Fatalf("making the store changed the root's mtime to %v (%v)", fi.ModTime(), err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, FolderStoreName), &st); err != nil || st.Mode&0o7777 != 0o700 {
		t.Fatalf("store mode %o, %v; want 0700", st.Mode&0o7777, err)
	}
	// Planted by a local user who can write the folder root.
	for _, plant := range []func(p string) error{
		func(p string) error { return os.Symlink(t.TempDir(), p) },
		func(p string) error { return os.Mkdir(p, 0o755) },
		func(p string) error { return os.WriteFile(p, nil, 0o600) },
	} {
		root := t.TempDir()
		if err := plant(filepath.Join(root, FolderStoreName)); err != nil {
			t.Fatal(err)
		}
		if s, err := OpenInFolder(root, Limits{}); err == nil {
			s.Close()
			t.Fatalf("opened a planted %s", FolderStoreName)
		}
	}
}
