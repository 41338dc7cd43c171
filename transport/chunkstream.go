package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// errStreamClosed is returned by Next after Close.
var errStreamClosed = errors.New("chunk stream closed")

// readAhead is how many decoded responses a ChunkStream holds ready
// beyond the one being read.
const readAhead = 2

// ChunkStream yields fetched chunks in request order. A goroutine of its
// own receives, decodes and verifies the responses ahead of the reader, so
// that decoding overlaps with whatever the reader does with the chunks
// (writing them to disk). It is not safe for concurrent use; Close it
// when done.
type ChunkStream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	folder string
	ids    []chunker.ID
	bases  []*signedBase // by index in ids; nil: none offered

	patched, refused atomic.Uint64 // see PatchStats

	ready chan *response // from the receiver, in order; closed when it ends
	free  chan []byte    // decode buffers handed back to the receiver
	cur   *response      // the response being read
	pos   int            // next chunk in cur
	next  int            // index in ids of the chunk Next returns next
	err   error          // sticky
}

// response is one FetchChunksResponse, decoded and verified: its chunks
// up to the first bad one, and then err.
type response struct {
	chunks []Chunk
	err    error
	buf    []byte // holds the decoded bytes of chunks
}

// fetchCall is one FetchChunks RPC, for ids[start:end].
type fetchCall struct {
	stream     grpc.ServerStreamingClient[ncsyncv1.FetchChunksResponse]
	start, end int
}

// FetchChunks streams the data of ids (in order) from folder. Ids beyond
// MaxFetchIDs go in further requests, pipelined.
func (c *Client) FetchChunks(ctx context.Context, folder string, ids []chunker.ID) (*ChunkStream, error) {
	return c.FetchChunksFrom(ctx, folder, ids, nil)
}

// FetchChunksFrom is FetchChunks offering bases: bytes this node holds
// that some of the chunks were made from, which the primary may answer
// with patches against (if its Welcome said it does). Each base is
// offered within MaxPatchBase, up to 16 MiB of them per call; the stream
// keeps them until it is closed.
func (c *Client) FetchChunksFrom(ctx context.Context, folder string, ids []chunker.ID, bases []Base) (*ChunkStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	cs := &ChunkStream{c: c, ctx: ctx, cancel: cancel, folder: folder, ids: ids,
		ready: make(chan *response, readAhead), free: make(chan []byte, readAhead+1)}
	if len(bases) > 0 && c.patches.Load() {
		cs.bases = signBases(bases, len(ids))
	}
	if len(ids) == 0 {
		close(cs.ready)
		return cs, nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("fetch chunks of %q: %w", folder, errClientClosed)
	}
	c.streams.Add(1)
	c.mu.Unlock()
	first, err := cs.open(0)
	if err != nil {
		cancel()
		c.streams.Done()
		return nil, err
	}
	go func() {
		defer c.streams.Done()
		defer context.AfterFunc(c.stop, cancel)()
		cs.receive(first)
	}()
	return cs, nil
}

// errClientClosed is returned by FetchChunks after Close.
var errClientClosed = errors.New("client closed")

// open starts the request for the ids from start on; nil when none are
// left.
func (cs *ChunkStream) open(start int) (*fetchCall, error) {
	if start >= len(cs.ids) {
		return nil, nil
	}
	end := min(start+cs.c.lim.MaxFetchIDs, len(cs.ids))
	req := &ncsyncv1.FetchChunksRequest{FolderId: cs.folder, Ids: make([][]byte, end-start),
		AcceptFrames: cs.c.lim.ZstdMaxMemory >= MaxFrameBytes}
	for i := range req.Ids {
		req.Ids[i] = cs.ids[start+i][:]
	}
	req.Bases = basesToWire(cs.bases, start, end)
	stream, err := cs.c.rpc.FetchChunks(cs.ctx, req, grpc.MaxCallRecvMsgSize(cs.c.lim.fetchMessageBytes()))
	if err != nil {
		return nil, cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err)
	}
	return &fetchCall{stream: stream, start: start, end: end}, nil
}

