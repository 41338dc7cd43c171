package transport

import (
	"context"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/patch"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// A chunk that an edit made out of bytes the secondary still holds (its
// previous version of the file) is fetched as a patch against them: the
// secondary offers those bytes as a base (a signature, package patch),
// the primary answers with copies of the base's blocks and the literal
// bytes between them, and the secondary builds the chunk and checks it
// against the id. Whatever goes wrong there, it fetches the chunk whole.

// MaxPatchBase bounds a base a client offers and a server accepts: an
// edit's replaced run of chunks rarely exceeds a few chunks, and a
// signature costs 12 bytes per block of the request.
const MaxPatchBase = 4 << 20

// maxPatchBases bounds the bases of one FetchChunks stream a client keeps
// in memory.
const maxPatchBases = 16 << 20

// Base is bytes the client holds that some of the chunks it fetches were
// made from; Chunks index the ids of the fetch.
type Base struct {
	Chunks []int
	Data   []byte
}

// maxPatchBytes bounds a patch's decoded size: a patch larger than its
// chunk is never worth sending, so anything beyond the chunk and its ops'
// overhead is refused.
func maxPatchBytes(maxChunk int) int { return maxChunk + maxChunk/8 + 64 }

// basesFromWire checks a request's bases against its n ids: every chunk
// index within them and offered at most one base, every signature of a
// base within MaxPatchBase. It returns each id's signature (nil: none),
// or nil when no base was offered.
func basesFromWire(req *ncsyncv1.FetchChunksRequest, n int) ([]*patch.Signature, error) {
	if len(req.GetBases()) == 0 {
		return nil, nil
	}
	if len(req.Bases) > n {
		return nil, protocolErr("fetch chunks of %q: %d bases for %d ids", req.FolderId, len(req.Bases), n)
	}
	sigs := make([]*patch.Signature, n)
	for i, b := range req.Bases {
		if len(b.GetChunks()) == 0 {
			return nil, protocolErr("fetch chunks of %q: base %d is for no chunk", req.FolderId, i)
		}
		sig, err := patch.DecodeSignature(b.GetSignature(), MaxPatchBase)
		if err != nil {
			return nil, protocolErr("fetch chunks of %q: base %d: %v", req.FolderId, i, err)
		}
		for _, c := range b.Chunks {
			if int64(c) >= int64(n) || sigs[c] != nil {
				return nil, protocolErr("fetch chunks of %q: base %d: chunk %d is not one of %d ids, or has a base already", req.FolderId, i, c, n)
			}
			sigs[c] = &sig
		}
	}
	return sigs, nil
}

// patchPart replaces j's single part by a patch of its chunk against sig
// if that is smaller on the wire than the part as encoded; compressed
// with enc (nil: raw) when that pays.
func patchPart(j *chunkJob, sig *patch.Signature, enc *zstd.Encoder) {
	p := &j.parts[0]
	if p.missing {
		return
	}
	d := patch.Diff(*sig, j.raw[:p.size])
	if len(d) >= len(p.wire) || len(d) > maxPatchBytes(p.size) {
		return
	}
	p.patched, p.patchSize, p.codec, p.wire = true, len(d), ncsyncv1.Codec_CODEC_RAW, d
	if enc != nil {
		if comp := enc.EncodeAll(d, nil); shrinks(len(comp), len(d)) {
			p.codec, p.wire = ncsyncv1.Codec_CODEC_ZSTD, comp
		}
	}
}

// patchedChunk builds the chunk cd patches from base (nil: the request
// offered none) and checks it against id. Any error means: fetch the
// chunk whole.
func patchedChunk(dec *zstd.Decoder, cd *ncsyncv1.ChunkData, id chunker.ID, maxChunk int, base *signedBase) ([]byte, error) {
	if base == nil {
		return nil, fmt.Errorf("chunk %s: a patch for a chunk offered no base", id)
	}
	size, psize := int(cd.GetSize()), int(cd.GetPatchSize())
	if size <= 0 || size > maxChunk || psize <= 0 || psize > maxPatchBytes(size) {
		return nil, fmt.Errorf("chunk %s: patch of %d bytes for %d, outside the limits", id, psize, size)
	}
	var d []byte
	switch cd.GetCodec() {
	case ncsyncv1.Codec_CODEC_RAW:
		d = cd.GetData()
	case ncsyncv1.Codec_CODEC_ZSTD:
		var err error
		if d, err = dec.DecodeAll(cd.GetData(), make([]byte, 0, psize)); err != nil {
			return nil, fmt.Errorf("chunk %s: patch: zstd: %w", id, err)
		}
	default:
		return nil, fmt.Errorf("chunk %s: patch with codec %d", id, int32(cd.GetCodec()))
	}
	if len(d) != psize {
		return nil, fmt.Errorf("chunk %s: patch of %d bytes, announced %d", id, len(d), psize)
	}
	data, err := patch.Apply(base.data, base.blockSize, d, size, maxChunk)
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id, err)
	}
	if chunker.Sum(data) != id {
		return nil, fmt.Errorf("chunk %s: patched bytes do not hash to its id", id)
	}
	return data, nil
}

