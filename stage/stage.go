// Package stage keeps what a paused secondary receives but must not apply
// yet: the journal entries in an append-only log and the chunk data they
// need in pack files, under the state directory, durable before they are
// acknowledged. Resume replays the log in order through the normal apply
// path, reading chunks from the packs; then the stage is cleared.
//
// Layout of a stage directory (one per folder):
//
//	log      records, each: u32 length, u32 CRC-32C of the payload, payload
//	         payload: uvarint pack number (0: none), uvarint count,
//	         count × (uvarint length, index entry encoding)
//	pack-N   chunks, each: id (32 bytes), u32 size, data
//
// A pack is written whole and fsynced before the record that names it is
// appended, and the record is fsynced before Append returns. After a crash
// Open keeps the records that are whole and verified, cuts a torn tail off
// the log and removes packs no record names.
package stage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ncsync/ncsync/internal/durable"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// ErrCorrupt means a stage file holds something its writer cannot have
// written (a verified record naming a damaged pack, a chunk that does not
// hash to its id). The stage should be cleared and received again.
var ErrCorrupt = errors.New("corrupt stage")

// Limits of what a stage accepts from its files.
const (
	maxRecord  = 256 << 20 // bytes of one log record
	maxChunk   = 16 << 20  // bytes of one chunk (the chunker's maximum is far below)
	recordHead = 8         // length and CRC
	packHead   = 32 + 4    // chunk id and size
	logName    = "log"
	packPrefix = "pack-"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stage is one folder's staged batches. It is not safe for concurrent use.
type Stage struct {
	dir      string
	log      *os.File
	logSize  int64
	packs    map[uint64]*os.File // open for reading
	chunks   map[chunker.ID]loc
	last     uint64 // highest staged sequence; 0 when empty
	bytes    int64  // log and packs on disk
	nextPack uint64
}

// loc is where a chunk is stored.
type loc struct {
	pack uint64
	off  int64 // of the data
	size uint32
}

// Open opens (creating it if needed) the stage in dir and recovers it
// after a crash: see the package comment.
func Open(dir string) (*Stage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create stage %q: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open stage log: %w", err)
	}
	s := &Stage{dir: dir, log: lf, packs: make(map[uint64]*os.File), chunks: make(map[chunker.ID]loc), nextPack: 1}
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// recover reads the log, keeps its whole records, loads the packs they
// name and removes the rest.
func (s *Stage) recover() error {
	named := make(map[uint64]bool)
	end, err := s.scan(func(pack uint64, entries []index.Entry) error {
		if pack != 0 {
			if named[pack] {
				return fmt.Errorf("pack %d named twice: %w", pack, ErrCorrupt)
			}
			named[pack] = true
		}
		return s.admit(entries)
	})
	if err != nil {
		return err
	}
	if fi, err := s.log.Stat(); err != nil {
		return fmt.Errorf("stat stage log: %w", err)
	} else if fi.Size() != end {
		// A record torn by a crash: it was never acknowledged.
		if err := s.log.Truncate(end); err != nil {
			return fmt.Errorf("cut torn stage log: %w", err)
		}
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("sync stage log: %w", err)
		}
	}
	s.logSize, s.bytes = end, end
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read stage %q: %w", s.dir, err)
	}
	for _, de := range des {
		n, ok := packNumber(de.Name())
		if !ok {
			continue
		}
		if n >= s.nextPack {
			s.nextPack = n + 1
		}
		if !named[n] {
			if err := os.Remove(filepath.Join(s.dir, de.Name())); err != nil {
				return fmt.Errorf("remove unfinished stage pack: %w", err)
			}
			continue
		}
		if err := s.loadPack(n); err != nil {
			return err
		}
		delete(named, n)
	}
	for n := range named {
		return fmt.Errorf("pack %d is named by the log but missing: %w", n, ErrCorrupt)
	}
	return nil
}

