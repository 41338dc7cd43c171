package ignore

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// oracleMatch is Match computed another way: each compiled rule is turned
// into a regular expression (RE2: linear time, no backtracking bugs of its
// own) over the whole path. It checks the matching algorithms, not the
// parser, which the table tests pin down.
func oracleMatch(t testing.TB, m *Matcher, p string, isDir bool) bool {
	t.Helper()
	if p == "" {
		return false
	}
	for i := len(m.set.Load().rules) - 1; i >= 0; i-- {
		r := m.set.Load().rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		re, err := regexp.Compile(ruleRegexp(r))
		if err != nil {
			t.Fatalf("oracle regexp for %q: %v", m.set.Load().patterns[i], err)
		}
		if re.MatchString(p) {
			return !r.negate
		}
	}
	return false
}

func ruleRegexp(r rule) string {
	var b strings.Builder
	b.WriteString("(?s)^") // names may contain newlines
	if r.base {
		b.WriteString("(?:.*/)?")
		b.WriteString(segRegexp(r.segs[0]))
		b.WriteString("$")
		return b.String()
	}
	last := len(r.segs) - 1
	for i, s := range r.segs {
		if s.kind == segDoubleStar {
			if i == last {
				b.WriteString(".*")
			} else {
				b.WriteString("(?:[^/]+/)*")
			}
			continue
		}
		b.WriteString(segRegexp(s))
		if i != last {
			b.WriteString("/")
		}
	}
	b.WriteString("$")
	return b.String()
}

func segRegexp(s segment) string {
	switch s.kind {
	case segLiteral:
		return regexp.QuoteMeta(s.lit)
	case segAny:
		return "[^/]*"
	case segPrefix:
		return regexp.QuoteMeta(s.lit) + "[^/]*"
	case segSuffix:
		return "[^/]*" + regexp.QuoteMeta(s.lit)
	}
	var b strings.Builder
	b.WriteString(regexp.QuoteMeta(s.pre))
	for _, t := range s.toks {
		switch t.kind {
		case tokRune:
			b.WriteString(regexp.QuoteMeta(string(t.r)))
		case tokAny:
			b.WriteString("[^/]")
		case tokStar:
			b.WriteString("[^/]*")
		case tokClass:
			b.WriteString("[")
			if t.class.negate {
				b.WriteString("^/")
			}
			for _, rg := range t.class.ranges {
				fmt.Fprintf(&b, `\x{%x}-\x{%x}`, rg.lo, rg.hi)
			}
			for name, bit := range posixClasses {
				if t.class.posix&bit != 0 {
					b.WriteString("[:" + name + ":]")
				}
			}
			b.WriteString("]")
		}
	}
	b.WriteString(regexp.QuoteMeta(s.suf))
	return b.String()
}

func cleanRelative(p string) bool {
	return p != "" && utf8.ValidString(p) && path.Clean(p) == p && !path.IsAbs(p) &&
		p != ".." && !strings.HasPrefix(p, "../")
}

// FuzzMatch: New never panics on arbitrary patterns (one per line), and for
// every valid set Match and MatchPath never panic and Match agrees with the
// regexp oracle.
func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(strings.Join(c.patterns, "\n"), c.path, c.dir)
	}
	f.Add(strings.Join(NextcloudDefaults, "\n"), "alice/uploads/x", false)
	f.Add("[[:alpha:]-z]\n!a", "b", false)
	f.Add("**/**/*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaa", true)
	f.Fuzz(func(t *testing.T, patterns, p string, isDir bool) {
		m, err := New(strings.Split(patterns, "\n"))
		if err != nil {
			return
		}
		m.MatchPath(p, isDir) // any input: must not panic
		if !cleanRelative(p) {
			return
		}
		got := m.Match(p, isDir)
		if want := oracleMatch(t, m, p, isDir); got != want {
			t.Fatalf("patterns %q path %q dir %v: Match = %v, oracle = %v", m.set.Load().patterns, p, isDir, got, want)
		}
	})
}
