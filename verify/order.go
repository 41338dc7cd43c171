package verify

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/relpath"
)

// ComparePaths orders two clean relative paths in walk order: depth first,
// the names of each directory in byte order. It compares component by
// component, so a parent comes before its children and "a/b" comes before
// "a.txt" (the component "a" is a prefix of "a.txt"), although '.' < '/'
// bytewise. The root's own entry (index.RootPath) comes before every other
// path. It returns -1, 0 or +1. It does not allocate.
func ComparePaths(a, b string) int {
	if a == index.RootPath || b == index.RootPath {
		return compareRoot(a, b)
	}
	n := min(len(a), len(b))
	for i := range n {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		// The separator ranks below every byte: the path whose component
		// ends here comes first.
		switch {
		case ca == '/':
			return -1
		case cb == '/':
			return +1
		case ca < cb:
			return -1
		default:
			return +1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return +1
	}
	return 0
}

// compareRoot is ComparePaths when a or b is index.RootPath: only "" (no
// path yet, as a stream's predecessor) comes before it.
func compareRoot(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return +1
	case a == index.RootPath:
		return -1
	}
	return +1
}

// Within reports whether p is dir or lies below it. The root "" contains
// every path, its own entry (index.RootPath) included; index.RootPath
// contains only itself.
func Within(p, dir string) bool {
	if dir == "" {
		return true
	}
	return strings.HasPrefix(p, dir) && (len(p) == len(dir) || p[len(dir)] == '/')
}

// ErrBadPath is wrapped by the errors of CheckPath.
var ErrBadPath = errors.New("invalid path")

// CheckPath reports whether p is a path a manifest may carry: a path that
// replication may carry (relpath.CheckReplicated), or the root's own entry
// (index.RootPath).
func CheckPath(p string) error {
	if p == index.RootPath {
		return nil
	}
	if err := relpath.CheckReplicated(p); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPath, err)
	}
	return nil
}

// Targets checks paths with CheckPath and returns them in walk order
// without the ones below another (a path covers its subtree) or repeated.
// No paths means the whole folder: the result is [""].
func Targets(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return []string{""}, nil
	}
	out := slices.Clone(paths)
	for _, p := range out {
		if err := CheckPath(p); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, ComparePaths)
	// In walk order a subtree follows its root directly, so comparing with
	// the last kept path drops every covered one.
	kept := out[:1]
	for _, p := range out[1:] {
		if !Within(p, kept[len(kept)-1]) {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// Cover checks that entries of a stream restricted to targets (from
// Targets) come in strict walk order and each lies within a target. The
// zero value is not usable; use NewCover.
type Cover struct {
	targets []string
	i       int
	prev    string
	started bool
}

// NewCover returns a Cover for targets, which must come from Targets.
func NewCover(targets []string) *Cover {
	return &Cover{targets: targets}
}

// Check accepts p if it comes after the previous path and lies within a
// target; it keeps no more than the previous path.
func (c *Cover) Check(p string) error {
	if c.started && ComparePaths(c.prev, p) >= 0 {
		return fmt.Errorf("path %q does not come after %q in walk order", p, c.prev)
	}
	// Targets are disjoint subtrees in walk order and p only grows, so a
	// target that p is past (and not within) is done.
	for c.i < len(c.targets) && !Within(p, c.targets[c.i]) && ComparePaths(p, c.targets[c.i]) > 0 {
		c.i++
	}
	if c.i == len(c.targets) || !Within(p, c.targets[c.i]) {
		return fmt.Errorf("path %q is outside the requested paths", p)
	}
	c.prev, c.started = p, true
	return nil
}
