package control

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/report"
)

// BarrierRequest asks a primary for a barrier.
type BarrierRequest struct {
	Peers   []string      // empty: every configured secondary
	Timeout time.Duration // zero: the primary's default
	Verify  bool          // also compare tree hashes of primary and peers at the target
}

// Barrierer is a Node that takes barriers: the primary.
type Barrierer interface {
	// Barrier returns once every peer of req holds every change made
	// before the call (Reached), or once req.Timeout runs out (Done, not
	// Reached, the message naming the laggards). It calls progress, never
	// concurrently, while it waits. Any other failure (an unknown peer, a
	// failed verification, ctx ending) is an error. Barriers may run
	// concurrently.
	Barrier(ctx context.Context, req BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error)
}

// Barrier implements ncsyncv1.ControlServiceServer: it streams the
// barrier's progress and ends with its outcome (done set). A barrier that
// failed for another reason than its timeout ends with an error status.
func (s *Server) Barrier(r *ncsyncv1.BarrierRequest, stream grpc.ServerStreamingServer[ncsyncv1.BarrierResponse]) error {
	b, ok := s.node.(Barrierer)
	if !ok {
		return status.Error(codes.FailedPrecondition, "this node is not the primary: run `ncsync barrier` on the primary")
	}
	if r.GetTimeoutNs() < 0 {
		return status.Error(codes.InvalidArgument, "negative barrier timeout")
	}
	req := BarrierRequest{Peers: r.GetPeers(), Timeout: time.Duration(r.GetTimeoutNs()), Verify: r.GetVerify()}
	ctx := stream.Context()
	id := s.barriers.add(req.Peers)
	defer s.barriers.remove(id)
	var sendErr error
	res, err := b.Barrier(ctx, req, func(p report.BarrierProgress) {
		s.barriers.update(id, p)
		if sendErr == nil {
			sendErr = stream.Send(barrierToWire(p))
		}
	})
	switch {
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return status.Error(codes.FailedPrecondition, err.Error())
	case sendErr != nil:
		return sendErr
	}
	return stream.Send(barrierToWire(res))
}

// Barrier asks the daemon for a barrier and waits for its outcome, calling
// progress with each report. A timed-out barrier is returned with Done set
// and Reached not set, and a nil error.
func (c *Client) Barrier(ctx context.Context, req BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error) {
	stream, err := c.rpc.Barrier(ctx, &ncsyncv1.BarrierRequest{Peers: req.Peers, TimeoutNs: int64(req.Timeout), Verify: req.Verify})
	if err != nil {
		return report.BarrierProgress{}, fromRPCTimeout(err)
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return report.BarrierProgress{}, errors.New("the daemon ended the barrier without an outcome")
		}
		if err != nil {
			return report.BarrierProgress{}, fromRPCTimeout(err)
		}
		p := barrierFromWire(r)
		if p.Done {
			return p, nil
		}
		if progress != nil {
			progress(p)
		}
	}
}

// barrierBook lists the barriers in progress, for status.
type barrierBook struct {
	mu     sync.Mutex
	next   uint64
	active map[string]*report.Barrier
}

func (bb *barrierBook) add(peers []string) string {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if bb.active == nil {
		bb.active = make(map[string]*report.Barrier)
	}
	bb.next++
	id := "b" + strconv.FormatUint(bb.next, 10)
	bb.active[id] = &report.Barrier{ID: id, Peers: slices.Clone(peers), Since: time.Now()}
	return id
}

// update records what progress says of the barrier: its peers (the
// request may have named none) and target.
func (bb *barrierBook) update(id string, p report.BarrierProgress) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	b, ok := bb.active[id]
	if !ok {
		return
	}
	b.Target = slices.Clone(p.Target)
	b.Peers = b.Peers[:0]
	for _, pp := range p.Peers {
		b.Peers = append(b.Peers, pp.Node)
	}
}

func (bb *barrierBook) remove(id string) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	delete(bb.active, id)
}

// list returns the barriers in progress, oldest first.
func (bb *barrierBook) list() []report.Barrier {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	out := make([]report.Barrier, 0, len(bb.active))
	for _, b := range bb.active {
		c := *b
		c.Peers, c.Target = slices.Clone(b.Peers), slices.Clone(b.Target)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b report.Barrier) int { return a.Since.Compare(b.Since) })
	if len(out) == 0 {
		return nil
	}
	return out
}

func positionsToWire(ps []report.Position) []*ncsyncv1.FolderPosition {
	var out []*ncsyncv1.FolderPosition
	for _, p := range ps {
		out = append(out, &ncsyncv1.FolderPosition{FolderId: p.Folder, Sequence: p.Seq})
	}
	return out
}

func positionsFromWire(ws []*ncsyncv1.FolderPosition) []report.Position {
	var out []report.Position
	for _, w := range ws {
		out = append(out, report.Position{Folder: w.GetFolderId(), Seq: w.GetSequence()})
	}
	return out
}

func barrierToWire(p report.BarrierProgress) *ncsyncv1.BarrierResponse {
	r := &ncsyncv1.BarrierResponse{Target: positionsToWire(p.Target), Done: p.Done, Reached: p.Reached, Message: p.Message}
	for _, bp := range p.Peers {
		r.Peers = append(r.Peers, &ncsyncv1.BarrierPeer{Node: bp.Node, Connected: bp.Connected, Reached: bp.Reached,
			Folders: peerFoldersToWire(bp.Folders), Message: bp.Message})
	}
	return r
}

func barrierFromWire(r *ncsyncv1.BarrierResponse) report.BarrierProgress {
	p := report.BarrierProgress{Target: positionsFromWire(r.GetTarget()), Done: r.GetDone(), Reached: r.GetReached(), Message: r.GetMessage()}
	for _, bp := range r.GetPeers() {
		p.Peers = append(p.Peers, report.BarrierPeer{Node: bp.GetNode(), Connected: bp.GetConnected(), Reached: bp.GetReached(),
			Folders: peerFoldersFromWire(bp.GetFolders()), Message: bp.GetMessage()})
	}
	return p
}

func barriersToWire(bs []report.Barrier) []*ncsyncv1.BarrierStatus {
	var out []*ncsyncv1.BarrierStatus
	for _, b := range bs {
		out = append(out, &ncsyncv1.BarrierStatus{Id: b.ID, Peers: b.Peers, Target: positionsToWire(b.Target), SinceUnixNs: unixNs(b.Since)})
	}
	return out
}

func barriersFromWire(ws []*ncsyncv1.BarrierStatus) []report.Barrier {
	var out []report.Barrier
	for _, w := range ws {
		out = append(out, report.Barrier{ID: w.GetId(), Peers: w.GetPeers(), Target: positionsFromWire(w.GetTarget()), Since: fromUnixNs(w.GetSinceUnixNs())})
	}
	return out
}
