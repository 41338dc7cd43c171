package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// A symlink planted on the secondary where a parent directory should be is
// never written through, whatever the entry.
func TestApplyPlantedSymlinkParent(t *testing.T) {
	resolvers(t, func(t *testing.T, walk bool) {
		f, root := openTest(t, Options{}, walk)
		outside := t.TempDir()
		if err := os.WriteFile(filepath.Join(outside, "y"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(root, "a")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		src := newSource()
		tests := []struct {
			e      index.Entry
			reason string
		}{
			{fileEntry(t, src, "a/x", content(1, 100), 0o644), `parent "a" is a symlink`},
			{fileEntry(t, src, "a/b/c", content(2, 100), 0o644), `parent "a" is a symlink`},
			{dirEntry("a/d", 0o755), `parent "a" is a symlink`},
			{symlinkEntry("a/l", "x"), `parent "a" is a symlink`},
			{tombstone("a/y", index.KindFile), `parent "a" is a symlink`},
			{tombstone("a/y/z", index.KindFile), `parent "a" is a symlink`},
			{fileEntry(t, src, "file/x", content(3, 100), 0o644), `parent "file" is not a directory`},
			{dirEntry("file/d/e", 0o755), `parent "file" is not a directory`},
		}
		for _, tc := range tests {
			res, err := f.Apply(context.Background(), []index.Entry{tc.e}, src, Known{})
			if err != nil {
				t.Fatal(err)
			}
			var re *RefusedError
			if !errors.As(res[0].Err, &re) || !strings.Contains(res[0].Err.Error(), tc.reason) {
				t.Errorf("%q: %v, want refused: %s", tc.e.Path, res[0].Err, tc.reason)
			}
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 || string(readFile(t, filepath.Join(outside, "y"))) != "keep" {
			t.Errorf("outside changed: %v", ents)
		}
		noTemps(t, root)
		noTemps(t, outside)
	})
}

// A symlink whose target escapes is refused; one that stays inside is
// created as given.
func TestApplySymlinkTargets(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	for _, c := range []struct {
		p, target string
		ok        bool
	}{
		{"l1", "../../etc", false},
		{"a/l2", "../../etc", false},
		{"l3", "/etc/passwd", false},
		{"l4", "s/../..", false},
		{"a/b/l5", "../../x", true},
		{"a/l6", "../a/b", true},
	} {
		res, err := f.Apply(context.Background(), []index.Entry{symlinkEntry(c.p, c.target)}, src, Known{})
		if err != nil {
			t.Fatal(err)
		}
		if c.ok != (res[0].Err == nil) {
			t.Errorf("%q -> %q: %v", c.p, c.target, res[0].Err)
		}
		_, err = os.Lstat(filepath.Join(root, c.p))
		if c.ok != (err == nil) {
			t.Errorf("%q -> %q: on disk: %v", c.p, c.target, err)
		}
	}
}

// A local process swaps a directory for a symlink to an outside directory
// in a loop (an atomic RENAME_EXCHANGE, so the path always exists) while
// Apply writes beneath it: nothing is ever created outside the root, and
// Apply never fails as a whole.
func TestApplyDirectorySwapRace(t *testing.T) {
	resolvers(t, func(t *testing.T, walk bool) {
		f, root := openTest(t, Options{}, walk)
		outside := t.TempDir()
		dir := filepath.Join(root, "a")
		link := filepath.Join(root, "a-link")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
		src := newSource()
		var entries []index.Entry
		for i := range 6 {
			// Distinct subdirectories: each is resolved through "a" afresh.
			entries = append(entries, fileEntry(t, src, fmt.Sprintf("a/s%d/f", i), content(byte(i), 50), 0o644))
			entries = append(entries, symlinkEntry(fmt.Sprintf("a/l%d", i), "s0"))
		}
		entries = append(entries, dirEntry("a/sub", 0o755), tombstone("a/s3/f", index.KindFile))

		var stop atomic.Bool
		var swaps atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				if unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE) == nil {
					swaps.Add(1)
				}
			}
		})
		var applied, refused int
		deadline := time.Now().Add(3 * time.Second)
		for round := 0; round < 300 && time.Now().Before(deadline); round++ {
			res, err := f.Apply(context.Background(), entries, src, Known{})
			if err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("Apply: %v", err)
			}
			for _, r := range res {
				var re *RefusedError
				switch {
				case r.Err == nil:
					applied++
				case errors.As(r.Err, &re):
					refused++
				default:
					t.Errorf("unexpected error: %v", r.Err)
				}
			}
		}
		stop.Store(true)
		wg.Wait()
		t.Logf("%d swaps, %d entries applied, %d refused", swaps.Load(), applied, refused)
		isEmptyDir(t, outside)
		if applied == 0 || refused == 0 || swaps.Load() == 0 {
			t.Errorf("the race did not run both ways: %d applied, %d refused, %d swaps", applied, refused, swaps.Load())
		}
		noTemps(t, root)
	})
}

func TestOpenRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ root, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{file, "not a directory"},
		{link, "symlink"},
	} {
		f, err := Open(c.root, Options{})
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded", c.root)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q): %v, want %q", c.root, err, c.want)
		}
	}
}

func TestOpenRemovesTemps(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mk := func(base, p string) {
		full := filepath.Join(base, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk(root, ".ncsync-tmp-1")
	mk(root, "a/b/c/.ncsync-tmp-2")
	mk(root, "a/.ncsync-tmp-dir/inner/file") // a temp directory, with content
	mk(root, "a/keep")
	mk(root, "a/.ncsync-tmpX") // not ours
	mk(root, "config/x.config.php")
	mk(outside, ".ncsync-tmp-outside")
	if err := os.Symlink("nowhere", filepath.Join(root, "a/b/.ncsync-tmp-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "a/b/c"), 0o500); err != nil {
		t.Fatal(err)
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	noTemps(t, root)
	for _, p := range []string{"a/keep", "a/.ncsync-tmpX", "config/x.config.php", "out"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(outside, ".ncsync-tmp-outside")); err != nil {
		t.Errorf("followed a symlink out of the root: %v", err)
	}
}
