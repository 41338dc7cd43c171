package apply

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// pendingFile is a verified temp file waiting for its group to commit.
type pendingFile struct {
	i      int        // entry index
	dir    *dirState  // where the target lives
	name   string     // target name in dir
	tmpdir int        // the private directory holding the temp file
	tmp    string     // temp name in tmpdir
	fd     int        // the temp file, open for writing; -1 if it failed
	kept   string     // name of a kept temp file (partial.go); "" for others
	reg    *keptFiles // where kept is registered

	written chan struct{} // closed once a writer goroutine wrote it; nil if written in line
	err     error         // why the writer goroutine could not write it
}

// writeFile writes entries[i] to a temp file (temp.go), verified
// and with its metadata set, and queues it for the group commit. A small
// file's chunks are read and verified here and written by a writer
// goroutine, so that creating and writing files overlaps with receiving
// the next ones.
func (b *batch) writeFile(ctx context.Context, i int) error {
	e := &b.entries[i]
	parent, name := split(e.Path)
	d, err := b.dir(parent, true)
	if err != nil {
		return err
	}
	var rd ChunkReader
	if len(e.Chunks) > 0 {
		if b.src == nil {
			return fmt.Errorf("write %q: no chunk source", e.Path)
		}
		if rd, err = b.src.Chunks(ctx, *e); err != nil {
			return fmt.Errorf("read chunks of %q: %w", e.Path, err)
		}
	}
	pf := &pendingFile{i: i, dir: d, name: name, fd: -1}
	if e.Size <= maxSmallFile && b.writers != nil {
		d.touched = true // as if written: its mtime is restored at the end
		buf, err := b.collect(ctx, e, rd)
		if err != nil {
			return err
		}
		pf.written = make(chan struct{})
		b.addPending(pf)
		b.writers.run(func() {
			defer close(pf.written)
			defer putBuf(buf)
			if pf.err = b.createTemp(pf, e); pf.err == nil {
				pf.err = b.writeSmall(pf.fd, e, *buf)
			}
			if pf.err != nil && pf.fd >= 0 {
				pf.discard()
			}
		})
	} else {
		var from int // chunks the kept temp file already holds
		var off int64
		if resumable(e) {
			from, off, err = b.createKept(pf, e)
		} else {
			err = b.createTemp(pf, e)
		}
		if err != nil {
			if rd != nil {
				_ = rd.Close()
			}
			return err
		}
		d.touched = true
		var keep bool
		keep, err = b.fillLarge(ctx, pf.fd, i, rd, from, off)
		if rd != nil {
			if cerr := rd.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("read chunks of %q: %w", e.Path, cerr)
			}
		}
		if err != nil {
			if keep && pf.kept != "" {
				pf.keep() // what it holds is verified: a later attempt goes on from there
			} else {
				pf.discard()
			}
			return err
		}
		b.addPending(pf)
	}
	b.pendingBytes += e.Size
	if len(b.pending) >= maxPending || b.pendingBytes >= b.f.groupBytes {
		b.commitAsync(ctx)
	}
	return nil
}

// createTemp creates pf's temp file in the private directory, to be
// renamed into pf.dir.
func (b *batch) createTemp(pf *pendingFile, e *index.Entry) error {
	var err error
	if pf.tmpdir, pf.tmp, pf.fd, err = b.f.createTempFile(pf.dir.fd); err != nil {
		return fmt.Errorf("create temp file for %q: %w", e.Path, err)
	}
	return nil
}

// writebackStep is how many bytes of a large file are written before their
// writeback is started, so the disk works while the network delivers the
// rest and the final sync finds little left to do.
const writebackStep = 8 << 20

// fill writes e's chunks from chunk from on (fd holds the earlier ones,
// off bytes, and is positioned after them) as they come, then sets owner,
// mode and mtime through fd. On failure, keep says whether what fd holds
// is still good for a later attempt: it is when the chunks stopped coming
// (a failed stream, a cancelled context), not when they did not match or
// could not be written.
func (b *batch) fill(ctx context.Context, fd int, e *index.Entry, rd ChunkReader, from int, off int64) (keep bool, err error) {
	vr, _ := rd.(VerifiedChunkReader)
	if err := skipChunks(rd, from); err != nil {
		return true, fmt.Errorf("read chunks of %q: %w", e.Path, err)
	}
	started := off // writeback started up to here
	for k := from; k < len(e.Chunks); k++ {
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("write %q: %w", e.Path, err)
		}
		b.pollCommit() // files committed meanwhile are reported while this one arrives
		data, err := b.nextChunk(e, k, rd, vr)
		if err != nil {
			return !errors.Is(err, ErrRefused), err
		}
		if err := writeAll(fd, data); err != nil {
			return false, fmt.Errorf("write %q: %w", e.Path, err)
		}
		off += int64(len(data))
		if off-started >= writebackStep {
			// Only a hint: the sync before the rename reports errors.
			_ = unix.SyncFileRange(fd, started, off-started, unix.SYNC_FILE_RANGE_WRITE)
			started = off
		}
	}
	return false, b.finishFile(fd, e, started)
}

