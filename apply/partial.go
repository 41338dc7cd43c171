package apply

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// Kept temp files. A file larger than maxSmallFile is written in line
// into a temp file named after its path and content (partialName), not a
// random one, in the private directory (temp.go). When a batch stops
// before that file is committed (the session to the primary failed, the
// daemon stopped or was killed), the temp file is kept, and the next
// attempt at the same path and content continues it: the chunks already in
// it are verified again (read back and hashed against the entry's chunk
// list), whatever follows the last good one is cut off, and only the
// chunks after them are asked for.
//
// Verifying again is what makes keeping safe without syncing: data lost
// in a crash before it reached the disk reads back as zeros or as a short
// file, fails to verify and is fetched again. A kept temp file is reused
// only if it is a regular file with one link, owned by the daemon's user or
// by the entry's owner (finishFile sets the owner before the commit).
//
// Open keeps these files in the root's private directory (it empties the
// rest), and SweepKept removes those not claimed by a batch: the secondary
// calls it once it has caught up with its primary, when none can be
// needed.

// partialMark follows tempPrefix in the name of a kept temp file.
const partialMark = "part-"

// partialName is the name of the kept temp file of e's path and content.
func partialName(e *index.Entry) string {
	h := blake3.New()
	_, _ = h.Write([]byte(e.Path))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(e.FileID[:])
	return tempPrefix + partialMark + hex.EncodeToString(h.Sum(nil)[:16])
}

func isPartial(name string) bool { return strings.HasPrefix(name, tempPrefix+partialMark) }

// InLine reports whether Apply writes e in line, through a kept temp file
// that can be resumed (see Folder.Resumable) and from its previous version
// (see PriorReader).
func InLine(e index.Entry) bool { return resumable(&e) }

// resumable reports whether Apply writes e in line, through a kept temp
// file that can be resumed.
func resumable(e *index.Entry) bool {
	return !e.Deleted && e.Kind == index.KindFile && e.Size > maxSmallFile && len(e.Chunks) > 0
}

// keptFiles tracks the kept temp files of a Folder: which exist (by name,
// with the directory whose mount's private directory holds them), which a
// batch is writing, and the verified prefix Resumable found.
type keptFiles struct {
	mu       sync.Mutex
	where    map[string]string     // name → a directory on the mount of its private directory
	claimed  map[string]struct{}   // being written by a batch
	verified map[string]verifiedAt // from Resumable
}

// verifiedAt is a kept temp file's verified prefix: its first chunks
// chunks, off bytes, as found in the file with inode ino.
type verifiedAt struct {
	ino    uint64
	chunks int
	off    int64
}

func (k *keptFiles) init() {
	k.where = make(map[string]string)
	k.claimed = make(map[string]struct{})
	k.verified = make(map[string]verifiedAt)
}

// note records a kept temp file found (at Open) or left (by a batch).
func (k *keptFiles) note(name, dir string) {
	k.mu.Lock()
	k.where[name] = dir
	k.mu.Unlock()
}

// claim marks name as written by a batch; false if it already is.
func (k *keptFiles) claim(name, dir string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.claimed[name]; ok {
		return false
	}
	k.claimed[name] = struct{}{}
	k.where[name] = dir
	return true
}

// release ends a claim; kept says whether the file stays for a later
// attempt (else it was renamed into place or deleted).
func (k *keptFiles) release(name string, kept bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.claimed, name)
	delete(k.verified, name)
	if !kept {
		delete(k.where, name)
	}
}

// KeptFiles is the number of kept temp files known to the Folder.
func (f *Folder) KeptFiles() int {
	f.kept.mu.Lock()
	defer f.kept.mu.Unlock()
	return len(f.kept.where)
}

// Resumable reports how many of e's leading chunks a kept temp file
// already holds, verified, so that a ChunkSource need not fetch them: the
// Apply that writes e continues that file (it calls SkipTo on a
// ResumableReader, see ChunkSource). It is 0 for an entry Apply does not
// write through a kept temp file. It may be called from any goroutine,
// also during Apply.
func (f *Folder) Resumable(e index.Entry) int {
	if !resumable(&e) {
		return 0
	}
	dir, _ := split(e.Path)
	name := partialName(&e)
	f.kept.mu.Lock()
	_, known := f.kept.where[name]
	_, busy := f.kept.claimed[name]
	f.kept.mu.Unlock()
	if !known || busy {
		return 0
	}
	var v verifiedAt
	err := f.withDir(dir, func(dirfd int) error {
		tmpdir, err := f.tempDir(dirfd, false)
		if err != nil {
			return err
		}
		fd, err := openKept(tmpdir, name, &e)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v, err = verifyPrefix(fd, &e, make([]byte, 0, 1<<20))
		return err
	})
	if err != nil {
		return 0
	}
	f.kept.mu.Lock()
	f.kept.verified[name] = v
	f.kept.mu.Unlock()
	return v.chunks
}

