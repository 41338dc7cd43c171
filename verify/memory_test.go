package verify

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// genSource yields a synthetic tree in walk order without holding it:
// dirs × subs directories of files entries each ("d0001/s002/f003.txt").
// Every file whose number (from 0) is in flip gets another file id.
type genSource struct {
	dirs, subs, files int
	i, j, k           int // next position; j == -1: the dir itself, k == -1: the sub
	flip              map[int]bool
	files0            int // files yielded so far
}

func newGen(dirs, subs, files int, flip map[int]bool) *genSource {
	return &genSource{dirs: dirs, subs: subs, files: files, j: -1, k: -1, flip: flip}
}

func (g *genSource) Next(context.Context) (Entry, error) {
	if g.i == g.dirs {
		return Entry{}, io.EOF
	}
	var e Entry
	switch {
	case g.j == -1:
		e = Entry{Path: fmt.Sprintf("d%04d", g.i), Kind: index.KindDir, Mode: 0o755}
		g.j = 0
	case g.k == -1:
		e = Entry{Path: fmt.Sprintf("d%04d/s%03d", g.i, g.j), Kind: index.KindDir, Mode: 0o755}
		g.k = 0
	default:
		e = Entry{Path: fmt.Sprintf("d%04d/s%03d/f%03d.txt", g.i, g.j, g.k), Kind: index.KindFile, Mode: 0o644, Size: 1}
		if g.flip[g.files0] {
			e.FileID = chunker.ID{1}
		}
		g.files0++
		if g.k++; g.k == g.files {
			g.k = -1
			if g.j++; g.j == g.subs {
				g.j = -1
				g.i++
			}
		}
	}
	return e, nil
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMergeMemoryBounded merges two synthetic streams of 1,000,000 files
// (and 10,100 directories) and checks that the live heap does not grow
// with the number of entries: the merge keeps no state per file.
func TestMergeMemoryBounded(t *testing.T) {
	dirs := 100
	if testing.Short() {
		dirs = 20
	}
	flip := map[int]bool{3: true, 500_000: true, 999_999: true}
	prim, local := newGen(dirs, 100, 100, nil), newGen(dirs, 100, 100, flip)
	var diffs []string
	m := NewMerger("data", local, Options{}, func(d Difference) error {
		diffs = append(diffs, d.Path)
		return nil
	})
	ctx := context.Background()
	base := heapInUse()
	var peak uint64
	for n := 0; ; n++ {
		e, err := prim.Next(ctx)
		if err == io.EOF {
			break
		}
		if err := m.Primary(ctx, e); err != nil {
			t.Fatal(err)
		}
		if n%100_000 == 0 {
			peak = max(peak, heapInUse())
		}
	}
	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	want := uint64(dirs*100*100 + dirs*100 + dirs)
	if st.Compared != want {
		t.Errorf("compared %d entries, want %d", st.Compared, want)
	}
	wantDiffs := 3
	if testing.Short() {
		wantDiffs = 1
	}
	if len(diffs) != wantDiffs {
		t.Errorf("differences %q, want %d", diffs, wantDiffs)
	}
	grow := int64(peak) - int64(base)
	t.Logf("%d entries: live heap %d KiB before, at most %d KiB during the merge", st.Compared, base>>10, peak>>10)
	if grow > 1<<20 {
		t.Errorf("live heap grew by %d KiB while merging %d entries: state is kept per entry", grow>>10, st.Compared)
	}
}

// TestWalkerMemoryBounded walks and merges a real tree of 6,000 files
// and checks that the live heap does not grow with the entries walked.
func TestWalkerMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 6,000 files")
	}
	root := t.TempDir()
	makeFlatTree(t, root, 60, 100, 64)
	prim, err := NewWalker(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prim.Close()
	local, err := NewWalker(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	m := NewMerger("data", local, Options{}, func(d Difference) error {
		t.Errorf("difference in a tree with itself: %q %v", d.Path, d.Aspects)
		return nil
	})
	ctx := context.Background()
	var base, peak uint64
	for n := 0; ; n++ {
		e, err := prim.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Primary(ctx, e); err != nil {
			t.Fatal(err)
		}
		switch {
		case n == 500:
			base = heapInUse()
		case n%1000 == 0 && n > 500:
			peak = max(peak, heapInUse())
		}
	}
	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries, %d files read twice: live heap %d KiB early, at most %d KiB later",
		m.Stats().Compared, prim.Files(), base>>10, peak>>10)
	if grow := int64(peak) - int64(base); grow > 512<<10 {
		t.Errorf("live heap grew by %d KiB over the walk", grow>>10)
	}
}

