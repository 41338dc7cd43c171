package stage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// batch returns file entries seq first..last, each with one chunk whose
// data is returned too.
func batch(first, last uint64) ([]index.Entry, [][]byte) {
	var es []index.Entry
	var data [][]byte
	for seq := first; seq <= last; seq++ {
		d := []byte(fmt.Sprintf("content of file %d", seq))
		id := chunker.Sum(d)
		es = append(es, index.Entry{Path: fmt.Sprintf("dir/f%d", seq), Seq: seq, Kind: index.KindFile, Mode: 0o644,
			Size: int64(len(d)), MtimeNs: int64(seq) * 1e9, FileID: id, Chunks: []index.ChunkRef{{ID: id, Size: uint32(len(d))}}})
		data = append(data, d)
	}
	return es, data
}

func stageBatch(t *testing.T, s *Stage, first, last uint64) []index.Entry {
	t.Helper()
	es, data := batch(first, last)
	p, err := s.NewPack()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if err := p.Add(e.Chunks[0].ID, data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(es, p); err != nil {
		t.Fatal(err)
	}
	return es
}

func replay(t *testing.T, s *Stage) []index.Entry {
	t.Helper()
	var out []index.Entry
	if err := s.Replay(func(es []index.Entry) error { out = append(out, es...); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func paths(es []index.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestAppendReplayReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := append(stageBatch(t, s, 5, 7), stageBatch(t, s, 9, 9)...)
	// A batch without chunks (a deletion).
	del := []index.Entry{{Path: "gone", Seq: 12, Kind: index.KindFile, Deleted: true}}
	if err := s.Append(del, nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, del...)
	if s.Last() != 12 || s.Bytes() == 0 {
		t.Fatalf("Last %d Bytes %d", s.Last(), s.Bytes())
	}
	check := func(s *Stage) {
		t.Helper()
		got := replay(t, s)
		if !slices.Equal(paths(got), paths(want)) {
			t.Fatalf("replayed %q, want %q", paths(got), paths(want))
		}
		for _, e := range want[:4] {
			data, err := s.ReadChunk(e.Chunks[0].ID, nil)
			if err != nil || chunker.Sum(data) != e.Chunks[0].ID {
				t.Fatalf("ReadChunk %s: %v", e.Path, err)
			}
		}
	}
	check(s)
	size := s.Bytes()
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Last() != 12 || s.Bytes() != size {
		t.Fatalf("after reopen: Last %d Bytes %d, want 12 %d", s.Last(), s.Bytes(), size)
	}
	check(s)
	if err := s.Append(del, nil); err == nil {
		t.Fatal("a replayed sequence was staged")
	}
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	if s.Last() != 0 || s.Bytes() != 0 || len(replay(t, s)) != 0 || s.Has(want[0].Chunks[0].ID) {
		t.Fatal("Clear left something")
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Fatalf("after Clear the directory holds %d files, want only the log", len(des))
	}
}

func TestRecoverAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, dir string)
	}{
		{"torn record", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
			es, _ := batch(20, 21)
			rec := encodeRecord(0, es)
			f.Write(rec[:len(rec)-3])
			f.Close()
		}},
		{"bad checksum", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
			es, _ := batch(20, 21)
			rec := encodeRecord(0, es)
			rec[len(rec)-1] ^= 1
			f.Write(rec)
			f.Close()
		}},
		{"pack without record", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "pack-99"), []byte("half a pack"), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := stageBatch(t, s, 1, 3)
			size := s.Bytes()
			s.Close()
			tc.crash(t, dir)
			s, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := replay(t, s); !slices.Equal(paths(got), paths(want)) || s.Last() != 3 || s.Bytes() != size {
				t.Fatalf("recovered %q last %d bytes %d, want %q 3 %d", paths(got), s.Last(), s.Bytes(), paths(want), size)
			}
			if _, err := os.Stat(filepath.Join(dir, "pack-99")); err == nil {
				t.Fatal("unnamed pack kept")
			}
			// Staging goes on after the recovery.
			stageBatch(t, s, 4, 4)
			if s.Last() != 4 {
				t.Fatalf("Last %d after appending", s.Last())
			}
		})
	}
}

func TestDamagedPackIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	es := stageBatch(t, s, 1, 2)
	s.Close()

	// A flipped data byte is caught when the chunk is read.
	name := filepath.Join(dir, "pack-1")
	b, _ := os.ReadFile(name)
	b[len(b)-1] ^= 1
	os.WriteFile(name, b, 0o600)
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadChunk(es[1].Chunks[0].ID, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadChunk of damaged data: %v, want ErrCorrupt", err)
	}
	s.Close()

	// A pack cut short, or missing, makes the stage unusable.
	os.WriteFile(name, b[:len(b)-5], 0o600)
	if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a short pack: %v, want ErrCorrupt", err)
	}
	os.Remove(name)
	if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a missing pack: %v, want ErrCorrupt", err)
	}
}

func TestPackDeduplicates(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stageBatch(t, s, 1, 1)
	es, data := batch(1, 1)
	p, _ := s.NewPack()
	p.Add(es[0].Chunks[0].ID, data[0]) // already staged
	if p.Bytes() != 0 {
		t.Fatalf("a staged chunk was written again (%d bytes)", p.Bytes())
	}
	p.Abort()
}

func FuzzDecodePayload(f *testing.F) {
	es, _ := batch(1, 3)
	f.Add(encodeRecord(2, es)[recordHead:])
	f.Add(encodeRecord(0, es[:1])[recordHead:])
	f.Add([]byte{0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pack, got, err := decodePayload(b)
		if err != nil {
			return
		}
		again := encodeRecord(pack, got)[recordHead:]
		if _, got2, err := decodePayload(again); err != nil || len(got2) != len(got) {
			t.Fatalf("re-encoded payload: %v", err)
		}
	})
}

func FuzzScanPack(f *testing.F) {
	var b bytes.Buffer
	for _, d := range [][]byte{[]byte("a"), []byte("hello world")} {
		id := chunker.Sum(d)
		b.Write(id[:])
		b.Write([]byte{byte(len(d)), 0, 0, 0})
		b.Write(d)
	}
	f.Add(b.Bytes())
	f.Add([]byte{})
	f.Add(make([]byte, packHead))
	f.Fuzz(func(t *testing.T, b []byte) {
		var end int64
		err := scanPack(bytes.NewReader(b), int64(len(b)), func(_ chunker.ID, off int64, n uint32) {
			if off < end || off+int64(n) > int64(len(b)) {
				t.Fatalf("chunk at %d+%d outside the pack of %d after %d", off, n, len(b), end)
			}
			end = off + int64(n)
		})
		if err == nil && end != int64(len(b)) {
			t.Fatalf("scan accepted %d of %d bytes", end, len(b))
		}
	})
}

// TestEntryCostBounds: what Append adds to a stage never exceeds the sum
// of EntryCost of the batch's entries, whatever their shape.
func TestEntryCostBounds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long := strings.Repeat("x", 4000)
	chunk := []byte("chunk data")
	id := chunker.Sum(chunk)
	batches := [][]index.Entry{
		{{Path: "d", Seq: 1, Kind: index.KindDir, Mode: 0o755, UID: 1 << 31, GID: 1 << 31, MtimeNs: -1 << 62, Version: index.Version{Epoch: 1 << 62, Seq: 1 << 62, Node: long}}},
		{{Path: long + "/l", Seq: 2, Kind: index.KindSymlink, Target: long, MtimeNs: 1 << 62, Stat: index.Stat{Dev: 1 << 62, Ino: 1 << 62, Size: -1 << 62, MtimeNs: -1 << 62, CtimeNs: -1 << 62}}},
		{{Path: "f", Seq: 3, Kind: index.KindFile, Size: int64(len(chunk)), FileID: chunker.FileID([]chunker.ID{id}), Chunks: []index.ChunkRef{{ID: id, Size: uint32(len(chunk))}}},
			{Path: "g", Seq: 1 << 62, Kind: index.KindFile, Deleted: true}},
	}
	for _, b := range batches {
		before := s.Bytes()
		var pack *Pack
		var cost int64
		for i := range b {
			cost += EntryCost(&b[i])
			for _, c := range b[i].Chunks {
				if pack == nil {
					if pack, err = s.NewPack(); err != nil {
						t.Fatal(err)
					}
				}
				if err := pack.Add(c.ID, chunk); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Append(b, pack); err != nil {
			t.Fatal(err)
		}
		if added := s.Bytes() - before; added > cost {
			t.Errorf("batch %q added %d bytes, EntryCost says at most %d", b[0].Path[:min(len(b[0].Path), 10)], added, cost)
		}
	}
}
