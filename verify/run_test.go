package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fixedTime is the mtime of every file and directory of these trees.
var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// dirRemote is a Remote over a local directory standing for the
// secondary's tree. settle runs at each Settle (the n-th, from 1): what
// happens on both trees between passes.
type dirRemote struct {
	t      *testing.T
	root   string
	settle func(n int)
	n      int
	opened [][]string
}

func (r *dirRemote) Settle(context.Context) (uint64, error) {
	r.n++
	if r.settle != nil {
		r.settle(r.n)
	}
	return uint64(100 + r.n), nil
}

func (r *dirRemote) Open(_ context.Context, targets []string) (Source, func(), error) {
	r.opened = append(r.opened, slices.Clone(targets))
	paths := targets
	if len(targets) == 1 && targets[0] == "" {
		paths = nil
	}
	w, err := NewWalker(r.root, nil, paths)
	if err != nil {
		return nil, nil, err
	}
	return w, func() { w.Close() }, nil
}

func openDir(root string) func([]string) (Tree, error) {
	return func(targets []string) (Tree, error) {
		if len(targets) == 1 && targets[0] == "" {
			targets = nil
		}
		return NewWalker(root, nil, targets)
	}
}

func write(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fixedTime, fixedTime); err != nil {
		t.Fatal(err)
	}
}

// sameDirTimes sets the mtime of every directory of roots, the roots
// included (their own entries are compared), to one value.
func sameDirTimes(t *testing.T, roots ...string) {
	t.Helper()
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chtimes(p, fixedTime, fixedTime)
			}
			return err
		})
	}
}

func runCollect(t *testing.T, prim string, r *dirRemote, o RunOptions) (Result, map[EventKind][]string) {
	t.Helper()
	got := map[EventKind][]string{}
	res, err := Run(context.Background(), "data", o, r, openDir(prim), func(e Event) error {
		if e.Kind != KindProgress {
			got[e.Kind] = append(got[e.Kind], e.Path+":"+e.Aspects.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, got
}

// TestRunPasses: what differs and stays so is a difference; what the
// secondary catches up on between passes is resolved; what the primary
// keeps changing is reported as changing; rechecks cover only what
// differed.
func TestRunPasses(t *testing.T) {
	prim, sec := t.TempDir(), t.TempDir()
	for _, root := range []string{prim, sec} {
		write(t, root, "a/same.txt", "same")
		write(t, root, "a/late.txt", "v1")
		write(t, root, "b/churn.txt", "c0")
		write(t, root, "b/flip.txt", "0123456789")
	}
	write(t, prim, "a/late.txt", "v2") // the secondary catches up at the 2nd barrier
	write(t, sec, "b/flip.txt", "0123456788")
	write(t, prim, "b/churn.txt", "c1")
	sameDirTimes(t, prim, sec)
	r := &dirRemote{t: t, root: sec, settle: func(n int) {
		if n == 2 {
			write(t, sec, "a/late.txt", "v2")
		}
		if n >= 2 { // the primary's version changes before every recheck
			write(t, prim, "b/churn.txt", fmt.Sprintf("c%d", n+5))
		}
		sameDirTimes(t, prim, sec)
	}}
	res, got := runCollect(t, prim, r, RunOptions{})
	want := map[EventKind][]string{
		KindDifference: {"b/flip.txt:content"},
		KindResolved:   {"a/late.txt:"},
		KindChanging:   {"b/churn.txt:content"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if res.Passes != 3 || res.Seq != 101 || res.LastSeq != 103 || res.Differences != 1 || res.Resolved != 1 || res.Changing != 1 || !res.Different() {
		t.Errorf("result %+v", res)
	}
	if res.Compared != 7 { // the root's own entry and six paths
		t.Errorf("compared %d entries in the full walk, want 7", res.Compared)
	}
	wantOpened := [][]string{{""}, {"a/late.txt", "b/churn.txt", "b/flip.txt"}, {"b/churn.txt"}}
	if fmt.Sprint(r.opened) != fmt.Sprint(wantOpened) {
		t.Errorf("passes asked for %q, want %q", r.opened, wantOpened)
	}
}

// TestRunEqual: equal trees take one pass and report nothing.
func TestRunEqual(t *testing.T) {
	prim, sec := t.TempDir(), t.TempDir()
	for _, root := range []string{prim, sec} {
		write(t, root, "x/y/z.txt", "z")
		write(t, root, "top.txt", "t")
	}
	sameDirTimes(t, prim, sec)
	r := &dirRemote{t: t, root: sec}
	res, got := runCollect(t, prim, r, RunOptions{})
	if len(got) != 0 || res.Passes != 1 || res.Different() || res.Compared != 5 {
		t.Errorf("equal trees: %v, %+v", got, res)
	}
}

// TestRunHeldBound: past MaxHeld the differences of the full walk are
// reported unchecked, the rest rechecked; a missing directory is
// rechecked as one subtree.
func TestRunHeldBound(t *testing.T) {
	prim, sec := t.TempDir(), t.TempDir()
	for i := range 5 {
		write(t, prim, fmt.Sprintf("gone/f%d", i), "x")
		write(t, prim, fmt.Sprintf("m/f%d", i), "x")
		write(t, sec, fmt.Sprintf("m/f%d", i), "y")
	}
	sameDirTimes(t, prim, sec)
	r := &dirRemote{t: t, root: sec}
	res, got := runCollect(t, prim, r, RunOptions{MaxHeld: 8})
	if len(got[KindDifference]) != 8 || len(got[KindUnchecked]) != 3 || res.Unchecked != 3 || res.Differences != 8 {
		t.Errorf("findings %v, result %+v", got, res)
	}
	if want := []string{"gone", "m/f0", "m/f1"}; fmt.Sprint(r.opened[1]) != fmt.Sprint(want) {
		t.Errorf("recheck asked for %q, want %q", r.opened[1], want)
	}
}

// TestRunRootMetadata: the folder root's own metadata is compared like any
// directory's (index.RootPath); its recheck walks the root alone.
func TestRunRootMetadata(t *testing.T) {
	prim, sec := t.TempDir(), t.TempDir()
	for _, root := range []string{prim, sec} {
		write(t, root, "d/f.txt", "f")
	}
	if err := os.Chmod(prim, 0o750); err != nil {
		t.Fatal(err)
	}
	sameDirTimes(t, prim, sec)
	r := &dirRemote{t: t, root: sec}
	res, got := runCollect(t, prim, r, RunOptions{})
	want := map[EventKind][]string{KindDifference: {".:mode"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || res.Differences != 1 {
		t.Errorf("findings %v, %+v; want %v", got, res, want)
	}
	if wantOpened := [][]string{{""}, {"."}}; fmt.Sprint(r.opened) != fmt.Sprint(wantOpened) {
		t.Errorf("passes asked for %q, want %q", r.opened, wantOpened)
	}
}
