package control

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/preserve"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// ConflictLister is a Node that keeps preserved versions (a secondary with
// a conflict store). Conflicts is called concurrently with everything
// else; it reads the store one record at a time. Records it could not
// read are skipped and reported in the error alongside the others.
type ConflictLister interface {
	Conflicts(ctx context.Context) ([]preserve.Record, error)
}

// ErrNoConflictStore is returned by Client.Conflicts when the daemon keeps
// no conflict store of its own (a primary): read the state directory
// instead.
var ErrNoConflictStore = errors.New("the daemon keeps no conflict store")

// maxConflictsMsg bounds the listing a client accepts in one message.
const maxConflictsMsg = 64 << 20

// Conflicts implements ncsyncv1.ControlServiceServer.
func (s *Server) Conflicts(ctx context.Context, _ *ncsyncv1.ConflictsRequest) (*ncsyncv1.ConflictsResponse, error) {
	l, ok := s.node.(ConflictLister)
	if !ok {
		return nil, status.Error(codes.Unimplemented, ErrNoConflictStore.Error())
	}
	recs, err := l.Conflicts(ctx)
	if err != nil {
		if len(recs) == 0 {
			return nil, status.Error(codes.Internal, err.Error())
		}
		s.log.Warn("some preserved versions cannot be read", "err", err)
	}
	r := &ncsyncv1.ConflictsResponse{}
	for _, rec := range recs {
		r.Conflicts = append(r.Conflicts, conflictToWire(rec))
	}
	return r, nil
}

// Conflicts lists the versions the daemon has preserved, oldest first.
// It fails with ErrNoConflictStore if the daemon keeps none.
func (c *Client) Conflicts(ctx context.Context) ([]preserve.Record, error) {
	r, err := c.rpc.Conflicts(ctx, &ncsyncv1.ConflictsRequest{}, grpc.MaxCallRecvMsgSize(maxConflictsMsg))
	if status.Code(err) == codes.Unimplemented {
		return nil, ErrNoConflictStore
	}
	if err != nil {
		return nil, fromRPC(err)
	}
	out := make([]preserve.Record, 0, len(r.GetConflicts()))
	for _, w := range r.GetConflicts() {
		out = append(out, conflictFromWire(w))
	}
	return out, nil
}

func conflictToWire(r preserve.Record) *ncsyncv1.Conflict {
	w := &ncsyncv1.Conflict{Id: string(r.ID), FolderId: r.Folder, Path: r.Path,
		PreservedUnixNs: unixNs(r.Preserved), Epoch: r.Epoch, Node: r.Node, KeptAt: r.KeptAt,
		Reason: r.Reason, Kind: string(r.Kind), Cause: string(r.Cause), Seq: r.Seq, Mode: r.Mode,
		Uid: r.UID, Gid: r.GID, MtimeUnixNs: r.MtimeNs, Target: r.Target}
	if r.Size > 0 {
		w.Size = uint64(r.Size)
	}
	if r.Kind == preserve.KindFile {
		w.Blake3 = r.Hash[:]
	}
	return w
}

func conflictFromWire(w *ncsyncv1.Conflict) preserve.Record {
	r := preserve.Record{ID: preserve.ID(w.GetId()), Folder: w.GetFolderId(), Path: w.GetPath(),
		Preserved: fromUnixNs(w.GetPreservedUnixNs()).UTC(), Epoch: w.GetEpoch(), Node: w.GetNode(),
		KeptAt: w.GetKeptAt(), Reason: w.GetReason(), Kind: preserve.Kind(w.GetKind()),
		Cause: preserve.Cause(w.GetCause()), Seq: w.GetSeq(), Mode: w.GetMode(), UID: w.GetUid(),
		GID: w.GetGid(), MtimeNs: w.GetMtimeUnixNs(), Target: w.GetTarget(), Size: int64(min(w.GetSize(), 1<<62))}
	copy(r.Hash[:], w.GetBlake3())
	return r
}

// ConflictPruner is a Node that can remove preserved versions by age.
// PruneConflicts is called concurrently with everything else; the daemon
// is the one writer of its stores.
type ConflictPruner interface {
	// PruneConflicts removes every version preserved before cutoff (with
	// dryRun, only lists them). Records it could not read or remove are
	// named in the error, after the others were pruned.
	PruneConflicts(ctx context.Context, cutoff time.Time, dryRun bool) ([]preserve.Pruned, error)
}

// PruneResult is what PruneConflicts removed, or would remove in a dry run.
type PruneResult struct {
	Pruned  []preserve.Pruned
	Warning string // records that could not be read or removed
}

// PruneConflicts implements ncsyncv1.ControlServiceServer. It is a
// mutating command (authz.go), dry run included.
func (s *Server) PruneConflicts(ctx context.Context, req *ncsyncv1.PruneConflictsRequest) (*ncsyncv1.PruneConflictsResponse, error) {
	p, ok := s.node.(ConflictPruner)
	if !ok {
		return nil, status.Error(codes.Unimplemented, ErrNoConflictStore.Error())
	}
	if req.GetOlderThanNs() < 0 {
		return nil, status.Error(codes.InvalidArgument, "older than: a negative duration")
	}
	cutoff := time.Now().Add(-time.Duration(req.GetOlderThanNs()))
	pruned, err := p.PruneConflicts(ctx, cutoff, req.GetDryRun())
	if err != nil && len(pruned) == 0 {
		return nil, status.Error(codes.Internal, err.Error())
	}
	r := &ncsyncv1.PruneConflictsResponse{}
	if err != nil {
		r.Warning = err.Error()
		s.log.Warn("some preserved versions were not pruned", "err", err)
	}
	for _, pr := range pruned {
		r.Pruned = append(r.Pruned, &ncsyncv1.PrunedConflict{Conflict: conflictToWire(pr.Record), Bytes: uint64(max(pr.Bytes, 0))})
	}
	if !req.GetDryRun() {
		s.log.Info("pruned preserved versions", "count", len(pruned), "older_than", time.Duration(req.GetOlderThanNs()))
	}
	return r, nil
}

// PruneConflicts removes the versions preserved more than olderThan ago
// (with dryRun, only lists them). It fails with ErrNoConflictStore if the
// daemon keeps none.
func (c *Client) PruneConflicts(ctx context.Context, olderThan time.Duration, dryRun bool) (PruneResult, error) {
	r, err := c.rpc.PruneConflicts(ctx, &ncsyncv1.PruneConflictsRequest{OlderThanNs: int64(olderThan), DryRun: dryRun},
		grpc.MaxCallRecvMsgSize(maxConflictsMsg))
	if status.Code(err) == codes.Unimplemented {
		return PruneResult{}, ErrNoConflictStore
	}
	if err != nil {
		return PruneResult{}, fromRPC(err)
	}
	out := PruneResult{Warning: r.GetWarning()}
	for _, w := range r.GetPruned() {
		out.Pruned = append(out.Pruned, preserve.Pruned{Record: conflictFromWire(w.GetConflict()),
			Bytes: int64(min(w.GetBytes(), 1<<62))})
	}
	return out, nil
}
