// Package ignore decides which paths of a folder ncsync leaves alone. It
// implements gitignore-style patterns relative to the folder root and names
// the files ncsync itself creates in a tree (Reserved).
//
// Pattern syntax, as in gitignore(5):
//   - blank lines and lines starting with "#" are ignored; "\#" is a literal #
//   - trailing spaces are dropped unless escaped ("a\ ")
//   - "!" negates: a path matched by a later negated pattern is not ignored;
//     the last matching pattern wins ("\!" is a literal !)
//   - a trailing "/" matches directories only
//   - a pattern with a "/" at its start or in the middle is anchored to the
//     folder root; a leading "/" is dropped. Otherwise it matches the last
//     component at any depth
//   - "*" matches any run of characters except "/", "?" one character except
//     "/", "[a-z]", "[!a-z]" and "[^a-z]" one character from (or not from) a
//     set; "[:alpha:]" and the other POSIX classes (ASCII) may appear in a set
//   - "**/" at the start matches in all directories, "/**" at the end
//     everything inside, "/**/" in the middle zero or more directories; other
//     runs of "*" act as one "*"
//   - "\" escapes the next character
//
// Characters are UTF-8 runes; matching is case-sensitive. Unlike git, an
// invalid pattern (unterminated set, trailing backslash, empty, "." or ".."
// components, invalid UTF-8) is an error, so a typo in the configuration is
// reported instead of silently matching nothing.
package ignore

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// ReservedPrefix starts the name of every file or directory ncsync creates
// inside a replicated tree (a secondary's temp files while it assembles a
// file). Such names are never scanned, never replicated and never accepted
// from a peer.
const ReservedPrefix = ".ncsync-"

// Reserved reports whether name, one path component, is one of ncsync's own
// names (it begins with ReservedPrefix). The scanner skips these and the
// secondary's writer uses the same prefix for its temp files, so a temp file
// left by a crash on a promoted secondary is never replicated back.
func Reserved(name string) bool {
	return strings.HasPrefix(name, ReservedPrefix)
}

// ErrInvalidPattern is wrapped by every error New returns for a bad pattern.
var ErrInvalidPattern = errors.New("invalid pattern")

// Matcher holds compiled patterns. It is safe for concurrent use, and its
// patterns change only all at once, by Replace (a config reload): every
// holder of the Matcher sees the new ones from its next call on. A nil
// *Matcher ignores nothing.
type Matcher struct {
	set atomic.Pointer[ruleSet]
}

// ruleSet is one compiled list of patterns, never changed once stored.
type ruleSet struct {
	patterns []string
	rules    []rule
}

// New compiles patterns in order. Blank lines and comments are allowed and
// skipped. An invalid pattern is an error naming it.
func New(patterns []string) (*Matcher, error) {
	rs := &ruleSet{}
	for _, p := range patterns {
		r, ok, err := compile(p)
		if err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", p, err)
		}
		if !ok {
			continue
		}
		rs.patterns = append(rs.patterns, p)
		rs.rules = append(rs.rules, r)
	}
	m := &Matcher{}
	m.set.Store(rs)
	return m, nil
}

// Replace gives m the patterns of n (compiled by New), atomically: a Match
// running meanwhile sees either list whole.
func (m *Matcher) Replace(n *Matcher) {
	rs := &ruleSet{}
	if n != nil {
		rs = n.set.Load()
	}
	m.set.Store(rs)
}

// Patterns returns the effective patterns (comments and blank lines
// dropped) as they were given to New.
func (m *Matcher) Patterns() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.set.Load().patterns...)
}

// Match reports whether path is ignored by the patterns alone. path is
// slash separated, relative to the folder root and clean ("" is the root,
// which is never ignored); isDir says whether it names a directory.
//
// Match looks at path itself only, not at its parents: a caller walking the
// tree top down never descends into an ignored directory, so everything
// under it is ignored without being asked about. A caller holding a lone
// path must use MatchPath. As in git, a negated pattern cannot re-include a
// path whose parent directory is ignored.
//
// Match does not allocate.
func (m *Matcher) Match(path string, isDir bool) bool {
	if m == nil || path == "" {
		return false
	}
	base := path[strings.LastIndexByte(path, '/')+1:]
	rules := m.set.Load().rules
	for i := len(rules) - 1; i >= 0; i-- {
		r := &rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		var ok bool
		if r.base {
			ok = r.segs[0].match(base)
		} else {
			ok = matchSegs(r.segs, path)
		}
		if ok {
			return !r.negate
		}
	}
	return false
}

// MatchPath reports whether path is ignored, either itself or because one
// of its parent directories is.
func (m *Matcher) MatchPath(path string, isDir bool) bool {
	if m == nil || path == "" {
		return false
	}
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && m.Match(path[:i], true) {
			return true
		}
	}
	return m.Match(path, isDir)
}