// admit checks that entries continue the staged sequence and takes them.
func (s *Stage) admit(entries []index.Entry) error {
	if len(entries) == 0 {
		return fmt.Errorf("empty batch: %w", ErrCorrupt)
	}
	prev := s.last
	for _, e := range entries {
		if e.Seq <= prev {
			return fmt.Errorf("sequence %d after %d: %w", e.Seq, prev, ErrCorrupt)
		}
		prev = e.Seq
	}
	s.last = prev
	return nil
}

func packNumber(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, packPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n > 0 && packPrefix+strconv.FormatUint(n, 10) == name
}

func (s *Stage) packPath(n uint64) string {
	return filepath.Join(s.dir, packPrefix+strconv.FormatUint(n, 10))
}

// loadPack indexes the chunks of pack n.
func (s *Stage) loadPack(n uint64) error {
	f, err := os.Open(s.packPath(n))
	if err != nil {
		return fmt.Errorf("open stage pack: %w", err)
	}
	s.packs[n] = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat stage pack: %w", err)
	}
	err = scanPack(bufio.NewReaderSize(f, 64<<10), fi.Size(), func(id chunker.ID, off int64, size uint32) {
		s.chunks[id] = loc{pack: n, off: off, size: size}
	})
	if err != nil {
		return fmt.Errorf("stage pack %d: %w", n, err)
	}
	s.bytes += fi.Size()
	return nil
}

// scanPack reads the chunk headers of a pack of size bytes from r, calling
// fn with each chunk's id, data offset and size.
func scanPack(r io.Reader, size int64, fn func(id chunker.ID, off int64, n uint32)) error {
	var head [packHead]byte
	var off int64
	for off < size {
		if size-off < packHead {
			return fmt.Errorf("chunk header at %d cut short: %w", off, ErrCorrupt)
		}
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return fmt.Errorf("read chunk header at %d: %w", off, err)
		}
		var id chunker.ID
		copy(id[:], head[:])
		n := binary.LittleEndian.Uint32(head[len(id):])
		off += packHead
		if n == 0 || n > maxChunk || int64(n) > size-off {
			return fmt.Errorf("chunk of %d bytes at %d: %w", n, off, ErrCorrupt)
		}
		fn(id, off, n)
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return fmt.Errorf("read chunk at %d: %w", off, err)
		}
		off += int64(n)
	}
	return nil
}

// entryFixed bounds the encoding of an entry's fixed fields (varints at
// their longest, the file id, the record's entry length) and its share of
// a record's header.
const entryFixed = 256

// EntryCost bounds what staging e adds to a stage on disk: its part of a
// log record and, for a file, each of its chunks in a pack (whether or not
// one is held already). The primary spends a paused secondary's stage
// limit by it and the secondary checks batches against its limit by it,
// so that a batch the primary fits is never refused.
func EntryCost(e *index.Entry) int64 {
	n := int64(entryFixed + len(e.Path) + len(e.Target) + len(e.Version.Node) + len(e.Chunks)*(len(chunker.ID{})+binary.MaxVarintLen32))
	if e.Kind == index.KindFile && !e.Deleted {
		for _, c := range e.Chunks {
			n += packHead + int64(c.Size)
		}
	}
	return n
}

// Last returns the highest staged sequence, 0 when nothing is staged.
func (s *Stage) Last() uint64 { return s.last }

// Bytes returns the stage's size on disk.
func (s *Stage) Bytes() int64 { return s.bytes }

// Has reports whether chunk id is staged.
func (s *Stage) Has(id chunker.ID) bool {
	_, ok := s.chunks[id]
	return ok
}

