package scanner

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// testChunker makes small chunks so that a few KiB span several.
var testChunker = chunker.Config{Min: 256, Avg: 1024, Max: 4096}

var testVersion = index.Version{Epoch: 3, Node: "nfs1"}

type env struct {
	t     testing.TB
	root  string
	store *fakeStore
	s     *Scanner
	logs  *syncBuffer
}

// newEnv makes a scanner over a fresh temp dir and fake store. The racy
// window is off (tests that need it turn it on) and retries are quick.
func newEnv(t testing.TB, mod ...func(*Options)) *env {
	t.Helper()
	root := t.TempDir()
	store := newFakeStore()
	logs := &syncBuffer{}
	opts := Options{
		Root:    root,
		Folder:  "test",
		Chunker: testChunker,
		Version: func() index.Version { return testVersion },
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.racy = 0
	s.retryDelay = time.Millisecond
	return &env{t: t, root: root, store: store, s: s, logs: logs}
}

// scan scans paths and fails the test on error. Its Changed leaves out
// the root's own entry (index.RootPath), which moves with every name
// created or removed at the top: the tests of other paths count only
// those (TestRootMetadata checks the root's).
func (e *env) scan(paths ...string) Result {
	e.t.Helper()
	roots := e.store.rootsLen()
	r, err := e.s.Scan(context.Background(), paths...)
	if err != nil {
		e.t.Fatalf("Scan(%q): %v", paths, err)
	}
	r.Changed -= e.store.rootsLen() - roots
	return r
}

func (e *env) abs(rel string) string { return filepath.Join(e.root, filepath.FromSlash(rel)) }

func (e *env) write(rel, data string) {
	e.t.Helper()
	p := e.abs(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) mkdir(rel string) {
	e.t.Helper()
	if err := os.MkdirAll(e.abs(rel), 0o755); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) symlink(target, rel string) {
	e.t.Helper()
	if err := os.Symlink(target, e.abs(rel)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(rel string) {
	e.t.Helper()
	if err := os.RemoveAll(e.abs(rel)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) lstat(rel string) *syscall.Stat_t {
	e.t.Helper()
	fi, err := os.Lstat(e.abs(rel))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// entry returns rel's live entry or fails.
func (e *env) entry(rel string) index.Entry {
	e.t.Helper()
	en, ok := e.store.get(rel)
	if !ok || en.Deleted {
		e.t.Fatalf("no live entry for %q", rel)
	}
	return en
}

// chunksOf is what the scanner must record for data.
func chunksOf(t testing.TB, data []byte) (chunker.ID, []index.ChunkRef) {
	t.Helper()
	c, err := chunker.New(bytes.NewReader(data), testChunker)
	if err != nil {
		t.Fatal(err)
	}
	var ids []chunker.ID
	var refs []index.ChunkRef
	for {
		ch, _, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
		refs = append(refs, index.ChunkRef{ID: ch.ID, Size: uint32(ch.Length)})
	}
	return chunker.FileID(ids), refs
}

func randomData(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// tick waits out the coarse kernel clock so that the next change gets a
// new ctime and mtime.
func tick() { time.Sleep(20 * time.Millisecond) }

func paths(es []index.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Path
		if e.Deleted {
			out[i] = "-" + e.Path
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) contains(parts ...string) bool {
	for _, line := range strings.Split(b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