// fillLarge writes entries[i], a file written in line, from chunk from
// on: from the previous version at its path where rd knows it and it is
// unchanged (fillPrior), else from rd alone (fill).
func (b *batch) fillLarge(ctx context.Context, fd, i int, rd ChunkReader, from int, off int64) (keep bool, err error) {
	e := &b.entries[i]
	if pr, ok := rd.(PriorReader); ok {
		if p, ok := b.openPrior(e, pr, b.known.writtenAt(i), from); ok {
			defer unix.Close(p.fd)
			return b.fillPrior(ctx, fd, e, pr, &p, from, off)
		}
	}
	return b.fill(ctx, fd, e, rd, from, off)
}

// skipChunks makes rd start at chunk k: a ResumableReader is told, any
// other reader is read past them.
func skipChunks(rd ChunkReader, k int) error {
	if k == 0 {
		return nil
	}
	if rr, ok := rd.(ResumableReader); ok {
		return rr.SkipTo(k)
	}
	for range k {
		if _, err := rd.Next(); err != nil {
			return err
		}
	}
	return nil
}

// collect reads e's chunks, verified, into a pooled buffer (putBuf) and
// closes rd.
func (b *batch) collect(ctx context.Context, e *index.Entry, rd ChunkReader) (*[]byte, error) {
	buf := getBuf(int(e.Size))
	err := ctx.Err()
	if rd != nil {
		vr, _ := rd.(VerifiedChunkReader)
		for k := 0; k < len(e.Chunks) && err == nil; k++ {
			var data []byte
			if data, err = b.nextChunk(e, k, rd, vr); err == nil {
				*buf = append(*buf, data...)
			}
		}
		if cerr := rd.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("read chunks of %q: %w", e.Path, cerr)
		}
	}
	if err != nil {
		putBuf(buf)
		return nil, err
	}
	return buf, nil
}

// writeSmall writes a small file's verified bytes to fd and sets its
// metadata.
func (b *batch) writeSmall(fd int, e *index.Entry, data []byte) error {
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("write %q: %w", e.Path, err)
	}
	return b.finishFile(fd, e, 0)
}

// nextChunk returns chunk k of e from rd, checking its size and BLAKE3
// against its ref. ValidateEntry has checked that the refs add up to
// e.Size and hash to e.FileID, so verified chunks make the announced file.
// A VerifiedChunkReader's chunks are not hashed again: their id is
// compared.
func (b *batch) nextChunk(e *index.Entry, k int, rd ChunkReader, vr VerifiedChunkReader) ([]byte, error) {
	ref := e.Chunks[k]
	var data []byte
	var sum chunker.ID
	var err error
	if vr != nil {
		data, sum, err = vr.NextVerified()
	} else {
		data, err = rd.Next()
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %d of %q: %w", k, e.Path, err)
	}
	if len(data) != int(ref.Size) {
		return nil, &RefusedError{Path: e.Path, Err: ErrDataMismatch,
			Reason: fmt.Sprintf("chunk %d has %d bytes, announced %d", k, len(data), ref.Size)}
	}
	if vr == nil {
		sum = b.f.chunkSum(data)
	}
	if sum != ref.ID {
		return nil, &RefusedError{Path: e.Path, Err: ErrDataMismatch,
			Reason: fmt.Sprintf("chunk %d hashes to %s, announced %s", k, sum, ref.ID)}
	}
	return data, nil
}

