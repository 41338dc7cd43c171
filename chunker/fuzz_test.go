package chunker

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"testing/iotest"
)

// fuzzConfig is the smallest kind of valid config, with odd Min and Max so
// that every alignment of the two-byte loop meets a region edge. Small sizes
// let short inputs span many chunks and keep the fuzzer's minimization of new
// inputs (quadratic in their length) from eating the fuzzing time.
var fuzzConfig = Config{Min: 67, Avg: 128, Max: 301}

// FuzzChunker checks the stream invariants with fuzzConfig: chunks reassemble to the input,
// offsets are contiguous, lengths respect the bounds, ids are the BLAKE3 of
// the bytes, cuts match the one-byte-per-step reference, and a one-byte
// reader gives the same chunks.
func FuzzChunker(f *testing.F) {
	cfg := fuzzConfig
	for _, seed := range [][]byte{
		nil,
		{0},
		randomBytes(1, cfg.Min-1),
		randomBytes(2, cfg.Min),
		randomBytes(3, cfg.Min+1),
		randomBytes(4, cfg.Avg),
		randomBytes(5, cfg.Max+1),
		randomBytes(6, 8*cfg.Max),
		textBytes(7, 4*cfg.Max),
		make([]byte, 3*cfg.Max+5),
		bytes.Repeat([]byte("abc"), cfg.Max),
	} {
		f.Add(seed)
	}
	// One Chunker per process, reused: allocating its buffer and hasher
	// would dominate the cost of small inputs, and the minimizer runs the
	// target many times.
	c, err := New(nil, cfg)
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	r := bytes.NewReader(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		r.Reset(data)
		c.Reset(r)
		chunks, err := drain(t, c, data)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, data, chunks, cfg)
		whole := make([]byte, 0, len(data))
		for _, ch := range chunks {
			if n := refCut(cfg, data[ch.Offset:]); n != ch.Length {
				t.Fatalf("chunk at %d: length %d, reference cut %d", ch.Offset, ch.Length, n)
			}
			whole = append(whole, data[ch.Offset:ch.Offset+int64(ch.Length)]...)
		}
		if !bytes.Equal(whole, data) {
			t.Fatal("chunks do not reassemble to the input")
		}
		if len(data) > 0 {
			last := chunks[len(chunks)-1].Length
			if last < 1 || last > cfg.Max {
				t.Fatalf("last chunk length %d outside 1..%d", last, cfg.Max)
			}
		}
		r.Reset(data)
		c.Reset(iotest.OneByteReader(r))
		slow, err := drain(t, c, data)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(slow, chunks) {
			t.Fatal("OneByteReader gives different chunks")
		}
	})
}