// makeFlatTree creates dirs directories of files files of size bytes.
func makeFlatTree(t testing.TB, root string, dirs, files, size int) int64 {
	t.Helper()
	data := randomBytes(3, size)
	var total int64
	for i := range dirs {
		d := filepath.Join(root, fmt.Sprintf("dir%04d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for j := range files {
			data[0] = byte(j)
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%04d", j)), data, 0o644); err != nil {
				t.Fatal(err)
			}
			total += int64(size)
		}
	}
	return total
}

// sampledTree is the primary's walk over a synthetic source; every
// 100,000 entries it samples the live heap into peak.
type sampledTree struct {
	src  Source
	n    int
	peak *uint64
}

func (t *sampledTree) Next(ctx context.Context) (Entry, error) {
	if t.n++; t.n%100_000 == 0 {
		*t.peak = max(*t.peak, heapInUse())
	}
	return t.src.Next(ctx)
}
func (*sampledTree) Bytes() uint64 { return 0 }
func (*sampledTree) Close() error  { return nil }

// genRemote is a Remote whose tree is a genSource with some files
// flipped; a recheck sees the same tree below its targets.
type genRemote struct {
	dirs int
	flip map[int]bool
}

func (genRemote) Settle(context.Context) (uint64, error) { return 1, nil }

func (r genRemote) Open(_ context.Context, targets []string) (Source, func(), error) {
	return filterSource(newGen(r.dirs, 100, 100, r.flip), targets), func() {}, nil
}

// filterSource yields the entries of src within targets.
func filterSource(src Source, targets []string) Source {
	return sourceFunc(func(ctx context.Context) (Entry, error) {
		for {
			e, err := src.Next(ctx)
			if err != nil {
				return e, err
			}
			for _, t := range targets {
				if Within(e.Path, t) {
					return e, nil
				}
			}
		}
	})
}

type sourceFunc func(context.Context) (Entry, error)

func (f sourceFunc) Next(ctx context.Context) (Entry, error) { return f(ctx) }

// TestRunMemoryBounded runs a whole verify (the full walk, then a recheck
// of what differed) over synthetic trees of 1,000,000 files and checks
// that the live heap does not grow with the number of entries: between
// passes only the differing paths are kept.
func TestRunMemoryBounded(t *testing.T) {
	dirs := 100
	if testing.Short() {
		dirs = 20
	}
	flip := map[int]bool{3: true, 100_000: true, 150_000: true}
	var peak uint64
	base := heapInUse()
	var diffs []string
	res, err := Run(context.Background(), "data", RunOptions{}, genRemote{dirs: dirs, flip: flip},
		func(targets []string) (Tree, error) {
			return &sampledTree{src: filterSource(newGen(dirs, 100, 100, nil), targets), peak: &peak}, nil
		}, func(e Event) error {
			if e.Kind == KindDifference {
				diffs = append(diffs, e.Path)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != len(flip) || res.Passes != 2 || res.Compared != uint64(dirs*100*100+dirs*100+dirs) {
		t.Errorf("differences %q in %d passes over %d entries", diffs, res.Passes, res.Compared)
	}
	grow := int64(peak) - int64(base)
	t.Logf("%d entries compared, %d differences confirmed: live heap %d KiB before, at most %d KiB during the verify",
		res.Compared, len(diffs), base>>10, peak>>10)
	if grow > 1<<20 {
		t.Errorf("live heap grew by %d KiB over a verify of %d entries: state is kept per entry", grow>>10, res.Compared)
	}
}