// errNotKept means the object at a kept temp file's name may not be used.
var errNotKept = errors.New("not a temp file of this node")

// openKept opens the kept temp file name in dirfd for reading and writing,
// never through a symlink, and checks that it may be reused for e.
func openKept(dirfd int, name string, e *index.Entry) (int, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	if err == nil && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 ||
		st.Uid != uint32(os.Geteuid()) && st.Uid != e.UID) {
		err = errNotKept
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// verifyPrefix reads fd from the start and returns how many of e's chunks
// it holds in order, each of the announced size and hash, and where they
// end.
func verifyPrefix(fd int, e *index.Entry, buf []byte) (verifiedAt, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return verifiedAt{}, err
	}
	v := verifiedAt{ino: st.Ino}
	for _, ref := range e.Chunks {
		if v.off+int64(ref.Size) > st.Size {
			break
		}
		buf = growTo(buf, int(ref.Size))
		if n, err := unix.Pread(fd, buf, v.off); err != nil || n != len(buf) || chunker.Sum(buf) != ref.ID {
			break
		}
		v.chunks++
		v.off += int64(ref.Size)
	}
	return v, nil
}

// createKept opens pf's temp file for e, a file written in line: the kept
// temp file of e's path and content, continued after its verified chunks,
// or a new one. It returns how many chunks the file already holds and
// their bytes. If another file of the batch has that name, or the object
// at it may not be reused, a random temp file is used instead.
func (b *batch) createKept(pf *pendingFile, e *index.Entry) (chunks int, off int64, err error) {
	name := partialName(e)
	if !b.f.kept.claim(name, pf.dir.path) {
		return 0, 0, b.createTemp(pf, e)
	}
	fd, existed := -1, false
	tmpdir, _, err := b.f.newTempNamed(pf.dir.fd, name, func(tmpdir int, name string) error {
		var err error
		fd, err = unix.Openat(tmpdir, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			existed = true
			fd, err = openKept(tmpdir, name, e)
		}
		return err
	})
	if errors.Is(err, errNotKept) {
		b.f.kept.release(name, true) // whatever it is, it stays until the sweep
		b.f.log.Warn("a kept temp file cannot be reused; using another", "name", name, "err", err)
		return 0, 0, b.createTemp(pf, e)
	}
	if err != nil {
		b.f.kept.release(name, existed)
		return 0, 0, fmt.Errorf("create temp file for %q: %w", e.Path, err)
	}
	var v verifiedAt
	if existed {
		b.f.kept.mu.Lock()
		cached, ok := b.f.kept.verified[name]
		b.f.kept.mu.Unlock()
		v = cached
		var st unix.Stat_t
		if !ok || unix.Fstat(fd, &st) != nil || st.Ino != v.ino || st.Size < v.off {
			v, err = verifyPrefix(fd, e, nil)
		}
		if err == nil {
			err = unix.Ftruncate(fd, v.off)
		}
		if err == nil {
			_, err = unix.Seek(fd, v.off, 0)
		}
		if err != nil {
			_ = unix.Close(fd)
			b.f.kept.release(name, true)
			return 0, 0, fmt.Errorf("continue temp file for %q: %w", e.Path, err)
		}
		chunks, off = v.chunks, v.off
	}
	pf.tmpdir, pf.tmp, pf.fd, pf.kept, pf.reg = tmpdir, name, fd, name, &b.f.kept
	return chunks, off, nil
}

// keep closes pf's kept temp file, leaving it for a later attempt.
func (pf *pendingFile) keep() {
	_ = unix.Close(pf.fd)
	pf.fd = -1
	pf.reg.release(pf.kept, true)
}

// SweepKept removes the kept temp files that no batch is writing. Call it
// when none can be needed any more: the secondary does once it has
// applied everything its primary has sent. It returns how many it
// removed.
func (f *Folder) SweepKept() (int, error) {
	f.kept.mu.Lock()
	todo := make(map[string]string)
	for name, dir := range f.kept.where {
		if _, busy := f.kept.claimed[name]; !busy {
			todo[name] = dir
			delete(f.kept.where, name)
			delete(f.kept.verified, name)
		}
	}
	f.kept.mu.Unlock()
	n := 0
	var errs []error
	for name, dir := range todo {
		err := f.withDir(dir, func(dirfd int) error {
			tmpdir, err := f.tempDir(dirfd, false)
			if err != nil {
				return err
			}
			return unix.Unlinkat(tmpdir, name, 0)
		})
		if err != nil && dir != "" {
			// Its directory went: look in the root's private directory.
			err = f.withDir("", func(dirfd int) error {
				tmpdir, err := f.tempDir(dirfd, false)
				if err != nil {
					return err
				}
				return unix.Unlinkat(tmpdir, name, 0)
			})
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.ENOENT), errors.Is(err, ErrRefused):
		default:
			errs = append(errs, fmt.Errorf("remove kept temp file %q: %w", name, err))
			f.kept.note(name, dir)
		}
	}
	return n, errors.Join(errs...)
}