// receive runs the calls one after the other, decoding every response
// into cs.ready. Requests cover MaxFetchIDs ids each. The one after a call
// is opened when that call's first response arrives, so that the primary
// is never idle for a round trip; not before, so that a primary that
// limits the streams it serves at once is never left serving only
// requests whose readers wait for earlier ones. It stops at the first
// error, which it hands on as the last response.
func (cs *ChunkStream) receive(cur *fetchCall) {
	defer close(cs.ready)
	deliver := func(r *response) bool {
		select {
		case cs.ready <- r:
			return r.err == nil
		case <-cs.ctx.Done():
			return false
		}
	}
	fail := func(err error) { deliver(&response{err: err}) }
	next := 0
	for cur != nil {
		var ahead *fetchCall
		for next < cur.end {
			m, err := cur.stream.Recv()
			if errors.Is(err, io.EOF) {
				fail(fmt.Errorf("fetch chunks of %q: %w", cs.folder,
					protocolErr("response ended after %d of %d chunks", next-cur.start, cur.end-cur.start)))
				return
			}
			if err != nil {
				fail(cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err))
				return
			}
			if len(m.GetChunks()) == 0 || next+len(m.Chunks) > cur.end {
				fail(fmt.Errorf("fetch chunks of %q: %w", cs.folder,
					protocolErr("%d chunks in a response when %d are due", len(m.GetChunks()), cur.end-next)))
				return
			}
			if ahead == nil {
				if ahead, err = cs.open(cur.end); err != nil {
					fail(err)
					return
				}
			}
			var buf []byte
			select {
			case buf = <-cs.free:
			default:
			}
			r := &response{}
			var bases []*signedBase
			if cs.bases != nil {
				bases = cs.bases[next : next+len(m.Chunks)]
			}
			r.chunks, r.buf, r.err = decodeWithBases(cs.c.dec, m, cs.ids[next:next+len(m.Chunks)], cs.c.lim.MaxChunkBytes, buf, bases)
			if r.err == nil {
				r.err = cs.refetch(r.chunks)
			}
			if r.err != nil {
				r.err = fmt.Errorf("fetch chunks of %q: chunk %d: %w", cs.folder, next+len(r.chunks), r.err)
			}
			cs.count(m, r)
			next += len(r.chunks)
			if !deliver(r) {
				return
			}
		}
		// The call must end after its last chunk.
		if m, err := cur.stream.Recv(); err == nil {
			fail(fmt.Errorf("fetch chunks of %q: %w", cs.folder, protocolErr("%d chunks more than requested", len(m.GetChunks()))))
			return
		} else if !errors.Is(err, io.EOF) {
			fail(cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err))
			return
		}
		cur = ahead
	}
}

// count adds r's chunks to the client's counters; the frame counts as
// wire bytes once.
func (cs *ChunkStream) count(m *ncsyncv1.FetchChunksResponse, r *response) {
	k := &cs.c.counters
	framed := false
	for i, ch := range r.chunks {
		cd := m.Chunks[i]
		switch {
		case ch.Missing:
			k.missing.Add(1)
		default:
			k.add(len(ch.Data), len(cd.Data))
			framed = framed || cd.Codec == ncsyncv1.Codec_CODEC_IN_FRAME
		}
	}
	if framed {
		k.wire.Add(uint64(len(m.Frame)))
	}
}

// Next returns the next chunk, decoded and verified; io.EOF after the last.
// Data is valid until the next call.
func (cs *ChunkStream) Next() (Chunk, error) {
	if cs.err != nil {
		return Chunk{}, cs.err
	}
	for cs.cur == nil || cs.pos == len(cs.cur.chunks) {
		if cs.cur != nil {
			if cs.cur.err != nil {
				return Chunk{}, cs.fail(cs.cur.err)
			}
			select { // the reader is done with its bytes
			case cs.free <- cs.cur.buf[:0]:
			default:
			}
			cs.cur = nil
		}
		r, ok := <-cs.ready
		switch {
		case ok:
			cs.cur, cs.pos = r, 0
		case cs.next == len(cs.ids):
			cs.err = io.EOF
			cs.cancel()
			return Chunk{}, io.EOF
		default: // ended without a word: the context was cancelled
			err := cs.ctx.Err()
			if err == nil {
				err = errStreamClosed
			}
			return Chunk{}, cs.fail(fmt.Errorf("fetch chunks of %q: %w", cs.folder, err))
		}
	}
	ch := cs.cur.chunks[cs.pos]
	cs.pos++
	cs.next++
	return ch, nil
}

