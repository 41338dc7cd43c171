package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/patch"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/verify"
)

// fuzzLimits are small so that the fuzzer reaches them.
func fuzzLimits() Limits {
	l := DefaultLimits()
	l.MaxMessageBytes = minMessageBytes
	l.MaxChunkBytes = 1 << 16
	l.MaxEntryChunks = 5000
	l.MaxBatchEntries = 16
	l.ZstdMaxMemory = 1 << 16
	return l
}

// encodeMsgs frames messages as a length-prefixed sequence.
func encodeMsgs(t testing.TB, msgs []*ncsyncv1.SyncResponse) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

func decodeMsgs(data []byte) []*ncsyncv1.SyncResponse {
	var msgs []*ncsyncv1.SyncResponse
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			break
		}
		m := &ncsyncv1.SyncResponse{}
		if proto.Unmarshal(data[k:k+int(n)], m) == nil {
			msgs = append(msgs, m)
		}
		data = data[k+int(n):]
	}
	return msgs
}

// FuzzAssemble feeds arbitrary Sync messages to the secondary's batch
// decoder: it must not panic, and what it accepts must hold its promises.
func FuzzAssemble(f *testing.F) {
	lim := fuzzLimits()
	seeds := [][]index.Entry{
		orderedSample(),
		{fileEntry("big", 1, lim.refsPerMessage()+3, 7), fileEntry("after", 2, 1, 1)},
		{},
		nil, // deltaBatch
	}
	base := fileEntry("big", 1, 300, 100)
	next := edited(base, 2)
	deltaBatch := Batch{Folder: "f", Entries: []index.Entry{next}, Deltas: []EntryDelta{{At: 0, Delta: index.DiffChunks(base.Chunks, next.Chunks)}}}
	for _, es := range seeds {
		var msgs []*ncsyncv1.SyncResponse
		b := Batch{Folder: "f", Entries: es, Head: 3}
		if es == nil {
			b = deltaBatch
		}
		if err := splitBatch(&b, lim, func(m *ncsyncv1.SyncResponse) error {
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			f.Fatal(err)
		}
		f.Add(encodeMsgs(f, msgs))
	}
	// Counts announced near and past the limits.
	batch := func(pb *ncsyncv1.EntryBatch) *ncsyncv1.SyncResponse {
		return &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: pb}}
	}
	file := func(seq, count uint64) *ncsyncv1.Entry {
		return &ncsyncv1.Entry{Path: fmt.Sprintf("f%d", seq), Sequence: seq, Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, ChunkCount: count, Size: count << 24}
	}
	id := chunker.Sum(nil)
	for _, count := range []uint64{uint64(lim.MaxEntryChunks), uint64(lim.MaxEntryChunks) + 1, 1 << 40, 1<<64 - 1} {
		f.Add(encodeMsgs(f, []*ncsyncv1.SyncResponse{batch(&ncsyncv1.EntryBatch{FolderId: "f", Entries: []*ncsyncv1.Entry{file(1, count)}}),
			{Msg: &ncsyncv1.SyncResponse_MoreChunks{MoreChunks: &ncsyncv1.MoreChunks{FolderId: "f", Path: "f1", Sequence: 1,
				Chunks: []*ncsyncv1.ChunkRef{{Id: id[:], Size: 1 << 24}, {Id: id[:], Size: 1<<32 - 1}}}}}}))
	}
	for _, n := range []int{lim.MaxBatchEntries, lim.MaxBatchEntries + 1} {
		pb := &ncsyncv1.EntryBatch{FolderId: "f"}
		for i := range n {
			pb.Entries = append(pb.Entries, file(uint64(i+1), uint64(lim.MaxEntryChunks/n+1)))
		}
		f.Add(encodeMsgs(f, []*ncsyncv1.SyncResponse{batch(pb)}))
	}
	// The orders and questions, alone, inside a batch and as protocol 1's
	// flags of a batch.
	var orders []*ncsyncv1.SyncResponse
	for _, m := range []Message{ApplyStaged{Folder: "f"}, TreeHashQuery{Folder: "f", ID: 3},
		VerifyQuery{Folder: "f", ID: 4, Paths: []string{"a/b"}, Ignore: []string{"*.log"}},
		PauseState{Paused: true, ID: "0a1b2c3d4e5f", Since: time.Unix(1_700_000_000, 0), Expires: time.Unix(1_700_007_200, 0), Hold: map[string]uint64{"f": 5, "g": 0}},
		PauseState{}} {
		if err := sendMessage(m, lim, func(m *ncsyncv1.SyncResponse) error { orders = append(orders, m); return nil }); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(encodeMsgs(f, orders))
	f.Add(encodeMsgs(f, []*ncsyncv1.SyncResponse{batch(&ncsyncv1.EntryBatch{FolderId: "f", Entries: []*ncsyncv1.Entry{file(1, 3)}}), orders[1]}))
	f.Add(encodeMsgs(f, []*ncsyncv1.SyncResponse{batch(&ncsyncv1.EntryBatch{FolderId: "f", ApplyStaged: true, TreeHashQuery: 2,
		Verify: &ncsyncv1.VerifyQuery{Id: 1}})}))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := decode(lim, decodeMsgs(data))
		for _, m := range msgs {
			switch m := m.(type) {
			case ApplyStaged:
				if m.Folder == "" {
					t.Fatal("accepted apply staged without a folder")
				}
				continue
			case TreeHashQuery:
				if m.Folder == "" || m.ID == 0 {
					t.Fatalf("accepted %+v", m)
				}
				continue
			case PauseState:
				if m.Paused && (m.ID == "" || len(m.ID) > maxPauseIDLen || m.Since.IsZero() || m.Expires.Before(m.Since) || len(m.Hold) > maxFolders) ||
					!m.Paused && !reflect.DeepEqual(m, PauseState{}) {
					t.Fatalf("accepted %+v", m)
				}
				for id := range m.Hold {
					if id == "" {
						t.Fatalf("accepted a hold point without a folder: %+v", m)
					}
				}
				continue
			case VerifyQuery:
				if m.Folder == "" || m.ID == 0 || len(m.Ignore) > maxVerifyPatterns {
					t.Fatalf("accepted %+v", m)
				}
				for _, p := range m.Paths {
					if verify.CheckPath(p) != nil {
						t.Fatalf("accepted verify path %q", p)
					}
				}
				continue
			}
			b := m.(Batch)
			if b.Folder == "" || len(b.Entries) > lim.MaxBatchEntries {
				t.Fatalf("accepted batch %q with %d entries", b.Folder, len(b.Entries))
			}
			var built uint64
			for k, d := range b.Deltas {
				if d.At < 0 || d.At >= len(b.Entries) || k > 0 && d.At <= b.Deltas[k-1].At {
					t.Fatalf("accepted a delta at %d of %d entries", d.At, len(b.Entries))
				}
				if e := b.Entries[d.At]; e.Kind != index.KindFile || e.Deleted || e.Chunks != nil {
					t.Fatalf("accepted a delta for %+v", e)
				}
				var n uint64
				for _, ed := range d.Delta.Edits {
					if ed.CopyCount == 0 && len(ed.Insert) == 0 {
						t.Fatal("accepted an empty edit")
					}
					n += ed.CopyCount + uint64(len(ed.Insert))
					for _, c := range ed.Insert {
						if c.Size == 0 || int64(c.Size) > int64(lim.MaxChunkBytes) {
							t.Fatalf("accepted an inserted chunk of %d bytes", c.Size)
						}
					}
				}
				if n != d.Delta.Count || n > uint64(lim.MaxEntryChunks) {
					t.Fatalf("accepted a delta of %d chunks whose edits build %d", d.Delta.Count, n)
				}
				built += n
				// Applied to any base it builds the list it names or nothing.
				list, err := d.Delta.Apply(base.Chunks, lim.MaxEntryChunks)
				if err == nil && index.ListHash(list) != d.Delta.Result {
					t.Fatal("a delta built a list other than the one it names")
				}
			}
			for _, e := range b.Entries {
				built += uint64(len(e.Chunks))
			}
			if built > uint64(lim.MaxEntryChunks) {
				t.Fatalf("accepted a batch of %d chunks", built)
			}
			for i, e := range b.Entries {
				if i > 0 && e.Seq <= b.Entries[i-1].Seq {
					t.Fatalf("accepted seq %d after %d", e.Seq, b.Entries[i-1].Seq)
				}
				if e.Size < 0 || len(e.Chunks) > lim.MaxEntryChunks {
					t.Fatalf("accepted size %d, %d chunks", e.Size, len(e.Chunks))
				}
				// Whether a file's chunks add up to its size and id is the
				// writer's check (apply.ValidateEntry), per entry.
				for _, c := range e.Chunks {
					if c.Size == 0 || int64(c.Size) > int64(lim.MaxChunkBytes) {
						t.Fatalf("accepted a chunk of %d bytes", c.Size)
					}
				}
			}
		}
	})
}

