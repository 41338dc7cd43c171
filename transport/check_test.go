package transport

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// wireMsgs converts entries to one batch message plus what splitBatch
// emits, for tampering.
func wireMsgs(t *testing.T, lim Limits, entries ...index.Entry) []*ncsyncv1.SyncResponse {
	return collect(t, Batch{Folder: "f", Entries: entries, Head: 10}, lim)
}

func firstEntry(ms []*ncsyncv1.SyncResponse) *ncsyncv1.Entry {
	return ms[0].GetBatch().Entries[0]
}

func TestAssembleRejects(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxChunkBytes = 1 << 20
	lim.MaxBatchEntries = 8
	lim.MaxEntryChunks = 1000
	perMsg := lim.refsPerMessage()
	file := func() index.Entry { return fileEntry("a/file", 5, 3, 100) }
	lim2 := lim
	lim2.MaxEntryChunks = 200_000
	tests := []struct {
		name   string
		lim    Limits
		msgs   func(t *testing.T) []*ncsyncv1.SyncResponse
		substr string
	}{
		{"chunk_count above chunks, no more", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).ChunkCount = 4
			return append(ms, wireMsgs(t, lim, file())...)
		}, "still awaits chunks"},
		{"chunk_count below chunks", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).ChunkCount = 2
			return ms
		}, "3 chunks sent but chunk_count is 2"},
		{"chunk_count over limit", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).ChunkCount = 1001
			return ms
		}, "1001 chunks exceed the limit of 1000"},
		{"negative size", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, index.Entry{Path: "d", Seq: 1, Kind: index.KindDir})
			firstEntry(ms).Size = math.MaxUint64
			return ms
		}, "overflows"},
		{"chunk of size 0", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Chunks[1].Size = 0
			return ms
		}, "chunk 1: size 0"},
		{"chunk over MaxChunkBytes", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Chunks[2].Size = 1<<20 + 1
			return ms
		}, "chunk 2: size 1048577"},
		{"short chunk id", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Chunks[0].Id = make([]byte, 31)
			return ms
		}, "chunk 0: id has 31 bytes"},
		{"short file id", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).FileId = make([]byte, 33)
			return ms
		}, "file id has 33 bytes"},
		{"seq not increasing", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, fileEntry("a", 1, 1, 1), fileEntry("b", 2, 1, 1))
			ms[0].GetBatch().Entries[1].Sequence = 1
			return ms
		}, `entry "b" has seq 1 after 1`},
		{"seq 0", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Sequence = 0
			return ms
		}, "sequence 0"},
		{"too many entries", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, orderedSample()...)
			b := ms[0].GetBatch()
			for i := range 2 {
				e := proto.Clone(b.Entries[len(b.Entries)-1]).(*ncsyncv1.Entry)
				e.Sequence += uint64(i + 1)
				b.Entries = append(b.Entries, e)
			}
			return ms
		}, "10 entries exceed the limit of 8"},
		{"unknown type", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Type = 7
			return ms
		}, "invalid type 7"},
		{"mode bits", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Mode = 0o10644
			return ms
		}, "bits outside 07777"},
		{"directory with chunks", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			firstEntry(ms).Type = ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY
			return ms
		}, "a dir with 3 chunks"},
		{"empty folder", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, file())
			ms[0].GetBatch().FolderId = ""
			return ms
		}, "empty folder id"},
		{"more chunks without an entry", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_MoreChunks{MoreChunks: &ncsyncv1.MoreChunks{FolderId: "f", Path: "x", Sequence: 1}}}}
		}, "without an entry awaiting them"},
		{"more chunks for another path", lim2, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim2, fileEntry("big", 5, perMsg+10, 1))
			ms[1].GetMoreChunks().Path = "other"
			return ms
		}, `chunks for "other" seq 5`},
		{"more chunks than announced", lim2, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim2, fileEntry("big", 5, perMsg+10, 1))
			more := ms[1].GetMoreChunks()
			more.Chunks = append(more.Chunks, more.Chunks[0])
			return ms
		}, "11 more chunks after"},
		{"batch total over MaxEntryChunks", lim, func(t *testing.T) []*ncsyncv1.SyncResponse {
			ms := wireMsgs(t, lim, fileEntry("a", 1, 600, 1))
			ms2 := wireMsgs(t, lim, fileEntry("b", 2, 600, 1))
			b := ms[0].GetBatch()
			b.Entries = append(b.Entries, ms2[0].GetBatch().Entries...)
			return ms
		}, "more than 1000 chunks in total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := assemble(tt.lim, tt.msgs(t))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("error does not wrap ErrProtocol: %v", err)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error %q does not contain %q", err, tt.substr)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Limits)
		want string // "" for valid
	}{
		{"zero means defaults", func(l *Limits) { *l = Limits{} }, ""},
		{"defaults", func(*Limits) {}, ""},
		{"tiny messages", func(l *Limits) { l.MaxMessageBytes = 1000 }, "MaxMessageBytes"},
		{"one stream", func(l *Limits) { l.MaxConcurrentStreams = 1 }, "MaxConcurrentStreams"},
		{"huge chunks", func(l *Limits) { l.MaxChunkBytes = 1 << 30 }, "MaxChunkBytes"},
		{"negative entries", func(l *Limits) { l.MaxBatchEntries = -1 }, "MaxBatchEntries"},
		{"ids do not fit", func(l *Limits) { l.MaxFetchIDs = 1 << 20 }, "MaxFetchIDs"},
		{"window", func(l *Limits) { l.ZstdMaxWindow = 10 }, "ZstdMaxWindow"},
		{"memory below chunk", func(l *Limits) { l.ZstdMaxMemory = 1 << 20 }, "ZstdMaxMemory"},
		{"keepalive", func(l *Limits) { l.KeepaliveTime = -1 }, "KeepaliveTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLimits()
			tt.mod(&l)
			err := l.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestHandshakeListLimits: a Hello or Welcome whose lists exceed the
// limits is refused before they are copied.
func TestHandshakeListLimits(t *testing.T) {
	positions := func(n int) []*ncsyncv1.FolderPosition {
		ps := make([]*ncsyncv1.FolderPosition, n)
		for i := range ps {
			ps[i] = &ncsyncv1.FolderPosition{FolderId: fmt.Sprintf("f%d", i)}
		}
		return ps
	}
	marks := func(n, per int) []*ncsyncv1.EpochMark {
		ms := make([]*ncsyncv1.EpochMark, n)
		for i := range ms {
			ms[i] = &ncsyncv1.EpochMark{Epoch: uint64(i + 1), Node: "p", Start: positions(per)}
		}
		return ms
	}
	hello := func(pos []*ncsyncv1.FolderPosition, lin []*ncsyncv1.EpochMark) error {
		_, err := helloFromWire(&ncsyncv1.Hello{ProtocolVersion: ProtocolVersion, Positions: pos, Lineage: lin})
		return err
	}
	welcome := func(pos []*ncsyncv1.FolderPosition, lin []*ncsyncv1.EpochMark) error {
		_, err := welcomeFromWire(&ncsyncv1.Welcome{ProtocolVersion: ProtocolVersion, Folders: pos, Lineage: lin})
		return err
	}
	for _, decode := range []func([]*ncsyncv1.FolderPosition, []*ncsyncv1.EpochMark) error{hello, welcome} {
		if err := decode(positions(maxFolders), marks(maxLineageMarks, 1)); err != nil {
			t.Errorf("at the limits: %v", err)
		}
		for name, err := range map[string]error{
			"folders":         decode(positions(maxFolders+1), nil),
			"epochs":          decode(nil, marks(maxLineageMarks+1, 0)),
			"mark's folders":  decode(nil, marks(1, maxFolders+1)),
			"lineage folders": decode(nil, marks(maxLineageStart/maxFolders+1, maxFolders)),
		} {
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceed") {
				t.Errorf("%s past the limit: %v", name, err)
			}
		}
	}
}
