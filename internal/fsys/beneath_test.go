package fsys_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
	"github.com/ncsync/ncsync/internal/fsys/fsystest"
)

func TestMain(m *testing.M) { fsystest.Main(m) }

// tree builds a root with a file, a directory, symlinks to both (inside
// and outside the root) and a file outside, and returns the root's fd.
func tree(t *testing.T) int {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{"root/d/e", "outside"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"root/f", "root/d/g", "root/d/e/h", "outside/secret"} {
		if err := os.WriteFile(filepath.Join(base, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"root/ld": "d", "root/lf": "f", "root/out": "../outside", "root/d/up": ".."}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(base, l)); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// confineCases hold for both ways of resolving: openat2 and the walk.
var confineCases = []struct {
	rel   string
	flags int
	want  error // nil: opens
}{
	{"f", unix.O_RDONLY, nil},
	{"d", unix.O_RDONLY | unix.O_DIRECTORY, nil},
	{"d/e/h", unix.O_RDONLY, nil},
	{"d/e", unix.O_RDONLY | unix.O_DIRECTORY, nil},
	{"missing", unix.O_RDONLY, unix.ENOENT},
	{"d/missing/x", unix.O_RDONLY, unix.ENOENT},
	{"lf", unix.O_RDONLY, unix.ELOOP},
	{"ld", unix.O_RDONLY | unix.O_DIRECTORY, unix.ENOTDIR}, // O_DIRECTORY answers first
	{"ld/g", unix.O_RDONLY, unix.ELOOP},
	{"out/secret", unix.O_RDONLY, unix.ELOOP},
	{"d/up/f", unix.O_RDONLY, unix.ELOOP},
	{"f/x", unix.O_RDONLY, unix.ENOTDIR},
	{"f", unix.O_RDONLY | unix.O_DIRECTORY, unix.ENOTDIR},
	{"../root/f", unix.O_RDONLY, unix.EXDEV},
	{"d/../../root/f", unix.O_RDONLY, unix.EXDEV},
}

func checkConfined(t *testing.T) {
	root := tree(t)
	for _, c := range confineCases {
		fd, err := fsys.OpenBeneath(root, c.rel, c.flags)
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, c.want) && (err != nil || c.want != nil) {
			t.Errorf("OpenBeneath(%q, %#x) = %v, want %v (openat2 %v)", c.rel, c.flags, err, c.want, fsys.HasOpenat2())
		}
	}
}

func TestOpenBeneath(t *testing.T) { checkConfined(t) }

// TestOpenBeneathWalk runs the cases through the component walk, also on
// a kernel that has openat2.
func TestOpenBeneathWalk(t *testing.T) {
	was := fsys.UseOpenat2(false)
	defer fsys.UseOpenat2(was)
	checkConfined(t)
}

// TestOpenBeneathFiltered runs the cases in a process where openat2 fails
// with ENOSYS from the start, as on Linux before 5.6.
func TestOpenBeneathFiltered(t *testing.T) {
	if fsystest.Filtered() {
		if fsys.HasOpenat2() {
			t.Fatal("openat2 is filtered, but the probe found it")
		}
		checkConfined(t)
		return
	}
	fsystest.RunWithoutOpenat2(t, "TestOpenBeneathFiltered")
}

// TestOpenBeneathTurnsOffOnENOSYS: a kernel that starts answering ENOSYS
// after the probe said yes switches the process to the walk.
func TestOpenBeneathTurnsOffOnENOSYS(t *testing.T) {
	if !fsystest.Filtered() {
		fsystest.RunWithoutOpenat2(t, "TestOpenBeneathTurnsOffOnENOSYS")
		return
	}
	fsys.UseOpenat2(true) // as if the probe had succeeded
	checkConfined(t)
	if fsys.HasOpenat2() {
		t.Error("openat2 still in use after ENOSYS")
	}
}