// FuzzDecodeResponse feeds arbitrary chunk responses to the secondary's
// decoder: it must not panic, and every chunk it accepts must be the one
// requested, within the limits.
func FuzzDecodeResponse(f *testing.F) {
	lim := fuzzLimits()
	dec, err := newChunkDecoder(lim)
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		f.Fatal(err)
	}
	a, b, r := textChunk(1, 300), textChunk(2, 200), randomChunk(3, 100)
	ids := []chunker.ID{chunker.Sum(a), chunker.Sum(b), chunker.Sum(r)}
	rawCD := func(i int, data []byte) *ncsyncv1.ChunkData {
		return &ncsyncv1.ChunkData{Id: ids[i][:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: uint32(len(data)), Data: data}
	}
	inFrame := func(i int, data []byte) *ncsyncv1.ChunkData {
		return &ncsyncv1.ChunkData{Id: ids[i][:], Codec: ncsyncv1.Codec_CODEC_IN_FRAME, Size: uint32(len(data))}
	}
	for _, m := range []*ncsyncv1.FetchChunksResponse{
		{Chunks: []*ncsyncv1.ChunkData{rawCD(0, a), rawCD(1, b), rawCD(2, r)}},
		{Chunks: []*ncsyncv1.ChunkData{inFrame(0, a), inFrame(1, b), rawCD(2, r)}, Frame: enc.EncodeAll(append(slices.Clone(a), b...), nil)},
		{Chunks: []*ncsyncv1.ChunkData{
			{Id: ids[0][:], Codec: ncsyncv1.Codec_CODEC_ZSTD, Size: uint32(len(a)), Data: enc.EncodeAll(a, nil)},
			{Id: ids[1][:], Missing: true}, inFrame(2, r)}, Frame: enc.EncodeAll(r, nil)},
	} {
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	enc.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &ncsyncv1.FetchChunksResponse{}
		if proto.Unmarshal(data, m) != nil || len(m.Chunks) != len(ids) {
			return
		}
		chunks, _, _ := decodeResponse(dec, m, ids, lim.MaxChunkBytes, nil)
		for i, ch := range chunks {
			if ch.ID != ids[i] || !ch.Missing && (chunker.Sum(ch.Data) != ids[i] || len(ch.Data) > lim.MaxChunkBytes) {
				t.Fatalf("accepted chunk %d: %d bytes that are not %s", i, len(ch.Data), ids[i])
			}
		}
	})
}

