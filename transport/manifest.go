package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/verify"
)

// ncsync verify: the primary asks a secondary, in its session's stream,
// for the secondary's tree of a folder (a VerifyQuery); the
// secondary reads its tree from disk and streams it back with
// UploadManifest, which it opens itself (only secondaries dial). The
// primary merges it with its own walk (package verify).

// Bounds of a verify query and of manifest entries.
const (
	maxVerifyPatterns = 10_000
	maxPatternLen     = 4096
	maxManifestErr    = 4096
	maxTargetLen      = 4096
	// manifestPageEntries and manifestPageBytes bound one upload message.
	manifestPageEntries = 1024
	manifestPageBytes   = 1 << 20
)

// VerifyQuery asks a secondary for its manifest of Folder (ncsync verify):
// once everything sent before is applied, its entries below Paths (none:
// the whole folder) as read from disk now, skipping what the Ignore
// patterns (the primary's) match, uploaded for ID.
type VerifyQuery struct {
	Folder string
	ID     uint64
	Paths  []string
	Ignore []string
}

func verifyQueryToWire(q VerifyQuery) (*ncsyncv1.VerifyQuery, error) {
	if q.Folder == "" || q.ID == 0 {
		return nil, fmt.Errorf("send a verify query: folder %q, id %d", q.Folder, q.ID)
	}
	return &ncsyncv1.VerifyQuery{FolderId: q.Folder, Id: q.ID, Paths: q.Paths, Ignore: q.Ignore}, nil
}

func verifyQueryFromWire(pq *ncsyncv1.VerifyQuery) (VerifyQuery, error) {
	q := VerifyQuery{Folder: pq.GetFolderId(), ID: pq.GetId(), Paths: pq.GetPaths(), Ignore: pq.GetIgnore()}
	if q.ID == 0 {
		return q, protocolErr("verify query without an id")
	}
	if q.Folder == "" {
		return q, protocolErr("verify query %d without a folder", q.ID)
	}
	for _, p := range q.Paths {
		if err := verify.CheckPath(p); err != nil {
			return q, protocolErr("verify query: %v", err)
		}
	}
	if len(q.Ignore) > maxVerifyPatterns {
		return q, protocolErr("verify query: %d ignore patterns exceed %d", len(q.Ignore), maxVerifyPatterns)
	}
	for _, p := range q.Ignore {
		if len(p) > maxPatternLen {
			return q, protocolErr("verify query: an ignore pattern of %d bytes exceeds %d", len(p), maxPatternLen)
		}
	}
	return q, nil
}

// ManifestEntryToWire converts e, for an upload and for the control
// socket's verify reports; FileID only for a readable file. The zero Entry
// (no entry: a path one side lacks) converts to nil.
func ManifestEntryToWire(e *verify.Entry) *ncsyncv1.ManifestEntry {
	if e.Path == "" {
		return nil
	}
	k, _ := kindToWire(e.Kind)
	pe := &ncsyncv1.ManifestEntry{Path: e.Path, Type: k, Mode: e.Mode, Uid: e.UID, Gid: e.GID,
		MtimeNs: e.MtimeNs, Size: uint64(max(e.Size, 0)), SymlinkTarget: e.Target, Error: e.Err}
	if e.Kind == index.KindFile && e.Err == "" {
		pe.FileId = e.FileID[:]
	}
	return pe
}

// ManifestEntryFromWire converts and checks pe: a valid path, a known
// type (unless unreadable), a mode within 07777, a 32-byte file id for a
// readable file, bounded strings. nil converts to the zero Entry (see
// ManifestEntryToWire).
func ManifestEntryFromWire(pe *ncsyncv1.ManifestEntry) (verify.Entry, error) {
	if pe == nil {
		return verify.Entry{}, nil
	}
	e := verify.Entry{Path: pe.GetPath(), Mode: pe.GetMode(), UID: pe.GetUid(), GID: pe.GetGid(),
		MtimeNs: pe.GetMtimeNs(), Target: pe.GetSymlinkTarget(), Err: pe.GetError()}
	if err := verify.CheckPath(e.Path); err != nil {
		return e, protocolErr("manifest entry: %v", err)
	}
	bad := func(format string, args ...any) error {
		return protocolErr("manifest entry %q: %s", e.Path, fmt.Sprintf(format, args...))
	}
	if len(e.Err) > maxManifestErr {
		return e, bad("error text of %d bytes", len(e.Err))
	}
	k, ok := kindFromWire(pe.GetType())
	if !ok && e.Err == "" {
		return e, bad("unknown type %v", pe.GetType())
	}
	e.Kind = k
	if e.Mode&^0o7777 != 0 {
		return e, bad("mode %#o has bits outside 07777", e.Mode)
	}
	if pe.GetSize() > 1<<62 {
		return e, bad("size %d", pe.GetSize())
	}
	if len(e.Target) > maxTargetLen {
		return e, bad("symlink target of %d bytes", len(e.Target))
	}
	if k == index.KindFile {
		e.Size = int64(pe.GetSize())
	}
	if k == index.KindFile && e.Err == "" {
		id, err := idFromWire(pe.GetFileId(), "file id")
		if err != nil {
			return e, bad("%v", err)
		}
		e.FileID = id
	}
	return e, nil
}

