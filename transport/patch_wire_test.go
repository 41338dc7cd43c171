package transport

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/patch"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// editedChunk returns base with 4 KiB overwritten in the middle.
func editedChunk(base []byte) []byte {
	out := bytes.Clone(base)
	copy(out[len(out)/2:], randomChunk(99, 4096))
	return out
}

func TestFetchPatched(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	base := randomChunk(1, 106_403)
	next := editedChunk(base)
	inserted := append(randomChunk(2, 100), base...)
	unrelated := randomChunk(3, 64<<10)
	ids := []chunker.ID{src.add(next), src.add(unrelated), src.add(inserted), src.add(textChunk(4, 32<<10))}
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	c.patches.Store(true) // as a Welcome from this server says

	w0 := c.Stats().ChunkBytesWire
	cs := fetchFrom(t, c, ids, []Base{{Chunks: []int{0, 1, 2}, Data: base}})
	got, err := readAll(cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, ch := range got {
		if !bytes.Equal(ch.Data, src.chunks[ids[i]]) {
			t.Fatalf("chunk %d differs", i)
		}
	}
	patched, refused := c.PatchStats()
	if patched != 2 || refused != 0 {
		t.Errorf("%d chunks patched, %d refused; want 2 and 0 (the unrelated one goes whole)", patched, refused)
	}
	// Whole, the first three are 277 kB of random bytes.
	if wire := c.Stats().ChunkBytesWire - w0; wire > 64<<10+32<<10+30_000 {
		t.Errorf("%d bytes on the wire, want the unrelated and text chunks and two small patches", wire)
	}
}

func TestFetchPatchedWithoutCapability(t *testing.T) {
	// A primary whose Welcome did not offer patches is offered no base.
	p := cluster(t)
	src := newFakeSource()
	base := randomChunk(1, 50_000)
	id := src.add(editedChunk(base))
	var bases int
	addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{fetch: func(req *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
		bases += len(req.GetBases())
		return s.Send(&ncsyncv1.FetchChunksResponse{Chunks: []*ncsyncv1.ChunkData{{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 50_000, Data: src.chunks[id]}}})
	}})
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	cs := fetchFrom(t, c, []chunker.ID{id}, []Base{{Chunks: []int{0}, Data: base}})
	if _, err := readAll(cs); err != nil {
		t.Fatal(err)
	}
	if bases != 0 {
		t.Errorf("%d bases offered to a primary that takes none", bases)
	}
}

// TestFetchBadPatch: a patch that does not build its chunk (wrong, over a
// limit, undecodable, or for a chunk offered no base) is never taken: the
// chunk is fetched whole.
func TestFetchBadPatch(t *testing.T) {
	p := cluster(t)
	base := randomChunk(1, 50_000)
	next := editedChunk(base)
	id := chunker.Sum(next)
	sig := patch.Sign(base, patch.DefaultBlockSize)
	good := patch.Diff(sig, next)
	wrong := patch.Diff(sig, editedChunk(randomChunk(5, 50_000))) // builds 50,000 other bytes
	copyAll := patch.Diff(sig, base)                              // builds the base itself
	raw, zst := ncsyncv1.Codec_CODEC_RAW, ncsyncv1.Codec_CODEC_ZSTD
	tests := []struct {
		name   string
		cd     *ncsyncv1.ChunkData
		noBase bool
	}{
		{"another chunk's bytes", &ncsyncv1.ChunkData{Codec: raw, Size: 50_000, PatchSize: uint32(len(wrong)), Data: wrong}, false},
		{"the base's bytes", &ncsyncv1.ChunkData{Codec: raw, Size: 50_000, PatchSize: uint32(len(copyAll)), Data: copyAll}, false},
		{"patch size not the data's", &ncsyncv1.ChunkData{Codec: raw, Size: 50_000, PatchSize: 7, Data: good}, false},
		{"patch over the limit", &ncsyncv1.ChunkData{Codec: raw, Size: 50_000, PatchSize: 60_000, Data: make([]byte, 60_000)}, false},
		{"chunk size over the limit", &ncsyncv1.ChunkData{Codec: raw, Size: 1 << 30, PatchSize: uint32(len(good)), Data: good}, false},
		{"zstd garbage", &ncsyncv1.ChunkData{Codec: zst, Size: 50_000, PatchSize: uint32(len(good)), Data: good}, false},
		{"in a frame", &ncsyncv1.ChunkData{Codec: ncsyncv1.Codec_CODEC_IN_FRAME, Size: 50_000, PatchSize: uint32(len(good))}, false},
		{"no base offered", &ncsyncv1.ChunkData{Codec: raw, Size: 50_000, PatchSize: uint32(len(good)), Data: good}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cd.Id, tt.cd.Patched = id[:], true
			var requests int
			addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{fetch: func(req *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
				requests++
				if len(req.GetBases()) == 0 && (!tt.noBase || requests > 1) {
					return s.Send(&ncsyncv1.FetchChunksResponse{Chunks: []*ncsyncv1.ChunkData{{Id: id[:], Codec: raw, Size: 50_000, Data: next}}})
				}
				return s.Send(&ncsyncv1.FetchChunksResponse{Chunks: []*ncsyncv1.ChunkData{tt.cd}})
			}})
			c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
			c.patches.Store(true)
			var bases []Base
			if !tt.noBase {
				bases = []Base{{Chunks: []int{0}, Data: base}}
			}
			cs := fetchFrom(t, c, []chunker.ID{id}, bases)
			got, err := readAll(cs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !bytes.Equal(got[0].Data, next) {
				t.Fatal("did not get the chunk")
			}
			if patched, refused := c.PatchStats(); patched != 0 || refused != 1 || requests != 2 {
				t.Errorf("%d patched, %d refused, %d requests; want 0, 1 and the chunk fetched whole", patched, refused, requests)
			}
		})
	}
}

