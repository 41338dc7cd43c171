// Package relpath owns the rules for folder-relative paths and symlink
// targets: what the index stores, what a peer may send, what apply writes
// beneath a folder root, what a verify manifest carries and what the
// conflict store records. Every package that checks such a path calls
// these functions; none writes its own variant.
package relpath

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/ncsync/ncsync/ignore"
)

// Limits, from Linux: NAME_MAX and PATH_MAX less the terminating NUL.
const (
	MaxName = 255
	MaxPath = 4095
)

// Error says why a path or target is refused.
type Error struct {
	Path   string
	Reason string
}

func (e *Error) Error() string { return "path " + quote(e.Path) + ": " + e.Reason }

// quote keeps error text short and printable even for hostile paths.
func quote(p string) string {
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return `"` + strings.ToValidUTF8(strings.ReplaceAll(p, "\x00", `\0`), "\uFFFD") + `"`
}

// Check reports whether p is a folder-relative path: relative, clean
// (path.Clean(p) == p), not empty and not "." (the root), no ".."
// component, no NUL, valid UTF-8, no component over MaxName bytes and at
// most MaxPath bytes in all. The error is an *Error.
func Check(p string) error {
	bad := func(reason string) error { return &Error{Path: p, Reason: reason} }
	switch {
	case p == "":
		return bad("empty")
	case p == ".":
		return bad("names the folder root")
	case len(p) > MaxPath:
		return bad("longer than 4095 bytes")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains NUL")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case p[0] == '/':
		return bad("absolute")
	}
	for c := range strings.SplitSeq(p, "/") {
		switch {
		case c == "..":
			return bad(`contains ".."`)
		case len(c) > MaxName:
			return bad("component longer than 255 bytes")
		}
	}
	if path.Clean(p) != p {
		return bad(`not clean (empty, "." or trailing component)`)
	}
	return nil
}

// CheckReplicated is Check for a path that replication may carry between
// nodes: also no component reserved by ncsync (its temp and state names).
func CheckReplicated(p string) error {
	if err := Check(p); err != nil {
		return err
	}
	for c := range strings.SplitSeq(p, "/") {
		if ignore.Reserved(c) {
			return &Error{Path: p, Reason: "uses a name reserved by ncsync"}
		}
	}
	return nil
}

// CheckTargetShape reports whether target can be a symlink's target at
// all: 1 to MaxPath bytes, no NUL. A local symlink that ncsync keeps (the
// conflict store) may point anywhere.
func CheckTargetShape(link, target string) error {
	switch {
	case target == "":
		return &Error{Path: link, Reason: "empty symlink target"}
	case len(target) > MaxPath:
		return &Error{Path: link, Reason: "symlink target longer than 4095 bytes"}
	case strings.IndexByte(target, 0) >= 0:
		return &Error{Path: link, Reason: "symlink target contains NUL"}
	}
	return nil
}

// CheckTarget reports whether a replicated symlink at link (a Check'ed
// path) may point at target: CheckTargetShape, relative, and resolved from
// the link's directory it stays beneath the folder root. ".." may only
// lead the target ("../../a/b"): after a name it could climb out through a
// component that is itself a symlink.
func CheckTarget(link, target string) error {
	if err := CheckTargetShape(link, target); err != nil {
		return err
	}
	if target[0] == '/' {
		return &Error{Path: link, Reason: "symlink target " + quote(target) + " is absolute"}
	}
	depth := strings.Count(link, "/") // directories between the root and the link
	up, named := 0, false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return &Error{Path: link, Reason: "symlink target " + quote(target) + ` has ".." after a name`}
			}
			if up++; up > depth {
				return &Error{Path: link, Reason: "symlink target " + quote(target) + " escapes the folder root"}
			}
		default:
			named = true
		}
	}
	return nil
}
