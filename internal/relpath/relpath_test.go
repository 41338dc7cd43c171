package relpath

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ncsync/ncsync/ignore"
)

var good = []string{"a", "a/b", "a b/c.txt", "é/ü", ".hidden", "a/.b/c", "...", "a..b", strings.Repeat("x", MaxName),
	strings.Repeat("d/", (MaxPath-1)/2) + "f"}

var bad = map[string]string{
	"":                                 "empty",
	".":                                "root",
	"/a":                               "absolute",
	"a/":                               "not clean",
	"a//b":                             "not clean",
	"./a":                              "not clean",
	"a/./b":                            "not clean",
	"..":                               `".."`,
	"a/../b":                           `".."`,
	"a/..":                             `".."`,
	"a\x00b":                           "NUL",
	"\xff":                             "UTF-8",
	strings.Repeat("x", MaxName+1):     "component longer",
	strings.Repeat("d/", MaxPath/2+1):  "longer than 4095",
	"a/" + strings.Repeat("y", 256):    "component longer",
	strings.Repeat("a", MaxPath+1):     "longer than 4095",
	"a/b\x00/c":                        "NUL",
	"\xc3\x28":                         "UTF-8",
	"x/" + strings.Repeat("z", 300):    "component longer",
	"../x":                             `".."`,
	"x/" + strings.Repeat("../", 3):    `".."`,
	"trailing/slash/":                  "not clean",
	strings.Repeat("é", MaxName/2+1):   "component longer",
	"/":                                "absolute",
	"a/b/c/./d":                        "not clean",
	"d/e/" + strings.Repeat("q", 1000): "component longer",
}

func TestCheck(t *testing.T) {
	for _, p := range good {
		if err := Check(p); err != nil {
			t.Errorf("Check(%.40q) = %v, want nil", p, err)
		}
	}
	for p, want := range bad {
		err := Check(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%.40q) = %v, want an error saying %q", p, err, want)
		}
	}
}

func TestCheckReplicated(t *testing.T) {
	if err := CheckReplicated("a/b"); err != nil {
		t.Fatal(err)
	}
	name := ignore.ReservedPrefix + "tmp"
	for _, p := range []string{name, "a/" + name + "/x"} {
		if err := CheckReplicated(p); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("CheckReplicated(%q) = %v, want reserved", p, err)
		}
		if err := Check(p); err != nil {
			t.Errorf("Check(%q) = %v: a reserved name is still a valid local path", p, err)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		link, target, want string
	}{
		{"l", "x", ""},
		{"a/b/l", "../../c/./d/", ""},
		{"l", ".", ""},
		{"l", "", "empty"},
		{"l", "/etc/passwd", "absolute"},
		{"l", "../x", "escapes"},
		{"a/b/l", "../../../etc", "escapes"},
		{"l", "s/../x", `".." after a name`},
		{"l", "a\x00b", "NUL"},
		{"l", strings.Repeat("x", MaxPath+1), "longer"},
	} {
		err := CheckTarget(tc.link, tc.target)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckTarget(%q, %.20q) = %v, want %q", tc.link, tc.target, err, tc.want)
		}
	}
	if err := CheckTargetShape("l", "/anywhere/../at/all"); err != nil {
		t.Errorf("CheckTargetShape refuses an absolute local target: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, p := range good {
		f.Add(p)
	}
	for p := range bad {
		f.Add(p)
	}
	const root = "/srv/root"
	f.Fuzz(func(t *testing.T, p string) {
		if Check(p) != nil {
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || p == "." || p == "" {
			t.Fatalf("accepted unclean or absolute %q", p)
		}
		if !utf8.ValidString(p) || strings.ContainsRune(p, 0) || len(p) > MaxPath {
			t.Fatalf("accepted bad bytes or length %q", p)
		}
		for c := range strings.SplitSeq(p, "/") {
			if c == ".." || c == "." || c == "" || len(c) > MaxName {
				t.Fatalf("accepted component %q of %q", c, p)
			}
		}
		if j := path.Join(root, p); !strings.HasPrefix(j, root+"/") {
			t.Fatalf("%q joins to %q, outside %q", p, j, root)
		}
	})
}

func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{"../x", "a/../b", "s/../..", "./../x", "x/./y", "..//..", "/x", "", "\x00"} {
		f.Add("a/b/l", s)
	}
	f.Fuzz(func(t *testing.T, link, target string) {
		if Check(link) != nil || CheckTarget(link, target) != nil {
			return
		}
		// Accepted: resolved lexically from the link's directory, it stays
		// beneath the root, and no ".." follows a name.
		j := path.Join("/root", path.Dir(link), target)
		if j != "/root" && !strings.HasPrefix(j, "/root/") {
			t.Fatalf("%q -> %q resolves to %q", link, target, j)
		}
		named := false
		for c := range strings.SplitSeq(target, "/") {
			if c == ".." && named {
				t.Fatalf("%q: .. after a name", target)
			}
			if c != "" && c != "." && c != ".." {
				named = true
			}
		}
	})
}
