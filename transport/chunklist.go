package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// A secondary sent a file's chunk list as a delta (Batch.Deltas) against a
// base it does not hold (it skipped that version, changed the file
// locally, healed it) fetches the whole list of that version here.

// ChunkListSource may be implemented by a Source that serves the chunk
// lists of the versions it sent as deltas (FetchChunkList); without it
// the Server answers Unimplemented.
type ChunkListSource interface {
	// ChunkList returns the chunk list of path in folder at sequence seq,
	// or ErrChunkMissing if it no longer holds that version (the file
	// changed again: a newer entry follows). Safe for concurrent use.
	ChunkList(ctx context.Context, folder, path string, seq uint64) ([]index.ChunkRef, error)
}

// FetchChunkList streams the chunk list of one version of a file.
func (v *service) FetchChunkList(req *ncsyncv1.FetchChunkListRequest, stream grpc.ServerStreamingServer[ncsyncv1.FetchChunkListResponse]) error {
	ctx := stream.Context()
	if req.GetFolderId() == "" || req.GetPath() == "" || req.GetSequence() == 0 {
		return status.Errorf(codes.InvalidArgument, "fetch chunk list: folder %q, path %q, sequence %d", req.GetFolderId(), truncate(req.GetPath(), 256), req.GetSequence())
	}
	src, ok := v.s.src.(ChunkListSource)
	if !ok {
		return status.Error(codes.Unimplemented, "this primary does not serve chunk lists")
	}
	refs, err := src.ChunkList(ctx, req.FolderId, req.Path, req.Sequence)
	if errors.Is(err, ErrChunkMissing) {
		return stream.Send(&ncsyncv1.FetchChunkListResponse{Missing: true})
	}
	if err != nil {
		return statusOf(ctx, "fetch chunk list", err)
	}
	if len(refs) > v.s.lim.MaxEntryChunks {
		return status.Errorf(codes.Internal, "fetch chunk list of %q: %d chunks exceed the limit of %d", req.Path, len(refs), v.s.lim.MaxEntryChunks)
	}
	per := v.s.lim.refsPerMessage()
	for off := 0; off == 0 || off < len(refs); off += per {
		m := &ncsyncv1.FetchChunkListResponse{Chunks: refsToWire(refs[off:min(off+per, len(refs))])}
		if off == 0 {
			m.ChunkCount = uint64(len(refs))
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// FetchChunkList returns the chunk list of path at sequence seq in folder,
// or an error wrapping ErrChunkMissing if the primary no longer holds that
// version. The list is checked against the limits (count, sizes, ids);
// that it is the list the caller expects (a hash) is the caller's to check.
func (c *Client) FetchChunkList(ctx context.Context, folder, path string, seq uint64) ([]index.ChunkRef, error) {
	op := fmt.Sprintf("fetch the chunk list of %q seq %d", path, seq)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.FetchChunkList(ctx, &ncsyncv1.FetchChunkListRequest{FolderId: folder, Path: path, Sequence: seq})
	if err != nil {
		return nil, c.rpcError(op, err)
	}
	var refs []index.ChunkRef
	var count uint64
	for first := true; ; first = false {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if first || uint64(len(refs)) != count {
				return nil, fmt.Errorf("%s: %w", op, protocolErr("%d chunks of %d sent", len(refs), count))
			}
			return refs, nil
		}
		if err != nil {
			return nil, c.rpcError(op, err)
		}
		if refs, count, err = takeChunkList(refs, count, first, m, c.lim); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
}

// takeChunkList checks m, the next message of a FetchChunkList answer
// (first: the first), and appends its chunks to refs. count is what the
// first message announced.
func takeChunkList(refs []index.ChunkRef, count uint64, first bool, m *ncsyncv1.FetchChunkListResponse, lim Limits) ([]index.ChunkRef, uint64, error) {
	if m.GetMissing() {
		if !first || m.GetChunkCount() != 0 || len(m.GetChunks()) != 0 {
			return nil, 0, protocolErr("a chunk list answer says missing along with chunks")
		}
		return nil, 0, ErrChunkMissing
	}
	if first {
		count = m.GetChunkCount()
		if count > uint64(lim.MaxEntryChunks) {
			return nil, 0, protocolErr("%d chunks exceed the limit of %d", count, lim.MaxEntryChunks)
		}
		// Grow as chunks arrive, not as announced.
		refs = make([]index.ChunkRef, 0, min(count, uint64(max(len(m.GetChunks()), 1024))))
	} else if m.GetChunkCount() != 0 || len(m.GetChunks()) == 0 {
		return nil, 0, protocolErr("a chunk list answer continued with count %d and %d chunks", m.GetChunkCount(), len(m.GetChunks()))
	}
	if uint64(len(m.GetChunks())) > count-uint64(len(refs)) {
		return nil, 0, protocolErr("more than the %d chunks announced", count)
	}
	refs, err := appendRefs(refs, m.GetChunks(), len(refs), lim)
	return refs, count, err
}
