package primary

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// Serving chunks fast: the entries a peer is sent say where each of their
// chunks lives and what the file's stat was when it was hashed. ReadChunk
// first looks there (no index lookup), reads through a small cache of open
// files (a large file is opened once, not once per chunk), and checks the
// file's stat before and after the read instead of hashing the bytes
// again: a file whose stat still equals the one its chunks were hashed
// with holds those bytes (the scanner relies on the same), and the
// secondary hashes every chunk anyway. Anything else — a chunk not
// remembered, a file that changed, a racily clean stat — takes the slow
// path: an index lookup and a hash check, ending in ErrChunkMissing.
//
// Every read is made under the writers' locks held shared (see
// fsys.LockForRead and lockChunkFile), like the scanner's: a writer that
// rewrites a file in place under its lock is not read from midway.

// Bounds of the serving state.
const (
	// maxSentChunks bounds the chunk locations remembered from sent
	// entries (about 100 bytes each). Several batches in flight fit; an
	// older location forgotten only costs the slow path.
	maxSentChunks = 64 << 10
	// sentChunksIdle is how long the locations are kept after an entry
	// was last sent or a chunk last looked up.
	sentChunksIdle = 10 * time.Second
	// maxOpenFiles bounds the files held open for reading chunks.
	maxOpenFiles = 8
)

// serveState is a Primary's chunk-serving state.
type serveState struct {
	sent  sentChunks
	files fileCache
}

func newServeState() serveState {
	return serveState{
		sent:  sentChunks{m: make(map[chunkKey]sentChunk)},
		files: fileCache{byKey: make(map[fileKey]*list.Element)},
	}
}

// serving returns p's chunk-serving state.
func (p *Primary) serving() *serveState { return &p.serve }

// sentFile is a file whose entry was sent: where it is and the stat its
// chunks were hashed with.
type sentFile struct {
	root, path string // folder root; slash-separated path beneath it
	stat       index.Stat
	size       int64
	compress   bool // worth compressing (not a compressed format)
	// lockedOut is set once a writer kept its lock past chunkLockWait:
	// the file's other chunks do not wait again (see lockChunkFile).
	lockedOut atomic.Bool
}

type chunkKey struct {
	folder string
	id     chunker.ID
}

// sentChunk locates one chunk of a sent file.
type sentChunk struct {
	file *sentFile
	off  int64
	size uint32
}

// sentChunks maps the chunks of recently sent entries to their location,
// forgetting the oldest beyond maxSentChunks.
type sentChunks struct {
	mu   sync.Mutex
	m    map[chunkKey]sentChunk
	fifo []chunkKey  // insertion order, a ring of maxSentChunks
	head int         // next slot of fifo to overwrite once full
	idle *time.Timer // forgets everything once unused for sentChunksIdle
	used time.Time   // the last remember or get
}

// remember records the chunks of the file entries in es, sent for folder
// at root. Entries whose stat cannot vouch for their bytes are skipped.
func (s *sentChunks) remember(folder, root string, es []index.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = time.Now()
	if s.idle == nil {
		s.idle = time.AfterFunc(sentChunksIdle, s.expire)
	} else {
		s.idle.Reset(sentChunksIdle)
	}
	for i := range es {
		e := &es[i]
		if e.Deleted || e.Kind != index.KindFile || len(e.Chunks) == 0 || !trustworthy(e.Stat) {
			continue
		}
		f := &sentFile{root: root, path: e.Path, stat: e.Stat, size: e.Size, compress: worthCompressing(e.Path)}
		var off int64
		for _, c := range e.Chunks {
			k := chunkKey{folder: folder, id: c.ID}
			if _, ok := s.m[k]; !ok {
				s.push(k)
			}
			s.m[k] = sentChunk{file: f, off: off, size: c.Size}
			off += int64(c.Size)
		}
	}
}

// expire forgets every location once none was remembered or looked up
// for sentChunksIdle, and otherwise looks again when that time is up.
// Entries are sent long before their chunks are asked for when the link
// is slow (a window of batches of an initial copy takes minutes to fetch
// at 100 Mbit/s): were the locations forgotten meanwhile, every chunk
// would take the slow path, an index lookup, a read and a hash.
//
// Once entries stop being sent and their chunks asked for, the map of an
// initial copy (up to maxSentChunks locations and their files) would
// otherwise stay in the idle primary's memory. Forgetting also hands the
// freed memory back to the system at once: an idle daemon allocates next
// to nothing, so only the runtime's two-minute forced collection and its
// slow scavenger would ever return the heap left from an initial copy
// (measured: 77 MiB anon at rest with 100,000 files before, 19 MiB after).
func (s *sentChunks) expire() {
	s.mu.Lock()
	if left := sentChunksIdle - time.Since(s.used); left > 0 {
		s.idle.Reset(left)
		s.mu.Unlock()
		return
	}
	s.m, s.fifo, s.head = make(map[chunkKey]sentChunk), nil, 0
	s.mu.Unlock()
	debug.FreeOSMemory()
}

