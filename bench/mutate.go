package bench

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// change is what a mutation did to a source tree.
type change struct {
	// touched lists the paths (slash-separated, relative to the root)
	// created, written, removed or renamed (old and new names), and their
	// parent directories: the first places to look on the target.
	touched []string
	files   int   // files written or removed
	bytes   int64 // bytes written
}

func (c *change) touch(p string) {
	c.touched = append(c.touched, p)
	if d := path.Dir(p); d != "." {
		c.touched = append(c.touched, d)
	}
}

// finish sorts and deduplicates touched.
func (c *change) finish() change {
	slices.Sort(c.touched)
	c.touched = slices.Compact(c.touched)
	return *c
}

// mutationRand is the random source of one mutation.
func mutationRand(seed uint64, what string) *rand.Rand {
	var h uint64 = 0xcbf29ce484222325
	for _, b := range []byte(what) {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return rand.New(rand.NewPCG(seed, h))
}

// listTree returns the regular files and the directories below root/sub
// (slash-separated, relative to root), sorted.
func listTree(root, sub string) (files, dirs []string, err error) {
	base := filepath.Join(root, filepath.FromSlash(sub))
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && p != base:
			dirs = append(dirs, rel)
		case d.Type().IsRegular():
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list %q: %w", base, err)
	}
	slices.Sort(files)
	slices.Sort(dirs)
	return files, dirs, nil
}

// upgrade does to root/TextDir what a release upgrade does to a webroot:
// small edits in a quarter of the files, a few hundred files added and as
// many deleted (1.5% each way, at least 10), and one directory renamed.
func upgrade(root string, seed uint64) (change, error) {
	r := mutationRand(seed, "upgrade")
	files, dirs, err := listTree(root, TextDir)
	if err != nil {
		return change{}, err
	}
	var c change
	var buf []byte
	for _, f := range files {
		if r.IntN(4) != 0 {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(f))
		b, err := os.ReadFile(p)
		if err != nil {
			return c, fmt.Errorf("read %q: %w", p, err)
		}
		b, buf = smallEdit(b, r, buf)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return c, fmt.Errorf("write %q: %w", p, err)
		}
		c.touch(f)
		c.files++
		c.bytes += int64(len(b))
	}
	n := max(10, len(files)*3/200)
	for _, i := range r.Perm(len(files))[:min(n, len(files))] {
		p := filepath.Join(root, filepath.FromSlash(files[i]))
		if err := os.Remove(p); err != nil {
			return c, fmt.Errorf("remove %q: %w", p, err)
		}
		c.touch(files[i])
		c.files++
	}
	for i := range n {
		d := TextDir
		if len(dirs) > 0 {
			d = dirs[r.IntN(len(dirs))]
		}
		f := fmt.Sprintf("%s/%s-%d%s", d, identifier(r, langCSS), i, langExt[i%int(numLangs)])
		size := int(4096 * math.Exp(0.8*r.NormFloat64()))
		k, err := writeText(root, f, lang(i%int(numLangs)), min(max(size, 64), 256<<10), r, &buf)
		if err != nil {
			return c, err
		}
		c.touch(f)
		c.files++
		c.bytes += k
	}
	moved, err := renameSome(root, r, "-v2")
	if err != nil {
		return c, err
	}
	for _, p := range moved {
		c.touch(p)
	}
	return c.finish(), nil
}

// smallEdit replaces one to three short spans of b with new text of about
// the same length, the way a version bump edits a source file.
func smallEdit(b []byte, r *rand.Rand, buf []byte) ([]byte, []byte) {
	for range 1 + r.IntN(3) {
		if len(b) == 0 {
			break
		}
		at := r.IntN(len(b))
		n := min(len(b)-at, 16+r.IntN(200))
		buf = appendText(buf[:0], langPHP, max(1, n+r.IntN(33)-16), r)
		b = slices.Concat(b[:at], buf, b[at+n:])
	}
	return b, buf
}

// writeText creates root/rel with n bytes of text.
func writeText(root, rel string, l lang, n int, r *rand.Rand, buf *[]byte) (int64, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	*buf = appendText((*buf)[:0], l, n, r)
	if err := os.WriteFile(p, *buf, 0o644); err != nil {
		return 0, fmt.Errorf("write %q: %w", p, err)
	}
	return int64(n), nil
}

