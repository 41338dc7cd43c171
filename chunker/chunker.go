// Package chunker cuts byte streams into content-defined chunks with FastCDC
// (normalized chunking, Xia et al. 2020) and names chunks and files by
// BLAKE3-256, so that an edit to a file changes only the chunks around it.
package chunker

import (
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// errInvalidRead reports a reader that claimed more bytes than it was given
// room for, or a negative count.
var errInvalidRead = errors.New("reader returned an invalid count")

// maxEmptyReads is how many (0, nil) reads in a row are tolerated before
// giving up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Chunk describes one chunk of a stream.
type Chunk struct {
	Offset int64 // position of the first byte in the stream
	Length int   // number of bytes
	ID     ID    // BLAKE3-256 of the bytes
}

// Chunker streams chunks from a reader. It holds one buffer of 2*Max bytes
// and one BLAKE3 hasher, both reused across Reset, so memory stays bounded
// whatever the stream's length and steady-state chunking does not allocate.
//
// A Chunker is not safe for concurrent use.
type Chunker struct {
	r      io.Reader
	k      cutter
	buf    []byte // len 2*Max; buf[start:end] is read but not yet chunked
	start  int
	end    int
	offset int64 // stream offset of buf[start]
	err    error // sticky read error (io.EOF at the end of the stream)
	h      *blake3.Hasher
	sum    [32]byte
}

// New returns a Chunker reading from r with the sizes in cfg, which must be
// valid (see Config.Validate). r may be nil if Reset supplies a reader before
// the first call to Next.
func New(r io.Reader, cfg Config) (*Chunker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Chunker{
		k:   newCutter(cfg),
		buf: make([]byte, 2*cfg.Max),
		h:   blake3.New(),
	}
	c.Reset(r)
	return c, nil
}

// Reset makes c read a new stream from r, keeping its buffer and hasher.
// Data returned by earlier calls to Next becomes invalid.
func (c *Chunker) Reset(r io.Reader) {
	c.r = r
	c.start, c.end = 0, 0
	c.offset = 0
	c.err = nil
}

// Next returns the next chunk and its bytes. The bytes are valid until the
// next call to Next or Reset. At the end of the stream Next returns io.EOF;
// an empty stream yields io.EOF at once, with no chunks.
//
// If reading fails, the chunks whose end was already certain are returned
// first, then the read error (wrapped; test with errors.Is). Errors are
// sticky: later calls return the same error.
func (c *Chunker) Next() (Chunk, []byte, error) {
	if c.end-c.start < c.k.max && c.err == nil {
		c.fill()
	}
	avail := c.end - c.start
	if avail == 0 { // fill leaves Max bytes or an error, so c.err != nil
		return Chunk{}, nil, c.err
	}
	n := c.k.cut(c.buf[c.start:c.end])
	if n == avail && avail < c.k.max && c.err != io.EOF {
		// The stream broke off: this cut is where the data stopped, not a
		// content-defined boundary, so it must not be reported as a chunk.
		return Chunk{}, nil, c.err
	}
	data := c.buf[c.start : c.start+n]
	c.h.Reset()
	_, _ = c.h.Write(data)
	ch := Chunk{Offset: c.offset, Length: n, ID: ID(c.h.Sum(c.sum[:0]))}
	c.start += n
	c.offset += int64(n)
	return ch, data, nil
}

// fill reads until at least Max bytes are buffered or the reader fails,
// recording a failure (or io.EOF) in c.err.
func (c *Chunker) fill() {
	if c.start >= c.k.max {
		// Less than Max bytes remain unchunked and at least Max were consumed
		// since the last move, so copying costs less than one pass over the data.
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	empty := 0
	for c.end-c.start < c.k.max {
		n, err := c.r.Read(c.buf[c.end:])
		if n < 0 || n > len(c.buf)-c.end {
			c.err = fmt.Errorf("chunker: read at offset %d: %w", c.readOffset(), errInvalidRead)
			return
		}
		c.end += n
		switch {
		case err == io.EOF:
			c.err = io.EOF
			return
		case err != nil:
			c.err = fmt.Errorf("chunker: read at offset %d: %w", c.readOffset(), err)
			return
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				c.err = fmt.Errorf("chunker: read at offset %d: %w", c.readOffset(), io.ErrNoProgress)
				return
			}
		default:
			empty = 0
		}
	}
}

// readOffset is the stream offset of the next byte to be read.
func (c *Chunker) readOffset() int64 {
	return c.offset + int64(c.end-c.start)
}
