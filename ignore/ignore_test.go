package ignore

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type matchCase struct {
	name     string
	patterns []string
	path     string
	dir      bool
	want     bool
}

var matchCases = []matchCase{
	// Unanchored names match at any depth.
	{"name at root", []string{"foo"}, "foo", false, true},
	{"name deep", []string{"foo"}, "a/b/foo", false, true},
	{"name is dir", []string{"foo"}, "a/foo", true, true},
	{"name not prefix", []string{"foo"}, "foobar", false, false},
	{"name not parent", []string{"foo"}, "foo/bar", false, false},
	{"star ext", []string{"*.log"}, "a/b/x.log", false, true},
	{"star ext no", []string{"*.log"}, "a/b/x.logs", false, false},
	{"star prefix", []string{"tmp*"}, "a/tmpfile", false, true},
	{"star middle", []string{"a*c"}, "x/abbbc", false, true},
	{"star middle no", []string{"a*c"}, "x/abbbd", false, false},
	{"star empty run", []string{"a*c"}, "ac", false, true},
	{"star alone", []string{"*"}, "x/y/z", false, true},
	{"question", []string{"?.txt"}, "a.txt", false, true},
	{"question not empty", []string{"?.txt"}, ".txt", false, false},
	{"question not two", []string{"?.txt"}, "ab.txt", false, false},
	{"question rune", []string{"?.txt"}, "é.txt", false, true},
	{"many stars", []string{"*a*b*c*"}, "xxaxxbxxcxx", false, true},
	{"many stars no", []string{"*a*b*c*"}, "xxaxxcxxbxx", false, false},
	{"star backtrack", []string{"*ab"}, "aab", false, true},
	{"ocTransfer", []string{"*.ocTransferId*.part"}, "alice/files/report.pdf.ocTransferId123456.part", false, true},
	{"ocTransfer plain part", []string{"*.ocTransferId*.part"}, "alice/files/x.part", false, false},

	// Character classes.
	{"class", []string{"[abc].txt"}, "b.txt", false, true},
	{"class no", []string{"[abc].txt"}, "d.txt", false, false},
	{"class range", []string{"file[0-9]"}, "file7", false, true},
	{"class range no", []string{"file[0-9]"}, "filex", false, false},
	{"class negate bang", []string{"[!a]x"}, "bx", false, true},
	{"class negate bang no", []string{"[!a]x"}, "ax", false, false},
	{"class negate caret", []string{"[^a]x"}, "ax", false, false},
	{"class bracket first", []string{"[]a]"}, "]", false, true},
	{"class escaped bracket", []string{`[\]]`}, "]", false, true},
	{"class dash last", []string{"[a-]"}, "-", false, true},
	{"class unicode range", []string{"[α-ω]"}, "λ", false, true},
	{"class posix", []string{"[[:digit:]]x"}, "7x", false, true},
	{"class posix no", []string{"[[:digit:]]x"}, "ax", false, false},
	{"class posix upper", []string{"[[:upper:]]*"}, "Readme", false, true},
	{"class star class", []string{"[ab]*[cd]"}, "abxxd", false, true},

	// Anchoring.
	{"anchored root", []string{"/foo"}, "foo", false, true},
	{"anchored not deep", []string{"/foo"}, "a/foo", false, false},
	{"slash in middle anchors", []string{"a/b"}, "a/b", false, true},
	{"slash in middle not deep", []string{"a/b"}, "x/a/b", false, false},
	{"anchored star dir", []string{"/*/uploads/"}, "alice/uploads", true, true},
	{"anchored star dir deeper no", []string{"/*/uploads/"}, "alice/files/uploads", true, false},
	{"anchored star dir file no", []string{"/*/uploads/"}, "alice/uploads", false, false},
	{"anchored star no slash cross", []string{"a/*.txt"}, "a/b/c.txt", false, false},
	{"anchored star", []string{"a/*.txt"}, "a/c.txt", false, true},

	// Directories only.
	{"dir only dir", []string{"build/"}, "x/build", true, true},
	{"dir only file", []string{"build/"}, "x/build", false, false},
	{"dir only anchored", []string{"/updater-*/"}, "updater-oc1234", true, true},
	{"dir only anchored deep no", []string{"/updater-*/"}, "a/updater-oc1234", true, false},

	// Double star.
	{"leading ** root", []string{"**/foo"}, "foo", false, true},
	{"leading ** deep", []string{"**/foo"}, "a/b/c/foo", false, true},
	{"leading ** not child", []string{"**/foo"}, "foo/x", false, false},
	{"leading ** two", []string{"**/foo/bar"}, "x/foo/bar", false, true},
	{"leading ** two no", []string{"**/foo/bar"}, "x/foo/y/bar", false, false},
	{"trailing ** inside", []string{"abc/**"}, "abc/x", false, true},
	{"trailing ** deep", []string{"abc/**"}, "abc/x/y/z", true, true},
	{"trailing ** not itself", []string{"abc/**"}, "abc", true, false},
	{"trailing ** anchored", []string{"abc/**"}, "q/abc/x", false, false},
	{"middle ** zero", []string{"a/**/b"}, "a/b", false, true},
	{"middle ** one", []string{"a/**/b"}, "a/x/b", false, true},
	{"middle ** many", []string{"a/**/b"}, "a/x/y/z/b", false, true},
	{"middle ** no", []string{"a/**/b"}, "a/x/y/c", false, false},
	{"middle ** backtrack", []string{"a/**/b/c"}, "a/b/x/b/c", false, true},
	{"two middle **", []string{"a/**/b/**/c"}, "a/1/b/2/3/c", false, true},
	{"** alone", []string{"**"}, "a/b", false, true},
	{"** dirs", []string{"**/"}, "a/b", true, true},
	{"** dirs file", []string{"**/"}, "a/b", false, false},
	{"** in name is star", []string{"a**b"}, "x/aXXb", false, true},
	{"** in name no slash", []string{"/a**b"}, "aX/b", false, false},

	// Negation: the last matching pattern wins.
	{"negate", []string{"*.log", "!keep.log"}, "keep.log", false, false},
	{"negate other", []string{"*.log", "!keep.log"}, "drop.log", false, true},
	{"negate then again", []string{"*.log", "!keep.log", "keep*"}, "keep.log", false, true},
	{"negate first no effect", []string{"!a", "a"}, "a", false, true},
	{"negate dir only", []string{"x", "!x/"}, "x", true, false},
	{"negate dir only file", []string{"x", "!x/"}, "x", false, true},

	// Escapes, comments, blanks, spaces.
	{"escaped hash", []string{`\#notes`}, "#notes", false, true},
	{"comment", []string{"#notes"}, "#notes", false, false},
	{"escaped bang", []string{`\!important`}, "!important", false, true},
	{"escaped star", []string{`a\*`}, "a*", false, true},
	{"escaped star literal", []string{`a\*`}, "ab", false, false},
	{"escaped question", []string{`a\?`}, "ab", false, false},
	{"escaped bracket", []string{`\[x]`}, "[x]", false, true},
	{"escaped backslash", []string{`a\\b`}, `a\b`, false, true},
	{"trailing space dropped", []string{"foo  "}, "foo", false, true},
	{"escaped trailing space", []string{`foo\ `}, "foo ", false, true},
	{"escaped trailing space strict", []string{`foo\ `}, "foo", false, false},
	{"blank line", []string{"", "   "}, "x", false, false},
	{"space in name", []string{"my file.txt"}, "docs/my file.txt", false, true},
	{"space in anchored", []string{"/My Documents/"}, "My Documents", true, true},
	{"unicode name", []string{"Übersicht*.ods"}, "Finanzen/Übersicht 2024.ods", false, true},
	{"unicode dir", []string{"/写真/**"}, "写真/2024/a.jpg", false, true},
	{"newline in name", []string{"a?b"}, "a\nb", false, true},
	{"leading dash", []string{"-rf"}, "x/-rf", false, true},
	{"dotfile", []string{".*"}, "a/.hidden", false, true},
	{"root never", []string{"*"}, "", true, false},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(c.path, c.dir); got != c.want {
				t.Errorf("Match(%q, %v) with %q = %v, want %v", c.path, c.dir, c.patterns, got, c.want)
			}
			if got, want := m.Match(c.path, c.dir), oracleMatch(t, m, c.path, c.dir); got != want {
				t.Errorf("oracle disagrees: Match = %v, oracle = %v", got, want)
			}
		})
	}
}

