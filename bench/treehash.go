package bench

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/ncsync/ncsync/ignore"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

// Hash is a BLAKE3-256 digest of a tree.
type Hash [32]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// node is what a tree comparison looks at for one entry below the root.
type node struct {
	path  string // slash-separated, relative
	mode  fs.FileMode
	mtime int64 // ns
	size  int64
	link  string // symlink target
	sum   [32]byte
}

func (n node) String() string {
	return fmt.Sprintf("%s %v size %d mtime %d", n.path, n.mode, n.size, n.mtime)
}

// TreeHash hashes everything below dir (not dir itself): each entry's path,
// type, permission bits, mtime in nanoseconds, size, symlink target and file
// content, in lexical order. Two trees with the same hash are equal in
// everything a replica must preserve except ownership.
func TreeHash(dir string) (Hash, error) {
	nodes, err := walkTree(dir, true)
	if err != nil {
		return Hash{}, err
	}
	return hashNodes(nodes), nil
}

func hashNodes(nodes []node) Hash {
	h := blake3.New()
	var b [8]byte
	num := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.WriteString(s)
	}
	for _, n := range nodes {
		str(n.path)
		num(uint64(n.mode))
		num(uint64(n.mtime))
		num(uint64(n.size))
		str(n.link)
		h.Write(n.sum[:])
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// CompareTrees lists up to max differences between trees a and b (paths
// missing on one side, or differing in type, mode, mtime, size, target or,
// with content, in their bytes). An empty list means equal.
func CompareTrees(a, b string, content bool, max int) ([]string, error) {
	return compareTreesWith(a, b, content, max, exact)
}

// compareOptions say what a comparison leaves out: a tool's own marker and
// temporary files, and directory mtimes for tools that do not keep them.
type compareOptions struct {
	// skip reports names (base names) to leave out, with what is below.
	skip func(name string) bool
	// noDirMtime leaves out directories' mtimes.
	noDirMtime bool
	// dirMtimeSec compares directories' mtimes in whole seconds: rsync
	// (protocol 31) sets a directory's mtime only when the whole seconds
	// differ, so a directory changed within the second of the copy keeps
	// the copy's nanoseconds.
	dirMtimeSec bool
}

// rsyncCompare is how rsync-based tools' targets are compared.
var rsyncCompare = compareOptions{dirMtimeSec: true}

// dirMtime applies opt to a directory's mtime in ns.
func (opt compareOptions) dirMtime(ns int64) int64 {
	switch {
	case opt.noDirMtime:
		return 0
	case opt.dirMtimeSec:
		return ns - ns%1e9
	}
	return ns
}

// exact compares everything.
var exact = compareOptions{}

// ncsyncCompare leaves out the names ncsync reserves on a secondary (its
// private temp directory and conflict store at the folder root).
var ncsyncCompare = compareOptions{skip: ignore.Reserved}

func compareTreesWith(a, b string, content bool, max int, opt compareOptions) ([]string, error) {
	na, err := walkTreeWith(a, content, opt)
	if err != nil {
		return nil, err
	}
	nb, err := walkTreeWith(b, content, opt)
	if err != nil {
		return nil, err
	}
	return diffNodes(na, nb, max), nil
}

// diffNodes lists up to max differences between two sorted listings.
func diffNodes(na, nb []node, max int) []string {
	var diffs []string
	add := func(format string, args ...any) bool {
		diffs = append(diffs, fmt.Sprintf(format, args...))
		return len(diffs) >= max
	}
	i, j := 0, 0
	for i < len(na) || j < len(nb) {
		switch {
		case j == len(nb) || (i < len(na) && na[i].path < nb[j].path):
			if add("only in source: %q", na[i].path) {
				return diffs
			}
			i++
		case i == len(na) || nb[j].path < na[i].path:
			if add("only in target: %q", nb[j].path) {
				return diffs
			}
			j++
		default:
			x, y := na[i], nb[j]
			if x.mode != y.mode || x.mtime != y.mtime || x.size != y.size || x.link != y.link || x.sum != y.sum {
				if add("differs: %q: source %v size %d mtime %d, target %v size %d mtime %d, content equal %v",
					x.path, x.mode, x.size, x.mtime, y.mode, y.size, y.mtime, x.sum == y.sum) {
					return diffs
				}
			}
			i++
			j++
		}
	}
	return diffs
}

// walkTree lists the entries below dir in lexical order of their
// slash-separated paths, hashing file content (in parallel: on a busy disk
// the latency of opening many small files dominates) when content is set.
func walkTree(dir string, content bool) ([]node, error) {
	return walkTreeWith(dir, content, exact)
}

func walkTreeWith(dir string, content bool, opt compareOptions) ([]node, error) {
	var nodes []node
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed by the tool while walking
			}
			return fmt.Errorf("walk %q: %w", p, err)
		}
		if p == dir {
			return nil
		}
		if opt.skip != nil && opt.skip(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat %q: %w", p, err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		n := node{path: filepath.ToSlash(rel), mode: fi.Mode(), mtime: mtimeNs(fi)}
		if fi.IsDir() {
			n.mtime = opt.dirMtime(n.mtime)
		}
		switch {
		case fi.Mode().IsRegular():
			n.size = fi.Size()
		case fi.Mode()&fs.ModeSymlink != 0:
			if n.link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("readlink %q: %w", p, err)
			}
		}
		nodes = append(nodes, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The walk's order (by name within each directory) differs from the
	// order of whole paths ("a-b" < "a/b"), which CompareTrees merges on.
	slices.SortFunc(nodes, func(x, y node) int { return strings.Compare(x.path, y.path) })
	if content {
		if err := hashContent(dir, nodes); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// hashContent fills in the content hash of every regular file in nodes.
func hashContent(dir string, nodes []node) error {
	var g errgroup.Group
	var next atomic.Int64
	for range 4 {
		g.Go(func() error {
			h := blake3.New()
			buf := make([]byte, 1<<20)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(nodes) {
					return nil
				}
				if !nodes[i].mode.IsRegular() {
					continue
				}
				sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(nodes[i].path)), h, buf)
				if err != nil {
					return err
				}
				nodes[i].sum = sum
			}
		})
	}
	return g.Wait()
}

func mtimeNs(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Mtim.Sec*1e9 + st.Mtim.Nsec
	}
	return fi.ModTime().UnixNano()
}

func hashFile(p string, h *blake3.Hasher, buf []byte) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, fmt.Errorf("open %q: %w", p, err)
	}
	defer f.Close()
	h.Reset()
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("read %q: %w", p, err)
		}
	}
	h.Sum(sum[:0])
	return sum, nil
}