// renameSome renames a directory below root/TextDir that holds between
// 1% and 10% of its files (the largest such, ties broken by r) to its name
// plus suffix, and returns the old and the new path.
func renameSome(root string, r *rand.Rand, suffix string) ([]string, error) {
	files, dirs, err := listTree(root, TextDir)
	if err != nil {
		return nil, err
	}
	count := make(map[string]int)
	for _, f := range files {
		for d := path.Dir(f); d != TextDir && d != "."; d = path.Dir(d) {
			count[d]++
		}
	}
	lo, hi := max(1, len(files)/100), max(2, len(files)/10)
	var cands []string
	for _, d := range dirs {
		if count[d] >= lo && count[d] <= hi {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		cands = dirs
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("rename: no directory below %q", TextDir)
	}
	// Prefer the larger candidates: a renamed app or vendor package.
	slices.SortStableFunc(cands, func(a, b string) int { return count[b] - count[a] })
	old := cands[r.IntN(min(len(cands), 5))]
	nu := old + suffix
	for i := 2; exists(filepath.Join(root, nu)); i++ {
		nu = fmt.Sprintf("%s%s%d", old, suffix, i)
	}
	if err := os.Rename(filepath.Join(root, old), filepath.Join(root, nu)); err != nil {
		return nil, fmt.Errorf("rename %q: %w", old, err)
	}
	return []string{old, nu}, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// renameDir is the rename scenario's mutation: one directory renamed.
func renameDir(root string, seed uint64) (change, error) {
	var c change
	moved, err := renameSome(root, mutationRand(seed, "rename"), "-renamed")
	for _, p := range moved {
		c.touch(p)
	}
	return c.finish(), err
}

// editSize is what bigedit overwrites and insert inserts.
const editSize = 4 << 10

// bigEdit overwrites editSize bytes in the middle half of root/rel in place.
func bigEdit(root, rel string, seed uint64) (change, error) {
	r := mutationRand(seed, "bigedit")
	return editInPlace(root, rel, func(f *os.File, size int64) error {
		if size < 4*editSize {
			return fmt.Errorf("bigedit: %q has only %d bytes", f.Name(), size)
		}
		at := size/4 + r.Int64N(size/2)
		_, err := f.WriteAt(randomBytes(r, editSize), at)
		return err
	})
}

// insertFront inserts editSize new bytes at the front of root/rel, in
// place (the rest shifted back a block at a time from the end, so memory
// stays small for any file size).
func insertFront(root, rel string, seed uint64) (change, error) {
	r := mutationRand(seed, "insert")
	return editInPlace(root, rel, func(f *os.File, size int64) error {
		buf := make([]byte, 1<<20)
		for end := size; end > 0; {
			start := max(0, end-int64(len(buf)))
			b := buf[:end-start]
			if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
				return err
			}
			if _, err := f.WriteAt(b, start+editSize); err != nil {
				return err
			}
			end = start
		}
		_, err := f.WriteAt(randomBytes(r, editSize), 0)
		return err
	})
}

// editInPlace opens root/rel for writing, runs edit with its size, and
// closes it: a change of editSize bytes in one file.
func editInPlace(root, rel string, edit func(f *os.File, size int64) error) (change, error) {
	p := filepath.Join(root, filepath.FromSlash(rel))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return change{}, fmt.Errorf("open %q: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return change{}, err
	}
	if err := edit(f, fi.Size()); err != nil {
		return change{}, fmt.Errorf("edit %q: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return change{}, fmt.Errorf("close %q: %w", p, err)
	}
	c := change{files: 1, bytes: editSize}
	c.touch(rel)
	return c.finish(), nil
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// burst writes n new small text files (log-normal around 4 KiB) into a new
// directory tree below root/TextDir, 20 files per directory, one after the
// other like an untar.
func burst(root string, n int, seed uint64) (change, error) {
	r := mutationRand(seed, "burst")
	var c change
	var buf []byte
	top := TextDir + "/" + fmt.Sprintf("burst-%d", seed)
	dir := ""
	for i := range n {
		if i%20 == 0 {
			// Three levels: top/aNN/bNN/cNN, like a vendored package tree.
			dir = fmt.Sprintf("%s/a%02d/b%02d/c%02d", top, i/20/400, i/20/20%20, i/20%20)
			if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(dir)), 0o755); err != nil {
				return c, fmt.Errorf("create %q: %w", dir, err)
			}
			for d := dir; d != TextDir; d = path.Dir(d) {
				c.touched = append(c.touched, d)
			}
		}
		l := lang(i % int(numLangs))
		f := fmt.Sprintf("%s/f%05d%s", dir, i, langExt[l])
		size := int(4096 * math.Exp(0.8*r.NormFloat64()))
		k, err := writeText(root, f, l, min(max(size, 64), 64<<10), r, &buf)
		if err != nil {
			return c, err
		}
		c.touched = append(c.touched, f)
		c.files++
		c.bytes += k
	}
	c.touched = append(c.touched, TextDir)
	return c.finish(), nil
}

// latencyDir holds the latency scenario's probe files.
const latencyDir = TextDir + "/bench-latency"

// probe writes the i-th latency probe (1 KiB of text) and returns its path
// and content.
func probe(root string, i int, seed uint64) (string, []byte, error) {
	r := mutationRand(seed+uint64(i), "probe")
	rel := fmt.Sprintf("%s/probe-%03d.txt", latencyDir, i)
	b := appendText(nil, langJS, 1024, r)
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return "", nil, fmt.Errorf("write %q: %w", p, err)
	}
	return rel, b, nil
}

// largeFile is the suite tree's large file (bigedit's and insert's).
func largeFile(m Manifest) (string, error) {
	var best File
	for _, f := range m.Files {
		if !f.Text && f.Size > best.Size {
			best = f
		}
	}
	if best.Path == "" || !strings.HasPrefix(best.Path, BinaryDir+"/") {
		return "", fmt.Errorf("tree %q has no large binary file", m.Spec)
	}
	return best.Path, nil
}
