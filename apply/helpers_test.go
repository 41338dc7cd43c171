package apply

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// testCfg cuts small test files into several chunks.
var testCfg = chunker.Config{Min: 64, Avg: 256, Max: 1024}

// mtime is a fixed test mtime with nanoseconds.
const mtime int64 = 1_700_000_000_123_456_789

// memSource serves chunks from memory, by file id.
type memSource struct {
	chunks map[chunker.ID][][]byte
	// failAt, if set for a path, makes its reader fail with failErr at that
	// chunk index.
	failAt  map[string]int
	failErr error
	calls   int
}

func newSource() *memSource {
	return &memSource{chunks: make(map[chunker.ID][][]byte), failAt: make(map[string]int)}
}

func (s *memSource) Chunks(_ context.Context, e index.Entry) (ChunkReader, error) {
	s.calls++
	c, ok := s.chunks[e.FileID]
	if !ok {
		return nil, errors.New("no chunks for " + e.Path)
	}
	at, fail := s.failAt[e.Path]
	if !fail {
		at = -1
	}
	return &memReader{chunks: c, failAt: at, failErr: s.failErr}, nil
}

type memReader struct {
	chunks  [][]byte
	i       int
	failAt  int
	failErr error
	closed  bool
}

func (r *memReader) Next() ([]byte, error) {
	if r.i == r.failAt {
		return nil, r.failErr
	}
	if r.i >= len(r.chunks) {
		return nil, io.EOF
	}
	r.i++
	return r.chunks[r.i-1], nil
}

func (r *memReader) Close() error { r.closed = true; return nil }

// fileEntry returns a file entry for data, adding its chunks to src.
func fileEntry(t testing.TB, src *memSource, p string, data []byte, mode uint32) index.Entry {
	t.Helper()
	return fileEntryCut(t, src, p, data, mode, testCfg)
}

// fileEntryCut is fileEntry with chunks cut by cfg.
func fileEntryCut(t testing.TB, src *memSource, p string, data []byte, mode uint32, cfg chunker.Config) index.Entry {
	t.Helper()
	ck, err := chunker.New(bytes.NewReader(data), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := index.Entry{Path: p, Kind: index.KindFile, Mode: mode, MtimeNs: mtime, Size: int64(len(data))}
	var ids []chunker.ID
	var chunks [][]byte
	for {
		c, b, err := ck.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Chunks = append(e.Chunks, index.ChunkRef{ID: c.ID, Size: uint32(c.Length)})
		ids = append(ids, c.ID)
		chunks = append(chunks, bytes.Clone(b))
	}
	e.FileID = chunker.FileID(ids)
	src.chunks[e.FileID] = chunks
	return e
}

func dirEntry(p string, mode uint32) index.Entry {
	return index.Entry{Path: p, Kind: index.KindDir, Mode: mode, MtimeNs: mtime}
}

func symlinkEntry(p, target string) index.Entry {
	return index.Entry{Path: p, Kind: index.KindSymlink, Mode: 0o777, MtimeNs: mtime, Target: target}
}

func tombstone(p string, k index.Kind) index.Entry {
	return index.Entry{Path: p, Kind: k, Deleted: true}
}

// content returns n bytes that differ with seed.
func content(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// openTest opens a fresh folder in a temp dir. walk forces the
// component-by-component resolver instead of openat2 (for the whole
// process, until the test ends).
func openTest(t testing.TB, opts Options, walk bool) (*Folder, string) {
	t.Helper()
	if walk {
		was := fsys.UseOpenat2(false)
		t.Cleanup(func() { fsys.UseOpenat2(was) })
	}
	root := t.TempDir()
	f, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, root
}

// resolvers runs fn once with openat2 and once with the walk.
func resolvers(t *testing.T, fn func(t *testing.T, walk bool)) {
	t.Run("openat2", func(t *testing.T) { fn(t, false) })
	t.Run("walk", func(t *testing.T) { fn(t, true) })
}

// mustApply applies entries and fails the test on any error.
func mustApply(t testing.TB, f *Folder, src ChunkSource, dirs DirMeta, entries ...index.Entry) []Result {
	t.Helper()
	res, err := f.Apply(context.Background(), entries, src, Known{Dirs: dirs})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("entry %d %q: %v", i, entries[i].Path, r.Err)
		}
	}
	return res
}

// lstat returns the stat of name, failing the test if it is missing.
func lstat(t testing.TB, name string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		t.Fatalf("lstat %q: %v", name, err)
	}
	return st
}

// checkMeta asserts mode (permission bits) and mtime of name.
func checkMeta(t testing.TB, name string, mode uint32, mtimeNs int64) {
	t.Helper()
	st := lstat(t, name)
	if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&0o7777 != mode {
		t.Errorf("%s: mode %#o, want %#o", name, st.Mode&0o7777, mode)
	}
	if got := st.Mtim.Nano(); got != mtimeNs {
		t.Errorf("%s: mtime %d, want %d", name, got, mtimeNs)
	}
}

// noTemps asserts that no temp file is left beneath dir.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temp left: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readFile returns the content of name or fails the test.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isEmptyDir asserts that dir holds nothing.
func isEmptyDir(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != tempDirName {
			t.Errorf("%s: unexpected %q outside the root", dir, e.Name())
		}
	}
}
