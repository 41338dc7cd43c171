package transport

import (
	"context"
	"io"
	"testing"

	"github.com/ncsync/ncsync/chunker"
)

// BenchmarkFetchChunks fetches 64 MiB in 64 KiB chunks over loopback TLS:
// random data (sent raw) and PHP-like text (sent zstd).
func BenchmarkFetchChunks(b *testing.B) {
	const total, size = 64 << 20, 64 << 10
	for _, kind := range []struct {
		name string
		gen  func(uint64, int) []byte
	}{{"random", randomChunk}, {"text", textChunk}} {
		b.Run(kind.name, func(b *testing.B) {
			p := cluster(b)
			src := newFakeSource()
			ids := make([]chunker.ID, 0, total/size)
			for i := range total / size {
				ids = append(ids, src.add(kind.gen(uint64(i), size)))
			}
			_, addr := startServer(b, p.serverTLS(b, "p1"), Limits{}, src)
			c := dial(b, addr, p.clientTLS(b, "s1"), Limits{})
			fetch := func() {
				cs, err := c.FetchChunks(context.Background(), "f", ids)
				if err != nil {
					b.Fatal(err)
				}
				defer cs.Close()
				n := 0
				for {
					ch, err := cs.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n += len(ch.Data)
				}
				if n != total {
					b.Fatalf("%d bytes", n)
				}
			}
			fetch() // connect and warm up pools
			s0 := c.Stats()
			b.SetBytes(total)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				fetch()
			}
			b.StopTimer()
			s1 := c.Stats()
			b.ReportMetric(float64(s1.ChunkBytesWire-s0.ChunkBytesWire)/float64(s1.ChunkBytesRaw-s0.ChunkBytesRaw), "wire/raw")
		})
	}
}
