package control

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Promoter is a Node that can become the primary of a new epoch: a
// secondary (`ncsync promote`).
type Promoter interface {
	// Promote makes the node the primary of epoch expected, which must
	// be its current epoch + 1 (what the operator confirmed). Unless
	// force, it refuses while the node holds unverified or failed items
	// (entries it refused or failed to apply, staged batches), listing
	// them. It returns once the new epoch is recorded durably and the
	// node serves as primary, with the sequence of each folder at which
	// the new term took over.
	Promote(ctx context.Context, expected uint64, force bool) (start map[string]uint64, err error)
}

// Promote implements ncsyncv1.ControlServiceServer.
func (s *Server) Promote(ctx context.Context, r *ncsyncv1.PromoteRequest) (*ncsyncv1.PromoteResponse, error) {
	p, ok := s.node.(Promoter)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "this node cannot be promoted: only a running secondary can become the primary")
	}
	if r.GetExpectedEpoch() == 0 {
		return nil, status.Error(codes.InvalidArgument, "no epoch confirmed: the request must name the new epoch")
	}
	start, err := p.Promote(ctx, r.GetExpectedEpoch(), r.GetForce())
	if err != nil {
		return nil, toRPC(ctx, err)
	}
	resp := &ncsyncv1.PromoteResponse{Epoch: r.GetExpectedEpoch()}
	for _, id := range slices.Sorted(maps.Keys(start)) {
		resp.Start = append(resp.Start, &ncsyncv1.FolderPosition{FolderId: id, Sequence: start[id]})
	}
	return resp, nil
}

// Promote asks the daemon (a secondary) to become the primary of epoch
// expected, its current epoch + 1. It returns the new epoch and where the
// new term took over in each folder.
func (c *Client) Promote(ctx context.Context, expected uint64, force bool) (uint64, map[string]uint64, error) {
	r, err := c.rpc.Promote(ctx, &ncsyncv1.PromoteRequest{ExpectedEpoch: expected, Force: force})
	if err != nil {
		return 0, nil, fromRPC(err)
	}
	start := make(map[string]uint64, len(r.GetStart()))
	for _, f := range r.GetStart() {
		start[f.GetFolderId()] = f.GetSequence()
	}
	return r.GetEpoch(), start, nil
}
