package scanner

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/relpath"
)

func TestBatching(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BatchSize = 7 })
	for i := range 50 {
		e.write(fmt.Sprintf("f%02d", i), "x")
	}
	e.scan()
	// 51 entries (the root too): 7, 14, 28, then the last 2.
	if e.store.maxBatch != 28 || e.store.updates != 4 {
		t.Errorf("%d updates, largest %d: want 4 of at most 28", e.store.updates, e.store.maxBatch)
	}
	for i := range 500 {
		e.write(fmt.Sprintf("g%03d", i), "x")
	}
	e.scan()
	// 501 more: 7, 14, 28, 56, then 56 (8 × 7) each.
	if e.store.maxBatch != 56 {
		t.Errorf("largest update %d entries, want at most 8 × 7 = 56", e.store.maxBatch)
	}
}

// TestParallelReadsLandInWalkOrder: files of very different sizes read by
// four hashers are journaled in depth-first name order, every time.
func TestParallelReadsLandInWalkOrder(t *testing.T) {
	var want []string
	build := func(e *env) {
		want = want[:0]
		for d := range 4 {
			dir := fmt.Sprintf("d%d", d)
			want = append(want, dir)
			for i := range 40 {
				p := fmt.Sprintf("%s/f%02d", dir, i)
				size := 10
				if i%7 == 0 {
					size = 200000 // slow ones among quick ones
				}
				e.write(p, randomData(uint64(d*100+i), size))
				want = append(want, p)
			}
		}
	}
	for range 2 {
		e := newEnv(t, func(o *Options) { o.Hashers = 4 })
		build(e)
		e.scan()
		if got := paths(e.store.journalFrom(0)); !slices.Equal(got, want) {
			t.Fatalf("journal order %q\nwant %q", got, want)
		}
	}
}

// TestCacheLimit: with a lister cache too small for any subtree the scan
// journals exactly the same, and with the default it walks the index once.
func TestCacheLimit(t *testing.T) {
	build := func(e *env) {
		for _, p := range []string{"a/b/c/1", "a/b/c/2", "a/b/d", "a/e", "f", "g/h/i/j/k"} {
			e.write(p, p)
		}
	}
	change := func(e *env) {
		tick()
		e.remove("a/b/c")
		e.write("a/b/new", "n")
		e.write("g/h/i/j/k", "changed")
	}
	run := func(limit int) ([]string, int) {
		e := newEnv(t)
		e.s.cacheLimit = limit
		build(e)
		e.scan()
		change(e)
		walks := e.store.walks
		e.scan()
		return paths(e.store.journalFrom(0)), e.store.walks - walks
	}
	small, _ := run(1)
	big, walks := run(defaultCacheLimit)
	if !slices.Equal(small, big) {
		t.Fatalf("limit 1: %q\ndefault: %q", small, big)
	}
	if walks != 1 {
		t.Errorf("%d index walks for the whole scan, want 1", walks)
	}
}

func TestScanTargets(t *testing.T) {
	e := newEnv(t)
	e.write("x/old", "o")
	e.write("x/gone", "g")
	e.write("other/untouched", "u")
	e.scan()
	n := e.store.journalLen()

	tick()
	e.write("a/b/c/new.txt", "new") // new parents, not reported themselves
	e.remove("x/gone")
	e.write("other/changed-but-not-asked", "!")
	r := e.scan("a/b/c/new.txt", "x/gone", "a/b/c/new.txt")
	// x is journaled too: removing x/gone changed its mtime.
	want := []string{"a", "a/b", "a/b/c", "a/b/c/new.txt", "x", "-x/gone"}
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
	if r.Walked != 5 {
		t.Errorf("walked %d, want 5", r.Walked)
	}

	// A target whose parent became a file: the parent is handled.
	n = e.store.journalLen()
	e.remove("a/b")
	e.write("a/b", "now a file")
	e.scan("a/b/c/new.txt")
	want = []string{"a", "-a/b/c/new.txt", "-a/b/c", "a/b"}
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}

	// A target whose parent vanished: the parent is tombstoned.
	n = e.store.journalLen()
	e.remove("x")
	e.scan("x/old")
	want = []string{"-x/old", "-x"}
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