// FuzzServerDecode feeds arbitrary Sync requests to the primary's
// decoders.
func FuzzServerDecode(f *testing.F) {
	lim := fuzzLimits()
	peer := Peer{Node: "s1", ClusterID: "c"}
	for _, m := range []*ncsyncv1.SyncRequest{
		{Msg: &ncsyncv1.SyncRequest_Hello{Hello: &ncsyncv1.Hello{ProtocolVersion: ProtocolVersion, ClusterId: "c", Node: "s1",
			Positions: []*ncsyncv1.FolderPosition{{FolderId: "a", Sequence: 1}},
			Lineage:   []*ncsyncv1.EpochMark{{Epoch: 1, Node: "p", Start: []*ncsyncv1.FolderPosition{{FolderId: "a"}}}}}}},
		{Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "a", Sequence: 3, Failures: []*ncsyncv1.Failure{{Path: "x", Message: "m"}}}}},
		{Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{FolderId: "a", Query: 9, Sequence: 3, Hash: make([]byte, 32), Entries: 4}}},
		{Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{FolderId: "a", Query: 9, Error: "no index"}}},
		{Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "a", TreeHash: &ncsyncv1.TreeHashReport{Query: 9}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Counts near and past the limits.
	id := chunker.Sum(nil)
	for _, n := range []int{lim.MaxBatchEntries, lim.MaxBatchEntries + 1} {
		b, err := proto.Marshal(&ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "a", Sequence: 3,
			Failures: slices.Repeat([]*ncsyncv1.Failure{{Path: "x", Message: "m"}}, n)}}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, n := range []int{lim.MaxFetchIDs, lim.MaxFetchIDs + 1} {
		b, err := proto.Marshal(&ncsyncv1.FetchChunksRequest{FolderId: "a", Ids: slices.Repeat([][]byte{id[:]}, n)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &ncsyncv1.SyncRequest{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		if ph := m.GetHello(); ph != nil {
			h, err := helloFromWire(ph)
			if err == nil && checkHello(peer, h) == nil && (h.ClusterID != "c" || h.Node != "s1") {
				t.Fatalf("accepted hello %+v", h)
			}
		}
		if m.GetHello() == nil {
			r, err := replyFromWire(m, lim)
			switch r := r.(type) {
			case Ack:
				if err == nil && (r.Folder == "" || len(r.Failures) > lim.MaxBatchEntries || m.GetAck().GetTreeHash() != nil) {
					t.Fatalf("accepted ack %+v", r)
				}
			case TreeHashReport:
				if err == nil && (r.Folder == "" || r.Query == 0 || len(r.Error) > maxErrorLen || r.Error == "" && len(m.GetTreeHash().GetHash()) != 32) {
					t.Fatalf("accepted report %+v", r)
				}
			case nil:
				if err == nil && m.GetHeartbeat() == nil {
					t.Fatalf("accepted %T as nothing", m.GetMsg())
				}
			}
		}
		req := &ncsyncv1.FetchChunksRequest{}
		if proto.Unmarshal(data, req) == nil {
			ids, err := fetchRequestFromWire(req, lim)
			if err == nil && (len(ids) == 0 || len(ids) > lim.MaxFetchIDs) {
				t.Fatalf("accepted %d ids", len(ids))
			}
		}
	})
}

// FuzzDecodeResponseSizes feeds the secondary's decoder responses of
// count chunks that each announce size decoded bytes, near and past the
// limits (seeded with a small message announcing 4,096 chunks of 16 MiB):
// it must refuse a response announcing more than maxResponseDecoded in
// zstd chunks before setting room aside, and never hold more than that
// plus one frame.
func FuzzDecodeResponseSizes(f *testing.F) {
	lim := DefaultLimits()
	dec, err := newChunkDecoder(lim)
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	a := textChunk(1, 300)
	comp := zstdFrame(f, a)
	zst, inFrame := uint8(ncsyncv1.Codec_CODEC_ZSTD), uint8(ncsyncv1.Codec_CODEC_IN_FRAME)
	f.Add(uint16(1), uint32(len(a)), zst, comp, []byte(nil))
	f.Add(uint16(3), uint32(len(a)), inFrame, []byte(nil), zstdFrame(f, slices.Concat(a, a, a)))
	for _, c := range []struct {
		n    uint16
		size uint32
	}{{4096, 16 << 20}, {1, 16 << 20}, {1, 16<<20 + 1}, {2, 8 << 20}, {2, 8<<20 + 1}, {17, 1 << 20}, {4096, 1<<32 - 1}} {
		f.Add(c.n, c.size, zst, comp, []byte(nil))
		f.Add(c.n, c.size, inFrame, []byte(nil), comp)
	}
	f.Fuzz(func(t *testing.T, n uint16, size uint32, codec uint8, data, frame []byte) {
		n = min(n, uint16(lim.MaxFetchIDs))
		if n == 0 {
			return
		}
		id := chunker.Sum(a)
		cd := &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec(codec), Size: size, Data: data}
		m := &ncsyncv1.FetchChunksResponse{Chunks: slices.Repeat([]*ncsyncv1.ChunkData{cd}, int(n)), Frame: frame}
		chunks, buf, err := decodeResponse(dec, m, slices.Repeat([]chunker.ID{id}, int(n)), lim.MaxChunkBytes, nil)
		announced := uint64(n) * uint64(size)
		if cd.Codec == ncsyncv1.Codec_CODEC_ZSTD && size <= uint32(lim.MaxChunkBytes) && announced > uint64(maxResponseDecoded(lim.MaxChunkBytes)) && (err == nil || len(chunks) > 0) {
			t.Fatalf("accepted %d chunks announcing %d bytes", len(chunks), announced)
		}
		if c := cap(buf); c > maxResponseDecoded(lim.MaxChunkBytes)+MaxFrameBytes {
			t.Fatalf("set %d bytes aside", c)
		}
		for _, ch := range chunks {
			if !bytes.Equal(ch.Data, a) {
				t.Fatalf("accepted %d bytes that are not the chunk", len(ch.Data))
			}
		}
	})
}

// FuzzManifestPage feeds the primary's manifest decoder upload pages with
// counts and string lengths near and past the limits: a page over
// manifestPageEntries is refused, and no accepted entry carries more than
// the limits allow.
func FuzzManifestPage(f *testing.F) {
	id := chunker.Sum(nil)
	entry := func(i int) *ncsyncv1.ManifestEntry {
		return &ncsyncv1.ManifestEntry{Path: fmt.Sprintf("d/%05d", i), Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, FileId: id[:], Size: uint64(i)}
	}
	long := string(bytes.Repeat([]byte("x"), maxTargetLen+1))
	for _, page := range []*ncsyncv1.UploadManifestRequest{
		{Query: 1, FolderId: "f", Entries: []*ncsyncv1.ManifestEntry{entry(1)}},
		{Query: 1, FolderId: "f", Entries: func() []*ncsyncv1.ManifestEntry {
			es := make([]*ncsyncv1.ManifestEntry, manifestPageEntries+1)
			for i := range es {
				es[i] = entry(i)
			}
			return es
		}()},
		{Entries: []*ncsyncv1.ManifestEntry{{Path: "l", Type: ncsyncv1.EntryType_ENTRY_TYPE_SYMLINK, SymlinkTarget: long}}},
		{Entries: []*ncsyncv1.ManifestEntry{{Path: "e", Error: long}, {Path: "s", Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, FileId: id[:], Size: 1<<62 + 1}}},
		{Error: long},
	} {
		b, err := proto.Marshal(page)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		page := &ncsyncv1.UploadManifestRequest{}
		if proto.Unmarshal(data, page) != nil {
			return
		}
		if checkManifestPage(page) != nil {
			return
		}
		if len(page.Entries) > manifestPageEntries {
			t.Fatalf("accepted a page of %d entries", len(page.Entries))
		}
		for _, pe := range page.Entries {
			e, err := ManifestEntryFromWire(pe)
			if err == nil && (len(e.Target) > maxTargetLen || len(e.Err) > maxManifestErr || e.Size < 0 || e.Size > 1<<62) {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

// FuzzChunkListAnswer feeds arbitrary FetchChunkList answers to the
// secondary's decoder: it must not panic, and a list it accepts has the
// count announced, within the limits.
func FuzzChunkListAnswer(f *testing.F) {
	lim := fuzzLimits()
	id := chunker.Sum(nil)
	ref := &ncsyncv1.ChunkRef{Id: id[:], Size: 100}
	enc := func(ms ...*ncsyncv1.FetchChunkListResponse) []byte {
		var out []byte
		for _, m := range ms {
			b, err := proto.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			out = binary.AppendUvarint(out, uint64(len(b)))
			out = append(out, b...)
		}
		return out
	}
	f.Add(enc(&ncsyncv1.FetchChunkListResponse{ChunkCount: 2, Chunks: []*ncsyncv1.ChunkRef{ref}}, &ncsyncv1.FetchChunkListResponse{Chunks: []*ncsyncv1.ChunkRef{ref}}))
	f.Add(enc(&ncsyncv1.FetchChunkListResponse{Missing: true}))
	f.Add(enc(&ncsyncv1.FetchChunkListResponse{ChunkCount: 1 << 62, Chunks: []*ncsyncv1.ChunkRef{ref}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var refs []index.ChunkRef
		var count uint64
		var err error
		first := true
		for len(data) > 0 && err == nil {
			n, k := binary.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				return
			}
			m := &ncsyncv1.FetchChunkListResponse{}
			if proto.Unmarshal(data[k:k+int(n)], m) != nil {
				return
			}
			data = data[k+int(n):]
			refs, count, err = takeChunkList(refs, count, first, m, lim)
			first = false
		}
		if err != nil {
			return
		}
		if uint64(len(refs)) > count || count > uint64(lim.MaxEntryChunks) {
			t.Fatalf("took %d chunks of %d", len(refs), count)
		}
		for _, c := range refs {
			if c.Size == 0 || int64(c.Size) > int64(lim.MaxChunkBytes) {
				t.Fatalf("took a chunk of %d bytes", c.Size)
			}
		}
	})
}

// FuzzPatchedChunk feeds arbitrary patches, raw or zstd, to the
// secondary's patch builder: it must not panic, and a chunk it builds
// must be the one requested.
func FuzzPatchedChunk(f *testing.F) {
	lim := fuzzLimits()
	dec, err := newChunkDecoder(lim)
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	base := randomChunk(1, 20_000)
	next := bytes.Clone(base)
	copy(next[5000:], "an edit")
	id := chunker.Sum(next)
	sb := signBases([]Base{{Chunks: []int{0}, Data: base}}, 1)[0]
	sig, err := patch.DecodeSignature(sb.sig, MaxPatchBase)
	if err != nil {
		f.Fatal(err)
	}
	good := patch.Diff(sig, next)
	f.Add(good, uint32(len(next)), uint32(len(good)), false)
	f.Add(zstdFrame(f, good), uint32(len(next)), uint32(len(good)), true)
	f.Add([]byte{1<<1 | 1, 200}, uint32(2048), uint32(2), false)
	f.Fuzz(func(t *testing.T, data []byte, size, psize uint32, zst bool) {
		cd := &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: size, Patched: true, PatchSize: psize, Data: data}
		if zst {
			cd.Codec = ncsyncv1.Codec_CODEC_ZSTD
		}
		out, err := patchedChunk(dec, cd, id, lim.MaxChunkBytes, sb)
		if err == nil && !bytes.Equal(out, next) {
			t.Fatalf("built %d bytes that are not the chunk", len(out))
		}
	})
}
