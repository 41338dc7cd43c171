package chunker

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 64 << 20

// BenchmarkCut measures the cut-point search alone: one op cuts a 64 MiB
// random buffer into chunks with the default config.
func BenchmarkCut(b *testing.B) {
	data := randomBytes(1, benchSize)
	cfg := DefaultConfig()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(data); {
			off += cfg.Cut(data[off:])
		}
	}
}

// BenchmarkChunkerHash measures streaming chunking plus BLAKE3 of every
// chunk over 64 MiB of random data, reusing one Chunker through Reset.
func BenchmarkChunkerHash(b *testing.B) {
	benchmarkChunker(b, randomBytes(2, benchSize))
}

// BenchmarkChunkerHashText is BenchmarkChunkerHash over compressible,
// source-code-like text.
func BenchmarkChunkerHashText(b *testing.B) {
	benchmarkChunker(b, textBytes(3, benchSize))
}

func benchmarkChunker(b *testing.B, data []byte) {
	r := bytes.NewReader(data)
	c, err := New(r, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	chunks := 0
	for b.Loop() {
		r.Reset(data)
		c.Reset(r)
		for {
			_, _, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunks++
		}
	}
	b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
}
