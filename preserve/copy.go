package preserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

const (
	copyBuf      = 256 << 10
	copyAttempts = 3 // a file that changes during each of these copies is ErrUnstable
)

// zeros is fed to the hash for the holes of a sparse file.
var zeros = make([]byte, copyBuf)

// linkStable keeps the regular file src as a hard link name in the
// directory dirfd, to the very inode open as src, and sets rec's size and
// hash from it. linked is false (and nothing is made) when the file system
// will not link it there (another mount of the same file system, no
// permission): the caller copies instead. A file that changes while it is
// hashed, each of copyAttempts times, is unlinked again: ErrUnstable.
func linkStable(ctx context.Context, src *os.File, dirfd int, name string, rec *Record) (linked bool, err error) {
	fd := int(src.Fd())
	// AT_EMPTY_PATH links the open inode itself (it needs
	// CAP_DAC_READ_SEARCH); /proc/self/fd does the same for others, as far
	// as fs.protected_hardlinks allows.
	err = unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return false, nil
	}
	buf := make([]byte, copyBuf)
	for range copyAttempts {
		var before, after unix.Stat_t
		if err := unix.Fstat(fd, &before); err != nil {
			break
		}
		n, sum, err := hashFile(ctx, src, before.Size, buf)
		if err != nil {
			_ = unix.Unlinkat(dirfd, name, 0)
			return false, err
		}
		if err := unix.Fstat(fd, &after); err != nil {
			break
		}
		if !sameVersion(&before, &after) || n != after.Size {
			continue
		}
		setStat(rec, &after)
		rec.Size, rec.Hash = n, sum
		// The bytes are the local writer's, maybe not on disk yet: the
		// record must survive the replacement that follows.
		if err := unix.Fsync(fd); err != nil {
			_ = unix.Unlinkat(dirfd, name, 0)
			return false, fmt.Errorf("fsync kept file: %w", err)
		}
		return true, nil
	}
	_ = unix.Unlinkat(dirfd, name, 0)
	return false, ErrUnstable
}

// copyStable copies the regular file src to a new file name (0600) in the
// directory dirfd, fsynced, and sets rec's size and hash. The copy is a
// clone (FICLONE) where the file system shares extents, else a copy of the
// data extents only (SEEK_DATA/SEEK_HOLE): holes stay holes, so a sparse
// file takes no more room in the store than it takes in the tree. The
// copy is taken again if src changed while it was read (size, mtime or
// ctime moved), up to copyAttempts times.
func copyStable(ctx context.Context, src *os.File, dirfd int, name string, rec *Record) error {
	ofd, err := unix.Openat(dirfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(ofd), name)
	defer out.Close()
	buf := make([]byte, copyBuf)
	sfd := int(src.Fd())
	for range copyAttempts {
		var before, after unix.Stat_t
		if err := unix.Fstat(sfd, &before); err != nil {
			return err
		}
		if err := out.Truncate(0); err != nil {
			return err
		}
		var n int64
		var sum [32]byte
		if unix.IoctlFileClone(ofd, sfd) == nil {
			// The clone is private: hash it rather than the original.
			var cs unix.Stat_t
			if err := unix.Fstat(ofd, &cs); err != nil {
				return err
			}
			n, sum, err = hashFile(ctx, out, cs.Size, buf)
		} else {
			n, sum, err = copySparse(ctx, out, src, before.Size, buf)
		}
		if err != nil {
			return err
		}
		if err := unix.Fstat(sfd, &after); err != nil {
			return err
		}
		if !sameVersion(&before, &after) || n != after.Size {
			continue
		}
		setStat(rec, &after)
		rec.Size, rec.Hash = n, sum
		if err := out.Sync(); err != nil {
			return fmt.Errorf("fsync copy: %w", err)
		}
		return out.Close()
	}
	return ErrUnstable
}

// copySparse copies the data extents of src's first size bytes to the same
// offsets of out (nil: none, only hash) and sets out's size, leaving the
// holes unwritten. It returns the bytes covered (short if src shrank
// meanwhile) and their BLAKE3-256, holes hashed as the zeros they read as.
func copySparse(ctx context.Context, out, src *os.File, size int64, buf []byte) (int64, [32]byte, error) {
	h := blake3.New()
	var pos int64 // hashed up to here
	err := dataExtents(int(src.Fd()), size, func(off, end int64) error {
		hashZeros(h, off-pos)
		pos = off
		for pos < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := src.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
			if n > 0 && out != nil {
				if _, werr := out.WriteAt(buf[:n], pos); werr != nil {
					return fmt.Errorf("write copy: %w", werr)
				}
			}
			_, _ = h.Write(buf[:n])
			pos += int64(n)
			if errors.Is(err, io.EOF) {
				return errShrank
			}
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, errShrank) {
		return pos, [32]byte{}, nil
	}
	if err != nil {
		return pos, [32]byte{}, err
	}
	hashZeros(h, size-pos)
	if out != nil {
		if err := out.Truncate(size); err != nil {
			return pos, [32]byte{}, fmt.Errorf("set size of copy: %w", err)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return size, sum, nil
}

// errShrank ends an extent walk early: the file got shorter than its stat.
var errShrank = errors.New("file shrank while read")

// hashFile returns the BLAKE3-256 of f's first size bytes, reading only its
// data extents, and the bytes covered (short if f shrank meanwhile).
func hashFile(ctx context.Context, f *os.File, size int64, buf []byte) (int64, [32]byte, error) {
	return copySparse(ctx, nil, f, size, buf)
}

// dataExtents calls fn for each data extent [off, end) of fd's first size
// bytes, in order; what lies between is a hole. Where the file system
// cannot tell (no SEEK_DATA), the whole file is one extent.
func dataExtents(fd int, size int64, fn func(off, end int64) error) error {
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO): // only a hole is left
			return nil
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP):
			return fn(off, size)
		case err != nil:
			return fmt.Errorf("find data: %w", err)
		case start >= size:
			return nil
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("find hole: %w", err)
		}
		end = min(end, size)
		if err := fn(start, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// hashZeros feeds n zero bytes to h.
func hashZeros(h *blake3.Hasher, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		_, _ = h.Write(zeros[:k])
		n -= k
	}
}

// copyHashed copies src from offset 0 to out and returns the bytes copied
// and their BLAKE3-256.
func copyHashed(ctx context.Context, out io.Writer, src io.ReaderAt, buf []byte) (int64, [32]byte, error) {
	h := blake3.New()
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return off, [32]byte{}, err
		}
		n, err := src.ReadAt(buf, off)
		if n > 0 {
			_, _ = h.Write(buf[:n])
			if _, werr := out.Write(buf[:n]); werr != nil {
				return off, [32]byte{}, fmt.Errorf("write copy: %w", werr)
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return off, [32]byte{}, fmt.Errorf("read: %w", err)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return off, sum, nil
}

// sameVersion reports whether two stats of one open file show no change
// in between.
func sameVersion(a, b *unix.Stat_t) bool {
	return a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim && a.Ino == b.Ino
}

// writeSynced writes data to a new file name (0600) in dirfd and fsyncs it.
func writeSynced(dirfd int, name string, data []byte) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %q: %w", name, err)
	}
	return f.Close()
}
