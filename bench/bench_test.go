package bench

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ncsync/ncsync/report"
)

func TestGenerateDeterministic(t *testing.T) {
	tests := []struct {
		name       string
		seedA      uint64
		seedB      uint64
		wantEquals bool
	}{
		{"same seed", 7, 7, true},
		{"different seed", 7, 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			ma, err := GenerateTree(a, Tiny, tt.seedA)
			if err != nil {
				t.Fatal(err)
			}
			mb, err := GenerateTree(b, Tiny, tt.seedB)
			if err != nil {
				t.Fatal(err)
			}
			ha, err := TreeHash(a)
			if err != nil {
				t.Fatal(err)
			}
			hb, err := TreeHash(b)
			if err != nil {
				t.Fatal(err)
			}
			if (ha == hb) != tt.wantEquals {
				t.Errorf("hashes %v and %v: equal %v, want %v", ha, hb, ha == hb, tt.wantEquals)
			}
			if sameManifest := slices.Equal(ma.Files, mb.Files); sameManifest != tt.wantEquals {
				t.Errorf("manifests equal %v, want %v", sameManifest, tt.wantEquals)
			}
			diffs, err := CompareTrees(a, b, true, 3)
			if err != nil {
				t.Fatal(err)
			}
			if (len(diffs) == 0) != tt.wantEquals {
				t.Errorf("CompareTrees: %q, want equal %v", diffs, tt.wantEquals)
			}
		})
	}
}

