package chunker

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// chunkAll reads every chunk from r, which serves input, checking that the
// bytes Next returns are the input's at the chunk's offset. It stops at the
// first error and returns it unless it is io.EOF. checkChunks then checks the
// ids against the input.
func chunkAll(t testing.TB, r io.Reader, cfg Config, input []byte) ([]Chunk, error) {
	t.Helper()
	c, err := New(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return drain(t, c, input)
}

func drain(t testing.TB, c *Chunker, input []byte) ([]Chunk, error) {
	t.Helper()
	var chunks []Chunk
	var off int64
	for {
		ch, data, err := c.Next()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		if ch.Offset != off || len(data) != ch.Length || off+int64(len(data)) > int64(len(input)) ||
			!bytes.Equal(data, input[off:off+int64(len(data))]) {
			t.Fatalf("chunk %d %+v: %d bytes at stream offset %d do not match the input", len(chunks), ch, len(data), off)
		}
		off += int64(len(data))
		chunks = append(chunks, ch)
	}
}

// checkChunks verifies the stream invariants of chunks cut from data.
func checkChunks(t testing.TB, data []byte, chunks []Chunk, cfg Config) {
	t.Helper()
	var off int64
	for i, ch := range chunks {
		if ch.Offset != off {
			t.Fatalf("chunk %d: offset %d, want %d", i, ch.Offset, off)
		}
		last := i == len(chunks)-1
		if ch.Length > cfg.Max || ch.Length < 1 || (!last && ch.Length < cfg.Min) {
			t.Fatalf("chunk %d of %d: length %d outside bounds %+v", i, len(chunks), ch.Length, cfg)
		}
		if ch.Offset+int64(ch.Length) > int64(len(data)) {
			t.Fatalf("chunk %d runs past the end", i)
		}
		b := data[ch.Offset : ch.Offset+int64(ch.Length)]
		if Sum(b) != ch.ID {
			t.Fatalf("chunk %d: id does not match the input bytes", i)
		}
		if n := cfg.Cut(data[off:]); n != ch.Length {
			t.Fatalf("chunk %d: length %d, Cut gives %d", i, ch.Length, n)
		}
		off += int64(ch.Length)
	}
	if off != int64(len(data)) {
		t.Fatalf("chunks cover %d bytes of %d", off, len(data))
	}
}

// chunkyReader returns reads of pseudo-random sizes from 0 to 3*max-1.
type chunkyReader struct {
	r   io.Reader
	max int
	n   uint64
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	c.n = c.n*6364136223846793005 + 1442695040888963407
	size := int(c.n>>33) % (3 * c.max)
	return c.r.Read(p[:min(len(p), size)])
}

func TestReaders(t *testing.T) {
	inputs := []struct {
		name string
		cfg  Config
		data []byte
	}{
		{"empty", smallConfig, nil},
		{"one byte", smallConfig, []byte{42}},
		{"small random", smallConfig, randomBytes(20, 1<<20)},
		{"small text", smallConfig, textBytes(21, 1<<20)},
		{"odd random", oddConfig, randomBytes(22, 1<<20+3)},
		{"default random", DefaultConfig(), randomBytes(23, 3<<20+1)},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"OneByteReader", iotest.OneByteReader},
		{"HalfReader", iotest.HalfReader},
		{"DataErrReader", iotest.DataErrReader},
		{"chunky", func(r io.Reader) io.Reader { return &chunkyReader{r: r, max: 5000} }},
	}
	for _, in := range inputs {
		want, err := chunkAll(t, bytes.NewReader(in.data), in.cfg, in.data)
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		checkChunks(t, in.data, want, in.cfg)
		if len(in.data) == 0 && len(want) != 0 {
			t.Fatalf("empty input gave %d chunks", len(want))
		}
		for _, rd := range readers {
			t.Run(in.name+"/"+rd.name, func(t *testing.T) {
				got, err := chunkAll(t, rd.wrap(bytes.NewReader(in.data)), in.cfg, in.data)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%d chunks differ from the bytes.Reader's %d", len(got), len(want))
				}
			})
		}
	}
}

