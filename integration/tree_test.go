package integration

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	kiB = 1 << 10
	miB = 1 << 20
)

// randReader returns a deterministic stream of random bytes.
func randReader(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// randBytes returns n deterministic random bytes.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	randReader(seed).Read(b)
	return b
}

// writeRandomFile writes size random bytes (from seed) to path and returns
// their SHA-256.
func writeRandomFile(t *testing.T, path string, size int64, seed uint64, perm os.FileMode) [32]byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := randReader(seed)
	h := sha256.New()
	buf := make([]byte, miB)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		r.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// placeRandomFile writes a random file in scratch and renames it to path,
// so that the primary's scanner never sees it half written.
func placeRandomFile(t *testing.T, scratch, path string, size int64, seed uint64) [32]byte {
	t.Helper()
	tmp := filepath.Join(scratch, fmt.Sprintf("new-%d", seed))
	sum := writeRandomFile(t, tmp, size, seed, 0o644)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return sum
}

// writeFile writes data to path (creating parents) with perm.
func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // beat the umask
		t.Fatal(err)
	}
}

// smallTree is a tree of n small files in three levels of directories
// (d00/e00/f000.txt): 10 top directories of 10 subdirectories of n/100
// files. It returns the files' relative paths. Sizes run from 0 to 6 KiB.
func smallTree(t *testing.T, root string, n int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	data := randBytes(seed, 6*kiB+1)
	per := max(n/100, 1)
	var files []string
	for i := 0; len(files) < n; i++ {
		d, e, f := i/(10*per)%10, i/per%10, i%per
		rel := fmt.Sprintf("d%02d/e%02d/f%03d.txt", d, e, f)
		if i >= 100*per {
			rel = fmt.Sprintf("d%02d/e%02d/x%05d.txt", d, e, i)
		}
		size := rng.IntN(6*kiB + 1)
		off := rng.IntN(len(data) - size + 1)
		writeFile(t, filepath.Join(root, rel), data[off:off+size], 0o644)
		files = append(files, rel)
	}
	return files
}

// setTimes gives every path beneath root (root excluded) a distinct mtime
// with a nanosecond part, derived from its path, without following
// symlinks. Setting a child's times does not touch its parent's mtime.
func setTimes(t *testing.T, root string) {
	t.Helper()
	base := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		h := sha256.Sum256([]byte(p))
		off := time.Duration(uint64(h[0])<<16|uint64(h[1])<<8|uint64(h[2]))*time.Second + time.Duration(uint32(h[3])<<8|uint32(h[4]))*time.Microsecond + time.Duration(h[5])%1000 + 7
		ts := unix.NsecToTimespec(base.Add(off).UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// oddTree adds names and kinds that replication tools get wrong: symlinks
// (relative, to a directory, dangling), empty files and directories, odd
// names, modes 0640/0755/0600 and a 0750 directory, other owners, and an
// ignored file at the top.
func oddTree(t *testing.T, root string) {
	t.Helper()
	long := strings.Repeat("L", 196) + ".txt" // a 200-byte component
	files := []struct {
		rel  string
		data string
		perm os.FileMode
	}{
		{"odd/with space.txt", "space", 0o644},
		{"odd/ünïcödé-日本語-файл.txt", "unicode", 0o644},
		{"odd/new\nline.txt", "newline", 0o644},
		{"odd/-leading-dash", "dash", 0o644},
		{"odd/#hash#", "hash", 0o644},
		{"odd/" + long, "long name", 0o644},
		{"odd/" + strings.Repeat("é", 100), "long unicode name", 0o644},
		{"odd/trailing space ", "trailing space", 0o644},
		{"empty/empty-file", "", 0o644},
		{"empty/zero-0600", "", 0o600},
		{"modes/r-0640.txt", "0640", 0o640},
		{"modes/x-0755.sh", "#!/bin/sh\necho 0755\n", 0o755},
		{"modes/secret-0600.key", "0600", 0o600},
		{"modes/private-0750/inside.txt", "in 0750", 0o640},
		{"owners/www-data.txt", "owned by 33:33", 0o640},
		{"owners/1234-5678.txt", "owned by 1234:5678", 0o644},
		{"links/target.txt", "link target", 0o644},
		{"nextcloud.log", "ignored: never replicated", 0o640},
	}
	for _, f := range files {
		writeFile(t, filepath.Join(root, f.rel), []byte(f.data), f.perm)
	}
	for _, d := range []string{"empty/dir", "empty/nested/deeper/deepest", "odd/dir with space/and ünïcode"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "modes/private-0750"), 0o750); err != nil {
		t.Fatal(err)
	}
	for rel, owner := range map[string][2]int{"owners/www-data.txt": {33, 33}, "owners/1234-5678.txt": {1234, 5678}} {
		if err := os.Lchown(filepath.Join(root, rel), owner[0], owner[1]); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"links/to-file":         "target.txt",
		"links/to-dir":          "../modes",
		"links/deep/up-two":     "../../odd/with space.txt",
		"links/dangling":        "does-not-exist",
		"links/to-empty-dir":    "../empty/dir",
		"odd/link with space →": "#hash#",
	}
	for rel, target := range links {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}
