package scanner

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

const benchFiles = 10000

// benchTree writes 10,000 small files in 100 directories and indexes them.
func benchTree(b *testing.B, e *env) {
	for i := range benchFiles {
		e.write(fmt.Sprintf("dir%03d/file%05d.php", i/100, i), "<?php echo 1;")
	}
	if r := e.scan(); r.Changed != benchFiles+100 {
		b.Fatalf("initial scan %+v", r)
	}
}

// BenchmarkScanUnchanged measures a full rescan of an unchanged tree: one
// lstat per path and an index comparison, no reads.
func BenchmarkScanUnchanged(b *testing.B) {
	e := newEnv(b)
	benchTree(b, e)
	benchRescan(b, e)
}

// BenchmarkScanUnchangedIndexDB is the same over the real bbolt index.
func BenchmarkScanUnchangedIndexDB(b *testing.B) {
	db, err := index.Open(filepath.Join(b.TempDir(), "index.db"), index.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := newEnv(b)
	e.s.store = IndexStore(db, "bench")
	benchTree(b, e)
	benchRescan(b, e)
}

func benchRescan(b *testing.B, e *env) {
	b.ReportAllocs()
	for b.Loop() {
		if r := e.scan(); r.Walked != benchFiles+100 || r.Hashed != 0 || r.Changed != 0 {
			b.Fatalf("rescan %+v", r)
		}
	}
	b.ReportMetric(float64(b.N*(benchFiles+100))/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkScanNewFiles measures the read path: 64 MiB in 8 files, read
// and chunked with the default sizes by the default two hashers.
func BenchmarkScanNewFiles(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.Chunker = chunker.DefaultConfig() })
	const n, size = 8, 8 << 20
	for i := range n {
		e.write(fmt.Sprintf("media/%d.bin", i), randomData(uint64(i), size))
	}
	b.SetBytes(n * size)
	b.ReportAllocs()
	for b.Loop() {
		e.s.store = newFakeStore()
		if r := e.scan(); r.Hashed != n {
			b.Fatalf("scan %+v", r)
		}
	}
}
