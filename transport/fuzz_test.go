package transport

import (
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
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
	}
	for _, es := range seeds {
		var msgs []*ncsyncv1.SyncResponse
		b := Batch{Folder: "f", Entries: es, Head: 3}
		if err := splitBatch(&b, lim, func(m *ncsyncv1.SyncResponse) error {
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			f.Fatal(err)
		}
		f.Add(encodeMsgs(f, msgs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		batches, _ := assemble(lim, decodeMsgs(data))
		for _, b := range batches {
			if b.Folder == "" || len(b.Entries) > lim.MaxBatchEntries {
				t.Fatalf("accepted batch %q with %d entries", b.Folder, len(b.Entries))
			}
			for i, e := range b.Entries {
				if i > 0 && e.Seq <= b.Entries[i-1].Seq {
					t.Fatalf("accepted seq %d after %d", e.Seq, b.Entries[i-1].Seq)
				}
				if e.Size < 0 || len(e.Chunks) > lim.MaxEntryChunks {
					t.Fatalf("accepted size %d, %d chunks", e.Size, len(e.Chunks))
				}
				if e.Kind == index.KindFile && !e.Deleted {
					var sum int64
					ids := make([]chunker.ID, len(e.Chunks))
					for j, c := range e.Chunks {
						sum += int64(c.Size)
						ids[j] = c.ID
					}
					if sum != e.Size || chunker.FileID(ids) != e.FileID {
						t.Fatalf("accepted inconsistent file %q", e.Path)
					}
				}
			}
		}
	})
}

// FuzzDecodeChunk feeds arbitrary chunk data to the secondary's chunk
// decoder: it must not panic, and what it accepts must be the chunk.
func FuzzDecodeChunk(f *testing.F) {
	lim := fuzzLimits()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(lim.ZstdMaxWindow),
		zstd.WithDecoderMaxMemory(lim.ZstdMaxMemory), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		f.Fatal(err)
	}
	text := textChunk(1, 5000)
	f.Add(text, uint32(len(text)), int32(ncsyncv1.Codec_CODEC_RAW), false, false)
	f.Add(enc.EncodeAll(text, nil), uint32(len(text)), int32(ncsyncv1.Codec_CODEC_ZSTD), false, false)
	f.Add(enc.EncodeAll(text, nil), uint32(100), int32(ncsyncv1.Codec_CODEC_ZSTD), false, false)
	f.Add([]byte{}, uint32(0), int32(0), true, false)
	f.Add([]byte("x"), uint32(1), int32(ncsyncv1.Codec_CODEC_RAW), false, true)
	enc.Close()
	f.Fuzz(func(t *testing.T, data []byte, size uint32, codec int32, missing, wrongID bool) {
		// The id is the hash of what the data would decode to, so that
		// valid inputs pass.
		want := text
		if ncsyncv1.Codec(codec) == ncsyncv1.Codec_CODEC_RAW {
			want = data
		}
		id := chunker.Sum(want)
		if wrongID {
			id[0] ^= 1
		}
		cd := &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec(codec), Size: size, Data: data, Missing: missing}
		var buf []byte
		got, isMissing, err := decodeChunk(dec, cd, id, lim.MaxChunkBytes, &buf)
		if err != nil || isMissing {
			return
		}
		if len(got) != int(size) || chunker.Sum(got) != id || len(got) > lim.MaxChunkBytes {
			t.Fatalf("accepted %d bytes (announced %d) that do not match", len(got), size)
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
	} {
		b, err := proto.Marshal(m)
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
		if pa := m.GetAck(); pa != nil {
			a, err := ackFromWire(pa, lim)
			if err == nil && (a.Folder == "" || len(a.Failures) > lim.MaxBatchEntries) {
				t.Fatalf("accepted ack %+v", a)
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
