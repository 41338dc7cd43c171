package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// fileEntry returns a live file entry of n chunks of size each, with a
// consistent size and file id.
func fileEntry(path string, seq uint64, n int, size uint32) index.Entry {
	e := index.Entry{Path: path, Seq: seq, Kind: index.KindFile, Mode: 0o644, UID: 33, GID: 33,
		MtimeNs: 1_700_000_000_123_456_789, Version: index.Version{Epoch: 2, Seq: seq, Node: "p1"}}
	ids := make([]chunker.ID, n)
	if n > 0 {
		e.Chunks = make([]index.ChunkRef, n)
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[8:], seq)
	for i := range e.Chunks {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		ids[i] = chunker.Sum(b[:])
		e.Chunks[i] = index.ChunkRef{ID: ids[i], Size: size}
		e.Size += int64(size)
	}
	e.FileID = chunker.FileID(ids)
	return e
}

// sampleEntries covers every kind of entry and field.
func sampleEntries() []index.Entry {
	small := fileEntry("webroot/index.php", 1, 3, 1000)
	small.Chunks[2].Size = 17
	small.Size = 2017
	small.FileID = chunker.FileID([]chunker.ID{small.Chunks[0].ID, small.Chunks[1].ID, small.Chunks[2].ID})
	empty := fileEntry("empty", 2, 0, 0)
	setuid := fileEntry("bin/tool", 3, 1, 16)
	setuid.Mode = 0o4755
	setuid.MtimeNs = -5
	setuid.UID, setuid.GID = 4294967294, 1
	return []index.Entry{
		{Path: "dir", Seq: 0 + 4, Kind: index.KindDir, Mode: 0o2775, UID: 33, GID: 33, MtimeNs: 12, Size: 4096, Version: index.Version{Epoch: 1, Seq: 4, Node: "p0"}},
		small, // seq 1 comes first below
		empty,
		setuid,
		{Path: "link", Seq: 5, Kind: index.KindSymlink, Mode: 0o777, MtimeNs: 99, Size: 11, Target: "../dir/ünï"},
		{Path: "gone.txt", Seq: 6, Kind: index.KindFile, Deleted: true, Version: index.Version{Epoch: 2, Seq: 6, Node: "p1"}},
		{Path: "gone-dir", Seq: 7, Kind: index.KindDir, Deleted: true},
		fileEntry("données/日本語/😀 file.txt", 8, 2, 65536),
	}
}

// orderedSample returns sampleEntries sorted by sequence.
func orderedSample() []index.Entry {
	es := sampleEntries()
	out := []index.Entry{es[1], es[2], es[3], es[0]}
	return append(out, es[4:]...)
}

