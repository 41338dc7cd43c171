package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// deepLevels is deeper than the fds a process may open once the limit is
// lowered to deepFDLimit.
const (
	deepLevels  = 2000
	deepFDLimit = 256
)

// makeDeep makes deepLevels nested directories "deep/d/d/…" beneath root
// (through fds: the path is longer than PATH_MAX) with a file at the
// bottom, and returns the file's folder-relative path.
func makeDeep(t *testing.T, root string) string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"deep"}
	for range deepLevels - 1 {
		names = append(names, "d")
	}
	for _, n := range names {
		if err := unix.Mkdirat(fd, n, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, "bottom.txt", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("local"))
	unix.Close(ffd)
	return strings.Join(names, "/") + "/bottom.txt"
}

// lowFDs lowers the soft limit on open files for the rest of the test.
func lowFDs(t *testing.T) {
	t.Helper()
	var was unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &was); err != nil {
		t.Fatal(err)
	}
	low := was
	low.Cur = deepFDLimit
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &was) })
}

// TestDeepTreeRemoved: a replicated delete removes a local tree 2,000
// levels deep with the fds limited to 256.
func TestDeepTreeRemoved(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	makeDeep(t, root)
	lowFDs(t)
	mustApply(t, f, nil, nil, tombstone("deep", index.KindDir))
	if _, err := os.Lstat(filepath.Join(root, "deep")); !os.IsNotExist(err) {
		t.Fatalf("deep tree still there: %v", err)
	}
}

// TestDeepTreePreserved: the local file at the bottom of a tree 2,000
// levels deep is kept before the tree is removed, with the fds limited to
// 256.
func TestDeepTreePreserved(t *testing.T) {
	k := newKeeper()
	f, root := openTest(t, Options{Local: k}, false)
	bottom := makeDeep(t, root)
	lowFDs(t)
	res, err := f.Apply(context.Background(), []index.Entry{tombstone("deep", index.KindDir)}, nil, Known{})
	if err != nil || res[0].Err != nil {
		t.Fatalf("apply: %v, %v", err, res[0].Err)
	}
	if len(k.kept) != 1 || k.kept[0].path != bottom || k.kept[0].data != "local" {
		t.Fatalf("kept %d versions, want the bottom file", len(k.kept))
	}
	if _, err := os.Lstat(filepath.Join(root, "deep")); !os.IsNotExist(err) {
		t.Fatalf("deep tree still there: %v", err)
	}
}
