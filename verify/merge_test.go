package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// sliceSource yields entries from a slice.
type sliceSource struct {
	entries []Entry
	err     error // returned after the entries instead of io.EOF, if set
}

func (s *sliceSource) Next(context.Context) (Entry, error) {
	if len(s.entries) == 0 {
		if s.err != nil {
			return Entry{}, s.err
		}
		return Entry{}, io.EOF
	}
	e := s.entries[0]
	s.entries = s.entries[1:]
	return e, nil
}

func file(p, content string) Entry {
	return Entry{Path: p, Kind: index.KindFile, Mode: 0o644, UID: 33, GID: 33, MtimeNs: 1e18,
		Size: int64(len(content)), FileID: chunker.FileID([]chunker.ID{chunker.Sum([]byte(content))})}
}

func dir(p string) Entry {
	return Entry{Path: p, Kind: index.KindDir, Mode: 0o755, UID: 33, GID: 33, MtimeNs: 2e18}
}

func link(p, target string) Entry {
	return Entry{Path: p, Kind: index.KindSymlink, Mode: 0o777, UID: 33, GID: 33, MtimeNs: 3e18, Target: target}
}

func with(e Entry, f func(*Entry)) Entry { f(&e); return e }

// merge runs a Merger over two lists and returns "path aspects" lines.
func merge(t *testing.T, primary, local []Entry, o Options) ([]string, Stats) {
	t.Helper()
	var got []string
	m := NewMerger("data", &sliceSource{entries: local}, o, func(d Difference) error {
		if d.Folder != "data" {
			t.Errorf("difference of folder %q", d.Folder)
		}
		if d.Detail() == "" {
			t.Errorf("difference %q %v has no detail", d.Path, d.Aspects)
		}
		got = append(got, d.Path+" "+d.Aspects.String())
		return nil
	})
	ctx := context.Background()
	for _, e := range primary {
		if err := m.Primary(ctx, e); err != nil {
			t.Fatalf("Primary(%q): %v", e.Path, err)
		}
	}
	if err := m.Finish(ctx); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return got, m.Stats()
}

func TestMerge(t *testing.T) {
	base := []Entry{dir("a"), file("a/b", "x"), link("a/l", "b"), file("a.txt", "y"), dir("z")}
	cases := []struct {
		name           string
		primary, local []Entry
		opts           Options
		want           []string
		compared       uint64
	}{
		{name: "equal", primary: base, local: base, compared: 5},
		{name: "both empty"},
		{name: "local empty", primary: base,
			want:     []string{"a missing", "a/b missing", "a/l missing", "a.txt missing", "z missing"},
			compared: 5},
		{name: "primary empty", local: base[:2], want: []string{"a extra", "a/b extra"}, compared: 2},
		{name: "missing in the middle", primary: base,
			local: []Entry{base[0], base[2], base[3], base[4]}, want: []string{"a/b missing"}, compared: 5},
		{name: "extra in the middle and at the end", primary: base[:3],
			local: []Entry{base[0], file("a/a", "q"), base[1], base[2], file("a/m", "q"), base[3]},
			want:  []string{"a/a extra", "a/m extra", "a.txt extra"}, compared: 6},
		{name: "flipped byte", primary: base,
			local: []Entry{base[0], file("a/b", "X"), base[2], base[3], base[4]},
			want:  []string{"a/b content"}, compared: 5},
		{name: "size and content", primary: base,
			local: []Entry{base[0], file("a/b", "xx"), base[2], base[3], base[4]},
			want:  []string{"a/b size,content"}, compared: 5},
		{name: "mode owner mtime", primary: base[:2],
			local: []Entry{base[0], with(base[1], func(e *Entry) { e.Mode, e.UID, e.MtimeNs = 0o600, 0, 5 })},
			want:  []string{"a/b mode,owner,mtime"}, compared: 2},
		{name: "owner ignored", primary: base[:2], opts: Options{IgnoreOwner: true},
			local: []Entry{base[0], with(base[1], func(e *Entry) { e.UID, e.GID = 0, 0 })}, compared: 2},
		{name: "gid only", primary: base[:2],
			local: []Entry{base[0], with(base[1], func(e *Entry) { e.GID = 0 })},
			want:  []string{"a/b owner"}, compared: 2},
		{name: "symlink target", primary: base[:3],
			local: []Entry{base[0], base[1], link("a/l", "c")}, want: []string{"a/l target"}, compared: 3},
		{name: "directory mtime", primary: base[:1],
			local: []Entry{with(base[0], func(e *Entry) { e.MtimeNs++ })}, want: []string{"a mtime"}, compared: 1},
		{name: "file became a directory", primary: []Entry{file("a", "x"), base[3]},
			local: []Entry{dir("a"), file("a/b", "x"), base[3]},
			want:  []string{"a type", "a/b extra"}, compared: 3},
		{name: "directory became a file", primary: []Entry{dir("a"), file("a/b", "x")},
			local: []Entry{file("a", "x")}, want: []string{"a type", "a/b missing"}, compared: 2},
		{name: "walk order across the separator", // "a/b" sorts before "a.txt" though '.' < '/'
			primary: []Entry{dir("a"), file("a/b", "x"), file("a.txt", "y")},
			local:   []Entry{dir("a"), file("a.txt", "y")},
			want:    []string{"a/b missing"}, compared: 3},
		{name: "unreadable on the primary skips its subtree on both sides",
			primary: []Entry{{Path: "a", Err: "permission denied"}, file("a.txt", "y")},
			local:   []Entry{dir("a"), file("a/b", "x"), file("a/c", "x"), file("a.txt", "y")},
			want:    []string{"a unreadable"}, compared: 2},
		{name: "unreadable here skips the primary's subtree",
			primary: []Entry{dir("a"), file("a/b", "x"), file("a/c", "x"), file("a.txt", "y")},
			local:   []Entry{with(dir("a"), func(e *Entry) { e.Err = "list directory: EIO" }), file("a.txt", "z")},
			want:    []string{"a unreadable", "a.txt content"}, compared: 2},
		{name: "unreadable extra skips the primary's entries below it",
			primary: []Entry{file("b/x", "x"), file("c", "c")},
			local:   []Entry{{Path: "b", Err: "EACCES"}, file("c", "c")},
			want:    []string{"b unreadable"}, compared: 2},
		{name: "unreadable and missing",
			primary: []Entry{{Path: "a", Kind: index.KindFile, Err: "changed while being read"}}, want: []string{"a unreadable"}, compared: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, st := merge(t, tc.primary, tc.local, tc.opts)
			if !slices.Equal(got, tc.want) {
				t.Errorf("differences\n got %q\nwant %q", got, tc.want)
			}
			if st.Compared != tc.compared || st.Differences != uint64(len(tc.want)) {
				t.Errorf("stats %+v, want compared %d and %d differences", st, tc.compared, len(tc.want))
			}
		})
	}
}

