package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestMutationsDeterministic applies every mutation to two copies of one
// tree with the same seed: the trees must stay equal (content, modes,
// mtimes aside, which are the time of writing), and each mutation must do
// what it claims.
func TestMutationsDeterministic(t *testing.T) {
	spec := withBig(Tiny, "tiny-suite", 1<<20)
	spec.BinaryFiles, spec.BinarySize = 1, 1<<20
	var roots [2]string
	var big string
	for i := range roots {
		roots[i] = t.TempDir()
		m, err := GenerateTree(roots[i], spec, 9)
		if err != nil {
			t.Fatal(err)
		}
		if big, err = largeFile(m); err != nil {
			t.Fatal(err)
		}
	}
	files0, _, err := listTree(roots[0], TextDir)
	if err != nil {
		t.Fatal(err)
	}
	bigBefore, err := os.ReadFile(filepath.Join(roots[0], big))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		apply func(root string) (change, error)
		check func(t *testing.T, c change)
	}{
		{"upgrade", func(r string) (change, error) { return upgrade(r, 3) }, func(t *testing.T, c change) {
			// ~25% edited plus 1.5% (at least 10) added and deleted.
			if lo, hi := len(files0)/6, len(files0)/3+30; c.files < lo || c.files > hi {
				t.Errorf("upgrade touched %d files of %d, want %d–%d", c.files, len(files0), lo, hi)
			}
		}},
		{"bigedit", func(r string) (change, error) { return bigEdit(r, big, 3) }, func(t *testing.T, c change) {
			b, err := os.ReadFile(filepath.Join(roots[0], big))
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for i := range b {
				if b[i] != bigBefore[i] {
					diff++
				}
			}
			if len(b) != len(bigBefore) || diff == 0 || diff > editSize {
				t.Errorf("bigedit: size %d → %d, %d bytes differ, want same size and ≤ %d", len(bigBefore), len(b), diff, editSize)
			}
		}},
		{"insert", func(r string) (change, error) { return insertFront(r, big, 3) }, func(t *testing.T, c change) {
			b, err := os.ReadFile(filepath.Join(roots[0], big))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != len(bigBefore)+editSize {
				t.Fatalf("insert: size %d, want %d", len(b), len(bigBefore)+editSize)
			}
			// bigedit ran before: only compare the part it did not touch.
			if !bytes.Equal(b[editSize+len(bigBefore)*3/4+editSize:], bigBefore[len(bigBefore)*3/4+editSize:]) {
				t.Error("insert: the old content did not move back by editSize")
			}
		}},
		{"burst", func(r string) (change, error) { return burst(r, 55, 3) }, func(t *testing.T, c change) {
			if c.files != 55 {
				t.Errorf("burst wrote %d files, want 55", c.files)
			}
		}},
		{"rename", func(r string) (change, error) { return renameDir(r, 3) }, func(t *testing.T, c change) {
			n := 0
			for _, p := range c.touched {
				if strings.HasSuffix(p, "-renamed") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("rename touched %q, want one renamed directory", c.touched)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cs [2]change
			for i, r := range roots {
				if cs[i], err = tt.apply(r); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(cs[0].touched, ",") != strings.Join(cs[1].touched, ",") || len(cs[0].touched) == 0 {
				t.Errorf("touched differs or is empty: %d vs %d paths", len(cs[0].touched), len(cs[1].touched))
			}
			tt.check(t, cs[0])
			a, err := walkTree(roots[0], true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := walkTree(roots[1], true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range a {
				a[i].mtime = 0
			}
			for i := range b {
				b[i].mtime = 0
			}
			if d := diffNodes(a, b, 3); len(d) > 0 {
				t.Errorf("same seed, different trees: %q", d)
			}
		})
	}
}

// TestDataSpecClaims checks the data directory generator against DataQuick:
// counts per kind, sizes within their ranges, photos and videos
// incompressible, documents partly compressible.
func TestDataSpecClaims(t *testing.T) {
	dir := t.TempDir()
	m, err := GenerateTree(dir, DataQuick, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := DataQuick.Data
	ranges := map[string][3]int64{
		KindPhoto: {int64(d.Photos), d.PhotoMin, d.PhotoMax},
		KindVideo: {int64(d.Videos), d.VideoMin, d.VideoMax},
		KindDoc:   {int64(d.Docs), d.DocMin, d.DocMax},
		KindNote:  {int64(d.Tiny), d.TinyMin, d.TinyMax},
	}
	count := map[string]int64{}
	var total int64
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	sampled := map[string]bool{}
	for _, f := range m.Files {
		r, ok := ranges[f.Kind]
		if !ok {
			t.Fatalf("%s: unexpected kind %q", f.Path, f.Kind)
		}
		count[f.Kind]++
		total += f.Size
		if f.Size < r[1] || f.Size > r[2] {
			t.Errorf("%s: %d bytes, want %d–%d", f.Path, f.Size, r[1], r[2])
		}
		if !strings.HasPrefix(f.Path, BinaryDir+"/") {
			t.Errorf("%s: not under %s", f.Path, BinaryDir)
		}
		if sampled[f.Kind] || f.Kind == KindNote {
			continue
		}
		sampled[f.Kind] = true
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(len(b)) / float64(len(enc.EncodeAll(b, nil)))
		switch f.Kind {
		case KindPhoto, KindVideo:
			if ratio > 1.01 {
				t.Errorf("%s: zstd ratio %.2f, want incompressible", f.Path, ratio)
			}
		case KindDoc:
			if ratio < 1.1 || ratio > 2 {
				t.Errorf("%s: zstd ratio %.2f, want partly compressible (1.1–2)", f.Path, ratio)
			}
		}
	}
	for k, r := range ranges {
		if count[k] != r[0] {
			t.Errorf("%d %s files, want %d", count[k], k, r[0])
		}
	}
	if want := DataQuick.ApproxBytes(); total < want/2 || total > want*2 {
		t.Errorf("total %d bytes, ApproxBytes %d", total, want)
	}
}
