package preserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

const (
	copyBuf      = 256 << 10
	copyAttempts = 3 // a file that changes during each of these copies is ErrUnstable
)

// copyStable copies the regular file src to a new file dst (0600), fsynced,
// and sets rec's size and hash. The copy is taken again if src changed
// while it was read (size, mtime or ctime moved), up to copyAttempts times.
func copyStable(ctx context.Context, src *os.File, dst string, rec *Record) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, copyBuf)
	for range copyAttempts {
		var before, after unix.Stat_t
		if err := unix.Fstat(int(src.Fd()), &before); err != nil {
			return err
		}
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := out.Truncate(0); err != nil {
			return err
		}
		n, sum, err := copyHashed(ctx, out, src, buf)
		if err != nil {
			return err
		}
		if err := unix.Fstat(int(src.Fd()), &after); err != nil {
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

// writeSynced writes data to a new file path (0600) and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %q: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// syncDir fsyncs a directory.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	return nil
}