func TestBasesFromWireRefuses(t *testing.T) {
	sig := patch.Sign(randomChunk(1, 10_000), patch.DefaultBlockSize).Encode()
	tests := map[string][]*ncsyncv1.ChunkBase{
		"index past the ids":      {{Chunks: []uint32{2}, Signature: sig}},
		"two bases for one chunk": {{Chunks: []uint32{0}, Signature: sig}, {Chunks: []uint32{0}, Signature: sig}},
		"a base for no chunk":     {{Signature: sig}},
		"bad signature":           {{Chunks: []uint32{0}, Signature: sig[:len(sig)-1]}},
		"more bases than ids":     {{Chunks: []uint32{0}, Signature: sig}, {Chunks: []uint32{1}, Signature: sig}, {Chunks: []uint32{1}, Signature: sig}},
	}
	for name, bases := range tests {
		_, err := basesFromWire(&ncsyncv1.FetchChunksRequest{FolderId: "f", Bases: bases}, 2)
		if err == nil || !strings.Contains(err.Error(), "fetch chunks") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	sigs, err := basesFromWire(&ncsyncv1.FetchChunksRequest{FolderId: "f", Bases: []*ncsyncv1.ChunkBase{{Chunks: []uint32{1}, Signature: sig}}}, 2)
	if err != nil || sigs[0] != nil || sigs[1] == nil || sigs[1].BaseLen != 10_000 {
		t.Errorf("a good base: %v %v", sigs, err)
	}
}

// TestFetchPatchedOverLimit: patched chunks count against the bound on
// what one response decodes to, by their announced sizes, before any is
// built: a primary cannot make the client hold more by patching.
func TestFetchPatchedOverLimit(t *testing.T) {
	p := cluster(t)
	base := randomChunk(1, 8192)
	id := chunker.Sum(base)
	d := patch.Diff(patch.Sign(base, patch.DefaultBlockSize), base)
	const n = 40
	addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{fetch: func(req *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
		m := &ncsyncv1.FetchChunksResponse{}
		for range n {
			m.Chunks = append(m.Chunks, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 1 << 20, Patched: true, PatchSize: uint32(len(d)), Data: d})
		}
		return s.Send(m)
	}})
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	c.patches.Store(true)
	ids := make([]chunker.ID, n)
	chunks := make([]int, n)
	for i := range ids {
		ids[i], chunks[i] = id, i
	}
	cs := fetchFrom(t, c, ids, []Base{{Chunks: chunks, Data: base}})
	if _, err := readAll(cs); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "patched chunks announcing") {
		t.Fatalf("%v, want a protocol error for 40 MiB announced in one response", err)
	}
}

// fetchFrom opens a chunk stream of ids from folder "webroot" with bases,
// closed when the test ends.
func fetchFrom(t *testing.T, c *Client, ids []chunker.ID, bases []Base) *ChunkStream {
	t.Helper()
	cs, err := c.FetchChunksFrom(context.Background(), "webroot", ids, bases)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