func TestMergeRefusesDisorder(t *testing.T) {
	ctx := context.Background()
	noop := func(Difference) error { return nil }
	t.Run("primary", func(t *testing.T) {
		m := NewMerger("data", &sliceSource{}, Options{}, noop)
		if err := m.Primary(ctx, file("a.txt", "")); err != nil {
			t.Fatal(err)
		}
		if err := m.Primary(ctx, file("a/b", "")); !errors.Is(err, ErrOrder) {
			t.Fatalf("a/b after a.txt: %v, want ErrOrder", err)
		}
	})
	t.Run("repeat", func(t *testing.T) {
		m := NewMerger("data", &sliceSource{}, Options{}, noop)
		_ = m.Primary(ctx, file("a", ""))
		if err := m.Primary(ctx, file("a", "")); !errors.Is(err, ErrOrder) {
			t.Fatalf("a twice: %v, want ErrOrder", err)
		}
	})
	t.Run("root", func(t *testing.T) {
		m := NewMerger("data", &sliceSource{}, Options{}, noop)
		if err := m.Primary(ctx, dir("")); !errors.Is(err, ErrOrder) {
			t.Fatalf("the root as an entry: %v, want ErrOrder", err)
		}
	})
	t.Run("local", func(t *testing.T) {
		m := NewMerger("data", &sliceSource{entries: []Entry{file("b", ""), file("a", "")}}, Options{}, noop)
		if err := m.Finish(ctx); !errors.Is(err, ErrOrder) {
			t.Fatalf("local b then a: %v, want ErrOrder", err)
		}
	})
}

func TestMergeErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	m := NewMerger("data", &sliceSource{err: boom}, Options{}, func(Difference) error { return nil })
	if err := m.Primary(ctx, file("a", "")); !errors.Is(err, boom) {
		t.Fatalf("local error: %v", err)
	}
	stop := errors.New("stop")
	m = NewMerger("data", &sliceSource{}, Options{}, func(Difference) error { return stop })
	if err := m.Primary(ctx, file("a", "")); !errors.Is(err, stop) {
		t.Fatalf("report error: %v", err)
	}
}

func TestDetail(t *testing.T) {
	p := file("a", "x")
	l := with(p, func(e *Entry) { e.Mode = 0o600; e.MtimeNs += 1500 })
	d := Difference{Path: "a", Aspects: Compare(&p, &l, Options{}), Primary: p, Local: l}
	got := d.Detail()
	for _, want := range []string{"mode: 0644 on the primary, 0600 on the secondary", "mtime: ", ".000001500Z on the secondary"} {
		if !strings.Contains(got, want) {
			t.Errorf("Detail() = %q, want it to contain %q", got, want)
		}
	}
	if s := (Mode | Content | Aspect(1<<15)).String(); s != "mode,content,0x8000" {
		t.Errorf("Aspect.String() = %q", s)
	}
}

func TestRechecks(t *testing.T) {
	r := Rechecks{MaxPaths: 3, MaxBytes: 100}
	for _, p := range []string{"a", "a/b", "a/c", "a.txt", "b/c"} {
		r.Add(p)
	}
	if got := r.Paths(); !slices.Equal(got, []string{"a", "a.txt", "b/c"}) || r.Overflow() {
		t.Fatalf("paths %q, overflow %v", got, r.Overflow())
	}
	r.Add("c")
	if !r.Overflow() || len(r.Paths()) != 3 {
		t.Fatalf("past MaxPaths: paths %q, overflow %v", r.Paths(), r.Overflow())
	}
	r = Rechecks{MaxPaths: 10, MaxBytes: 5}
	r.Add("abc")
	r.Add("defg")
	if !r.Overflow() || len(r.Paths()) != 1 {
		t.Fatalf("past MaxBytes: paths %q, overflow %v", r.Paths(), r.Overflow())
	}
}

// ExampleComparePaths shows the walk order.
func ExampleComparePaths() {
	paths := []string{"a.txt", "a/b", "a"}
	slices.SortFunc(paths, ComparePaths)
	fmt.Println(paths)
	// Output: [a a/b a.txt]
}
