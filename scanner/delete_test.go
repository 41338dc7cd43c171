package scanner

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/index"
)

func TestDeletionsAfterCreatesChildrenFirst(t *testing.T) {
	e := newEnv(t)
	e.write("a/moved.bin", randomData(7, 10000))
	e.write("c/x/1", "1")
	e.write("c/x/2", "2")
	e.write("c/y", "y")
	e.write("c z", "sibling sorting between c and c/")
	e.write("keep", "k")
	e.symlink("target", "c/link")
	e.scan()
	old := e.entry("a/moved.bin")
	n := e.store.journalLen()

	tick()
	e.mkdir("b")
	if err := os.Rename(e.abs("a/moved.bin"), e.abs("b/moved.bin")); err != nil {
		t.Fatal(err)
	}
	e.remove("c")
	r := e.scan()

	j := e.store.journalFrom(n)
	got := paths(j)
	want := []string{"a", "b", "b/moved.bin",
		"-a/moved.bin", "-c/link", "-c/x/1", "-c/x/2", "-c/x", "-c/y", "-c"}
	if !slices.Equal(got, want) {
		t.Fatalf("journal %q\nwant    %q", got, want)
	}
	if r.Deleted != 7 || r.Changed != 3 {
		t.Errorf("result %+v", r)
	}
	kinds := map[string]index.Kind{"c/link": index.KindSymlink, "c/x": index.KindDir, "c": index.KindDir, "c/y": index.KindFile}
	for _, en := range j {
		if k, ok := kinds[en.Path]; ok && en.Kind != k {
			t.Errorf("tombstone %q kind %v, want %v", en.Path, en.Kind, k)
		}
	}
	// The renamed file is the same content: a secondary can take it from
	// the old path, which is deleted only afterwards.
	if moved := e.entry("b/moved.bin"); moved.FileID != old.FileID {
		t.Error("moved file changed id")
	}
	live := e.store.live()
	for p := range live {
		if strings.HasPrefix(p, "c/") || p == "c" || p == "a/moved.bin" {
			t.Errorf("%q still live", p)
		}
	}
	if _, ok := live["c z"]; !ok {
		t.Error(`"c z" lost`)
	}
	// Tombstones are not journaled again.
	if r := e.scan(); r.Deleted != 0 || r.Changed != 0 {
		t.Errorf("rescan %+v", r)
	}
}

func TestTypeChanges(t *testing.T) {
	cases := []struct {
		name   string
		before func(e *env)
		after  func(e *env)
		want   []string // journal of the second scan
		kind   index.Kind
	}{
		{"file to dir",
			func(e *env) { e.write("p", "file") },
			func(e *env) { e.remove("p"); e.write("p/child", "c") },
			[]string{"p", "p/child"}, index.KindDir},
		{"dir to file: children tombstoned first",
			func(e *env) { e.write("p/a/deep", "d"); e.write("p/b", "b") },
			func(e *env) { e.remove("p"); e.write("p", "now a file") },
			[]string{"-p/a/deep", "-p/a", "-p/b", "p"}, index.KindFile},
		{"dir to symlink",
			func(e *env) { e.write("p/a", "a") },
			func(e *env) { e.remove("p"); e.symlink("elsewhere", "p") },
			[]string{"-p/a", "p"}, index.KindSymlink},
		{"file to symlink",
			func(e *env) { e.write("p", "file") },
			func(e *env) { e.remove("p"); e.symlink("p.real", "p") },
			[]string{"p"}, index.KindSymlink},
		{"symlink to dir",
			func(e *env) { e.symlink("x", "p") },
			func(e *env) { e.remove("p"); e.write("p/x", "x") },
			[]string{"p", "p/x"}, index.KindDir},
		{"symlink to file",
			func(e *env) { e.symlink("x", "p") },
			func(e *env) { e.remove("p"); e.write("p", "x") },
			[]string{"p"}, index.KindFile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			c.before(e)
			e.scan()
			n := e.store.journalLen()
			c.after(e)
			e.scan()
			if got := paths(e.store.journalFrom(n)); !slices.Equal(got, c.want) {
				t.Fatalf("journal %q, want %q", got, c.want)
			}
			if k := e.entry("p").Kind; k != c.kind {
				t.Errorf("p is %v, want %v", k, c.kind)
			}
		})
	}
}