// TestTreeHashSeesChanges checks that every attribute a replica must keep
// changes the hash, and that the generated tree matches its manifest.
func TestTreeHashSeesChanges(t *testing.T) {
	dir := t.TempDir()
	m, err := GenerateTree(dir, Tiny, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != f.Size || fi.Mode() != f.Mode {
			t.Fatalf("%s: size %d mode %v, manifest says %d %v", f.Path, fi.Size(), fi.Mode(), f.Size, f.Mode)
		}
	}
	base, err := TreeHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, m.Files[0].Path)
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	flipByte := func() error {
		b, err := os.ReadFile(victim)
		if err != nil {
			return err
		}
		b[0] ^= 1
		if err := os.WriteFile(victim, b, fi.Mode()); err != nil {
			return err
		}
		return os.Chtimes(victim, fi.ModTime(), fi.ModTime()) // content alone differs
	}
	extra := filepath.Join(dir, "extra")
	tests := []struct {
		name         string
		change, undo func() error
	}{
		{"mtime by 1 ns",
			func() error { return os.Chtimes(victim, fi.ModTime(), fi.ModTime().Add(time.Nanosecond)) },
			func() error { return os.Chtimes(victim, fi.ModTime(), fi.ModTime()) }},
		{"mode",
			func() error { return os.Chmod(victim, 0o600) },
			func() error { return os.Chmod(victim, fi.Mode()) }},
		{"one bit of content", flipByte, flipByte},
		{"extra empty dir",
			func() error { return os.Mkdir(extra, 0o755) },
			func() error { return os.Remove(extra) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			h, err := TreeHash(dir)
			if err != nil {
				t.Fatal(err)
			}
			if h == base {
				t.Errorf("hash unchanged after changing %s", tt.name)
			}
			if err := tt.undo(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The root's own mtime changed (extra dir), which does not count.
	if h, err := TreeHash(dir); err != nil || h != base {
		t.Errorf("after undoing every change: hash %v (err %v), want %v", h, err, base)
	}
}

// TestQuickSpecClaims checks the Quick tree against what its doc and the
// brief promise: total ~50 MiB, text sizes log-normal around 2–8 KiB with
// a few up to 1 MiB, ~4x zstd ratio on text.
func TestQuickSpecClaims(t *testing.T) {
	dir := t.TempDir()
	m, err := GenerateTree(dir, Quick, 1)
	if err != nil {
		t.Fatal(err)
	}
	text, bin := m.Bytes()
	total := text + bin
	if total < 45<<20 || total > 56<<20 {
		t.Errorf("total %s, want about 50 MiB", report.HumanBytes(total))
	}
	if want := Quick.ApproxBytes(); math.Abs(float64(total-want))/float64(want) > 0.1 {
		t.Errorf("total %d, ApproxBytes %d: off by more than 10%%", total, want)
	}
	if got := m.TextFiles(); got != Quick.TextFiles {
		t.Errorf("%d text files, want %d", got, Quick.TextFiles)
	}
	if m.Dirs < Quick.TextDirs {
		t.Errorf("%d dirs, want ≥ %d", m.Dirs, Quick.TextDirs)
	}
	var small []int64
	large := 0
	for _, f := range m.Files {
		if !f.Text {
			continue
		}
		if f.Size > int64(Quick.TextMax) {
			t.Errorf("%s: %d bytes > TextMax", f.Path, f.Size)
		}
		if f.Size >= 64<<10 {
			large++
		} else {
			small = append(small, f.Size)
		}
	}
	slices.Sort(small)
	q := func(p float64) int64 { return small[int(p*float64(len(small)-1))] }
	if med := q(0.5); med < 3<<10 || med > 5<<10 {
		t.Errorf("median text size %d, want about 4 KiB", med)
	}
	if q(0.25) < 2<<10-512 || q(0.75) > 8<<10 {
		t.Errorf("text sizes: quartiles %d..%d, want within ~2–8 KiB", q(0.25), q(0.75))
	}
	if large < Quick.LargeText || large > Quick.LargeText+10 {
		t.Errorf("%d text files ≥ 64 KiB, want about %d", large, Quick.LargeText)
	}
	depth := 0
	for _, f := range m.Files {
		depth = max(depth, strings.Count(f.Path, "/"))
	}
	if depth < 5 {
		t.Errorf("deepest file at depth %d: want a deep tree", depth)
	}
	ratio := zstdRatio(t, dir, m)
	t.Logf("total %s (text %s, binary %s), median %d B, %d large, depth %d, zstd ratio %.2f",
		report.HumanBytes(total), report.HumanBytes(text), report.HumanBytes(bin), q(0.5), large, depth, ratio)
	if ratio < 3 || ratio > 5 {
		t.Errorf("text zstd ratio %.2f, want 3–5", ratio)
	}
}

// zstdRatio compresses the text files, concatenated, in 64 KiB frames at
// zstd's fastest level.
func zstdRatio(t *testing.T, dir string, m Manifest) float64 {
	var all []byte
	for _, f := range m.Files {
		if f.Text {
			b, err := os.ReadFile(filepath.Join(dir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var out int
	var dst []byte
	for off := 0; off < len(all); off += 64 << 10 {
		dst = enc.EncodeAll(all[off:min(off+64<<10, len(all))], dst[:0])
		out += len(dst)
	}
	return float64(len(all)) / float64(out)
}

func BenchmarkAppendText(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	vocabFor(langPHP)
	buf := make([]byte, 0, 1<<20)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendText(buf[:0], langPHP, 1<<20, r)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s []Sample
			for _, v := range tt.in {
				s = append(s, Sample{Wall: v})
			}
			if got := medianOf(s, func(s Sample) float64 { return s.Wall }); got != tt.want {
				t.Errorf("median %v = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ncsyncBinary builds cmd/ncsync once per test binary.
func ncsyncBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ncsync-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ncsync")
		goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			if goTool, err = exec.LookPath("go"); err != nil {
				goTool = "/usr/local/go/bin/go"
			}
		}
		cmd := exec.Command(goTool, "build", "-o", binPath, "github.com/ncsync/ncsync/cmd/ncsync")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = err
			binPath = ""
			t.Logf("build output:\n%s", out.String())
		}
	})
	if buildErr != nil {
		t.Skipf("cannot build the ncsync binary: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestInitialNcsync runs the initial scenario with real ncsync daemons on a
// tiny tree: the target must end equal.
func TestInitialNcsync(t *testing.T) {
	bin := ncsyncBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Options{
		Binary: bin, Dir: t.TempDir(), Scenarios: []string{ScenarioInitial}, Tools: []string{ToolNcsync},
		Spec: Tiny, Runs: 1, Timeout: 40 * time.Second, Progress: &progress,
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("report:\n%s", table.String())
	for _, w := range []string{WorkloadWebroot, WorkloadData} {
		row := rep.Find(ScenarioInitial, w, ToolNcsync)
		if row == nil || len(row.Runs) != 1 {
			t.Fatalf("%s: row %+v, want one run", w, row)
		}
		s := row.Runs[0]
		if s.Error != "" || !s.Equal {
			t.Fatalf("%s: target not equal: %s", w, s.Error)
		}
		// Everything crossed the wire (veth or proxy): at least the data, less
		// what compression saved on the text.
		if s.WireToTarget < row.Bytes/6 || s.WireToSource == 0 {
			t.Errorf("%s: wire %d to target, %d back for %d bytes of tree", w, s.WireToTarget, s.WireToSource, row.Bytes)
		}
		if s.Wall <= 0 || s.CPU() <= 0 || s.PeakRSSSource <= 0 || s.PeakRSSTarget <= 0 {
			t.Errorf("%s: missing measurements: %+v", w, s)
		}
	}
	if !rep.OK() {
		t.Error("report not OK")
	}
}

// TestInitialRsync checks the rsync runner the same way, when rsync is here.
func TestInitialRsync(t *testing.T) {
	if _, err := findRsync(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := t.TempDir()
	m, err := GenerateTree(src, Tiny, 5)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := findRsync()
	s, err := rsyncRun{rsync: p, timeout: 20 * time.Second}.initial(ctx, src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	text, bin := m.Bytes()
	t.Logf("rsync: %+v", s)
	if !s.Equal {
		t.Fatalf("rsync target differs: %s", s.Error)
	}
	if s.WireToTarget < bin+text/6 || s.ToolBytes == 0 {
		t.Errorf("wire %d to target, rsync says %d, for %d bytes", s.WireToTarget, s.ToolBytes, text+bin)
	}
	if s.CPUTarget <= 0 && s.CPUSource <= 0 {
		t.Errorf("no CPU measured: %+v", s)
	}
}
