package apply

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/index"
)

const crashRootEnv = "NCSYNC_APPLY_CRASH_ROOT"

// crashVersions returns three versions of a small tree; version 2 deletes
// d3 and its files, which versions 0 and 1 create again.
func crashVersions(t testing.TB, src *memSource) [][]index.Entry {
	var vs [][]index.Entry
	for v := range 3 {
		var es []index.Entry
		for d := range 4 {
			dir := fmt.Sprintf("d%d", d)
			if v == 2 && d == 3 {
				es = append(es, tombstone(dir, index.KindDir))
				continue
			}
			es = append(es, dirEntry(dir, 0o755))
			for i := range 8 {
				p := fmt.Sprintf("%s/f%d", dir, i)
				es = append(es, fileEntry(t, src, p, content(byte(v*31+d*8+i), 500+(v*8+i)*900), 0o644))
			}
		}
		es = append(es, symlinkEntry("d0/l", fmt.Sprintf("f%d", v)))
		vs = append(vs, es)
	}
	return vs
}

// TestCrashChild is the process TestCrashConvergence kills: it applies the
// versions in a loop until killed.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashRootEnv)
	if root == "" {
		t.Skip("helper process of TestCrashConvergence")
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := newSource()
	vs := crashVersions(t, src)
	os.Stdout.Write([]byte{'!'})
	for i := 0; ; i++ {
		if _, err := f.Apply(context.Background(), vs[i%len(vs)], src, Known{}); err != nil {
			t.Fatal(err)
		}
	}
}

// kill -9 of a process in the middle of applying, at random moments: no
// torn file is ever visible at a final path, Open removes the temp files,
// and applying again converges.
func TestCrashConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	src := newSource()
	vs := crashVersions(t, src)
	valid := make(map[string][][]byte) // path -> every content it may have
	for _, es := range vs {
		for _, e := range es {
			if e.Kind == index.KindFile && !e.Deleted {
				var b []byte
				for _, c := range src.chunks[e.FileID] {
					b = append(b, c...)
				}
				valid[e.Path] = append(valid[e.Path], b)
			}
		}
	}
	root := t.TempDir()
	rounds, temps := 12, 0
	for round := range rounds {
		killChildAfter(t, round, "TestCrashChild", crashRootEnv+"="+root, time.Duration(rand.IntN(60))*time.Millisecond)

		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(d.Name(), tempPrefix) {
				temps++
				return nil
			}
			b := readFile(t, p)
			for _, v := range valid[rel] {
				if bytes.Equal(b, v) {
					return nil
				}
			}
			t.Errorf("round %d: %s is torn (%d bytes) or unknown", round, rel, len(b))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	noTemps(t, root)
	mustApply(t, f, src, nil, vs[0]...)
	for _, e := range vs[0] {
		p := filepath.Join(root, e.Path)
		switch e.Kind {
		case index.KindFile:
			if !bytes.Equal(readFile(t, p), valid[e.Path][0]) {
				t.Errorf("%s did not converge", e.Path)
			}
			checkMeta(t, p, e.Mode, e.MtimeNs)
		case index.KindDir:
			checkMeta(t, p, e.Mode, e.MtimeNs)
		}
	}
	t.Logf("%d rounds, %d temp files left by kills, removed by Open", rounds, temps)
}

// killChildAfter runs the test child of this binary with env added, waits
// until it writes its first byte (it has started its work), lets it run
// for d and kills it with SIGKILL.
func killChildAfter(t *testing.T, round int, child, env string, d time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Read(make([]byte, 1)); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("round %d: child did not start: %v", round, err)
	}
	time.Sleep(d)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
