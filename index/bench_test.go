package index

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// benchFile is file n of a scan in directory order (100 per directory), of
// chunks 64 KiB chunks with random ids, like a scanner journals them.
func benchFile(r *rand.Rand, n, chunks int) Entry {
	e := Entry{Path: fmt.Sprintf("data/user%03d/files/dir%05d/file-%08d.dat", n/100_000, n/100, n),
		Kind: KindFile, Mode: 0o644, UID: 33, GID: 33, MtimeNs: int64(n) * 1e9, Size: int64(chunks) << 16,
		Stat: Stat{Dev: 1, Ino: uint64(n), Size: int64(chunks) << 16, MtimeNs: int64(n) * 1e9}}
	for range chunks {
		var c ChunkRef
		for i := 0; i < len(c.ID); i += 8 {
			binary.LittleEndian.PutUint64(c.ID[i:], r.Uint64())
		}
		c.Size = 1 << 16
		e.Chunks = append(e.Chunks, c)
	}
	binary.LittleEndian.PutUint64(e.FileID[:], r.Uint64())
	return e
}

// BenchmarkJournal journals 1,000 new files per Update into a growing
// folder: with 0 chunks (entries and journal only), 1 and 4 chunks (random
// chunk map rows: a B-tree write per row), durable or not.
func BenchmarkJournal(b *testing.B) {
	for _, bc := range []struct {
		chunks int
		sync   bool
	}{{0, false}, {1, false}, {4, false}, {4, true}} {
		b.Run(fmt.Sprintf("chunks=%d/sync=%v", bc.chunks, bc.sync), func(b *testing.B) {
			sync := bc.sync
			r := rand.New(rand.NewPCG(1, 2))
			db, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const batch = 1000
			files := make([]Entry, batch)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				for i := range files {
					files[i] = benchFile(r, n, bc.chunks)
					n++
				}
				b.StartTimer()
				if err := journalAll(db, "f", files); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
		})
	}
}

// BenchmarkJournalGrowth journals files of one chunk, as a tree of small
// files has, into a folder growing to 400,000 entries, in Updates of 1,000
// and of 8,000 (a long scan's, see scanner), and reports the index pages
// written per entry over the whole run and over its last quarter. The
// chunk map's random keys
// make each Update rewrite about one leaf page per row plus the branch
// pages above them, so the pages per entry grow with the folder until
// every row of an Update lands in a leaf of its own; larger Updates share
// more of those pages.
func BenchmarkJournalGrowth(b *testing.B) {
	for _, batch := range []int{1000, 8000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			const total = 400_000
			b.StopTimer()
			for range b.N {
				db, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				r := rand.New(rand.NewPCG(1, 2))
				files := make([]Entry, batch)
				var lastQuarter int64
				for n := 0; n < total; n += batch {
					for i := range files {
						files[i] = benchFile(r, n+i, 1)
					}
					if n >= total*3/4 && lastQuarter == 0 {
						st := db.bolt.Stats()
						lastQuarter = st.TxStats.GetWrite()
					}
					b.StartTimer()
					err := db.Update("f", func(tx *Tx) error {
						for _, e := range files {
							if _, err := tx.Journal(e); err != nil {
								return err
							}
						}
						return nil
					})
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
				}
				n := total / batch * batch
				st := db.bolt.Stats()
				w := st.TxStats.GetWrite()
				b.ReportMetric(float64(w)/float64(n), "pages/entry")
				b.ReportMetric(float64(w-lastQuarter)/float64(n-n*3/4), "pages/entry-last-quarter")
				db.Close()
			}
		})
	}
}

// BenchmarkSince reads 1,000 entries per call from a 100k-entry folder.
func BenchmarkSince(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const total, batch = 100_000, 1000
	r := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < total; start += batch {
		err := db.Update("f", func(tx *Tx) error {
			for i := start; i < start+batch; i++ {
				if _, err := tx.Journal(benchFile(r, i, 4)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	after, visited := uint64(0), 0
	b.ReportAllocs()
	for b.Loop() {
		last, err := db.Since("f", after, batch, func(e Entry) error {
			visited++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		after = last % (total - batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(visited), "ns/entry")
}

// BenchmarkJournalSchedule journals 20,000 one-chunk files into a new
// durable index the way a scan of that many new files commits them: 1,000
// per transaction, or starting at 1,000 and doubling up to 8,000 (the
// scanner's schedule). Random chunk ids dirty nearly every page of the
// chunk map in each commit, so fewer, larger commits write less.
func BenchmarkJournalSchedule(b *testing.B) {
	for _, bc := range []struct {
		name     string
		first, n int // first transaction's size and the largest
	}{{"fixed-1000", 1000, 1000}, {"growing-1000-8000", 1000, 8000}} {
		b.Run(bc.name, func(b *testing.B) {
			commits := 0
			for b.Loop() {
				r := rand.New(rand.NewPCG(1, 2))
				db, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				for n, size := 0, bc.first; n < 20_000; size = min(2*size, bc.n) {
					files := make([]Entry, min(size, 20_000-n))
					for i := range files {
						files[i] = benchFile(r, n, 1)
						n++
					}
					if err := journalAll(db, "f", files); err != nil {
						b.Fatal(err)
					}
					commits++
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(commits)/float64(b.N), "commits/op")
		})
	}
}

// journalAll journals files into folder in one transaction.
func journalAll(db *DB, folder string, files []Entry) error {
	return db.Update(folder, func(tx *Tx) error {
		for _, e := range files {
			if _, err := tx.Journal(e); err != nil {
				return err
			}
		}
		return nil
	})
}
