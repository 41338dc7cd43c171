package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/preserve"
)

// tempPrefix starts the names of the temp objects a secondary builds in its
// private directory tempDirName (at the folder root); none may be left
// after convergence. The directory itself stays.
const (
	tempPrefix  = ".ncsync-tmp-"
	tempDirName = ".ncsync-tmp"
)

// statInfo is what compareTrees compares of one path.
type statInfo struct {
	abs    string
	mode   uint32 // S_IFMT | permission bits incl. setuid, setgid, sticky
	uid    uint32
	gid    uint32
	size   int64
	mtime  int64 // ns
	target string
	key    hashKey
}

func (s statInfo) kind() string {
	switch s.mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	}
	return fmt.Sprintf("special(%#o)", s.mode&unix.S_IFMT)
}

// hashKey identifies one version of a file for the hash cache.
type hashKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// hashCache remembers file hashes across the many comparisons a
// convergence wait makes, so that unchanged large files are read once.
var hashCache = struct {
	sync.Mutex
	m map[hashKey][32]byte
}{m: map[hashKey][32]byte{}}

// scanTree lstats every path beneath root (root itself excluded), keyed by
// slash-separated relative path.
func scanTree(root string) (map[string]statInfo, error) {
	out := map[string]statInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if d.IsDir() && d.Name() == preserve.FolderStoreName && filepath.Dir(p) == root {
			return fs.SkipDir // a secondary's own conflict store, never replicated
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("lstat %q: %w", p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		si := statInfo{
			abs: p, mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size,
			mtime: st.Mtim.Nano(),
			key:   hashKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()},
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if si.target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("readlink %q: %w", p, err)
			}
		}
		out[filepath.ToSlash(rel)] = si
		return nil
	})
	return out, err
}

// fileHash returns the SHA-256 of a regular file, cached by inode, size,
// mtime and ctime.
func fileHash(si statInfo) ([32]byte, error) {
	hashCache.Lock()
	h, ok := hashCache.m[si.key]
	hashCache.Unlock()
	if ok {
		return h, nil
	}
	sum, err := hashFile(si.abs)
	if err != nil {
		return sum, err
	}
	hashCache.Lock()
	hashCache.m[si.key] = sum
	hashCache.Unlock()
	return sum, nil
}

func hashFile(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return sum, fmt.Errorf("read %q: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// ignoredBy reports whether rel is matched by one of the anchored ignore
// paths ("/nextcloud.log"): the path itself or anything beneath it.
func ignoredBy(rel string, ignore []string) bool {
	for _, p := range ignore {
		p = strings.Trim(p, "/")
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// compareTrees compares the primary's tree a with the secondary's tree b:
// the same paths, types, permission bits (with setuid, setgid and sticky),
// owners, mtimes to the nanosecond (files, directories and symlinks),
// contents and symlink targets. Ignored paths are skipped on a and must be
// absent from b; no temp file may exist in b. It returns the differences,
// readable, sorted by path; none means equal.
func compareTrees(t testing.TB, a, b string, ignore []string) []string {
	t.Helper()
	ta, err := scanTree(a)
	if err != nil {
		return []string{fmt.Sprintf("scan primary tree: %v", err)}
	}
	tb, err := scanTree(b)
	if err != nil {
		return []string{fmt.Sprintf("scan secondary tree: %v", err)}
	}
	var diffs []string
	add := func(rel, format string, args ...any) {
		diffs = append(diffs, fmt.Sprintf("%q: %s", rel, fmt.Sprintf(format, args...)))
	}
	for rel, x := range ta {
		if ignoredBy(rel, ignore) || rel == tempDirName {
			continue
		}
		y, ok := tb[rel]
		if !ok {
			add(rel, "missing on the secondary (%s)", x.kind())
			continue
		}
		if x.kind() != y.kind() {
			add(rel, "type %s on the primary, %s on the secondary", x.kind(), y.kind())
			continue
		}
		if xp, yp := x.mode&0o7777, y.mode&0o7777; xp != yp {
			add(rel, "mode %#o on the primary, %#o on the secondary", xp, yp)
		}
		if x.uid != y.uid || x.gid != y.gid {
			add(rel, "owner %d:%d on the primary, %d:%d on the secondary", x.uid, x.gid, y.uid, y.gid)
		}
		if x.mtime != y.mtime {
			add(rel, "%s mtime %s on the primary, %s on the secondary", x.kind(), showNs(x.mtime), showNs(y.mtime))
		}
		switch x.kind() {
		case "symlink":
			if x.target != y.target {
				add(rel, "symlink target %q on the primary, %q on the secondary", x.target, y.target)
			}
		case "file":
			if x.size != y.size {
				add(rel, "size %d on the primary, %d on the secondary", x.size, y.size)
				break
			}
			hx, err := fileHash(x)
			if err != nil {
				add(rel, "hash on the primary: %v", err)
				break
			}
			hy, err := fileHash(y)
			if err != nil {
				add(rel, "hash on the secondary: %v", err)
				break
			}
			if hx != hy {
				add(rel, "content differs (sha256 %x… on the primary, %x… on the secondary)", hx[:6], hy[:6])
			}
		}
	}
	for rel, y := range tb {
		switch {
		case rel == tempDirName:
		case strings.HasPrefix(filepath.Base(rel), tempPrefix):
			add(rel, "temp file left on the secondary (%s, %d bytes)", y.kind(), y.size)
		case ignoredBy(rel, ignore):
			add(rel, "ignored path present on the secondary")
		default:
			if _, ok := ta[rel]; !ok {
				add(rel, "extra on the secondary (%s)", y.kind())
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

// tempFiles lists the temp files (and directories) beneath root.
func tempFiles(root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func showNs(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}
