package transport

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// PausePoint is an established pause of a secondary: the point per folder
// where it is held, and until when.
type PausePoint struct {
	ID             string
	Since, Expires time.Time
	Hold           map[string]uint64
}

// Pauser is implemented by a Source that lets a secondary pause itself.
// The peer is the caller's verified identity: a secondary can pause and
// resume only itself.
type Pauser interface {
	PauseSelf(ctx context.Context, peer Peer, ttl time.Duration) (PausePoint, error)
	ResumeSelf(ctx context.Context, peer Peer) error
}

// PauseSelf implements ncsyncv1.ReplicationServiceServer.
func (v *service) PauseSelf(ctx context.Context, req *ncsyncv1.PauseSelfRequest) (*ncsyncv1.PauseSelfResponse, error) {
	p, ok := v.s.src.(Pauser)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this primary cannot pause its secondaries")
	}
	if req.GetTtlNs() < 0 {
		return nil, status.Error(codes.InvalidArgument, "pause: negative ttl")
	}
	pt, err := p.PauseSelf(ctx, peerFrom(ctx), time.Duration(req.GetTtlNs()))
	if err != nil {
		return nil, statusOf(ctx, "pause", err)
	}
	r := &ncsyncv1.PauseSelfResponse{Id: pt.ID, SinceUnixNs: pt.Since.UnixNano(), ExpiresUnixNs: pt.Expires.UnixNano()}
	for f, seq := range pt.Hold {
		r.Hold = append(r.Hold, &ncsyncv1.FolderPosition{FolderId: f, Sequence: seq})
	}
	return r, nil
}

// ResumeSelf implements ncsyncv1.ReplicationServiceServer.
func (v *service) ResumeSelf(ctx context.Context, _ *ncsyncv1.ResumeSelfRequest) (*ncsyncv1.ResumeSelfResponse, error) {
	p, ok := v.s.src.(Pauser)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this primary cannot pause its secondaries")
	}
	if err := p.ResumeSelf(ctx, peerFrom(ctx)); err != nil {
		return nil, statusOf(ctx, "resume", err)
	}
	return &ncsyncv1.ResumeSelfResponse{}, nil
}

// PauseSelf asks the primary to pause this secondary for ttl (0: the
// primary's default). It returns once this node is held, or an error
// wrapping ErrDeadline when ctx's deadline passes first.
func (c *Client) PauseSelf(ctx context.Context, ttl time.Duration) (PausePoint, error) {
	r, err := c.rpc.PauseSelf(ctx, &ncsyncv1.PauseSelfRequest{TtlNs: int64(ttl)})
	if err != nil {
		if status.Code(err) == codes.DeadlineExceeded {
			return PausePoint{}, fmt.Errorf("pause: %w: %s", ErrDeadline, status.Convert(err).Message())
		}
		return PausePoint{}, c.rpcError("pause", err)
	}
	pt := PausePoint{ID: r.GetId(), Since: time.Unix(0, r.GetSinceUnixNs()), Expires: time.Unix(0, r.GetExpiresUnixNs()),
		Hold: make(map[string]uint64)}
	for _, h := range r.GetHold() {
		pt.Hold[h.GetFolderId()] = h.GetSequence()
	}
	return pt, nil
}

// ResumeSelf asks the primary to end this secondary's pause.
func (c *Client) ResumeSelf(ctx context.Context) error {
	if _, err := c.rpc.ResumeSelf(ctx, &ncsyncv1.ResumeSelfRequest{}); err != nil {
		return c.rpcError("resume", err)
	}
	return nil
}