func TestScanTargetIgnored(t *testing.T) {
	m, err := ignore.New([]string{"/*/uploads/"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Ignore = m })
	e.write("alice/uploads/t1/0001", "chunk")
	r := e.scan("alice/uploads/t1/0001")
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, []string{"alice"}) || r.Changed != 1 {
		t.Fatalf("journal %q", got)
	}
}

func TestScanInvalidTargets(t *testing.T) {
	e := newEnv(t)
	// "." is index.RootPath: the root's own metadata (TestRootMetadata).
	for _, p := range []string{"/abs", "../up", "a/../b", "a//b", "a/", "..", "./a", "bad\xff", "nul\x00"} {
		if _, err := e.s.Scan(t.Context(), p); !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("Scan(%q) error %v", p, err)
		}
	}
}

func TestTargetsOf(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{nil, []string{""}},
		{[]string{""}, []string{""}},
		{[]string{"a", "", "b"}, []string{""}},
		{[]string{"a/b", "a", "a b", "a/c/d", "a-b"}, []string{"a", "a b", "a-b"}},
		{[]string{"x/y", "x/y", "x/z"}, []string{"x/y", "x/z"}},
		{[]string{"a b/c", "a", "a/b"}, []string{"a", "a b/c"}},
	}
	for _, c := range cases {
		got, err := targetsOf(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("targetsOf(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzTargets: targetsOf never panics, accepts only clean relative paths,
// and keeps no target inside another.
func FuzzTargets(f *testing.F) {
	f.Add("a/b\na\na b\na-b")
	f.Add("/abs\nx")
	f.Add("\n")
	f.Add("a/../b")
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, "\n")
		got, err := targetsOf(in)
		if err != nil {
			return
		}
		for i, p := range got {
			if p != "" && relpath.Check(p) != nil {
				t.Fatalf("invalid target %q kept", p)
			}
			for j, q := range got {
				if i != j && (q == "" || p == q || strings.HasPrefix(p, q+"/")) {
					t.Fatalf("%q kept inside %q", p, q)
				}
			}
		}
		for _, p := range in { // every input is covered by some target
			covered := false
			for _, q := range got {
				covered = covered || q == "" || p == q || strings.HasPrefix(p, q+"/")
			}
			if !covered {
				t.Fatalf("%q dropped", p)
			}
		}
	})
}

func TestNewValidates(t *testing.T) {
	ok := Options{Root: "/tmp", Version: func() index.Version { return index.Version{} }}
	cases := map[string]func(o *Options){
		"relative root": func(o *Options) { o.Root = "data" },
		"bad chunker":   func(o *Options) { o.Chunker = chunker.Config{Min: 10, Avg: 20, Max: 30} },
		"no version":    func(o *Options) { o.Version = nil },
	}
	for name, mod := range cases {
		o := ok
		mod(&o)
		if _, err := New(newFakeStore(), o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(nil, ok); err == nil {
		t.Error("nil store accepted")
	}
	s, err := New(newFakeStore(), ok)
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.BatchSize != DefaultBatchSize || s.opts.Hashers != DefaultHashers || s.opts.Chunker != chunker.DefaultConfig() {
		t.Errorf("defaults not applied: %+v", s.opts)
	}
}

func TestMissingRootFails(t *testing.T) {
	e := newEnv(t)
	e.write("f", "x")
	e.scan()
	if err := os.RemoveAll(e.root); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Scan(t.Context()); err == nil {
		t.Fatal("scan of a missing root succeeded")
	}
	if en, _ := e.store.get("f"); en.Deleted {
		t.Fatal("a missing root deleted the tree")
	}
}
