package transport

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/verify"
)

// TestManifestEntryWire: entries survive the wire; invalid ones are
// refused.
func TestManifestEntryWire(t *testing.T) {
	for _, e := range []verify.Entry{
		{Path: "a/b.txt", Kind: index.KindFile, Mode: 0o4755, UID: 33, GID: 33, MtimeNs: 1_700_000_000_123_456_789, Size: 42, FileID: chunker.Sum([]byte("x"))},
		{Path: "a", Kind: index.KindDir, Mode: 0o755},
		{Path: "l", Kind: index.KindSymlink, Mode: 0o777, Target: "../x"},
		{Path: "u", Kind: index.KindFile, Err: "read: permission denied"},
		{Path: "v", Kind: index.KindFile, Size: 7, Err: "changed while read"},
		{}, // no entry: the side of a difference that lacks the path
	} {
		got, err := ManifestEntryFromWire(ManifestEntryToWire(&e))
		if err != nil || got != e {
			t.Errorf("%+v arrived as %+v, %v", e, got, err)
		}
	}
	id := chunker.Sum(nil)
	for name, pe := range map[string]*ncsyncv1.ManifestEntry{
		"bad path":      {Path: "../x", Type: ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY},
		"no type":       {Path: "x"},
		"mode bits":     {Path: "x", Type: ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY, Mode: 0o100755},
		"short file id": {Path: "x", Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, FileId: id[:5]},
		"huge size":     {Path: "x", Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, FileId: id[:], Size: 1 << 63},
	} {
		if _, err := ManifestEntryFromWire(pe); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// sinkSource takes manifest uploads.
type sinkSource struct {
	*fakeSource
	accepted int
}

func (s *sinkSource) AcceptManifest(ctx context.Context, _ Peer, _ uint64, _ string, m ManifestStream) error {
	s.accepted++
	for {
		if _, err := m.Next(ctx); err != nil {
			return nil
		}
	}
}

// pageStream is an UploadManifest call whose pages the test chose.
type pageStream struct {
	grpc.ServerStream
	pages []*ncsyncv1.UploadManifestRequest
}

func (p *pageStream) Context() context.Context { return context.Background() }
func (p *pageStream) Recv() (*ncsyncv1.UploadManifestRequest, error) {
	if len(p.pages) == 0 {
		return nil, io.EOF
	}
	m := p.pages[0]
	p.pages = p.pages[1:]
	return m, nil
}
func (p *pageStream) SendAndClose(*ncsyncv1.UploadManifestResponse) error { return nil }

// TestUploadManifestPageLimit: a page of more than manifestPageEntries
// entries is refused, the first page included, before the verify sees it.
func TestUploadManifestPageLimit(t *testing.T) {
	entries := make([]*ncsyncv1.ManifestEntry, manifestPageEntries+1)
	for i := range entries {
		entries[i] = &ncsyncv1.ManifestEntry{Path: fmt.Sprintf("d%05d", i), Type: ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY}
	}
	src := &sinkSource{fakeSource: newFakeSource()}
	v := &service{s: &Server{src: src, stopping: context.Background()}}
	err := v.UploadManifest(&pageStream{pages: []*ncsyncv1.UploadManifestRequest{{Query: 1, FolderId: "f", Entries: entries}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "exceeds 1024") || src.accepted != 0 {
		t.Errorf("first page of %d entries: %v, accepted %d", len(entries), err, src.accepted)
	}
}
