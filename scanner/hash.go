package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// hasher is one reading goroutine's reusable state.
type hasher struct {
	ch   *chunker.Chunker
	fh   chunker.FileHasher
	refs []index.ChunkRef
}

// hashLoop reads the files sent on jobs until it is closed. Every item
// received is released (done closed), even when ctx has ended, so the
// committer never waits forever.
func (s *Scanner) hashLoop(ctx context.Context, root int, h *hasher, jobs <-chan *item) {
	for it := range jobs {
		s.hashItem(ctx, root, h, it)
		close(it.done)
	}
}

// hashItem reads one file, retrying with a doubling backoff while it
// changes under the reader, and decides what to write. A file that never
// settles is logged, left as it is in the index and reported in
// Result.Failed: a mix of two versions is never journaled.
func (s *Scanner) hashItem(ctx context.Context, root int, h *hasher, it *item) {
	p := it.entry.Path
	for attempt := range s.maxAttempts {
		if attempt > 0 {
			s.ctr.retried.Add(1)
			if !fsys.Sleep(ctx, s.retryDelay<<(attempt-1)) {
				return
			}
		}
		e, err := s.readFile(ctx, root, h, p, attempt)
		switch {
		case err == nil:
			if d, held := s.holdEmpty(it, e); held {
				it.later = &d
				return
			}
			e.Stat = s.smudge(e.Stat)
			it.op, it.entry = settle(it, e)
			return
		case errors.Is(err, fsys.ErrUnsettled):
			continue
		case errors.Is(err, fsys.ErrBeingWritten):
			// Not read at all: retried by the caller once the lock is
			// released, without holding up the rest of the scan.
			it.later = &Deferred{Path: p, Reason: ReasonBeingWritten}
			return
		case ctx.Err() != nil:
			return
		case errors.Is(err, fsys.ErrGone):
			s.log.Debug("file went away before it was read; left for the next scan", "path", strconv.Quote(p))
			return
		default:
			s.fail(p, "read", err)
			return
		}
	}
	s.ctr.errors.Add(1)
	s.noteFailed(p, fmt.Errorf("read %q: %w (%d attempts)", p, fsys.ErrUnsettled, s.maxAttempts))
	s.log.Warn("file keeps changing while it is read; it stays pending",
		"path", strconv.Quote(p), "attempts", s.maxAttempts)
}

// settle compares a file just read with its old entry.
func settle(it *item, e index.Entry) (opKind, index.Entry) {
	if it.hasOld && index.SameContent(it.old, e) {
		if it.old.Stat == e.Stat {
			return opNone, e
		}
		return opSetStat, e
	}
	return opJournal, e
}

// readFile reads p through the chunker once, holding the writers' locks
// shared (fsys.LockForRead): a file one of them holds exclusively is not
// read (fsys.ErrBeingWritten). The entry's metadata comes from an fstat of
// the same descriptor after the read, and the read counts only if that
// fstat equals the one before it (inode, size, mtime, ctime) and the bytes
// read equal the size; otherwise fsys.ErrUnsettled. The entry's stat is the
// real one, not smudged yet.
func (s *Scanner) readFile(ctx context.Context, root int, h *hasher, p string, attempt int) (index.Entry, error) {
	fd, err := fsys.OpenBeneath(root, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
			errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return index.Entry{}, fsys.ErrGone
		}
		return index.Entry{}, fmt.Errorf("open %q: %w", p, err)
	}
	defer unix.Close(fd)
	var before, after unix.Stat_t
	if err := fsys.Fstat(fd, &before); err != nil {
		return index.Entry{}, fmt.Errorf("stat %q: %w", p, err)
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return index.Entry{}, fsys.ErrGone
	}
	lk, err := fsys.LockForRead(fd)
	if err != nil {
		if errors.Is(err, fsys.ErrBeingWritten) {
			return index.Entry{}, err
		}
		return index.Entry{}, fmt.Errorf("lock %q: %w", p, err)
	}
	defer lk.Unlock()
	h.ch.Reset(fsys.FDReader(fd))
	h.fh.Reset()
	h.refs = h.refs[:0]
	var n int64
	for {
		if len(h.refs)%64 == 0 && ctx.Err() != nil {
			return index.Entry{}, ctx.Err()
		}
		c, _, err := h.ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return index.Entry{}, fmt.Errorf("read %q: %w", p, err)
		}
		h.refs = append(h.refs, index.ChunkRef{ID: c.ID, Size: uint32(c.Length)})
		h.fh.Add(c.ID)
		n += int64(c.Length)
		s.ctr.bytes.Add(uint64(c.Length))
	}
	if s.afterRead != nil {
		s.afterRead(p, attempt)
	}
	if err := fsys.Fstat(fd, &after); err != nil {
		return index.Entry{}, fmt.Errorf("stat %q: %w", p, err)
	}
	if fsys.StatOf(&before) != fsys.StatOf(&after) || n != after.Size {
		return index.Entry{}, fsys.ErrUnsettled
	}
	e := entryOf(p, index.KindFile, &after)
	if len(h.refs) > 0 {
		e.Chunks = slices.Clone(h.refs)
	}
	e.FileID = h.fh.Sum()
	s.ctr.hashed.Add(1)
	return e, nil
}

// smudge guards against a write that lands after the read in the same
// timestamp tick. The kernel stamps mtime and ctime from a coarse clock
// (one tick: 1-10 ms), so such a write may leave size, mtime and ctime all
// as they were, and the stored fingerprint would hide the change forever.
// When ctime is within s.racy of now, the stored fingerprint gets a zero
// ctime, which no file has: the next scan of the path reads the file again
// and, if it is unchanged, records the real fingerprint (SetStat only).
// Git calls such entries "racily clean".
func (s *Scanner) smudge(st index.Stat) index.Stat {
	if s.racy > 0 && st.CtimeNs > time.Now().Add(-s.racy).UnixNano() {
		st.CtimeNs = 0
	}
	return st
}

// fail records that p could not be scanned: counted, logged and listed
// in Result.Failed.
func (s *Scanner) fail(p, op string, err error) {
	s.ctr.errors.Add(1)
	s.noteFailed(p, fmt.Errorf("%s %q: %w", op, p, err))
	s.log.Warn("cannot scan path; it stays pending", "path", strconv.Quote(p), "op", op, "err", err)
}

// noteFailed adds p to the Scan's Result.Failed.
func (s *Scanner) noteFailed(p string, err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failErr = err
	switch {
	case len(s.failed) == 1 && s.failed[0] == "":
	case len(s.failed) == maxFailed:
		s.failed = []string{""}
	default:
		s.failed = append(s.failed, p)
	}
}