func TestMatchPath(t *testing.T) {
	cases := []struct {
		name     string
		patterns []string
		path     string
		dir      bool
		match    bool // Match alone
		matchP   bool // MatchPath
	}{
		{"parent ignored", []string{"build/"}, "build/out/a.o", false, false, true},
		{"grandparent anchored", []string{"/*/uploads/"}, "alice/uploads/web-123/00001", false, false, true},
		{"negation cannot reinclude", []string{"cache/", "!keep"}, "cache/keep", false, false, true},
		{"nothing ignored", []string{"*.log"}, "a/b/c.txt", false, false, false},
		{"self ignored", []string{"*.log"}, "a/b/c.log", false, true, true},
		{"parent file pattern is dir too", []string{"tmp"}, "x/tmp/y", false, false, true},
		{"dir-only parent", []string{"/updater-*/"}, "updater-abc/backups/x.zip", false, false, true},
		{"negated parent reincludes", []string{"*", "!a/", "!a/b"}, "a/b", false, false, false},
		{"negated parent other child", []string{"*", "!a/", "!a/b"}, "a/c", false, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(c.path, c.dir); got != c.match {
				t.Errorf("Match(%q) = %v, want %v", c.path, got, c.match)
			}
			if got := m.MatchPath(c.path, c.dir); got != c.matchP {
				t.Errorf("MatchPath(%q) = %v, want %v", c.path, got, c.matchP)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{"[abc", "unterminated ["},
		{"a[", "unterminated ["},
		{"[]", "unterminated ["},
		{"[!]", "unterminated ["},
		{"[[:alpha:", "unterminated [:"},
		{"[[:nope:]]", "unknown character class"},
		{"[z-a]", "reversed"},
		{`abc\`, "trailing backslash"},
		{`a\/b`, "escaped slash"},
		{"/", "matches nothing"},
		{"!", "matches nothing"},
		{"!/", "matches nothing"},
		{"a//b", "empty path component"},
		{"//a", "empty path component"},
		{"a/../b", `".." component`},
		{"./a", `"." component`},
		{"a\xffb", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			_, err := New([]string{"ok", c.pattern})
			if err == nil {
				t.Fatalf("New(%q) succeeded", c.pattern)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("error %v does not wrap ErrInvalidPattern", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ignore pattern ") {
				t.Errorf("error %q does not name the problem %q", err, c.want)
			}
			if !strings.Contains(err.Error(), strconv.Quote(c.pattern)) {
				t.Errorf("error %q does not name the pattern", err)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	in := []string{"# comment", "", "a", "!b", "   ", "/c/"}
	m, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Patterns()
	if want := []string{"a", "!b", "/c/"}; !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if m.Patterns()[0] != "a" {
		t.Error("Patterns returned the internal slice")
	}
}

func TestNilMatcher(t *testing.T) {
	var m *Matcher
	if m.Match("a", false) || m.MatchPath("a/b", true) || m.Patterns() != nil {
		t.Fatal("nil Matcher ignores something")
	}
}

func TestReserved(t *testing.T) {
	cases := map[string]bool{
		".ncsync-tmp-abc": true,
		".ncsync-":        true,
		".ncsync":         false,
		"ncsync-x":        false,
		"a.ncsync-x":      false,
		".ncsyncfoo":      false,
	}
	for name, want := range cases {
		if got := Reserved(name); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNextcloudDefaults(t *testing.T) {
	m, err := New(NextcloudDefaults)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		dir  bool
		want bool
	}{
		{"alice/uploads", true, true},
		{"alice/uploads/web-file-upload-123/00000", false, true}, // via parent
		{"alice/files/uploads", true, false},                     // a user's own folder named uploads
		{"alice/files/Report.docx.ocTransferId1234567890.part", false, true},
		{"alice/files/movie.part", false, false},
		{"nextcloud.log", false, true},
		{"audit.log", false, true},
		{"alice/files/nextcloud.log", false, false},
		{"updater-oc8s7d6f5g", true, true},
		{"updater-oc8s7d6f5g/backups/nextcloud-25.0.0.zip", false, true},
		{"appdata_oc8s7d6f5g/preview/1/2/3/256-256.png", false, false},
		{".ocdata", false, false},
		{"index.html", false, false},
		{".htaccess", false, false},
		{"alice/files/Photos/IMG_0001.jpg", false, false},
	}
	for _, c := range cases {
		if got := m.MatchPath(c.path, c.dir); got != c.want {
			t.Errorf("MatchPath(%q, %v) = %v, want %v", c.path, c.dir, got, c.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := New(append(slices.Clone(NextcloudDefaults), "[[:digit:]]*.tmp", "a/**/b/*.x", "!keep.log"))
	if err != nil {
		t.Fatal(err)
	}
	paths := benchPaths()
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			m.Match(p, false)
			m.MatchPath(p, true)
		}
	})
	if allocs != 0 {
		t.Fatalf("Match allocates %.1f times per run", allocs)
	}
}

func benchPaths() []string {
	return []string{
		"alice/files/Photos/2023/IMG_0001.jpg",
		"alice/uploads/web-file-upload-1/00001",
		"bob/files/Documents/Übersicht 2024.ods",
		"appdata_oc123/preview/a/b/c/d/e/f/g/1234/256-256-max.png",
		"nextcloud.log",
		"alice/files/Report.docx.ocTransferId1234567890.part",
	}
}

func BenchmarkMatch(b *testing.B) {
	m, err := New(append(slices.Clone(NextcloudDefaults), "[[:digit:]]*.tmp", "a/**/b/*.x", "!keep.log"))
	if err != nil {
		b.Fatal(err)
	}
	paths := benchPaths()
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			m.Match(p, false)
		}
	}
	b.ReportMetric(float64(b.N*len(paths))/b.Elapsed().Seconds(), "paths/s")
}
