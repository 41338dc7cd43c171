package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/transport"
	"github.com/ncsync/ncsync/verify"
)

// Verifier is a Node that compares its tree with its secondaries': the
// primary (`ncsync verify`).
type Verifier interface {
	// Verify compares every folder with each peer of req, calling report
	// with every finding, progress, each folder's result and each folder
	// that could not be verified. clean says nothing differed and every
	// folder was verified. An error ends the whole run (an unknown peer,
	// ctx ending, report failing).
	Verify(ctx context.Context, req verify.Request, report func(verify.Report) error) (clean bool, err error)
}

// VerifySummary is the outcome of a verify run.
type VerifySummary struct {
	Clean                                                bool
	Compared, Differences, Changing, Resolved, Unchecked uint64
	Folders, Failed                                      int
}

// Verify implements ncsyncv1.ControlServiceServer: it streams the
// findings and progress and ends with a message that has done set.
func (s *Server) Verify(r *ncsyncv1.VerifyRequest, stream grpc.ServerStreamingServer[ncsyncv1.VerifyResponse]) error {
	v, ok := s.node.(Verifier)
	if !ok {
		return status.Error(codes.FailedPrecondition, "this node is not the primary: run `ncsync verify` on the primary")
	}
	ctx := stream.Context()
	var total ncsyncv1.VerifyResponse
	clean, err := v.Verify(ctx, verify.Request{Peers: r.GetPeers(), IgnoreOwner: r.GetIgnoreOwner()}, func(rep verify.Report) error {
		m := reportToWire(rep)
		if rep.Result != nil {
			total.Compared += m.Compared
			total.Differences += m.Differences
			total.Changing += m.Changing
			total.Resolved += m.Resolved
			total.Unchecked += m.Unchecked
		}
		return stream.Send(m)
	})
	switch {
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case err != nil:
		if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
			return err
		}
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	total.Kind, total.Done = "summary", true
	if clean {
		total.Message = "equal"
	} else {
		total.Message = "different"
	}
	return stream.Send(&total)
}

func reportToWire(r verify.Report) *ncsyncv1.VerifyResponse {
	e := &r.Event
	m := &ncsyncv1.VerifyResponse{Peer: r.Peer, FolderId: e.Folder, Kind: string(e.Kind), Sequence: e.Seq,
		Pass: uint32(e.Pass), Compared: e.Compared, BytesRead: e.BytesRead, Message: r.Error}
	if e.Path != "" {
		m.Path = e.Path
		m.Aspects = e.Aspects.String()
		m.Difference = e.Detail()
		m.Primary = transport.ManifestEntryToWire(&e.Primary)
		m.Secondary = transport.ManifestEntryToWire(&e.Local)
	}
	if res := r.Result; res != nil {
		m.Sequence, m.Pass, m.Compared, m.BytesRead = res.Seq, uint32(res.Passes), res.Compared, res.BytesRead
		m.Differences, m.Changing, m.Resolved, m.Unchecked = res.Differences, res.Changing, res.Resolved, res.Unchecked
		m.RecheckSequence = res.LastSeq
	}
	return m
}

func reportFromWire(m *ncsyncv1.VerifyResponse) (verify.Report, error) {
	r := verify.Report{Peer: m.GetPeer(), Error: m.GetMessage()}
	r.Kind, r.Folder, r.Seq, r.Pass = verify.EventKind(m.GetKind()), m.GetFolderId(), m.GetSequence(), int(m.GetPass())
	r.Compared, r.BytesRead = m.GetCompared(), m.GetBytesRead()
	if m.GetPath() != "" {
		r.Path, r.Difference.Folder = m.GetPath(), m.GetFolderId()
		r.Aspects = aspectsFromString(m.GetAspects())
		var err error
		if r.Primary, err = transport.ManifestEntryFromWire(m.GetPrimary()); err != nil {
			return r, fmt.Errorf("the primary's side of %q: %w", r.Path, err)
		}
		if r.Local, err = transport.ManifestEntryFromWire(m.GetSecondary()); err != nil {
			return r, fmt.Errorf("the secondary's side of %q: %w", r.Path, err)
		}
	}
	if r.Kind == verify.KindFolder {
		r.Error = ""
		r.Result = &verify.Result{Folder: m.GetFolderId(), Seq: m.GetSequence(), LastSeq: m.GetRecheckSequence(), Passes: int(m.GetPass()),
			Compared: m.GetCompared(), BytesRead: m.GetBytesRead(), Differences: m.GetDifferences(),
			Changing: m.GetChanging(), Resolved: m.GetResolved(), Unchecked: m.GetUnchecked()}
	}
	return r, nil
}

// aspectsFromString parses verify.Aspect.String's form.
func aspectsFromString(s string) verify.Aspect {
	var a verify.Aspect
	for _, name := range strings.Split(s, ",") {
		for bit := verify.Aspect(1); bit != 0 && bit <= verify.Unreadable; bit <<= 1 {
			if bit.String() == name {
				a |= bit
			}
		}
	}
	return a
}

// Verify asks the daemon (the primary) to compare its tree with its
// secondaries', calling report with each report as it comes. It returns
// the summary of the run.
func (c *Client) Verify(ctx context.Context, req verify.Request, report func(verify.Report)) (VerifySummary, error) {
	stream, err := c.rpc.Verify(ctx, &ncsyncv1.VerifyRequest{Peers: req.Peers, IgnoreOwner: req.IgnoreOwner})
	if err != nil {
		return VerifySummary{}, fromRPC(err)
	}
	var sum VerifySummary
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return sum, errors.New("the daemon ended the verify without a summary")
		}
		if err != nil {
			return sum, fromRPC(err)
		}
		if m.GetDone() {
			sum.Clean = m.GetMessage() == "equal"
			sum.Compared, sum.Differences, sum.Changing = m.GetCompared(), m.GetDifferences(), m.GetChanging()
			sum.Resolved, sum.Unchecked = m.GetResolved(), m.GetUnchecked()
			return sum, nil
		}
		switch verify.EventKind(m.GetKind()) {
		case verify.KindFolder:
			sum.Folders++
		case verify.KindError:
			sum.Folders++
			sum.Failed++
		}
		if report != nil {
			r, err := reportFromWire(m)
			if err != nil {
				return sum, fmt.Errorf("verify report from the daemon: %w", err)
			}
			report(r)
		}
	}
}