func (cs *ChunkStream) fail(err error) error {
	cs.err = err
	cs.cancel()
	return err
}

// Close ends the stream; Next fails afterwards.
func (cs *ChunkStream) Close() {
	cs.cancel()
	if cs.err == nil || cs.err == io.EOF {
		cs.err = errStreamClosed
	}
}

// decodeResponse checks m's chunks against the requested ids and decodes
// them into buf (reused if large enough). It returns the good chunks up to
// the first bad one and, with them, the error for that one. Every chunk
// must hash to its id; decoded output is bounded by the announced sizes
// while decoding: each at most maxChunk, a frame's at most MaxFrameBytes,
// and the zstd chunks' together at most maxResponseDecoded, checked
// before anything is allocated for them.
func decodeResponse(dec *zstd.Decoder, m *ncsyncv1.FetchChunksResponse, ids []chunker.ID, maxChunk int, buf []byte) ([]Chunk, []byte, error) {
	return decodeWithBases(dec, m, ids, maxChunk, buf, nil)
}

// decodeWithBases is decodeResponse with the bases offered for ids (nil:
// none). A patched chunk is built from its base into memory of its own;
// one that does not build (no base, a bad patch, another hash) comes back
// to be fetched whole (Chunk.refetch).
func decodeWithBases(dec *zstd.Decoder, m *ncsyncv1.FetchChunksResponse, ids []chunker.ID, maxChunk int, buf []byte, bases []*signedBase) ([]Chunk, []byte, error) {
	if len(m.GetChunks()) != len(ids) {
		return nil, buf, protocolErr("%d chunks in a response for %d ids", len(m.GetChunks()), len(ids))
	}
	// Room for every decoded byte, so that earlier chunks stay valid.
	// Patched chunks are built into memory of their own, but count
	// against the same bound: each is as large as its announced size.
	var need, inFrame, patched int
	for _, cd := range m.Chunks {
		size := int(cd.GetSize())
		if size < 0 || size > maxChunk {
			break // refused below, in order
		}
		if cd.GetPatched() {
			patched += size
			continue
		}
		switch cd.GetCodec() {
		case ncsyncv1.Codec_CODEC_ZSTD:
			need += size
		case ncsyncv1.Codec_CODEC_IN_FRAME:
			inFrame += size
		}
	}
	if limit := maxResponseDecoded(maxChunk); need+patched > limit {
		return nil, buf, protocolErr("zstd and patched chunks announcing %d bytes in one response, more than %d", need+patched, limit)
	}
	if inFrame > MaxFrameBytes {
		return nil, buf, protocolErr("a frame of %d bytes, more than %d", inFrame, MaxFrameBytes)
	}
	if inFrame == 0 && len(m.GetFrame()) != 0 {
		return nil, buf, protocolErr("a frame that no chunk is in")
	}
	if inFrame != 0 && len(m.GetFrame()) == 0 {
		return nil, buf, protocolErr("chunks in a frame, but no frame")
	}
	if cap(buf) < need+inFrame {
		buf = make([]byte, 0, need+inFrame)
	}
	buf = buf[:0]
	var frame []byte // decoded lazily, at the first chunk in it
	var frameErr error
	chunks := make([]Chunk, 0, len(ids))
	for i, cd := range m.Chunks {
		id := ids[i]
		if cd.GetPatched() {
			if !bytes.Equal(cd.GetId(), id[:]) {
				return chunks, buf, protocolErr("got id %x, want %s", cd.GetId(), id)
			}
			var base *signedBase
			if bases != nil {
				base = bases[i]
			}
			data, err := patchedChunk(dec, cd, id, maxChunk, base)
			chunks = append(chunks, Chunk{ID: id, Data: data, patched: err == nil, refetch: err != nil})
			continue
		}
		if cd.GetCodec() == ncsyncv1.Codec_CODEC_IN_FRAME && frame == nil && frameErr == nil {
			start := len(buf)
			frame, frameErr = dec.DecodeAll(m.Frame, buf[start:start:start+inFrame])
			switch {
			case frameErr != nil:
				frameErr = protocolErr("frame: zstd (announced %d bytes): %v", inFrame, frameErr)
			case len(frame) != inFrame:
				frameErr = protocolErr("frame: decoded %d bytes, announced %d", len(frame), inFrame)
			default:
				buf = buf[:start+inFrame]
			}
		}
		if frameErr != nil && cd.GetCodec() == ncsyncv1.Codec_CODEC_IN_FRAME {
			return chunks, buf, frameErr
		}
		data, missing, rest, err := decodeChunk(dec, cd, id, maxChunk, buf, frame)
		if err != nil {
			return chunks, buf, err
		}
		if cd.GetCodec() == ncsyncv1.Codec_CODEC_IN_FRAME {
			frame = rest
		} else if cd.GetCodec() == ncsyncv1.Codec_CODEC_ZSTD {
			buf = buf[:len(buf)+len(data)]
		}
		chunks = append(chunks, Chunk{ID: id, Data: data, Missing: missing})
	}
	if len(frame) != 0 {
		return chunks, buf, protocolErr("frame: %d bytes left after its chunks", len(frame))
	}
	return chunks, buf, nil
}

