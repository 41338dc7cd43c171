package control

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

// ChangeLister is a Node that lists the paths of a folder changed after a
// sequence, from its journal (see index.DB.Changes for the contract):
// primary and secondary alike. It is called concurrently with everything
// else; fn may block while the listing is handed on.
type ChangeLister interface {
	Changes(ctx context.Context, folder string, since, until uint64, fn func(index.Change) error) (index.ChangeRange, error)
}

// ErrJournalRange is returned by Client.Changes when the daemon's journal
// cannot answer for the range asked (index.ErrJournalRange): a backup then
// copies the whole folder.
var ErrJournalRange = errors.New("the journal does not cover this range")

// changesPage is how many paths go in one message: well under the
// message limit even with paths of the maximum length.
const changesPage = 512

// Changes implements ncsyncv1.ControlServiceServer.
func (s *Server) Changes(r *ncsyncv1.ChangesRequest, stream grpc.ServerStreamingServer[ncsyncv1.ChangesResponse]) error {
	l, ok := s.node.(ChangeLister)
	if !ok {
		return status.Error(codes.Unavailable, "the daemon is starting: try again")
	}
	ctx := stream.Context()
	page := &ncsyncv1.ChangesResponse{}
	rg, err := l.Changes(ctx, r.GetFolderId(), r.GetSince(), r.GetUntil(), func(c index.Change) error {
		page.Changes = append(page.Changes, &ncsyncv1.PathChange{Path: c.Path, Deleted: c.Deleted, Seq: c.Seq})
		if len(page.Changes) < changesPage {
			return nil
		}
		if err := stream.Send(page); err != nil {
			return err
		}
		page = &ncsyncv1.ChangesResponse{}
		return ctx.Err()
	})
	switch {
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, index.ErrJournalRange):
		return status.Error(codes.OutOfRange, err.Error())
	case err != nil:
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	page.Done, page.Floor, page.Head = true, rg.Floor, rg.Head
	return stream.Send(page)
}

// Changes lists the paths of folder changed after since, calling fn for
// each in sequence order (see index.DB.Changes), and returns the range the
// listing came from. It fails with an error wrapping ErrJournalRange when
// the journal cannot answer for it.
func (c *Client) Changes(ctx context.Context, folder string, since, until uint64, fn func(index.Change) error) (index.ChangeRange, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Changes(ctx, &ncsyncv1.ChangesRequest{FolderId: folder, Since: since, Until: until})
	if err != nil {
		return index.ChangeRange{}, fromRPC(err)
	}
	for {
		m, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return index.ChangeRange{}, fmt.Errorf("changes of folder %q: the daemon ended the listing early", folder)
		case status.Code(err) == codes.OutOfRange:
			return index.ChangeRange{}, fmt.Errorf("%w: %w", ErrJournalRange, fromRPC(err))
		case err != nil:
			return index.ChangeRange{}, fromRPC(err)
		}
		for _, w := range m.GetChanges() {
			if err := fn(index.Change{Path: w.GetPath(), Deleted: w.GetDeleted(), Seq: w.GetSeq()}); err != nil {
				return index.ChangeRange{}, err
			}
		}
		if m.GetDone() {
			return index.ChangeRange{Floor: m.GetFloor(), Head: m.GetHead()}, nil
		}
	}
}