// dataErrReader returns its last data together with err.
type dataErrReader struct {
	data []byte
	err  error
}

func (d *dataErrReader) Read(p []byte) (int, error) {
	n := copy(p, d.data)
	d.data = d.data[n:]
	if len(d.data) == 0 {
		return n, d.err
	}
	return n, nil
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReadErrors(t *testing.T) {
	errBoom := errors.New("boom")
	cfg := smallConfig
	data := randomBytes(30, 300<<10)
	all, err := chunkAll(t, bytes.NewReader(data), cfg, data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		r         io.Reader
		wantErr   error
		minChunks int // chunks that must come before the error
	}{
		{"ErrReader", iotest.ErrReader(errBoom), errBoom, 0},
		{"data then ErrReader", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBoom)), errBoom, len(all) - 1},
		{"data with error", &dataErrReader{data, errBoom}, errBoom, len(all) - 1},
		{"TimeoutReader", iotest.TimeoutReader(bytes.NewReader(data)), iotest.ErrTimeout, 0},
		{"no progress", emptyReader{}, io.ErrNoProgress, 0},
		{"unexpected EOF", io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF)), io.ErrUnexpectedEOF, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.r, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, c, data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if len(got) < tt.minChunks || len(got) > len(all) || !slices.Equal(got, all[:len(got)]) {
				t.Fatalf("got %d chunks before the error, want a prefix of the %d good chunks with at least %d",
					len(got), len(all), tt.minChunks)
			}
			if _, _, err2 := c.Next(); !errors.Is(err2, tt.wantErr) {
				t.Fatalf("error not sticky: second call returned %v", err2)
			}
		})
	}
}

func TestReset(t *testing.T) {
	a, b := randomBytes(40, 1<<20), textBytes(41, 1<<20)
	wantB, _ := chunkAll(t, bytes.NewReader(b), smallConfig, b)
	c, err := New(bytes.NewReader(a), smallConfig)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // abandon a mid-stream
		if _, _, err := c.Next(); err != nil {
			t.Fatal(err)
		}
	}
	c.Reset(iotest.HalfReader(bytes.NewReader(b)))
	got, err := drain(t, c, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantB) {
		t.Fatal("chunks after Reset differ from a fresh Chunker's")
	}
	c.Reset(iotest.ErrReader(io.ErrClosedPipe))
	if _, _, err := c.Next(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("after Reset to a failing reader: %v", err)
	}
	c.Reset(bytes.NewReader(nil)) // Reset clears a sticky error
	if _, _, err := c.Next(); err != io.EOF {
		t.Fatalf("empty stream after Reset: %v, want io.EOF", err)
	}
}

// TestNoAllocs checks that steady-state chunking, hashing and Reset do not
// allocate.
func TestNoAllocs(t *testing.T) {
	data := randomBytes(50, 4<<20)
	r := bytes.NewReader(data)
	c, err := New(r, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var fh FileHasher
	allocs := testing.AllocsPerRun(3, func() {
		r.Reset(data)
		c.Reset(r)
		fh.Reset()
		for {
			ch, _, err := c.Next()
			if err != nil {
				break
			}
			fh.Add(ch.ID)
		}
		_ = fh.Sum()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per 4 MiB stream, want 0", allocs)
	}
}

// genReader produces pseudo-random bytes without holding them.
type genReader struct {
	state, left uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(uint64(len(p)), g.left)]
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.left -= uint64(len(p))
	return len(p), nil
}

// TestBoundedBuffer streams far more than the buffer holds and checks that
// the buffer never grows past 2*Max.
func TestBoundedBuffer(t *testing.T) {
	cfg := smallConfig
	const size = 32 << 20
	c, err := New(&genReader{state: 1, left: size}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for {
		ch, _, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Offset != total || ch.Length > cfg.Max {
			t.Fatalf("bad chunk %+v at %d", ch, total)
		}
		total += int64(ch.Length)
		if cap(c.buf) != 2*cfg.Max {
			t.Fatalf("buffer capacity %d, want %d", cap(c.buf), 2*cfg.Max)
		}
	}
	if total != size {
		t.Fatalf("chunked %d bytes, want %d", total, size)
	}
}