// ReadChunk appends staged chunk id to buf[:0] and returns it, checked
// against its id.
func (s *Stage) ReadChunk(id chunker.ID, buf []byte) ([]byte, error) {
	l, ok := s.chunks[id]
	if !ok {
		return nil, fmt.Errorf("chunk %s is not staged", id)
	}
	if cap(buf) < int(l.size) {
		buf = make([]byte, l.size)
	}
	buf = buf[:l.size]
	if _, err := s.packs[l.pack].ReadAt(buf, l.off); err != nil {
		return nil, fmt.Errorf("read staged chunk %s: %w", id, err)
	}
	if chunker.Sum(buf) != id {
		return nil, fmt.Errorf("staged chunk %s: data does not match: %w", id, ErrCorrupt)
	}
	return buf, nil
}

// Pack is a pack file being written; Append makes it durable with the
// entries that need it.
type Pack struct {
	s    *Stage
	n    uint64
	f    *os.File
	w    *bufio.Writer
	off  int64
	ids  map[chunker.ID]loc
	done bool
}

// NewPack starts a pack file.
func (s *Stage) NewPack() (*Pack, error) {
	n := s.nextPack
	f, err := os.OpenFile(s.packPath(n), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create stage pack: %w", err)
	}
	s.nextPack++
	return &Pack{s: s, n: n, f: f, w: bufio.NewWriterSize(f, 1<<20), ids: make(map[chunker.ID]loc)}, nil
}

// Add writes chunk id with its data (which the caller has verified) to
// the pack. Chunks already staged or added are skipped.
func (p *Pack) Add(id chunker.ID, data []byte) error {
	if _, ok := p.ids[id]; ok || p.s.Has(id) {
		return nil
	}
	if len(data) == 0 || len(data) > maxChunk {
		return fmt.Errorf("stage chunk %s of %d bytes: out of range", id, len(data))
	}
	var head [packHead]byte
	copy(head[:], id[:])
	binary.LittleEndian.PutUint32(head[len(id):], uint32(len(data)))
	if _, err := p.w.Write(head[:]); err != nil {
		return fmt.Errorf("write stage pack: %w", err)
	}
	if _, err := p.w.Write(data); err != nil {
		return fmt.Errorf("write stage pack: %w", err)
	}
	p.ids[id] = loc{pack: p.n, off: p.off + packHead, size: uint32(len(data))}
	p.off += packHead + int64(len(data))
	return nil
}

// Bytes returns how much the pack holds so far.
func (p *Pack) Bytes() int64 { return p.off }

// Abort removes an unfinished pack.
func (p *Pack) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close()
	os.Remove(p.f.Name())
}

// Append stages a batch: entries (consecutive journal entries with
// increasing sequences after Last) and the chunks added to pack (nil if
// none were needed). Both are durable when it returns nil; on error
// nothing was staged.
func (s *Stage) Append(entries []index.Entry, pack *Pack) error {
	var packNo uint64
	if pack != nil {
		defer pack.Abort()
		if len(pack.ids) > 0 {
			packNo = pack.n
		}
	}
	if len(entries) == 0 {
		return errors.New("stage an empty batch")
	}
	prev := s.last
	for _, e := range entries {
		if e.Seq <= prev {
			return fmt.Errorf("stage sequence %d after %d: out of order", e.Seq, prev)
		}
		prev = e.Seq
	}
	var rf *os.File
	if packNo != 0 {
		if err := pack.w.Flush(); err != nil {
			return fmt.Errorf("write stage pack: %w", err)
		}
		if err := pack.f.Sync(); err != nil {
			return fmt.Errorf("sync stage pack: %w", err)
		}
		if err := durable.SyncDir(s.dir); err != nil {
			return err
		}
		var err error
		if rf, err = os.Open(pack.f.Name()); err != nil {
			return fmt.Errorf("open stage pack: %w", err)
		}
	}
	rec := encodeRecord(packNo, entries)
	if len(rec) > maxRecord {
		if rf != nil {
			rf.Close()
		}
		return fmt.Errorf("stage a batch of %d entries: record of %d bytes over the limit", len(entries), len(rec))
	}
	if _, err := s.log.WriteAt(rec, s.logSize); err != nil {
		if rf != nil {
			rf.Close()
		}
		s.log.Truncate(s.logSize)
		return fmt.Errorf("write stage log: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		if rf != nil {
			rf.Close()
		}
		return fmt.Errorf("sync stage log: %w", err)
	}
	s.logSize += int64(len(rec))
	s.bytes += int64(len(rec))
	s.last = prev
	if packNo != 0 {
		pack.done = true
		pack.f.Close()
		s.packs[packNo] = rf
		for id, l := range pack.ids {
			s.chunks[id] = l
		}
		s.bytes += pack.off
	}
	return nil
}

