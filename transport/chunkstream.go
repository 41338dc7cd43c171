package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// errStreamClosed is returned by Next after Close.
var errStreamClosed = errors.New("chunk stream closed")

// ChunkStream yields fetched chunks in request order. It is not safe for
// concurrent use.
type ChunkStream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	folder string
	ids    []chunker.ID
	next   int // index in ids of the chunk Next returns next

	// Requests cover MaxFetchIDs ids each. The one after cur is opened
	// when cur's first response arrives, so that the primary is never idle
	// for a round trip; not before, so that a primary that limits the
	// streams it serves at once is never left serving only requests whose
	// readers wait for earlier ones.
	cur, ahead *fetchCall
	msg        *ncsyncv1.FetchChunksResponse
	pos        int // next chunk in msg

	buf []byte // decoded data of the last chunk
	err error  // sticky
}

// fetchCall is one FetchChunks RPC, for ids[start:end].
type fetchCall struct {
	stream     grpc.ServerStreamingClient[ncsyncv1.FetchChunksResponse]
	start, end int
}

// FetchChunks streams the data of ids (in order) from folder. Ids beyond
// MaxFetchIDs go in further requests, pipelined.
func (c *Client) FetchChunks(ctx context.Context, folder string, ids []chunker.ID) (*ChunkStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	cs := &ChunkStream{c: c, ctx: ctx, cancel: cancel, folder: folder, ids: ids}
	if len(ids) == 0 {
		return cs, nil
	}
	var err error
	if cs.cur, err = cs.open(0); err != nil {
		cancel()
		return nil, err
	}
	return cs, nil
}

// open starts the request for the ids from start on; nil when none are
// left.
func (cs *ChunkStream) open(start int) (*fetchCall, error) {
	if start >= len(cs.ids) {
		return nil, nil
	}
	end := min(start+cs.c.lim.MaxFetchIDs, len(cs.ids))
	req := &ncsyncv1.FetchChunksRequest{FolderId: cs.folder, Ids: make([][]byte, end-start)}
	for i := range req.Ids {
		req.Ids[i] = cs.ids[start+i][:]
	}
	stream, err := cs.c.rpc.FetchChunks(cs.ctx, req, grpc.MaxCallRecvMsgSize(cs.c.lim.fetchMessageBytes()))
	if err != nil {
		return nil, cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err)
	}
	return &fetchCall{stream: stream, start: start, end: end}, nil
}

// Next returns the next chunk, decoded and verified; io.EOF after the last.
// Data is valid until the next call.
func (cs *ChunkStream) Next() (Chunk, error) {
	if cs.err != nil {
		return Chunk{}, cs.err
	}
	ch, err := cs.next1()
	if err != nil {
		cs.err = err
		cs.cancel()
	}
	return ch, err
}

func (cs *ChunkStream) next1() (Chunk, error) {
	if cs.cur != nil && cs.next == cs.cur.end {
		if err := cs.finishCall(); err != nil {
			return Chunk{}, err
		}
	}
	if cs.next == len(cs.ids) {
		return Chunk{}, io.EOF
	}
	cd, err := cs.nextData()
	if err != nil {
		return Chunk{}, err
	}
	id := cs.ids[cs.next]
	data, missing, err := decodeChunk(cs.c.dec, cd, id, cs.c.lim.MaxChunkBytes, &cs.buf)
	if err != nil {
		return Chunk{}, fmt.Errorf("fetch chunks of %q: chunk %d: %w", cs.folder, cs.next, err)
	}
	cs.next++
	if missing {
		cs.c.counters.missing.Add(1)
	} else {
		cs.c.counters.add(len(data), len(cd.Data))
	}
	return Chunk{ID: id, Data: data, Missing: missing}, nil
}

// nextData returns the next ChunkData of the current call.
func (cs *ChunkStream) nextData() (*ncsyncv1.ChunkData, error) {
	for cs.msg == nil || cs.pos == len(cs.msg.Chunks) {
		m, err := cs.cur.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("fetch chunks of %q: %w", cs.folder,
				protocolErr("response ended after %d of %d chunks", cs.next-cs.cur.start, cs.cur.end-cs.cur.start))
		}
		if err != nil {
			return nil, cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err)
		}
		if len(m.GetChunks()) == 0 || cs.next+len(m.Chunks) > cs.cur.end {
			return nil, fmt.Errorf("fetch chunks of %q: %w", cs.folder,
				protocolErr("%d chunks in a response when %d are due", len(m.GetChunks()), cs.cur.end-cs.next))
		}
		cs.msg, cs.pos = m, 0
		if cs.ahead == nil {
			if cs.ahead, err = cs.open(cs.cur.end); err != nil {
				return nil, err
			}
		}
	}
	cd := cs.msg.Chunks[cs.pos]
	cs.pos++
	return cd, nil
}

// finishCall checks that the current call ends after its last chunk and
// moves on to the next.
func (cs *ChunkStream) finishCall() error {
	m, err := cs.cur.stream.Recv()
	switch {
	case err == nil:
		return fmt.Errorf("fetch chunks of %q: %w", cs.folder, protocolErr("%d chunks more than requested", len(m.GetChunks())))
	case !errors.Is(err, io.EOF):
		return cs.c.rpcError(fmt.Sprintf("fetch chunks of %q", cs.folder), err)
	}
	cs.msg, cs.pos = nil, 0
	cs.cur, cs.ahead = cs.ahead, nil
	return nil
}

// Close ends the stream; Next fails afterwards.
func (cs *ChunkStream) Close() {
	cs.cancel()
	if cs.err == nil {
		cs.err = errStreamClosed
	}
}

// decodeChunk checks cd against the requested id and returns its bytes: raw
// data as received, zstd data decoded into *buf with the output bounded by
// the announced size while decoding. The result must hash to id.
func decodeChunk(dec *zstd.Decoder, cd *ncsyncv1.ChunkData, id chunker.ID, maxChunk int, buf *[]byte) (data []byte, missing bool, err error) {
	if !bytes.Equal(cd.GetId(), id[:]) {
		return nil, false, protocolErr("got id %x, want %s", cd.GetId(), id)
	}
	if cd.GetMissing() {
		if len(cd.GetData()) != 0 {
			return nil, false, protocolErr("chunk %s is missing but has data", id)
		}
		return nil, true, nil
	}
	size := int(cd.GetSize())
	if size == 0 || size > maxChunk {
		return nil, false, protocolErr("chunk %s: size %d is outside 1..%d", id, size, maxChunk)
	}
	switch cd.GetCodec() {
	case ncsyncv1.Codec_CODEC_RAW:
		if len(cd.GetData()) != size {
			return nil, false, protocolErr("chunk %s: %d bytes, announced %d", id, len(cd.GetData()), size)
		}
		data = cd.Data
	case ncsyncv1.Codec_CODEC_ZSTD:
		if cap(*buf) < size {
			*buf = make([]byte, 0, size)
		}
		data, err = dec.DecodeAll(cd.GetData(), (*buf)[:0:size])
		if err != nil {
			return nil, false, protocolErr("chunk %s: zstd (announced %d bytes): %v", id, size, err)
		}
		if len(data) != size {
			return nil, false, protocolErr("chunk %s: decoded %d bytes, announced %d", id, len(data), size)
		}
	default:
		return nil, false, protocolErr("chunk %s: unknown codec %d", id, int32(cd.GetCodec()))
	}
	if chunker.Sum(data) != id {
		return nil, false, protocolErr("chunk %s: data does not hash to its id", id)
	}
	return data, false, nil
}
