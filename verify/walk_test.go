package verify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

// fileIDOf is the file id of data as the scanner computes it.
func fileIDOf(t testing.TB, data []byte) chunker.ID {
	t.Helper()
	ch, err := chunker.New(bytes.NewReader(data), chunker.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var ids []chunker.ID
	for {
		c, _, err := ch.Next()
		if err == io.EOF {
			return chunker.FileID(ids)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// mkTree creates files (path → content; a trailing "/" makes a directory,
// content "->x" a symlink to x) beneath root, all with one mtime.
func mkTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for _, p := range slices.Sorted(mapKeys(files)) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		c := files[p]
		switch {
		case p[len(p)-1] == '/':
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case len(c) > 2 && c[:2] == "->":
			if err := os.Symlink(c[2:], full); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	setAllTimes(t, root, time.Unix(1_700_000_000, 123456789))
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// setAllTimes sets the mtime of everything beneath root (not following
// symlinks), deepest first so directories keep theirs.
func setAllTimes(t testing.TB, root string, when time.Time) {
	t.Helper()
	var paths []string
	if err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(paths)
	ts := []unix.Timespec{unix.NsecToTimespec(when.UnixNano()), unix.NsecToTimespec(when.UnixNano())}
	for _, p := range paths {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// walkAll lists a whole walk.
func walkAll(t testing.TB, root string, m *ignore.Matcher, paths []string) []Entry {
	t.Helper()
	w, err := NewWalker(root, m, paths)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var out []Entry
	for {
		e, err := w.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func pathsOf(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestWalker(t *testing.T) {
	root := t.TempDir()
	big := string(randomBytes(1, 700<<10)) // several chunks
	mkTree(t, root, map[string]string{
		"a/b":             "ab",
		"a.txt":           "a.txt",
		"a b":             "space",
		"a/c/":            "",
		"a/c/deep/file":   "deep",
		"big.bin":         big,
		"empty":           "",
		"link-dir":        "->a",
		"link-gone":       "->nowhere",
		"app.log":         "ignored by *.log",
		"cache/x":         "ignored directory",
		".ncsync-tmp-123": "reserved",
		"z/.ncsync-y":     "reserved",
	})
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bad-\xff-name"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(root, "a.txt"), 0o4750); err != nil {
		t.Fatal(err)
	}
	m, err := ignore.New([]string{"*.log", "/cache/"})
	if err != nil {
		t.Fatal(err)
	}
	got := walkAll(t, root, m, nil)
	want := []string{".", "a", "a/b", "a/c", "a/c/deep", "a/c/deep/file", "a b", "a.txt", "big.bin", "empty", "link-dir", "link-gone", "z"}
	if p := pathsOf(got); !slices.Equal(p, want) {
		t.Fatalf("walk listed\n %q\nwant\n %q", p, want)
	}
	byPath := map[string]Entry{}
	for _, e := range got {
		if e.Err != "" {
			t.Errorf("%q: %s", e.Path, e.Err)
		}
		byPath[e.Path] = e
	}
	if e := byPath["big.bin"]; e.Kind != index.KindFile || e.Size != int64(len(big)) || e.FileID != fileIDOf(t, []byte(big)) {
		t.Errorf("big.bin: %+v, want size %d and the scanner's file id", e, len(big))
	}
	if e := byPath["empty"]; e.FileID != chunker.FileID(nil) || e.Size != 0 {
		t.Errorf("empty: %+v", e)
	}
	if e := byPath["a.txt"]; e.Mode != 0o4750 || e.MtimeNs != 1_700_000_000_123456789 {
		t.Errorf("a.txt: mode %#o mtime %d", e.Mode, e.MtimeNs)
	}
	if e := byPath["link-dir"]; e.Kind != index.KindSymlink || e.Target != "a" || e.FileID != (chunker.ID{}) {
		t.Errorf("link-dir: %+v", e)
	}
	if e := byPath["a/c"]; e.Kind != index.KindDir || e.Size != 0 || e.Mode != 0o755 {
		t.Errorf("a/c: %+v", e)
	}
	st, err := os.Stat(filepath.Join(root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if e := byPath["a"]; e.MtimeNs != st.ModTime().UnixNano() {
		t.Errorf("a: mtime %d, stat says %d", e.MtimeNs, st.ModTime().UnixNano())
	}
}

func TestWalkerTargets(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, map[string]string{
		"a/b/c":   "c",
		"a/b/d":   "d",
		"a/b.txt": "b",
		"a/x":     "x",
		"l":       "->a",
		"cache/y": "y",
		"f":       "f",
	})
	m, err := ignore.New([]string{"/cache/"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		paths, want []string
	}{
		{[]string{"a/b.txt", "a/b"}, []string{"a/b", "a/b/c", "a/b/d", "a/b.txt"}},
		{[]string{"a/b/c", "a/b"}, []string{"a/b", "a/b/c", "a/b/d"}},
		{[]string{"a/missing", "f"}, []string{"f"}},
		{[]string{"l/b"}, nil},         // not through a symlink
		{[]string{"f/x"}, nil},         // parent is a file
		{[]string{"cache/y"}, nil},     // parent ignored
		{[]string{"cache"}, nil},       // ignored itself
		{[]string{"l"}, []string{"l"}}, // the symlink itself
	}
	for _, tc := range cases {
		if got := pathsOf(walkAll(t, root, m, tc.paths)); !slices.Equal(got, tc.want) {
			t.Errorf("paths %q: listed %q, want %q", tc.paths, got, tc.want)
		}
	}
	if _, err := NewWalker(root, m, []string{"../etc"}); !errors.Is(err, ErrBadPath) {
		t.Errorf("target ../etc: %v, want ErrBadPath", err)
	}
	if _, err := NewWalker(filepath.Join(root, "nope"), m, nil); err == nil {
		t.Error("a missing root: no error")
	}
}

// TestWalkerCancel: a cancelled walk stops with the context's error.
func TestWalkerCancel(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, map[string]string{"a": "a"})
	w, err := NewWalker(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
}

// TestVerifyTrees: two equal trees walked and merged have no difference;
// a flipped byte (same size and mtime), a chmod, a deletion and an extra
// file are exactly the four reported.
func TestVerifyTrees(t *testing.T) {
	files := map[string]string{
		"docs/a.txt":     "alpha",
		"docs/b.txt":     "bravo",
		"docs/c.txt":     "charlie",
		"docs/sub/d.bin": string(randomBytes(2, 300<<10)),
		"e.txt":          "echo",
		"link":           "->docs",
	}
	prim, sec := t.TempDir(), t.TempDir()
	mkTree(t, prim, files)
	mkTree(t, sec, files)
	if got := mergeTrees(t, prim, sec); len(got) != 0 {
		t.Fatalf("equal trees differ: %q", got)
	}

	keepTimes := func(p string, change func()) {
		t.Helper()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		change()
		if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(sec, "docs/sub/d.bin")
	keepTimes(bin, func() {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		data[200<<10] ^= 0x01
		if err := os.WriteFile(bin, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.Chmod(filepath.Join(sec, "docs/b.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	keepTimes(filepath.Join(sec, "docs"), func() {
		if err := os.Remove(filepath.Join(sec, "docs/c.txt")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sec, "docs/extra.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	want := []string{"docs/b.txt mode", "docs/c.txt missing", "docs/extra.txt extra", "docs/sub/d.bin content"}
	if got := mergeTrees(t, prim, sec); !slices.Equal(got, want) {
		t.Fatalf("differences\n got %q\nwant %q", got, want)
	}
}

func mergeTrees(t *testing.T, prim, sec string) []string {
	t.Helper()
	local, err := NewWalker(sec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var got []string
	m := NewMerger("data", local, Options{}, func(d Difference) error {
		got = append(got, d.Path+" "+d.Aspects.String())
		return nil
	})
	ctx := context.Background()
	for _, e := range walkAll(t, prim, nil, nil) {
		if err := m.Primary(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	return got
}