func TestEntriesRoundTrip(t *testing.T) {
	p := cluster(t)
	big := fileEntry("media/big.mkv", 100, 200_000, 64<<10)
	batches := []Batch{
		{Folder: "data", Entries: orderedSample(), Head: 99},
		{Folder: "data", Entries: []index.Entry{big, fileEntry("after-big", 101, 1, 5)}, Head: 101},
		{Folder: "webroot", Head: 5}, // no entries: a head update
	}
	src := newFakeSource()
	for _, b := range batches {
		src.batches = append(src.batches, b)
	}
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	sess, _, err := c.Sync(context.Background(), Hello{ClusterID: p.cluster, Node: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// A batch may arrive split into consecutive batches.
	recv := func() (Batch, error) {
		m, err := sess.Recv()
		if err != nil {
			return Batch{}, err
		}
		b, ok := m.(Batch)
		if !ok {
			return Batch{}, fmt.Errorf("received %T, want a batch", m)
		}
		return b, nil
	}
	for i, want := range batches {
		got, err := recv()
		for err == nil && len(got.Entries) < len(want.Entries) {
			var more Batch
			more, err = recv()
			if more.Folder != got.Folder || more.Head != got.Head {
				t.Errorf("batch %d continued by %s", i, describe(more))
			}
			got.Entries = append(got.Entries, more.Entries...)
		}
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("batch %d differs:\n got %s\nwant %s", i, describe(got), describe(want))
		}
	}
}

func describe(b Batch) string {
	s := fmt.Sprintf("folder %q head %d, %d entries", b.Folder, b.Head, len(b.Entries))
	for _, e := range b.Entries {
		s += fmt.Sprintf("\n  %+v", e.LogValue())
		if len(e.Chunks) > 4 {
			e.Chunks = e.Chunks[:4]
		}
		s += fmt.Sprintf(" %+v", e)
	}
	return s
}

// collect runs splitBatch and returns the messages.
func collect(t *testing.T, msg Message, lim Limits) []*ncsyncv1.SyncResponse {
	t.Helper()
	var msgs []*ncsyncv1.SyncResponse
	if err := sendMessage(msg, lim, func(m *ncsyncv1.SyncResponse) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// decode feeds msgs to an assembler and returns the messages.
func decode(lim Limits, msgs []*ncsyncv1.SyncResponse) ([]Message, error) {
	a := assembler{lim: lim}
	var out []Message
	for i, m := range msgs {
		msg, err := a.next(m)
		if err != nil {
			return out, fmt.Errorf("message %d: %w", i, err)
		}
		if msg != nil {
			out = append(out, msg)
		}
	}
	if a.active {
		return out, io.ErrUnexpectedEOF
	}
	return out, nil
}

// assemble is decode for batches only.
func assemble(lim Limits, msgs []*ncsyncv1.SyncResponse) ([]Batch, error) {
	ms, err := decode(lim, msgs)
	out := make([]Batch, 0, len(ms))
	for _, m := range ms {
		b, ok := m.(Batch)
		if !ok {
			return out, fmt.Errorf("%T is not a batch", m)
		}
		out = append(out, b)
	}
	return out, err
}

func TestSplitBatch(t *testing.T) {
	def := DefaultLimits()
	small := def
	small.MaxMessageBytes = minMessageBytes
	few := def
	few.MaxBatchEntries = 3
	tight := def
	tight.MaxEntryChunks = 250_000
	manyFiles := make([]index.Entry, 0, 40)
	for i := range 40 {
		manyFiles = append(manyFiles, fileEntry(fmt.Sprintf("f%02d", i), uint64(i+1), 100, 1))
	}
	tests := []struct {
		name     string
		lim      Limits
		entries  []index.Entry
		wantMsgs int // batches + MoreChunks
		wantMore int
	}{
		{"sample fits one message", def, orderedSample(), 1, 0},
		{"entries limit", few, orderedSample(), 3, 0},
		{"big file", def, []index.Entry{fileEntry("big", 1, 200_000, 1)}, 4, 3},
		{"big file among others", def, []index.Entry{fileEntry("a", 1, 1, 1), fileEntry("big", 2, 70_000, 1), fileEntry("c", 3, 1, 1)}, 3, 1},
		{"two big files over the batch chunk limit", tight, []index.Entry{fileEntry("a", 1, 200_000, 1), fileEntry("b", 2, 200_000, 1)}, 8, 6},
		{"small messages", small, manyFiles, 3, 0},
		{"small messages, big file", small, []index.Entry{fileEntry("big", 1, 5000, 1)}, 5, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Batch{Folder: "f", Entries: tt.entries, Head: 1000}
			msgs := collect(t, b, tt.lim)
			more := 0
			for _, m := range msgs {
				if m.GetMoreChunks() != nil {
					more++
					if n := len(m.GetMoreChunks().Chunks); n > maxRefsPerMessage {
						t.Errorf("MoreChunks with %d refs", n)
					}
				}
				if size := protoSize(m); size > tt.lim.MaxMessageBytes {
					t.Errorf("message of %d bytes exceeds %d", size, tt.lim.MaxMessageBytes)
				}
			}
			if len(msgs) != tt.wantMsgs || more != tt.wantMore {
				t.Errorf("%d messages (%d MoreChunks), want %d (%d)", len(msgs), more, tt.wantMsgs, tt.wantMore)
			}
			got, err := assemble(tt.lim, msgs)
			if err != nil {
				t.Fatal(err)
			}
			var all []index.Entry
			for _, g := range got {
				if g.Folder != "f" || g.Head != 1000 {
					t.Errorf("batch %q head %d", g.Folder, g.Head)
				}
				all = append(all, g.Entries...)
			}
			if !reflect.DeepEqual(all, tt.entries) {
				t.Error("entries differ after split and assembly")
			}
		})
	}
}

func TestSplitBatchRefuses(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxEntryChunks = 10
	tests := []struct {
		name string
		b    Batch
		want string
	}{
		{"no folder", Batch{Entries: orderedSample()}, "empty folder id"},
		{"seq order", Batch{Folder: "f", Entries: sampleEntries()}, "has seq 1 after 4"},
		{"too many chunks", Batch{Folder: "f", Entries: []index.Entry{fileEntry("x", 1, 11, 1)}}, "11 chunks exceed the limit of 10"},
		{"negative size", Batch{Folder: "f", Entries: []index.Entry{{Path: "x", Seq: 1, Kind: index.KindDir, Size: -1}}}, "negative size"},
		{"bad kind", Batch{Folder: "f", Entries: []index.Entry{{Path: "x", Seq: 1}}}, "invalid kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := splitBatch(&tt.b, lim, func(*ncsyncv1.SyncResponse) error { return nil })
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestSessionStopAndReplace checks that a newer session of the same node
// ends the older one, and that Stop ends sessions promptly.
func TestSessionStopAndReplace(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	src.served = make(chan error, 2)
	srv, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	h := Hello{ClusterID: p.cluster, Node: "s1"}
	first, _, err := c.Sync(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := c.Sync(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err == nil || !contains(err.Error(), "replaced") {
		t.Errorf("first session: Recv error = %v, want replaced", err)
	}
	if err := <-src.served; !errors.Is(err, context.Canceled) {
		t.Errorf("first Serve returned %v", err)
	}
	within(t, 10*time.Second, "Stop", srv.Stop)
	if _, err := second.Recv(); err == nil || !contains(err.Error(), "shutting down") {
		t.Errorf("second session: Recv error = %v, want shutting down", err)
	}
}

func protoSize(m *ncsyncv1.SyncResponse) int { return proto.Size(m) }
