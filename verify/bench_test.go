package verify

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// walkTree walks root once and returns the entries listed.
func walkTree(b *testing.B, root string) int {
	w, err := NewWalker(root, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	n := 0
	for {
		e, err := w.Next(context.Background())
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		if e.Err != "" {
			b.Fatalf("%q: %s", e.Path, e.Err)
		}
		n++
	}
}

// BenchmarkWalkSmallFiles walks 2,000 files of 4 KiB (page cache warm):
// the per-file cost of listing, stat, open and hashing.
func BenchmarkWalkSmallFiles(b *testing.B) {
	root := b.TempDir()
	total := makeFlatTree(b, root, 20, 100, 4<<10)
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	var entries int
	for b.Loop() {
		entries = walkTree(b, root)
	}
	b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkWalkLargeFile reads one 64 MiB file (page cache warm): the
// chunking and hashing throughput.
func BenchmarkWalkLargeFile(b *testing.B) {
	root := b.TempDir()
	data := randomBytes(4, 64<<20)
	if err := os.WriteFile(filepath.Join(root, "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		walkTree(b, root)
	}
}

// BenchmarkMerge merges two synthetic streams of 101,010 entries: the
// merge's own cost per entry (the sources allocate the paths).
func BenchmarkMerge(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	var n uint64
	for b.Loop() {
		prim, local := newGen(10, 100, 100, nil), newGen(10, 100, 100, nil)
		m := NewMerger("data", local, Options{}, func(Difference) error { return nil })
		for {
			e, err := prim.Next(ctx)
			if err == io.EOF {
				break
			}
			if err := m.Primary(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Finish(ctx); err != nil {
			b.Fatal(err)
		}
		n = m.Stats().Compared
	}
	b.ReportMetric(float64(n*uint64(b.N))/b.Elapsed().Seconds(), "entries/s")
}