// finishFile sets owner, mode and mtime through fd, whose data is written
// and whose writeback was started up to started.
func (b *batch) finishFile(fd int, e *index.Entry, started int64) error {
	if err := b.setMeta(fd, e.UID, e.GID, e.Mode, e.MtimeNs); err != nil {
		return fmt.Errorf("set metadata of %q: %w", e.Path, err)
	}
	if b.f.mode == SyncFile && e.Size > started {
		// Start writeback now, so the group's fsyncs find the data on its
		// way to disk. Only a hint: fsync reports the errors. (Under
		// syncfs, one call starts the writeback of the whole group.)
		_ = unix.SyncFileRange(fd, started, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	return nil
}

// chunkSum returns the BLAKE3-256 of data with the Folder's reused hasher.
func (f *Folder) chunkSum(data []byte) chunker.ID {
	f.hasher.Reset()
	_, _ = f.hasher.Write(data)
	f.hasher.Sum(f.sum[:0])
	return f.sum
}

// setMeta sets owner (if Options.Chown), mode and mtime through fd: owner
// first, since chown may clear mode bits.
func (b *batch) setMeta(fd int, uid, gid, mode uint32, mtimeNs int64) error {
	if b.f.opts.Chown {
		if err := unix.Fchown(fd, int(uid), int(gid)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, fileMode(mode)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := futimens(fd, mtimeNs); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// commitAsync hands the pending group to a goroutine that commits it
// while the batch goes on writing the next group, after the previous
// commit ended. Its paths stay marked pending until then: an entry that
// conflicts with them waits (flush).
func (b *batch) commitAsync(ctx context.Context) {
	b.waitCommit()
	g := b.pending
	b.pending, b.pendingBytes = nil, 0
	done := make(chan struct{})
	b.committing, b.committed = g, done
	go func() {
		defer close(done)
		b.commit(ctx, g, &b.forgets)
	}()
}

// waitCommit waits for the group being committed, if any.
func (b *batch) waitCommit() {
	if b.committed == nil {
		return
	}
	<-b.committed
	b.unmark(b.committing)
	for _, p := range b.forgets {
		b.forget(p)
	}
	b.committing, b.committed, b.forgets = nil, nil, nil
	b.checkpoint()
}

// pollCommit finishes with the group being committed if its commit is
// done, without waiting.
func (b *batch) pollCommit() {
	if b.committed == nil {
		return
	}
	select {
	case <-b.committed:
		b.waitCommit()
	default:
	}
}

// flush commits every pending file before it returns.
func (b *batch) flush(ctx context.Context) {
	b.waitCommit()
	if len(b.pending) == 0 {
		return
	}
	g := b.pending
	b.pending, b.pendingBytes = nil, 0
	var forgets []string
	b.commit(ctx, g, &forgets)
	b.unmark(g)
	for _, p := range forgets {
		b.forget(p)
	}
	b.checkpoint()
}

// commit commits group g: every temp file's data is made durable (fsync
// each, or one syncfs), then each is renamed over its target in entry
// order. A temp file whose sync fails is deleted, never synced again. The
// directories are synced by finish. Directories removed to make room for
// a file are added to forgets, for the batch to forget (commit may run
// beside the batch's goroutine, which alone touches its directory cache).
func (b *batch) commit(ctx context.Context, g []*pendingFile, forgets *[]string) {
	g = b.dropFailed(g)
	if len(g) == 0 {
		return
	}
	errs := make([]error, len(g))
	if b.syncFS(len(g)) {
		if err := unix.Syncfs(b.f.root); err != nil {
			for k := range errs {
				errs[k] = fmt.Errorf("syncfs: %w", err)
			}
		}
	} else {
		fds := make([]int, len(g))
		for k, pf := range g {
			fds[k] = pf.fd
		}
		for k, err := range fsyncAll(fds) {
			if err != nil {
				errs[k] = fmt.Errorf("fsync: %w", err)
			}
		}
	}
	for k, pf := range g {
		e := &b.entries[pf.i]
		err := errs[k]
		if err == nil {
			err = b.place(ctx, pf, e, forgets)
		} else {
			err = fmt.Errorf("write %q: %w", e.Path, err)
		}
		if err != nil {
			pf.discard()
			b.fail(pf.i, err)
			continue
		}
		_ = unix.Close(pf.fd)
		if pf.kept != "" {
			pf.reg.release(pf.kept, false)
		}
	}
}

// place renames a synced temp file over its target and records the stat.
func (b *batch) place(ctx context.Context, pf *pendingFile, e *index.Entry, forgets *[]string) error {
	if pf.dir.fd < 0 {
		return fmt.Errorf("write %q: directory was replaced during the batch", e.Path)
	}
	if err := b.prepareTarget(ctx, pf.dir, pf.name, pf.i, forgets); err != nil {
		return err
	}
	if err := unix.Renameat(pf.tmpdir, pf.tmp, pf.dir.fd, pf.name); err != nil {
		return fmt.Errorf("rename into place %q: %w", e.Path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(pf.fd, &st); err == nil {
		b.results[pf.i].Stat = fsys.StatOf(&st)
	}
	return nil
}

// discard closes and deletes the temp file.
func (pf *pendingFile) discard() {
	_ = unix.Close(pf.fd)
	pf.fd = -1
	_ = unix.Unlinkat(pf.tmpdir, pf.tmp, 0)
	if pf.kept != "" {
		pf.reg.release(pf.kept, false)
	}
}
