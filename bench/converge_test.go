package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// twoTrees makes src and dst with the files named, each "x" with one
// mtime, the roots with another.
func twoTrees(t *testing.T, names ...string) (src, dst string) {
	t.Helper()
	base := t.TempDir()
	src, dst = filepath.Join(base, "src"), filepath.Join(base, "dst")
	for _, root := range []string{src, dst} {
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			put(t, root, n, "x")
		}
	}
	return src, dst
}

var fixedTime = time.Unix(1_700_000_000, 0)

// put writes root/name and gives it and root the fixed mtime.
func put(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{p, root} {
		if err := os.Chtimes(q, fixedTime, fixedTime); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPathsEqualCount checks that pathsEqual stops at the first path that
// differs and says how many before it were equal.
func TestPathsEqualCount(t *testing.T) {
	src, dst := twoTrees(t, "a", "b", "c")
	put(t, dst, "b", "longer")
	for _, tt := range []struct {
		paths []string
		n     int
		ok    bool
	}{
		{[]string{"a", "b", "c"}, 1, false},
		{[]string{"a", "c", "gone"}, 3, true}, // missing on both sides is equal
		{[]string{"b"}, 0, false},
	} {
		n, err := pathsEqual(src, dst, tt.paths, ncsyncCompare)
		if n != tt.n || (err == nil) != tt.ok {
			t.Errorf("pathsEqual(%v) = %d, %v; want %d, ok %v", tt.paths, n, err, tt.n, tt.ok)
		}
	}
}

// TestWaitEqualRechecks checks that a path seen equal and changed again
// afterwards is not taken as equal: waitEqual returns only once the whole
// target is equal again. The changes are made between polls (alive).
func TestWaitEqualRechecks(t *testing.T) {
	src, dst := twoTrees(t, "a", "b")
	put(t, dst, "b", "not yet")
	polls := 0
	alive := func() error {
		polls++
		switch polls {
		case 1: // a was seen equal, b not: b arrives, a changes
			put(t, dst, "b", "x")
			put(t, dst, "a", "changed")
		case 10:
			put(t, dst, "a", "x")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := waitEqual(ctx, src, dst, []string{"a", "b"}, ncsyncCompare, alive, nil); err != nil {
		t.Fatal(err)
	}
	if polls < 10 {
		t.Errorf("waitEqual returned after %d polls, before a was put back (poll 10)", polls)
	}
}