// push appends k to the ring, forgetting the oldest key when it is full.
func (s *sentChunks) push(k chunkKey) {
	if len(s.fifo) < maxSentChunks {
		s.fifo = append(s.fifo, k)
		return
	}
	delete(s.m, s.fifo[s.head])
	s.fifo[s.head] = k
	s.head = (s.head + 1) % maxSentChunks
}

func (s *sentChunks) get(folder string, id chunker.ID) (sentChunk, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = time.Now()
	c, ok := s.m[chunkKey{folder: folder, id: id}]
	return c, ok
}

// ChunkInfo implements transport.ChunkInfoSource from the chunks of sent
// entries.
func (p *Primary) ChunkInfo(folder string, id chunker.ID) (size int, compress, ok bool) {
	c, ok := p.serving().sent.get(folder, id)
	if !ok {
		return 0, false, false
	}
	return int(c.size), c.file.compress, true
}

// trustworthy reports whether a recorded stat can vouch for a file's
// bytes: the scanner stores a zero ctime for a file written in the same
// clock tick as it was read ("racily clean"), and no file has ctime zero.
func trustworthy(st index.Stat) bool { return st.CtimeNs != 0 && st.Ino != 0 }

// errChanged means a file is no longer the one whose chunks were sent.
var errChanged = errors.New("file changed since its chunks were hashed")

// fileKey names an open file.
type fileKey struct{ root, path string }

// openFile is one cached file descriptor, opened for one stat.
type openFile struct {
	key   fileKey
	fd    int
	stat  index.Stat
	refs  int  // reads in progress
	stale bool // dropped from the cache; closed by its last reader

	// The shared locks are on the open file description, which every
	// reader of the file shares: held while at least one reads.
	lmu     sync.Mutex
	readers int
	lk      fsys.ReadLock
}

// fileCache holds up to maxOpenFiles files open, least recently used
// first out. A file is opened only if its stat equals the sent stat; a
// read is valid only if the stat is still equal after it.
type fileCache struct {
	mu    sync.Mutex
	lru   list.List // of *openFile, most recent at the front
	byKey map[fileKey]*list.Element
}

// readChunk appends chunk c's bytes to buf, or fails with errChanged (or
// an open error) if the file is not the one whose chunks were sent.
func (fc *fileCache) readChunk(ctx context.Context, c sentChunk, buf []byte) ([]byte, error) {
	of, err := fc.acquire(c.file)
	if err != nil {
		return nil, err
	}
	of.lockRead(ctx, &c.file.lockedOut)
	out := slices.Grow(buf, int(c.size))[:len(buf)+int(c.size)]
	err = preadFull(of.fd, out[len(buf):], c.off)
	if err == nil {
		err = checkStat(of.fd, c.file.stat)
	}
	of.unlockRead()
	last := c.off+int64(c.size) >= c.file.size
	fc.release(of, err != nil || last)
	if err != nil {
		return nil, fmt.Errorf("read %q at %d: %w", c.file.path, c.off, err)
	}
	return out, nil
}

// lockRead takes the shared locks for one more reader (see lockChunkFile).
func (of *openFile) lockRead(ctx context.Context, lockedOut *atomic.Bool) {
	of.lmu.Lock()
	defer of.lmu.Unlock()
	if of.readers == 0 {
		of.lk = lockChunkFile(ctx, of.fd, lockedOut)
	}
	of.readers++
}

func (of *openFile) unlockRead() {
	of.lmu.Lock()
	defer of.lmu.Unlock()
	if of.readers--; of.readers == 0 {
		of.lk.Unlock()
	}
}

// chunkLockWait bounds how long a chunk read waits for a writer's lock.
const chunkLockWait = 200 * time.Millisecond

