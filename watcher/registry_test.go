package watcher

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRegistry(t *testing.T) {
	r := newRegistry()
	id := func(n uint64) fileID { return fileID{dev: 1, ino: n} }
	r.set("", id(1), nil, 1)
	r.set("a", id(2), nil, 1)
	r.set("a/b", id(3), nil, 1)
	r.set("a/b/c", id(4), unix.ENOSPC, 1)
	r.set("ab", id(5), unix.ENOSPC, 1)
	r.set("x/y", id(6), errors.New("odd"), 1) // parent unknown
	r.addIgnored("a/b/skip")
	r.addIgnored("keep")

	if w, u := r.counts(); w != 3 || u != 3 {
		t.Fatalf("counts %d, %d", w, u)
	}
	if got := r.unwatched(); !slices.Equal(got, []string{"a/b/c", "ab", "x/y"}) {
		t.Fatalf("unwatched %q", got)
	}
	d := r.causes()
	if d.needed != 6 || d.unwatched != 3 || d.watchLimit != 2 || d.other == nil || d.otherPath != "x/y" {
		t.Fatalf("causes %+v", d)
	}
	if p, _ := r.pathOf(id(3)); p != "a/b" {
		t.Fatalf("pathOf = %q", p)
	}
	// The same inode seen again (watched now) keeps the counts right.
	r.set("a/b/c", id(4), nil, 2)
	if w, u := r.counts(); w != 4 || u != 2 {
		t.Fatalf("counts after set %d, %d", w, u)
	}
	removed := r.removeSubtree("a")
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"a", "a/b", "a/b/c"}) {
		t.Fatalf("removed %q", removed)
	}
	if r.isDir("a/b") || r.isDir("a/b/skip") || !r.isDir("ab") || !r.isIgnored("keep") {
		t.Fatal("removeSubtree removed too much or too little")
	}
	if _, ok := r.pathOf(id(3)); ok {
		t.Fatal("id of removed directory still known")
	}
	if got := r.stale(2); !slices.Equal(got, []string{""}) {
		t.Fatalf("stale = %q", got) // "" covers ab and x/y
	}
	r.removeSubtree("")
	if w, u := r.counts(); w != 0 || u != 0 || len(r.kids) != 0 || len(r.byID) != 0 || len(r.ignored) != 0 {
		t.Fatalf("not empty after removing root: %d %d %v %v %v", w, u, r.kids, r.byID, r.ignored)
	}
}

func TestDegradedMessage(t *testing.T) {
	tests := []struct {
		name string
		d    degradation
		want []string
	}{
		{"none", degradation{needed: 5}, nil},
		{"watches", degradation{needed: 120000, unwatched: 111808, watchLimit: 111808},
			[]string{"inotify watch limit reached: 120000 directories need watching", "fs.inotify.max_user_watches is", "sysctl -w fs.inotify.max_user_watches=", "/etc/sysctl.d/"}},
		{"files", degradation{needed: 10, unwatched: 2, fileLimit: 2}, []string{"2 directories unwatched for lack of file descriptors", "LimitNOFILE"}},
		{"other", degradation{needed: 10, unwatched: 1, other: unix.EACCES, otherPath: "d"}, []string{`1 directories could not be watched, e.g. "d": permission denied`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.d.message()
			if tc.want == nil {
				if got != "" {
					t.Fatalf("message %q, want none", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("message %q lacks %q", got, w)
				}
			}
		})
	}
	if got := instanceMessage(unix.EMFILE); !strings.Contains(got, "sysctl -w fs.inotify.max_user_instances=") {
		t.Errorf("instance message %q", got)
	}
}

func TestSuggestLimit(t *testing.T) {
	tests := []struct{ needed, current, want int }{
		{100, 8192, 262144},
		{120000, 8192, 262144},
		{120000, 192536, 524288},
		{1000000, 0, 1048576},
	}
	for _, tc := range tests {
		if got := suggestLimit(tc.needed, tc.current); got != tc.want {
			t.Errorf("suggestLimit(%d, %d) = %d, want %d", tc.needed, tc.current, got, tc.want)
		}
	}
}

func TestRel(t *testing.T) {
	w := &Watcher{root: "/srv/data", prefix: "/srv/data/"}
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"/srv/data", "", true},
		{"/srv/data/a", "a", true},
		{"/srv/data/a/b c", "a/b c", true},
		{"/srv/database/a", "", false},
		{"/srv/dat", "", false},
		{"/srv/data/", "", false},
	}
	for _, tc := range tests {
		got, ok := w.rel(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rel(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
		if ok && w.abs(got) != tc.name {
			t.Errorf("abs(rel(%q)) = %q", tc.name, w.abs(got))
		}
	}
}

func TestRegistryOrphan(t *testing.T) {
	r := newRegistry()
	r.set("", fileID{ino: 1}, nil, 1)
	r.set("x/y/z", fileID{ino: 2}, nil, 1) // parents never registered
	if got := r.stale(2); !slices.Equal(got, []string{""}) {
		t.Fatalf("stale = %q", got)
	}
	if got := r.removeSubtree("x"); !slices.Equal(got, []string{"x/y/z"}) {
		t.Fatalf("removeSubtree(x) = %q", got)
	}
	r.set("x/y/z", fileID{ino: 2}, nil, 1)
	r.removeSubtree("x/y/z")
	if len(r.kids) != 0 {
		t.Fatalf("links left: %v", r.kids)
	}
}

// FuzzRel checks that rel and abs are inverse and that rel never returns
// a path escaping the root or an unclean one for a clean event name.
func FuzzRel(f *testing.F) {
	for _, s := range []string{"/srv/data", "/srv/data/a", "/srv/data/a/b c", "/srv/database/a", "/srv/data/", "/srv/data//x"} {
		f.Add(s)
	}
	w := &Watcher{root: "/srv/data", prefix: "/srv/data/"}
	f.Fuzz(func(t *testing.T, name string) {
		p, ok := w.rel(name)
		if !ok {
			return
		}
		if w.abs(p) != name {
			t.Fatalf("abs(rel(%q)) = %q", name, w.abs(p))
		}
		if strings.HasPrefix(p, "/") != strings.HasPrefix(name, "/srv/data//") {
			t.Fatalf("rel(%q) = %q", name, p)
		}
	})
}

// TestDegradedMessageUserNS: in a user namespace whose own watch limit is
// below the host's sysctl, the message names both, since raising the
// sysctl alone would not help.
func TestDegradedMessageUserNS(t *testing.T) {
	fsDir, nsDir := t.TempDir(), t.TempDir()
	oldFS, oldNS := procInotify, procUserNS
	procInotify, procUserNS = fsDir, nsDir
	t.Cleanup(func() { procInotify, procUserNS = oldFS, oldNS })
	write := func(dir, name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := degradation{needed: 51, unwatched: 31, watchLimit: 31}

	write(fsDir, "max_user_watches", "192546")
	write(nsDir, "max_inotify_watches", "20")
	got := d.message()
	for _, w := range []string{"fs.inotify.max_user_watches is 192546", "max_inotify_watches is 20 there", "/proc/sys/user/max_inotify_watches", "at least 262144"} {
		if !strings.Contains(got, w) {
			t.Errorf("message %q lacks %q", got, w)
		}
	}

	// The usual case, outside containers: both say the same.
	write(nsDir, "max_inotify_watches", "192546")
	if got := d.message(); strings.Contains(got, "namespace") {
		t.Errorf("message %q speaks of a user namespace whose limit equals the sysctl", got)
	}
}