// Replay calls fn with each staged batch, in order. fn's entries are its
// own.
func (s *Stage) Replay(fn func(entries []index.Entry) error) error {
	_, err := s.scan(func(_ uint64, entries []index.Entry) error { return fn(entries) })
	return err
}

// scan reads the log's whole, verified records from the start, calling fn
// with each, and returns the offset after the last one. A torn or
// unverifiable record ends the scan; a verified record that does not
// decode is ErrCorrupt.
func (s *Stage) scan(fn func(pack uint64, entries []index.Entry) error) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, 1<<62), 256<<10)
	var off int64
	var head [recordHead]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, nil
			}
			return off, fmt.Errorf("read stage log: %w", err)
		}
		n := binary.LittleEndian.Uint32(head[:4])
		if n == 0 || n > maxRecord {
			return off, nil // torn: a length never written whole
		}
		payload = growTo(payload, int(n))
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, nil
			}
			return off, fmt.Errorf("read stage log: %w", err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
			return off, nil
		}
		pack, entries, err := decodePayload(payload)
		if err != nil {
			return off, fmt.Errorf("stage log record at %d: %w", off, err)
		}
		if err := fn(pack, entries); err != nil {
			return off, err
		}
		off += recordHead + int64(n)
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// encodeRecord returns the log record of a batch.
func encodeRecord(pack uint64, entries []index.Entry) []byte {
	b := make([]byte, recordHead, 4096)
	b = binary.AppendUvarint(b, pack)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for i := range entries {
		e := index.MarshalEntry(&entries[i])
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	p := b[recordHead:]
	binary.LittleEndian.PutUint32(b[:4], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(p, castagnoli))
	return b
}

// decodePayload decodes a record's payload.
func decodePayload(b []byte) (uint64, []index.Entry, error) {
	pack, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("pack number: %w", ErrCorrupt)
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > uint64(len(b)) {
		return 0, nil, fmt.Errorf("entry count: %w", ErrCorrupt)
	}
	b = b[n:]
	entries := make([]index.Entry, 0, count)
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return 0, nil, fmt.Errorf("entry length: %w", ErrCorrupt)
		}
		e, err := index.UnmarshalEntry(b[n : n+int(l)])
		if err != nil {
			return 0, nil, fmt.Errorf("entry: %w: %w", ErrCorrupt, err)
		}
		entries = append(entries, e)
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return 0, nil, fmt.Errorf("%d bytes after the entries: %w", len(b), ErrCorrupt)
	}
	return pack, entries, nil
}

// Clear removes everything staged (after it was applied, or when it must
// be received again).
func (s *Stage) Clear() error {
	for n, f := range s.packs {
		f.Close()
		if err := os.Remove(s.packPath(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear stage: %w", err)
		}
		delete(s.packs, n)
	}
	clear(s.chunks)
	if err := s.log.Truncate(0); err != nil {
		return fmt.Errorf("clear stage log: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("sync stage log: %w", err)
	}
	s.logSize, s.bytes, s.last = 0, 0, 0
	return durable.SyncDir(s.dir)
}

// Close releases the stage's files; what is staged stays on disk.
func (s *Stage) Close() error {
	for _, f := range s.packs {
		f.Close()
	}
	return s.log.Close()
}