// ManifestStream is an uploaded manifest as the primary receives it: a
// verify.Source of the secondary's entries, in the order sent (the merge
// checks the order). An upload that the secondary ended with an error
// returns it, wrapping ErrManifest.
type ManifestStream interface {
	verify.Source
}

// ManifestSink is implemented by a Source that takes uploaded manifests
// (a primary that runs ncsync verify).
type ManifestSink interface {
	// AcceptManifest hands the upload of peer for query of folder to the
	// verify waiting for it and returns once that verify is done with it
	// (or ctx ends). An upload nobody asked for is refused with a
	// *Refusal.
	AcceptManifest(ctx context.Context, peer Peer, query uint64, folder string, m ManifestStream) error
}

// UploadManifest implements ncsyncv1.ReplicationServiceServer.
func (v *service) UploadManifest(stream grpc.ClientStreamingServer[ncsyncv1.UploadManifestRequest, ncsyncv1.UploadManifestResponse]) error {
	sink, ok := v.s.src.(ManifestSink)
	if !ok {
		return status.Error(codes.Unimplemented, "this primary does not run ncsync verify")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(v.s.stopping, cancel)()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetQuery() == 0 || first.GetFolderId() == "" {
		return status.Error(codes.InvalidArgument, "a manifest upload must name its query and folder in its first message")
	}
	if err := checkManifestPage(first); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	r := &manifestReader{stream: stream, page: first}
	if err := sink.AcceptManifest(ctx, peerFrom(ctx), first.GetQuery(), first.GetFolderId(), r); err != nil {
		return statusOf(ctx, "manifest upload", err)
	}
	return stream.SendAndClose(&ncsyncv1.UploadManifestResponse{})
}

// manifestReader yields the entries of an upload one at a time.
type manifestReader struct {
	stream grpc.ClientStreamingServer[ncsyncv1.UploadManifestRequest, ncsyncv1.UploadManifestResponse]
	page   *ncsyncv1.UploadManifestRequest
	i      int
	err    error // sticky
}

func (r *manifestReader) Next(ctx context.Context) (verify.Entry, error) {
	for r.err == nil {
		if r.page != nil {
			if r.i < len(r.page.Entries) {
				e, err := ManifestEntryFromWire(r.page.Entries[r.i])
				r.i++
				if err != nil {
					r.err = err
					break
				}
				return e, nil
			}
			if msg := r.page.GetError(); msg != "" {
				if len(msg) > maxManifestErr {
					msg = strings.ToValidUTF8(msg[:maxManifestErr], "")
				}
				r.err = fmt.Errorf("%w: %s", ErrManifest, msg)
				break
			}
		}
		if err := ctx.Err(); err != nil {
			return verify.Entry{}, err
		}
		page, err := r.stream.Recv()
		if err != nil {
			r.err = err // io.EOF: the end of the manifest
			break
		}
		if err := checkManifestPage(page); err != nil {
			r.err = err
			break
		}
		r.page, r.i = page, 0
	}
	return verify.Entry{}, r.err
}

// checkManifestPage refuses a page of more than manifestPageEntries
// entries.
func checkManifestPage(page *ncsyncv1.UploadManifestRequest) error {
	if n := len(page.GetEntries()); n > manifestPageEntries {
		return protocolErr("manifest page of %d entries exceeds %d", n, manifestPageEntries)
	}
	return nil
}

// UploadManifest streams this secondary's manifest for query of folder
// to the primary: the entries src yields until io.EOF. An error of src
// other than the context's is sent to the primary as the upload's error
// (and returned).
func (c *Client) UploadManifest(ctx context.Context, query uint64, folder string, src verify.Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.UploadManifest(ctx)
	if err != nil {
		return c.rpcError("upload manifest", err)
	}
	page := &ncsyncv1.UploadManifestRequest{Query: query, FolderId: folder}
	size := 0
	send := func() error {
		err := stream.Send(page)
		page = &ncsyncv1.UploadManifestRequest{}
		size = 0
		if errors.Is(err, io.EOF) { // the primary ended the call: its status says why
			_, err = stream.CloseAndRecv()
		}
		if err != nil {
			return c.rpcError("upload manifest", err)
		}
		return nil
	}
	var srcErr error
	for {
		e, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			srcErr = err
			page.Error = err.Error()
			break
		}
		pe := ManifestEntryToWire(&e)
		page.Entries = append(page.Entries, pe)
		size += len(pe.Path) + len(pe.SymlinkTarget) + len(pe.Error) + 96
		if len(page.Entries) >= manifestPageEntries || size >= manifestPageBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(page.Entries) > 0 || page.Error != "" || page.Query != 0 {
		if err := send(); err != nil {
			return err
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return c.rpcError("upload manifest", err)
	}
	return srcErr
}