// decodeChunk checks cd against the requested id and returns its bytes: raw
// data as received, zstd data decoded after buf's length within its
// capacity (the output bounded by the announced size while decoding), or
// framed data taken from the front of frame, whose rest it returns. The
// result must hash to id.
func decodeChunk(dec *zstd.Decoder, cd *ncsyncv1.ChunkData, id chunker.ID, maxChunk int, buf, frame []byte) (data []byte, missing bool, rest []byte, err error) {
	rest = frame
	if !bytes.Equal(cd.GetId(), id[:]) {
		return nil, false, rest, protocolErr("got id %x, want %s", cd.GetId(), id)
	}
	if cd.GetMissing() {
		if len(cd.GetData()) != 0 {
			return nil, false, rest, protocolErr("chunk %s is missing but has data", id)
		}
		return nil, true, rest, nil
	}
	size := int(cd.GetSize())
	if size == 0 || size > maxChunk {
		return nil, false, rest, protocolErr("chunk %s: size %d is outside 1..%d", id, size, maxChunk)
	}
	switch cd.GetCodec() {
	case ncsyncv1.Codec_CODEC_RAW:
		if len(cd.GetData()) != size {
			return nil, false, rest, protocolErr("chunk %s: %d bytes, announced %d", id, len(cd.GetData()), size)
		}
		data = cd.Data
	case ncsyncv1.Codec_CODEC_ZSTD:
		if cap(buf)-len(buf) < size {
			return nil, false, rest, protocolErr("chunk %s: no room for %d bytes", id, size)
		}
		start := len(buf)
		data, err = dec.DecodeAll(cd.GetData(), buf[start:start:start+size])
		if err != nil {
			return nil, false, rest, protocolErr("chunk %s: zstd (announced %d bytes): %v", id, size, err)
		}
		if len(data) != size {
			return nil, false, rest, protocolErr("chunk %s: decoded %d bytes, announced %d", id, len(data), size)
		}
	case ncsyncv1.Codec_CODEC_IN_FRAME:
		if len(cd.GetData()) != 0 {
			return nil, false, rest, protocolErr("chunk %s is in the frame but has data", id)
		}
		if len(frame) < size { // cannot happen: the frame decoded to the sum of sizes
			return nil, false, rest, protocolErr("chunk %s: frame too short", id)
		}
		data, rest = frame[:size:size], frame[size:]
	default:
		return nil, false, rest, protocolErr("chunk %s: unknown codec %d", id, int32(cd.GetCodec()))
	}
	if chunker.Sum(data) != id {
		return nil, false, rest, protocolErr("chunk %s: data does not hash to its id", id)
	}
	return data, false, rest, nil
}