// signedBase is a Base with its signature, as a stream offers it.
type signedBase struct {
	data      []byte
	blockSize int
	sig       []byte // encoded
}

// signBases returns, for each of n ids, the base offered for it (nil:
// none): the bases within MaxPatchBase, up to maxPatchBases in all, each
// index within n and offered once.
func signBases(bases []Base, n int) []*signedBase {
	var of []*signedBase
	total := 0
	for _, b := range bases {
		if len(b.Data) == 0 || len(b.Data) > MaxPatchBase || total+len(b.Data) > maxPatchBases {
			continue
		}
		sb := &signedBase{data: b.Data, blockSize: patch.DefaultBlockSize}
		used := false
		for _, c := range b.Chunks {
			if c < 0 || c >= n {
				continue
			}
			if of == nil {
				of = make([]*signedBase, n)
			}
			if of[c] == nil {
				of[c], used = sb, true
			}
		}
		if used {
			sb.sig = patch.Sign(b.Data, sb.blockSize).Encode()
			total += len(b.Data)
		}
	}
	return of
}

// basesToWire returns the bases offered for ids[start:end], their chunk
// indexes relative to start.
func basesToWire(of []*signedBase, start, end int) []*ncsyncv1.ChunkBase {
	if of == nil {
		return nil
	}
	var out []*ncsyncv1.ChunkBase
	at := map[*signedBase]*ncsyncv1.ChunkBase{}
	for i := start; i < end; i++ {
		sb := of[i]
		if sb == nil {
			continue
		}
		cb, ok := at[sb]
		if !ok {
			cb = &ncsyncv1.ChunkBase{Signature: sb.sig}
			at[sb] = cb
			out = append(out, cb)
		}
		cb.Chunks = append(cb.Chunks, uint32(i-start))
	}
	return out
}

// refetch fetches whole, one by one, the chunks of a response whose patch
// did not build them, and counts the patches.
func (cs *ChunkStream) refetch(chunks []Chunk) error {
	k := &cs.c.counters
	for i := range chunks {
		ch := &chunks[i]
		if ch.patched {
			k.patched.Add(1)
			cs.patched.Add(1)
		}
		if !ch.refetch {
			continue
		}
		k.refused.Add(1)
		cs.refused.Add(1)
		whole, err := cs.fetchWhole(ch.ID)
		if err != nil {
			return err
		}
		*ch = whole
	}
	return nil
}

// PatchStats counts the stream's chunks built from a patch, and its
// patches that did not build their chunk (fetched whole instead).
func (cs *ChunkStream) PatchStats() (patched, refused uint64) {
	return cs.patched.Load(), cs.refused.Load()
}

// fetchWhole fetches one chunk without a base.
func (cs *ChunkStream) fetchWhole(id chunker.ID) (Chunk, error) {
	ctx, cancel := context.WithCancel(cs.ctx)
	defer cancel()
	op := fmt.Sprintf("fetch chunk %s of %q", id, cs.folder)
	req := &ncsyncv1.FetchChunksRequest{FolderId: cs.folder, Ids: [][]byte{id[:]}}
	stream, err := cs.c.rpc.FetchChunks(ctx, req, grpc.MaxCallRecvMsgSize(cs.c.lim.fetchMessageBytes()))
	if err != nil {
		return Chunk{}, cs.c.rpcError(op, err)
	}
	m, err := stream.Recv()
	if err != nil {
		return Chunk{}, cs.c.rpcError(op, err)
	}
	chunks, _, err := decodeResponse(cs.c.dec, m, []chunker.ID{id}, cs.c.lim.MaxChunkBytes, nil)
	switch {
	case err != nil:
		return Chunk{}, fmt.Errorf("%s: %w", op, err)
	case chunks[0].refetch:
		return Chunk{}, fmt.Errorf("%s: %w", op, protocolErr("a patch for a request without a base"))
	}
	return chunks[0], nil
}
