package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/report"
)

// Pauser is a Node that can pause and resume a secondary: the primary, or
// a secondary asking its primary on its own behalf.
type Pauser interface {
	// Pause returns once peer is held at a consistent point, or fails
	// when ctx ends first (the pause is then abandoned).
	Pause(ctx context.Context, peer string, ttl time.Duration) (report.Pause, error)
	// Resume ends peer's pause.
	Resume(ctx context.Context, peer string) (report.Pause, error)
}

// ErrTimeout is wrapped by client errors for requests that ran out of
// time (a pause that did not reach its point, a barrier).
var ErrTimeout = errors.New("timed out")

// Pause implements ncsyncv1.ControlServiceServer.
func (s *Server) Pause(ctx context.Context, r *ncsyncv1.PauseRequest) (*ncsyncv1.PauseResponse, error) {
	p, ok := s.node.(Pauser)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "this node cannot pause: run `ncsync pause` on the primary or on the secondary to pause")
	}
	if r.GetPeer() == "" {
		return nil, status.Error(codes.InvalidArgument, "no peer named: --peer NAME")
	}
	if r.GetTimeoutNs() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.GetTimeoutNs()))
		defer cancel()
	}
	pa, err := p.Pause(ctx, r.GetPeer(), time.Duration(r.GetTtlNs()))
	if err != nil {
		return nil, toRPC(ctx, err)
	}
	return &ncsyncv1.PauseResponse{Pause: pauseToWire(pa)}, nil
}

// Resume implements ncsyncv1.ControlServiceServer.
func (s *Server) Resume(ctx context.Context, r *ncsyncv1.ResumeRequest) (*ncsyncv1.ResumeResponse, error) {
	p, ok := s.node.(Pauser)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "this node cannot resume a pause: run `ncsync resume` on the primary or on the paused secondary")
	}
	if r.GetPeer() == "" {
		return nil, status.Error(codes.InvalidArgument, "no peer named: --peer NAME")
	}
	if _, err := p.Resume(ctx, r.GetPeer()); err != nil {
		return nil, toRPC(ctx, err)
	}
	return &ncsyncv1.ResumeResponse{}, nil
}

// Pause asks the daemon to pause peer for ttl (0: the daemon's default),
// waiting at most timeout (0: no limit) for it to reach its point.
func (c *Client) Pause(ctx context.Context, peer string, ttl, timeout time.Duration) (report.Pause, error) {
	r, err := c.rpc.Pause(ctx, &ncsyncv1.PauseRequest{Peer: peer, TtlNs: int64(ttl), TimeoutNs: int64(timeout)})
	if err != nil {
		return report.Pause{}, fromRPCTimeout(err)
	}
	return pauseFromWire(r.GetPause()), nil
}

// Resume asks the daemon to end peer's pause.
func (c *Client) Resume(ctx context.Context, peer string) error {
	_, err := c.rpc.Resume(ctx, &ncsyncv1.ResumeRequest{Peer: peer})
	if err != nil {
		return fromRPCTimeout(err)
	}
	return nil
}

// fromRPCTimeout is fromRPC keeping a timeout recognisable (ErrTimeout).
func fromRPCTimeout(err error) error {
	if status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%w: %s", ErrTimeout, status.Convert(err).Message())
	}
	return fromRPC(err)
}

// toRPC turns a node's error into a gRPC status: DeadlineExceeded when ctx
// ran out, FailedPrecondition otherwise (the message says what to do).
func toRPC(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.FailedPrecondition, err.Error())
}

func pauseToWire(p report.Pause) *ncsyncv1.PauseStatus {
	w := &ncsyncv1.PauseStatus{Id: p.ID, Peer: p.Peer, SinceUnixNs: unixNs(p.Since),
		ExpiresUnixNs: unixNs(p.Expires), StagedBytes: p.StagedBytes}
	for _, id := range slices.Sorted(maps.Keys(p.Hold)) {
		w.Snapshot = append(w.Snapshot, &ncsyncv1.FolderPosition{FolderId: id, Sequence: p.Hold[id]})
	}
	return w
}

func pauseFromWire(w *ncsyncv1.PauseStatus) report.Pause {
	p := report.Pause{ID: w.GetId(), Peer: w.GetPeer(), Since: fromUnixNs(w.GetSinceUnixNs()),
		Expires: fromUnixNs(w.GetExpiresUnixNs()), StagedBytes: w.GetStagedBytes(), Hold: map[string]uint64{}}
	for _, f := range w.GetSnapshot() {
		p.Hold[f.GetFolderId()] = f.GetSequence()
	}
	return p
}

func pausesToWire(ps []report.Pause) []*ncsyncv1.PauseStatus {
	out := make([]*ncsyncv1.PauseStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, pauseToWire(p))
	}
	return out
}

func pausesFromWire(ws []*ncsyncv1.PauseStatus) []report.Pause {
	var out []report.Pause
	for _, w := range ws {
		out = append(out, pauseFromWire(w))
	}
	return out
}
