package transport

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// FetchChunks streams the requested chunks in request order.
func (v *service) FetchChunks(req *ncsyncv1.FetchChunksRequest, stream grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
	s := v.s
	ctx := stream.Context()
	peer := peerFrom(ctx)
	ids, err := fetchRequestFromWire(req, s.lim)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	sigs, err := basesFromWire(req, len(ids))
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ps := s.peer(peer.Node)
	select {
	case ps.fetches <- struct{}{}:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-s.stopping.Done():
		return status.Error(codes.Unavailable, errServerStopping.Error())
	}
	defer func() { <-ps.fetches }()
	send := limitSend(ctx, &s.bw, peer.Node, stream.Send)
	tune := &ps.codec
	tune.setLink(s.conns.linkBusy(peer.Addr))
	if s.fixedCodec {
		tune = nil
	}
	if err := s.sendChunks(ctx, req.FolderId, ids, sigs, req.AcceptFrames, tune, &ps.counters, send); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("fetch chunks failed", "peer", peer.Node, "folder", req.FolderId, "err", err)
		}
		return statusOf(ctx, "fetch chunks", err)
	}
	return nil
}

// fetchRequestFromWire checks a request against lim.
func fetchRequestFromWire(req *ncsyncv1.FetchChunksRequest, lim Limits) ([]chunker.ID, error) {
	if req.GetFolderId() == "" {
		return nil, protocolErr("fetch chunks: empty folder id")
	}
	n := len(req.GetIds())
	if n == 0 || n > lim.MaxFetchIDs {
		return nil, protocolErr("fetch chunks of %q: %d ids is outside 1..%d", req.FolderId, n, lim.MaxFetchIDs)
	}
	ids := make([]chunker.ID, n)
	for i, b := range req.Ids {
		if len(b) != len(ids[i]) {
			return nil, protocolErr("fetch chunks of %q: id %d has %d bytes, want %d", req.FolderId, i, len(b), len(ids[i]))
		}
		copy(ids[i][:], b)
	}
	return ids, nil
}

// TreeHash returns the Source's hash of a folder's tree.
func (v *service) TreeHash(ctx context.Context, req *ncsyncv1.TreeHashRequest) (*ncsyncv1.TreeHashResponse, error) {
	if req.GetFolderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "tree hash: empty folder id")
	}
	hash, entries, seq, err := v.s.src.TreeHash(ctx, req.FolderId)
	if err != nil {
		return nil, statusOf(ctx, "tree hash", err)
	}
	return &ncsyncv1.TreeHashResponse{FolderId: req.FolderId, Sequence: seq, Hash: hash[:], Entries: entries}, nil
}
