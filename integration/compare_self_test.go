package integration

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCompareTrees checks the harness itself: compareTrees finds equal
// copies equal and reports each kind of difference it is meant to catch.
// It needs no daemon and runs under -short too.
func TestCompareTrees(t *testing.T) {
	build := func(t *testing.T) (a, b string) {
		dir := t.TempDir()
		a = filepath.Join(dir, "a")
		if err := os.MkdirAll(a, 0o755); err != nil {
			t.Fatal(err)
		}
		oddTree(t, a)
		writeFile(t, filepath.Join(a, "d/f.txt"), []byte("content"), 0o644)
		setTimes(t, a)
		b = filepath.Join(dir, "b")
		// cp -a keeps modes, owners, ns times and symlinks.
		if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v: %s", err, out)
		}
		if err := os.Remove(filepath.Join(b, "nextcloud.log")); err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	touch := func(p string, ns int64) error {
		ts := unix.NsecToTimespec(ns)
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}
	mtimeOf := func(p string) int64 {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Mtim.Nano()
	}
	tests := []struct {
		name   string
		change func(b string) error
		want   string // a substring of a difference; "" means equal
	}{
		{"equal", func(string) error { return nil }, ""},
		{"missing", func(b string) error { return os.Remove(filepath.Join(b, "d/f.txt")) }, "missing on the secondary"},
		{"extra", func(b string) error { return os.WriteFile(filepath.Join(b, "d/extra"), nil, 0o644) }, "extra on the secondary"},
		{"temp file", func(b string) error { return os.WriteFile(filepath.Join(b, "d", tempPrefix+"x"), nil, 0o600) }, "temp file left"},
		{"ignored present", func(b string) error { return os.WriteFile(filepath.Join(b, "nextcloud.log"), nil, 0o600) }, "ignored path present"},
		{"mode", func(b string) error { return os.Chmod(filepath.Join(b, "modes/r-0640.txt"), 0o644) }, "mode 0640 on the primary, 0644"},
		{"sticky", func(b string) error { return os.Chmod(filepath.Join(b, "empty/dir"), 0o755|os.ModeSticky) }, "mode 0755 on the primary, 01755"},
		{"owner", func(b string) error { return os.Lchown(filepath.Join(b, "d/f.txt"), 7, 8) }, "owner 0:0 on the primary, 7:8"},
		{"file mtime ns", func(b string) error {
			p := filepath.Join(b, "d/f.txt")
			return touch(p, mtimeOf(p)+1)
		}, "file mtime"},
		{"dir mtime", func(b string) error {
			p := filepath.Join(b, "empty/dir")
			return touch(p, mtimeOf(p)-int64(time.Second))
		}, "dir mtime"},
		{"symlink mtime", func(b string) error {
			p := filepath.Join(b, "links/dangling")
			return touch(p, mtimeOf(p)+5)
		}, "symlink mtime"},
		{"symlink target", func(b string) error {
			p := filepath.Join(b, "links/to-file")
			m := mtimeOf(p)
			if err := os.Remove(p); err != nil {
				return err
			}
			if err := os.Symlink("elsewhere", p); err != nil {
				return err
			}
			return touch(p, m)
		}, "symlink target"},
		{"content same size", func(b string) error {
			p := filepath.Join(b, "d/f.txt")
			m := mtimeOf(p)
			if err := os.WriteFile(p, []byte("CONTENT"), 0o644); err != nil {
				return err
			}
			return touch(p, m)
		}, "content differs"},
		{"type", func(b string) error {
			p := filepath.Join(b, "empty/empty-file")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o644)
		}, "type file on the primary, dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := build(t)
			if err := tc.change(b); err != nil {
				t.Fatal(err)
			}
			diffs := compareTrees(t, a, b, defaultIgnore)
			if tc.want == "" {
				if len(diffs) > 0 {
					t.Fatalf("equal trees reported different:\n%s", strings.Join(diffs, "\n"))
				}
				return
			}
			for _, d := range diffs {
				if strings.Contains(d, tc.want) {
					return
				}
			}
			t.Fatalf("want a difference containing %q, got %q", tc.want, diffs)
		})
	}
}

// TestReaderCatchesTornFile checks the harness's reader: a file rewritten
// in place (truncated, then written in pieces) is seen short or mixed, and
// a file removed after it existed is seen missing. It needs no daemon.
func TestReaderCatchesTornFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	old := randBytes(1, 4*miB)
	next := randBytes(2, 4*miB)
	writeFile(t, p, old, 0o644)
	versions := map[int64][32]byte{int64(len(old)): sha256Of(old)}
	r := startReader(p, true, versions)
	defer r.finish()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(next); off += 64 * kiB {
		if _, err := f.Write(next[off : off+64*kiB]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	f.Close()
	time.Sleep(20 * time.Millisecond)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Sprintf("the reader did not see a torn, a mixed and a missing file: %q", r.report())
	}, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.violations["size"] > 0 && r.violations["content"] > 0 && r.violations["missing"] > 0
	})
	v, _, _, _ := r.finish()
	t.Logf("reader: %q", v)
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
