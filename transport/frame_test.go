package transport

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// infoSource is a fakeSource that knows its chunks' sizes, as the primary
// does for the chunks of entries it sent; chunks in raw are not worth
// compressing.
type infoSource struct {
	*fakeSource
	raw map[chunker.ID]bool
}

func (s infoSource) ChunkInfo(folder string, id chunker.ID) (int, bool, bool) {
	data, ok := s.chunks[id]
	return len(data), !s.raw[id], ok
}

// framedIDs is a webroot-like request: many small text chunks (a few
// frames' worth) mixed with a chunk of a compressed format, a chunk too
// large to share a frame, one the source no longer holds and a repeat.
func framedIDs(src infoSource) []chunker.ID {
	var ids []chunker.ID
	for i := range 700 {
		ids = append(ids, src.add(textChunk(uint64(100+i), 1000+i*7)))
		switch i {
		case 100:
			id := src.add(randomChunk(1, 20<<10))
			src.raw[id] = true
			ids = append(ids, id)
		case 200:
			ids = append(ids, src.add(textChunk(2, maxFramedChunk+1)))
		case 300:
			ids = append(ids, chunker.Sum([]byte("gone")), ids[0])
		}
	}
	return ids
}

// TestFetchChunksFramed fetches small chunks through a server whose
// Source knows their sizes: they arrive intact, the client and server
// count the same bytes, and sharing frames compresses them far better
// than one frame per chunk.
func TestFetchChunksFramed(t *testing.T) {
	p := cluster(t)
	src := infoSource{newFakeSource(), map[chunker.ID]bool{}}
	ids := framedIDs(src)
	srv, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	fetchAll(t, c, src.fakeSource, ids)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var perChunk int
	for _, data := range src.chunks {
		perChunk += min(len(enc.EncodeAll(data, nil)), len(data))
	}
	cst, sst := c.Stats(), srv.Stats().Peers["s1"]
	if cst != ClientStats(sst) {
		t.Errorf("client stats %+v, server stats %+v", cst, sst)
	}
	if cst.Missing != 1 || cst.Chunks != uint64(len(ids)-1) {
		t.Errorf("stats %+v: want %d chunks and 1 missing", cst, len(ids)-1)
	}
	t.Logf("%d bytes on the wire, %d with a frame per chunk, %d raw", cst.ChunkBytesWire, perChunk, cst.ChunkBytesRaw)
	if cst.ChunkBytesWire*5 > uint64(perChunk)*4 {
		t.Errorf("%d bytes on the wire with shared frames, %d with one per chunk: want at least 20%% less", cst.ChunkBytesWire, perChunk)
	}
}

// TestSendChunksFrames checks the messages themselves: frames are used
// for the small compressible chunks only, one per message at most, each
// within MaxFrameBytes; without accept_frames, none.
func TestSendChunksFrames(t *testing.T) {
	src := infoSource{newFakeSource(), map[chunker.ID]bool{}}
	ids := framedIDs(src)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	s := &Server{lim: DefaultLimits(), src: src, enc: enc}
	for _, frames := range []bool{true, false} {
		var msgs, withFrame, chunks int
		err := s.sendChunks(context.Background(), "webroot", ids, nil, frames, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
			msgs++
			var inFrame int
			for _, cd := range m.Chunks {
				id := ids[chunks]
				chunks++
				switch {
				case cd.Codec == ncsyncv1.Codec_CODEC_IN_FRAME:
					inFrame += int(cd.Size)
					if src.raw[id] || cd.Size > maxFramedChunk {
						t.Errorf("chunk %s of %d bytes in a frame", id, cd.Size)
					}
				case !cd.Missing && src.raw[id] && cd.Codec != ncsyncv1.Codec_CODEC_RAW:
					t.Errorf("chunk of a compressed format sent as %v", cd.Codec)
				}
			}
			if len(m.Frame) > 0 {
				withFrame++
			}
			if (inFrame > 0) != (len(m.Frame) > 0) || inFrame > MaxFrameBytes {
				t.Errorf("message with %d bytes in a frame of %d bytes", inFrame, len(m.Frame))
			}
			return nil
		})
		if err != nil || chunks != len(ids) {
			t.Fatalf("frames %v: %v after %d of %d chunks", frames, err, chunks, len(ids))
		}
		t.Logf("frames %v: %d messages, %d with a frame", frames, msgs, withFrame)
		if frames && withFrame < 2 || !frames && withFrame > 0 {
			t.Errorf("frames %v: %d messages with a frame", frames, withFrame)
		}
	}
}

// The shared encoders hold little memory: each concurrent state of each
// encoder keeps its history for the daemon's life, and with many
// secondaries both levels are in use. With a 4 MiB window and no
// WithLowerEncoderMem, a state's history was 8 MiB (32 MiB of the primary's
// heap for two encoders on two cores) and its first frame allocated 10.4
// MiB at zstd fastest, 12.8 MiB at level 3; now 4.3 and 6.7 MiB. The
// largest frame still decodes to what went in.
func TestChunkEncoderMemory(t *testing.T) {
	src := textChunk(9, frameBytes+maxFramedChunk)
	const most = 8 << 20
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		// The least of three fresh encoders: what goroutines left by
		// other tests allocate meanwhile only adds.
		var grew uint64
		var comp []byte
		for i := range 3 {
			enc, err := newChunkEncoder(level)
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, 0, len(src))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			comp = enc.EncodeAll(src, dst)
			runtime.ReadMemStats(&after)
			enc.Close()
			if d := after.TotalAlloc - before.TotalAlloc; i == 0 || d < grew {
				grew = d
			}
		}
		if grew > most {
			t.Errorf("level %v: the first frame allocated %d bytes in the encoder; want at most %d", level, grew, most)
		}
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.DecodeAll(comp, nil)
		dec.Close()
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("level %v: round trip failed: %v", level, err)
		}
	}
}
