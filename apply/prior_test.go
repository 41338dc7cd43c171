package apply

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// priorSource serves chunks from memory like memSource, with readers that
// know the previous version of each path (PriorReader) and count what
// Apply asked of them.
type priorSource struct {
	*memSource
	prev    map[string]index.Entry // the previous version of each path
	stat    map[string]index.Stat  // the stat recorded with it
	read    int                    // chunks yielded by Next
	skipped int                    // chunks passed over by Skip
}

func newPriorSource() *priorSource {
	return &priorSource{memSource: newSource(), prev: map[string]index.Entry{}, stat: map[string]index.Stat{}}
}

func (s *priorSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	rd, err := s.memSource.Chunks(ctx, e)
	if err != nil {
		return nil, err
	}
	return &priorReader{memReader: rd.(*memReader), s: s, e: e}, nil
}

type priorReader struct {
	*memReader
	s *priorSource
	e index.Entry
}

func (r *priorReader) Next() ([]byte, error) {
	r.s.read++
	return r.memReader.Next()
}

func (r *priorReader) Prior() (index.Stat, []int64) {
	prev := r.s.prev[r.e.Path]
	at := map[chunker.ID]int64{}
	var off int64
	for _, ref := range prev.Chunks {
		at[ref.ID] = off
		off += int64(ref.Size)
	}
	offs := make([]int64, len(r.e.Chunks))
	for k, ref := range r.e.Chunks {
		offs[k] = -1
		if o, ok := at[ref.ID]; ok {
			offs[k] = o
		}
	}
	return r.s.stat[r.e.Path], offs
}

func (r *priorReader) Skip(n int) error {
	r.s.skipped += n
	r.i += n
	return nil
}

// applyPrior applies e with src as the reader of its chunks, telling Apply
// that written is what ncsync last wrote at its path, and records the
// result as the path's previous version.
func applyPrior(t testing.TB, f *Folder, src *priorSource, written index.Stat, e index.Entry) Result {
	t.Helper()
	res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{LastWritten: []index.Stat{written}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil {
		src.prev[e.Path], src.stat[e.Path] = e, res[0].Stat
	}
	return res[0]
}

// edits are the changes of a large file the tests and benchmarks make.
var edits = []struct {
	name string
	edit func(old []byte) []byte
}{
	{"in-place", func(old []byte) []byte {
		b := bytes.Clone(old)
		copy(b[len(b)/2:], content(99, 4096))
		return b
	}},
	{"insert-front", func(old []byte) []byte { return append(content(98, 100), old...) }},
	{"append", func(old []byte) []byte { return append(bytes.Clone(old), content(97, 64<<10)...) }},
	{"truncate", func(old []byte) []byte { return bytes.Clone(old[:len(old)*3/4]) }},
}

// chunksIn counts the chunks of e that prev holds.
func chunksIn(e, prev index.Entry) int {
	in := map[chunker.ID]bool{}
	for _, ref := range prev.Chunks {
		in[ref.ID] = true
	}
	n := 0
	for _, ref := range e.Chunks {
		if in[ref.ID] {
			n++
		}
	}
	return n
}

// A large file edited on the primary is built from its previous version,
// which ncsync wrote and nobody changed: the chunks it holds are copied by
// the kernel, never read or hashed, and only the others are read.
func TestPriorEdits(t *testing.T) {
	old := content(1, 3<<20)
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			f, root := openTest(t, Options{}, false)
			src := newPriorSource()
			e1 := fileEntry(t, src.memSource, "d/big", old, 0o644)
			if r := applyPrior(t, f, src, index.Stat{}, e1); r.Err != nil {
				t.Fatal(r.Err)
			}
			src.read = 0
			want := tc.edit(old)
			e2 := fileEntry(t, src.memSource, "d/big", want, 0o640)
			r := applyPrior(t, f, src, src.stat["d/big"], e2)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if got := readFile(t, filepath.Join(root, "d/big")); !bytes.Equal(got, want) {
				t.Fatalf("content differs: %d bytes, want %d", len(got), len(want))
			}
			checkMeta(t, filepath.Join(root, "d/big"), 0o640, mtime)
			reused := chunksIn(e2, e1)
			if src.skipped != reused || src.read != len(e2.Chunks)-reused {
				t.Errorf("copied %d chunks and read %d; want %d copied, %d read", src.skipped, src.read, reused, len(e2.Chunks)-reused)
			}
			if reused == 0 || src.read > len(e2.Chunks)/10 {
				t.Errorf("%d of %d chunks reused, %d read", reused, len(e2.Chunks), src.read)
			}
			noTemps(t, root)
		})
	}
}

// The previous version is trusted only while it has the stat recorded
// when ncsync wrote it: a file changed here since (same size, new bytes)
// has all its chunks read through the reader, verified, and the local
// version is kept in the conflict store as before.
func TestPriorChangedLocally(t *testing.T) {
	k := newKeeper()
	f, root := openTest(t, Options{Local: k}, false)
	src := newPriorSource()
	old := content(1, 3<<20)
	e1 := fileEntry(t, src.memSource, "big", old, 0o644)
	if r := applyPrior(t, f, src, index.Stat{}, e1); r.Err != nil {
		t.Fatal(r.Err)
	}
	local := bytes.Clone(old)
	copy(local[1<<20:], "changed here")
	fh, err := os.OpenFile(filepath.Join(root, "big"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(local[1<<20:1<<20+12], 1<<20); err != nil {
		t.Fatal(err)
	}
	fh.Close()

	src.read = 0
	want := edits[0].edit(old)
	e2 := fileEntry(t, src.memSource, "big", want, 0o644)
	if r := applyPrior(t, f, src, src.stat["big"], e2); r.Err != nil {
		t.Fatal(r.Err)
	}
	if src.skipped != 0 || src.read != len(e2.Chunks) {
		t.Errorf("copied %d chunks from a file changed here, read %d of %d", src.skipped, src.read, len(e2.Chunks))
	}
	if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
	if len(k.kept) != 1 || k.kept[0].data != string(local) {
		t.Fatalf("kept %d versions, want the local one", len(k.kept))
	}
}

// Offsets that belong to another version than the one recorded as last
// written (the index moved between the two reads) are not trusted.
func TestPriorStaleOffsets(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newPriorSource()
	old := content(1, 3<<20)
	e1 := fileEntry(t, src.memSource, "big", old, 0o644)
	if r := applyPrior(t, f, src, index.Stat{}, e1); r.Err != nil {
		t.Fatal(r.Err)
	}
	written := src.stat["big"]
	stale := written
	stale.CtimeNs--
	src.stat["big"] = stale
	src.read = 0
	want := edits[1].edit(old)
	e2 := fileEntry(t, src.memSource, "big", want, 0o644)
	if r := applyPrior(t, f, src, written, e2); r.Err != nil {
		t.Fatal(r.Err)
	}
	if src.skipped != 0 || src.read != len(e2.Chunks) {
		t.Errorf("copied %d chunks with offsets of another version", src.skipped)
	}
	if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
}
