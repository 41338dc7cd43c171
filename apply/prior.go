package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// PriorReader is a ChunkReader whose source knows which of a file's chunks
// the version ncsync last wrote at the same path holds, and where. When
// the file at the path still has the stat that version was recorded with
// (Known.LastWritten: nobody changed it since ncsync wrote it, verified),
// Apply builds the new version from it with the kernel copying (FICLONE of
// the whole file for an edit in place, else copy_file_range of each run of
// reused chunks) and neither reads nor hashes those chunks; it asks the
// reader only for the others. When the stat does not match, or the kernel
// cannot copy, the reader yields every chunk as any ChunkReader does.
type PriorReader interface {
	ChunkReader
	// Prior returns the stat recorded with the previous version the
	// offsets come from, and for each chunk of the file its offset in
	// that version, -1 for a chunk it does not hold. Apply calls it once,
	// before the first Next.
	Prior() (index.Stat, []int64)
	// Skip passes over the next n chunks without yielding them, all with
	// an offset in the previous version: Apply copied them from it.
	Skip(n int) error
}

// prior is the previous version of a file being written: its fd and the
// offset in it of each chunk of the new version (-1: not there).
type prior struct {
	fd      int
	written index.Stat // the stat it must keep while its bytes are trusted
	offs    []int64
}

// openPrior opens the file at e.Path as the source of e's reused chunks,
// if rd knows the previous version's chunks and the file is still what
// ncsync wrote (its stat is written, the recorded one, and the one the
// offsets belong to). ok is false otherwise: the chunks then come from rd.
func (b *batch) openPrior(e *index.Entry, rd PriorReader, written index.Stat, from int) (p prior, ok bool) {
	if written == (index.Stat{}) {
		return prior{}, false
	}
	st, offs := rd.Prior()
	if st != written || len(offs) != len(e.Chunks) {
		return prior{}, false
	}
	offs = slices.Clone(offs)
	reused := false
	for k := from; k < len(offs); k++ {
		if offs[k] >= 0 && offs[k]+int64(e.Chunks[k].Size) <= written.Size {
			reused = true
		} else {
			offs[k] = -1
		}
	}
	if !reused {
		return prior{}, false
	}
	fd, err := b.f.openFile(e.Path)
	if err != nil {
		return prior{}, false
	}
	p = prior{fd: fd, written: written, offs: offs}
	if !p.unchanged() {
		_ = unix.Close(fd)
		return prior{}, false
	}
	return p, true
}

// unchanged reports whether the previous version still has the stat it
// was written with: a write to it since changes its ctime.
func (p *prior) unchanged() bool {
	var st unix.Stat_t
	return unix.Fstat(p.fd, &st) == nil && fsys.StatOf(&st) == p.written
}

// inPlace reports whether every reused chunk from chunk from on sits at
// its offset in the new version: an edit that shifted nothing.
func (p *prior) inPlace(e *index.Entry, from int) bool {
	var off int64
	for k, ref := range e.Chunks {
		if k >= from && p.offs[k] >= 0 && p.offs[k] != off {
			return false
		}
		off += int64(ref.Size)
	}
	return true
}

// fillPrior writes e's chunks from chunk from on (fd holds the earlier
// ones, off bytes) like fill, taking the chunks p holds from it with the
// kernel: a clone of the whole file when from is 0 and the edit is in
// place (then only the other chunks are written over it), else
// copy_file_range for each run of reused chunks at its new offset. A
// clone or copy the kernel refuses, or a previous version that changed
// meanwhile, leaves those chunks to rd, verified.
func (b *batch) fillPrior(ctx context.Context, fd int, e *index.Entry, rd PriorReader, p *prior, from int, off int64) (keep bool, err error) {
	if err := skipChunks(rd, from); err != nil {
		return true, fmt.Errorf("read chunks of %q: %w", e.Path, err)
	}
	cloned := from == 0 && p.inPlace(e, 0) && clone(fd, p)
	copying := !cloned
	vr, _ := rd.(VerifiedChunkReader)
	for k := from; k < len(e.Chunks); {
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("write %q: %w", e.Path, err)
		}
		b.pollCommit()
		if j := p.run(e, k); j > k && (cloned || copying) {
			if !cloned {
				if copying = copyRun(fd, p, p.offs[k], off, p.runBytes(e, k, j)); !copying {
					continue // chunk k again, through rd
				}
			}
			if err := rd.Skip(j - k); err != nil {
				return true, fmt.Errorf("read chunks of %q: %w", e.Path, err)
			}
			off += p.runBytes(e, k, j)
			k = j
			continue
		}
		data, err := b.nextChunk(e, k, rd, vr)
		if err != nil {
			return !errors.Is(err, ErrRefused), err
		}
		if err := pwriteAll(fd, data, off); err != nil {
			return false, fmt.Errorf("write %q: %w", e.Path, err)
		}
		off += int64(len(data))
		k++
	}
	if err := unix.Ftruncate(fd, off); err != nil {
		return false, fmt.Errorf("write %q: %w", e.Path, err)
	}
	return false, b.finishFile(fd, e, 0)
}

// run returns the end of the run of chunks from k on that p holds one
// after the other (k if it does not hold chunk k).
func (p *prior) run(e *index.Entry, k int) int {
	j := k
	for j < len(e.Chunks) && p.offs[j] >= 0 && (j == k || p.offs[j] == p.offs[j-1]+int64(e.Chunks[j-1].Size)) {
		j++
	}
	return j
}

// runBytes is the size of chunks k to j.
func (p *prior) runBytes(e *index.Entry, k, j int) int64 {
	var n int64
	for _, ref := range e.Chunks[k:j] {
		n += int64(ref.Size)
	}
	return n
}

// clone makes fd a clone of the previous version (FICLONE: shared extents
// on XFS and btrfs) and reports whether it did, with the previous version
// unchanged meanwhile. A refused clone leaves fd empty.
func clone(fd int, p *prior) bool {
	if err := unix.IoctlFileClone(fd, p.fd); err != nil {
		return false
	}
	if !p.unchanged() {
		_ = unix.Ftruncate(fd, 0)
		return false
	}
	return true
}

// copyRun copies n bytes at in in the previous version to out in fd with
// copy_file_range, and reports whether all of them came, from a previous
// version unchanged meanwhile. On false, what it copied is overwritten by
// the caller.
//
// The copy goes in steps of writebackStep, the writeback of each started
// after it, so the disk works while the next one is copied.
func copyRun(fd int, p *prior, in, out, n int64) bool {
	for n > 0 {
		at := out
		m, err := unix.CopyFileRange(p.fd, &in, fd, &out, int(min(n, writebackStep)), 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || m == 0 {
			return false // EXDEV, EOPNOTSUPP, EINVAL, ENOSYS..., or a short file
		}
		n -= int64(m)
		// Only a hint: the sync before the rename reports errors.
		_ = unix.SyncFileRange(fd, at, int64(m), unix.SYNC_FILE_RANGE_WRITE)
	}
	return p.unchanged()
}

// pwriteAll writes b to fd at off.
func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