// lockChunkFile takes the writers' locks on fd shared, polling while a
// writer holds its lock, for up to chunkLockWait. Past that (or at once if
// lockedOut is set) it sets lockedOut and returns without a lock: the read
// goes ahead, since its bytes are checked against the version the scanner
// read (stat or hash) and that version was read without a writer. Waiting
// longer would let a writer that keeps its lock stall every secondary.
func lockChunkFile(ctx context.Context, fd int, lockedOut *atomic.Bool) fsys.ReadLock {
	deadline := time.Now().Add(chunkLockWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		lk, err := fsys.LockForRead(fd)
		if err == nil {
			lockedOut.Store(false)
			return lk
		}
		if !errors.Is(err, fsys.ErrBeingWritten) || lockedOut.Load() || time.Now().Add(wait).After(deadline) {
			lockedOut.Store(errors.Is(err, fsys.ErrBeingWritten))
			return fsys.ReadLock{}
		}
		if !fsys.Sleep(ctx, wait) {
			return fsys.ReadLock{}
		}
	}
}

// acquire returns f's open file, opening it if needed.
func (fc *fileCache) acquire(f *sentFile) (*openFile, error) {
	k := fileKey{root: f.root, path: f.path}
	fc.mu.Lock()
	if el, ok := fc.byKey[k]; ok {
		of := el.Value.(*openFile)
		if of.stat == f.stat {
			of.refs++
			fc.lru.MoveToFront(el)
			fc.mu.Unlock()
			return of, nil
		}
		fc.dropLocked(el) // opened for another version of the file
	}
	fc.mu.Unlock()

	fd, err := unix.Open(filepath.Join(f.root, filepath.FromSlash(f.path)), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := checkStat(fd, f.stat); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	of := &openFile{key: k, fd: fd, stat: f.stat, refs: 1}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if el, ok := fc.byKey[k]; ok {
		fc.dropLocked(el) // another reader opened it meanwhile
	}
	fc.byKey[k] = fc.lru.PushFront(of)
	for fc.lru.Len() > maxOpenFiles {
		fc.dropLocked(fc.lru.Back())
	}
	return of, nil
}

// release ends a read; drop also forgets the file (it changed, or its
// last chunk was read).
func (fc *fileCache) release(of *openFile, drop bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	of.refs--
	if drop && !of.stale {
		if el, ok := fc.byKey[of.key]; ok && el.Value == of {
			fc.dropLocked(el)
			return
		}
	}
	if of.stale && of.refs == 0 && of.fd >= 0 {
		_ = unix.Close(of.fd)
		of.fd = -1
	}
}

// dropLocked removes el from the cache and closes it unless being read.
func (fc *fileCache) dropLocked(el *list.Element) {
	of := el.Value.(*openFile)
	fc.lru.Remove(el)
	delete(fc.byKey, of.key)
	of.stale = true
	if of.refs == 0 && of.fd >= 0 {
		_ = unix.Close(of.fd)
		of.fd = -1
	}
}

// closeIdle closes every cached file not being read (a session ended).
func (fc *fileCache) closeIdle() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for el := fc.lru.Front(); el != nil; {
		next := el.Next()
		fc.dropLocked(el)
		el = next
	}
}

// checkStat fails with errChanged unless fd is a regular file with stat want.
func checkStat(fd int, want index.Stat) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	got := index.Stat{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || got != want {
		return errChanged
	}
	return nil
}

// preadFull fills b from fd at off; a short file is errChanged.
func preadFull(fd int, b []byte, off int64) error {
	for n := 0; n < len(b); {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case m == 0:
			return errChanged
		}
		n += m
	}
	return nil
}

// compressedExts are file types that are compressed already: zstd would
// spend CPU on them for nothing.
var compressedExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true, ".heic": true, ".avif": true,
	".mp4": true, ".m4v": true, ".mov": true, ".mkv": true, ".webm": true, ".avi": true,
	".mp3": true, ".m4a": true, ".aac": true, ".ogg": true, ".opus": true, ".flac": true,
	".zip": true, ".gz": true, ".tgz": true, ".bz2": true, ".xz": true, ".zst": true, ".7z": true, ".rar": true,
	".docx": true, ".xlsx": true, ".pptx": true, ".odt": true, ".ods": true, ".odp": true, ".epub": true,
	".jar": true, ".apk": true,
}

// worthCompressing reports whether a file's chunks may shrink with zstd,
// judging by its name.
func worthCompressing(p string) bool {
	return !compressedExts[strings.ToLower(path.Ext(p))]
}
