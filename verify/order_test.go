package verify

import (
	"github.com/ncsync/ncsync/index"
	"slices"
	"strings"
	"testing"
)

// refCompare is the definition of walk order: component lists compared
// lexicographically, components bytewise, a prefix first.
func refCompare(a, b string) int {
	return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
}

var orderCases = []struct {
	a, b string
	want int
}{
	{"a", "a", 0},
	{"a", "b", -1},
	{"a/b", "a.txt", -1}, // '.' < '/' bytewise, but "a" < "a.txt"
	{"a/b", "a-b", -1},
	{"a/b", "a b", -1},
	{"a", "a/b", -1},
	{"a/b", "a/b/c", -1},
	{"a/z", "ab", -1},
	{"a/b/c", "a/bc", -1},
	{"b", "a/z", +1},
	{"A", "a", -1},
	{"é", "z", +1},
	{"a!/x", "a/x", +1},
	{"", "a", -1},
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestComparePaths(t *testing.T) {
	for _, tc := range orderCases {
		t.Run(tc.a+"|"+tc.b, func(t *testing.T) {
			if got := ComparePaths(tc.a, tc.b); got != tc.want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := ComparePaths(tc.b, tc.a); got != -tc.want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
			if got := sign(refCompare(tc.a, tc.b)); got != tc.want {
				t.Errorf("reference(%q, %q) = %d, want %d (bad case)", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// TestWalkOrderSorts: sorting with ComparePaths gives the order of a depth
// first walk with each directory's names in byte order.
func TestWalkOrderSorts(t *testing.T) {
	walk := []string{"a", "a/b", "a/b/c", "a/b-", "a.txt", "a0", "b", "b/a", "b/a b", "b/a/x", "b/a.x"}
	// The walk lists b/a's children after b/a itself and before b/a b.
	want := []string{"a", "a/b", "a/b/c", "a/b-", "a.txt", "a0", "b", "b/a", "b/a/x", "b/a b", "b/a.x"}
	got := slices.Clone(walk)
	slices.Reverse(got)
	slices.SortFunc(got, ComparePaths)
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %q, want %q", got, want)
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		p, dir string
		want   bool
	}{
		{"a", "", true},
		{"a", "a", true},
		{"a/b", "a", true},
		{"ab", "a", false},
		{"a.txt", "a", false},
		{"a", "a/b", false},
		{"b/a", "a", false},
	}
	for _, tc := range cases {
		if got := Within(tc.p, tc.dir); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.p, tc.dir, got, tc.want)
		}
	}
}

var pathCases = []struct {
	p  string
	ok bool
}{
	{"a", true},
	{"a/b/c.txt", true},
	{"ünï/日本", true},
	{".hidden", true},
	{"a..b", true},
	{"", false},
	{".", true}, // index.RootPath, the root's own entry
	{"/a", false},
	{"a/", false},
	{"a//b", false},
	{"./a", false},
	{"a/./b", false},
	{"..", false},
	{"a/../b", false},
	{"a/..", false},
	{"a\x00b", false},
	{"a\xffb", false},
	{".ncsync-tmp-1", false},
	{"a/.ncsync-x/b", false},
	{strings.Repeat("n", 256), false},
	{strings.Repeat("n", 255), true},
	{strings.Repeat("a/", 2048) + "a", false},
}

func TestCheckPath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.p, func(t *testing.T) {
			err := CheckPath(tc.p)
			if (err == nil) != tc.ok {
				t.Errorf("CheckPath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	cases := []struct {
		in, want []string
		bad      bool
	}{
		{in: nil, want: []string{""}},
		{in: []string{"b", "a"}, want: []string{"a", "b"}},
		{in: []string{"a.txt", "a/b", "a"}, want: []string{"a", "a.txt"}},
		{in: []string{"a/b", "a/b/c", "a/b", "a/bc"}, want: []string{"a/b", "a/bc"}},
		{in: []string{"a/b.txt", "a/b/c"}, want: []string{"a/b/c", "a/b.txt"}},
		{in: []string{"a", "../x"}, bad: true},
		{in: []string{""}, bad: true},
	}
	for _, tc := range cases {
		got, err := Targets(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("Targets(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Targets(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCover(t *testing.T) {
	cases := []struct {
		targets []string
		paths   []string
		bad     int // index of the first refused path, or -1
	}{
		{[]string{""}, []string{"a", "a/b", "a.txt", "b"}, -1},
		{[]string{""}, []string{"a", "a"}, 1},
		{[]string{""}, []string{"a.txt", "a/b"}, 1},
		{[]string{"a", "c/d"}, []string{"a", "a/x", "c/d", "c/d/e"}, -1},
		{[]string{"a", "c/d"}, []string{"a", "b"}, 1},
		{[]string{"a", "c/d"}, []string{"c/d", "a"}, 1},
		{[]string{"a", "c/d"}, []string{"a/x", "c"}, 1},
		{[]string{"a", "c/d"}, []string{"c/d/e", "c/e"}, 1},
		{[]string{"b"}, []string{"a"}, 0},
	}
	for _, tc := range cases {
		c := NewCover(tc.targets)
		bad := -1
		for i, p := range tc.paths {
			if err := c.Check(p); err != nil {
				bad = i
				break
			}
		}
		if bad != tc.bad {
			t.Errorf("targets %q, paths %q: first refused %d, want %d", tc.targets, tc.paths, bad, tc.bad)
		}
	}
}

func FuzzComparePaths(f *testing.F) {
	for _, tc := range orderCases {
		f.Add(tc.a, tc.b, "a/b")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, ba := ComparePaths(a, b), ComparePaths(b, a)
		if ab != -ba {
			t.Fatalf("not antisymmetric: (%q, %q) = %d, reversed %d", a, b, ab, ba)
		}
		if ref := sign(refCompare(a, b)); ab != ref {
			t.Fatalf("ComparePaths(%q, %q) = %d, reference %d", a, b, ab, ref)
		}
		if (ab == 0) != (a == b) {
			t.Fatalf("ComparePaths(%q, %q) = 0 for different paths or != 0 for equal ones", a, b)
		}
		bc, ac := ComparePaths(b, c), ComparePaths(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if Within(b, a) && a != b && a != "" && ab >= 0 {
			t.Fatalf("%q lies within %q but does not come after it", b, a)
		}
	})
}

func FuzzCheckPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if p == index.RootPath {
			return // the root's own entry
		}
		if p == "" || p[0] == '/' || strings.Contains(p, "//") || strings.HasSuffix(p, "/") ||
			strings.IndexByte(p, 0) >= 0 || len(p) > 4095 {
			t.Fatalf("CheckPath accepted %q", p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == "." || c == ".." || len(c) > 255 || strings.HasPrefix(c, ".ncsync-") {
				t.Fatalf("CheckPath accepted %q (component %q)", p, c)
			}
		}
	})
}

// FuzzCover: whatever paths a peer sends, Cover accepts only strictly
// ordered paths within the targets.
func FuzzCover(f *testing.F) {
	f.Add("a\nc/d", "a\na/x\nc/d\nc/d/e")
	f.Add("", "a\na.txt\na/b")
	f.Fuzz(func(t *testing.T, targetList, pathList string) {
		var in []string
		if targetList != "" {
			in = strings.Split(targetList, "\n")
		}
		targets, err := Targets(in)
		if err != nil {
			return
		}
		c := NewCover(targets)
		prev := ""
		for i, p := range strings.Split(pathList, "\n") {
			if c.Check(p) != nil {
				return
			}
			if i > 0 && ComparePaths(prev, p) >= 0 {
				t.Fatalf("accepted %q after %q", p, prev)
			}
			if !slices.ContainsFunc(targets, func(tg string) bool { return Within(p, tg) }) {
				t.Fatalf("accepted %q outside %q", p, targets)
			}
			prev = p
		}
	})
}
