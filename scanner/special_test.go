package scanner

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

func TestSpecialFilesSkipped(t *testing.T) {
	e := newEnv(t)
	e.write("regular", "r")
	e.write("was-file", "soon a fifo")
	e.scan()
	n := e.store.journalLen()

	if err := syscall.Mkfifo(e.abs("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.remove("was-file")
	if err := syscall.Mkfifo(e.abs("was-file"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", e.abs("sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := map[string]string{"fifo": "fifo", "was-file": "fifo", "sock": "socket"}
	if err := unix.Mknod(e.abs("null"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err == nil {
		want["null"] = "character device"
	} else {
		t.Logf("mknod: %v (device case not covered)", err)
	}

	r := e.scan()
	if r.Skipped != len(want) || r.Errors != 0 {
		t.Errorf("result %+v, want %d skipped", r, len(want))
	}
	for p, reason := range want {
		if !e.logs.contains("skipping path", "path="+strconv.Quote(strconv.Quote(p)), "reason="+strconv.Quote(reason)) &&
			!e.logs.contains("skipping path", "path="+strconv.Quote(strconv.Quote(p)), "reason="+reason) {
			t.Errorf("no log line for %q (%s):\n%s", p, reason, e.logs)
		}
	}
	// The file that became a fifo is gone as far as replication goes.
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, []string{"-was-file"}) {
		t.Errorf("journal %q, want the replaced file's tombstone only", got)
	}
	for p := range want {
		if en, ok := e.store.get(p); ok && !en.Deleted {
			t.Errorf("%q indexed", p)
		}
	}
}

func TestInvalidUTF8NameSkipped(t *testing.T) {
	e := newEnv(t)
	bad := "bad\xff\xfename"
	e.write(bad, "x")
	e.write(bad+"dir/inside", "x")
	e.write("good", "x")
	if err := os.Symlink("target\xff", e.abs("badlink")); err != nil {
		t.Fatal(err)
	}
	r := e.scan()
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, []string{"good"}) {
		t.Fatalf("journal %q", got)
	}
	if r.Skipped != 3 {
		t.Errorf("skipped %d, want 3", r.Skipped)
	}
	if !e.logs.contains("level=WARN", "skipping path", "not valid UTF-8", `bad\\xff\\xfename`) {
		t.Errorf("no warning naming the path:\n%s", e.logs)
	}
	if !e.logs.contains("level=WARN", "symlink target is not valid UTF-8") {
		t.Errorf("no warning for the symlink:\n%s", e.logs)
	}
}

func TestOverlongPathSkipped(t *testing.T) {
	e := newEnv(t)
	// Build 17 nested 250-byte names with *at calls: the absolute path is
	// longer than PATH_MAX.
	fd, err := unix.Open(e.root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("n", 250)
	var rel []string
	for range 16 {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		rel = append(rel, name)
	}
	f, err := unix.Openat(fd, name, unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
	unix.Close(fd)

	r := e.scan()
	if r.Skipped != 1 || r.Changed != 16 {
		t.Errorf("result %+v, want 16 directories and 1 skipped", r)
	}
	if _, ok := e.store.get(strings.Join(rel, "/")); !ok {
		t.Error("deepest directory (4015 bytes) not indexed")
	}
	if !e.logs.contains("skipping path", "longer than 4095 bytes") {
		t.Errorf("no log:\n%s", e.logs)
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	e := newEnv(t)
	e.write("real/a", "a")
	e.write("real/b", "b")
	e.symlink("real", "link-to-dir")
	e.symlink("/etc", "link-outside")
	e.symlink("missing", "dangling")
	e.scan()
	live := e.store.live()
	for p := range live {
		if strings.HasPrefix(p, "link-to-dir/") || strings.HasPrefix(p, "link-outside/") {
			t.Errorf("followed a symlink: %q", p)
		}
	}
	for p, target := range map[string]string{"link-to-dir": "real", "link-outside": "/etc", "dangling": "missing"} {
		if en := live[p]; en.Kind != index.KindSymlink || en.Target != target {
			t.Errorf("%q: %+v", p, en)
		}
	}

	// Retargeting a link journals it again.
	n := e.store.journalLen()
	e.remove("dangling")
	e.symlink("found", "dangling")
	e.scan()
	if got := e.store.journalFrom(n); len(got) != 1 || got[0].Target != "found" {
		t.Errorf("journal %+v", got)
	}
}

func TestIgnore(t *testing.T) {
	m, err := ignore.New(append(slices.Clone(ignore.NextcloudDefaults), "*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Ignore = m })
	e.write("alice/files/doc.txt", "d")
	e.write("alice/files/x.tmp", "ignored file")
	e.write("alice/files/up.pdf.ocTransferId12.part", "staging")
	for i := range 30 {
		e.write("alice/uploads/web-1/"+strconv.Itoa(i), "chunk")
	}
	e.write("nextcloud.log", "log")
	e.write("updater-oc1/backups/old.zip", "zip")
	r := e.scan()
	want := []string{"alice", "alice/files", "alice/files/doc.txt"}
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
	// The ignored directories were not descended: only the three entries
	// above were examined.
	if r.Walked != 3 {
		t.Errorf("walked %d, want 3 (ignored directories must not be read)", r.Walked)
	}
}

func TestPatternAddedLaterDoesNotDelete(t *testing.T) {
	root := t.TempDir()
	store := newFakeStore()
	newScanner := func(patterns ...string) *env {
		m, err := ignore.New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, func(o *Options) { o.Root = root; o.Ignore = m })
		e.root, e.store = root, store
		e.s.store = store
		return e
	}
	e := newScanner()
	e.write("keep.txt", "k")
	e.write("logs/app.log", "l")
	e.write("b.log", "b")
	e.scan()
	n := store.journalLen()

	e = newScanner("logs/", "*.log")
	e.write("logs/app.log", "changed, but ignored now")
	e.remove("b.log") // deleted while ignored: not tombstoned either
	e.scan()
	if got := paths(store.journalFrom(n)); len(got) != 0 {
		t.Fatalf("journal %q, want nothing", got)
	}
	for _, p := range []string{"logs", "logs/app.log", "b.log"} {
		if en, ok := store.get(p); !ok || en.Deleted {
			t.Errorf("%q was tombstoned", p)
		}
	}
}

func TestReservedNamesNeverScanned(t *testing.T) {
	e := newEnv(t)
	e.write(".ncsync-tmp-123", "temp")
	e.write("d/.ncsync-tmp-9/x", "temp dir")
	e.write("d/.ncsyncX", "not reserved")
	e.scan()
	want := []string{"d", "d/.ncsyncX"}
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
	if _, err := e.s.Scan(t.Context(), "d/.ncsync-tmp-9/x"); err != nil {
		t.Fatal(err)
	}
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, want) {
		t.Fatalf("targeted scan of a reserved path journaled %q", got)
	}
}
