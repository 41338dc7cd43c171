package apply

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/index"
)

// resumeReader is a memReader that records SkipTo and counts the chunks
// handed out.
type resumeReader struct {
	memReader
	skipped int
	served  *int
}

func (r *resumeReader) SkipTo(k int) error {
	r.skipped, r.i = k, k
	return nil
}

func (r *resumeReader) Next() ([]byte, error) {
	b, err := r.memReader.Next()
	if err == nil {
		*r.served++
	}
	return b, err
}

// resumeSource serves memSource's chunks through resumeReaders.
type resumeSource struct {
	*memSource
	served  int
	skipped []int
}

func (s *resumeSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	rd, err := s.memSource.Chunks(ctx, e)
	if err != nil {
		return nil, err
	}
	r := &resumeReader{memReader: *rd.(*memReader), served: &s.served}
	s.skipped = append(s.skipped, -1)
	i := len(s.skipped) - 1
	return &skipRecorder{resumeReader: r, note: func(k int) { s.skipped[i] = k }}, nil
}

type skipRecorder struct {
	*resumeReader
	note func(int)
}

func (r *skipRecorder) SkipTo(k int) error {
	r.note(k)
	return r.resumeReader.SkipTo(k)
}

// A large file whose chunks stop coming keeps its temp file; the next
// attempt continues it and asks only for the chunks after the ones it
// holds, also after the folder is opened again (a restart).
func TestKeptTempFileResumes(t *testing.T) {
	resolvers(t, func(t *testing.T, walk bool) {
		f, root := openTest(t, Options{}, walk)
		src := newSource()
		data := content(7, 3*maxSmallFile)
		e := fileEntry(t, src, "big", data, 0o644)
		n := len(e.Chunks)
		cut := n / 2
		src.failAt["big"] = cut
		src.failErr = errors.New("stream broken")
		res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{})
		if err != nil || res[0].Err == nil {
			t.Fatalf("first attempt: err %v, result %v; want the entry to fail", err, res[0].Err)
		}
		kept := filepath.Join(root, tempDirName, partialName(&e))
		if st, err := os.Stat(kept); err != nil {
			t.Fatalf("temp file not kept: %v", err)
		} else if st.Size() == 0 {
			t.Fatal("kept temp file is empty")
		}
		if _, err := os.Stat(filepath.Join(root, "big")); !os.IsNotExist(err) {
			t.Fatalf("target exists after a failed attempt: %v", err)
		}

		// A restart: Open keeps it and finds it again.
		f.Close()
		f2, err := Open(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer f2.Close()
		if got := f2.Resumable(e); got != cut {
			t.Fatalf("Resumable = %d, want %d", got, cut)
		}
		delete(src.failAt, "big")
		rs := &resumeSource{memSource: src}
		mustApply(t, f2, rs, nil, e)
		if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, data) {
			t.Fatal("resumed file differs from the data")
		}
		if rs.skipped[0] != cut || rs.served != n-cut {
			t.Fatalf("skipped to %d and served %d chunks; want %d and %d", rs.skipped[0], rs.served, cut, n-cut)
		}
		noTemps(t, root)
		if f2.KeptFiles() != 0 {
			t.Fatalf("%d kept temp files still known after the commit", f2.KeptFiles())
		}
	})
}

// What a kept temp file holds is verified again: a damaged chunk (data
// lost in a crash) and everything after it is written again.
func TestKeptTempFileVerifiedAgain(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	data := content(9, 3*maxSmallFile)
	e := fileEntry(t, src, "big", data, 0o600)
	src.failAt["big"] = len(e.Chunks) - 2
	src.failErr = errors.New("stream broken")
	if res, _ := f.Apply(context.Background(), []index.Entry{e}, src, Known{}); res[0].Err == nil {
		t.Fatal("first attempt succeeded")
	}
	kept := filepath.Join(root, tempDirName, partialName(&e))
	// Zero the fourth chunk, as a crash before writeback would.
	off := int64(0)
	for _, c := range e.Chunks[:3] {
		off += int64(c.Size)
	}
	fh, err := os.OpenFile(kept, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(make([]byte, e.Chunks[3].Size), off); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if got := f.Resumable(e); got != 3 {
		t.Fatalf("Resumable = %d, want 3", got)
	}
	delete(src.failAt, "big")
	rs := &resumeSource{memSource: src}
	mustApply(t, f, rs, nil, e)
	if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, data) {
		t.Fatal("file differs from the data")
	}
	if rs.skipped[0] != 3 {
		t.Fatalf("skipped to %d, want 3", rs.skipped[0])
	}
}

// An object at a kept temp file's name that ncsync may not reuse (a hard
// link to another file) is left untouched and a fresh temp file is used.
func TestKeptTempFileHardLinkNotReused(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	data := content(11, 2*maxSmallFile)
	e := fileEntry(t, src, "big", data, 0o644)
	outside := filepath.Join(t.TempDir(), "precious")
	precious := content(12, 4096)
	if err := os.WriteFile(outside, precious, 0o600); err != nil {
		t.Fatal(err)
	}
	// Same file system: the test's temp dirs share one.
	if err := os.Link(outside, filepath.Join(root, tempDirName, partialName(&e))); err != nil {
		t.Skip("cannot hard-link across the test directories:", err)
	}
	f.kept.note(partialName(&e), "")
	if got := f.Resumable(e); got != 0 {
		t.Fatalf("Resumable = %d on a hard link, want 0", got)
	}
	mustApply(t, f, src, nil, e)
	if got := readFile(t, outside); !bytes.Equal(got, precious) {
		t.Fatal("the hard-linked file was changed")
	}
	if got := readFile(t, filepath.Join(root, "big")); !bytes.Equal(got, data) {
		t.Fatal("file differs from the data")
	}
}

// Open removes every temp file but the kept ones; SweepKept removes
// those.
func TestOpenKeepsKeptTempFilesSweepRemoves(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, tempDirName), 0o700); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(root, tempDirName, tempPrefix+partialMark+"00112233445566778899aabbccddeeff")
	other := filepath.Join(root, tempDirName, tempPrefix+"x1")
	for _, p := range []string{kept, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("random temp file not removed: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("kept temp file removed at open: %v", err)
	}
	if f.KeptFiles() != 1 {
		t.Fatalf("KeptFiles = %d, want 1", f.KeptFiles())
	}
	if n, err := f.SweepKept(); err != nil || n != 1 {
		t.Fatalf("SweepKept = %d, %v; want 1, nil", n, err)
	}
	noTemps(t, root)
}

// When ctx ends, the files already complete are committed, not thrown
// away, and the entries after them fail with the context's error.
func TestCancelCommitsCompleteFiles(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var entries []index.Entry
	for i := range 5 {
		entries = append(entries, fileEntry(t, src, "f"+string(rune('a'+i)), content(byte(i), 2000), 0o644))
	}
	// The fourth file's reader cancels the batch, as a failed session does.
	cs := &cancelAtSource{memSource: src, at: entries[3].Path, cancel: cancel}
	res, err := f.Apply(ctx, entries, cs, Known{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply: %v, want context.Canceled", err)
	}
	for i, r := range res[:3] {
		if r.Err != nil {
			t.Fatalf("entry %d: %v; complete files must be committed", i, r.Err)
		}
		if got := readFile(t, filepath.Join(root, entries[i].Path)); !bytes.Equal(got, content(byte(i), 2000)) {
			t.Fatalf("entry %d: content differs", i)
		}
	}
	if res[4].Err == nil {
		t.Fatal("the entry after the cancellation was applied")
	}
	noTemps(t, root)
}

// cancelAtSource cancels the context when the file at is asked for.
type cancelAtSource struct {
	*memSource
	at     string
	cancel context.CancelFunc
}

func (s *cancelAtSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	if e.Path == s.at {
		s.cancel()
		return nil, context.Canceled
	}
	return s.memSource.Chunks(ctx, e)
}

// Durable hears of the entries done before the end of a batch, in growing
// prefixes, each with final results, and never of a file not yet renamed
// into place.
func TestDurablePrefixes(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	f.checkpointEvery, f.groupBytes = 0, 1
	src := newSource()
	var entries []index.Entry
	entries = append(entries, dirEntry("d", 0o750))
	for i := range 6 {
		entries = append(entries, fileEntry(t, src, "d/"+string(rune('a'+i)), content(byte(i), 2*maxSmallFile), 0o644))
	}
	var seen []int
	durable := func(n int, results []Result) {
		if len(seen) > 0 && n <= seen[len(seen)-1] {
			t.Errorf("prefix %d after %d", n, seen[len(seen)-1])
		}
		seen = append(seen, n)
		for i, e := range entries[:n] {
			if results[i].Err != nil {
				t.Errorf("prefix %d: entry %d failed: %v", n, i, results[i].Err)
			}
			if e.Kind == index.KindFile {
				if _, err := os.Stat(filepath.Join(root, e.Path)); err != nil {
					t.Errorf("prefix %d reported before %q was in place: %v", n, e.Path, err)
				}
			}
		}
		checkMeta(t, filepath.Join(root, "d"), 0o750, mtime)
	}
	res, err := f.ApplyDurable(context.Background(), entries, src, Known{}, durable)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
	if len(seen) < 2 {
		t.Fatalf("durable called %d times (%v); want prefixes before the end", len(seen), seen)
	}
}
