package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// rawServer is a primary that sends whatever the test makes it send, built
// on the generated code alone.
type rawServer struct {
	ncsyncv1.UnimplementedReplicationServiceServer
	sync  func(grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]) error
	fetch func(*ncsyncv1.FetchChunksRequest, grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error
}

func (r *rawServer) Sync(s grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]) error {
	return r.sync(s)
}

func (r *rawServer) FetchChunks(req *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
	return r.fetch(req, s)
}

func startRawServer(t *testing.T, conf *tls.Config, srv *rawServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	ncsyncv1.RegisterReplicationServiceServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// zstdStream compresses data as a stream: the frame does not announce its
// decoded size.
func zstdStream(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdFrame(t testing.TB, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

func TestFetchChunksMalicious(t *testing.T) {
	p := cluster(t)
	text := textChunk(1, 64<<10)
	textID := chunker.Sum(text)
	random := randomChunk(2, 256<<10)
	randomID := chunker.Sum(random)
	zeros := make([]byte, 64<<20)
	bomb := zstdStream(t, zeros)
	zerosID := chunker.Sum(zeros[:64<<10])

	one := func(cd *ncsyncv1.ChunkData) []*ncsyncv1.FetchChunksResponse {
		return []*ncsyncv1.FetchChunksResponse{{Chunks: []*ncsyncv1.ChunkData{cd}}}
	}
	framed := func(frame []byte, cds ...*ncsyncv1.ChunkData) []*ncsyncv1.FetchChunksResponse {
		return []*ncsyncv1.FetchChunksResponse{{Chunks: cds, Frame: frame}}
	}
	repeatID := func(id chunker.ID, n int) []chunker.ID { return slices.Repeat([]chunker.ID{id}, n) }
	repeatCD := func(cd *ncsyncv1.ChunkData, n int) []*ncsyncv1.ChunkData {
		return slices.Repeat([]*ncsyncv1.ChunkData{cd}, n)
	}
	zst, raw, inFrame := ncsyncv1.Codec_CODEC_ZSTD, ncsyncv1.Codec_CODEC_RAW, ncsyncv1.Codec_CODEC_IN_FRAME
	clientLim := Limits{MaxMessageBytes: 1 << 20, MaxChunkBytes: 256 << 10}
	tests := []struct {
		name   string
		ids    []chunker.ID
		send   []*ncsyncv1.FetchChunksResponse
		substr string
		code   codes.Code // instead of ErrProtocol
	}{
		{"zstd frame expands past announced size", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 1000, Data: zstdFrame(t, text)}), "zstd (announced 1000 bytes)", 0},
		{"zstd stream expands past announced size", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 1000, Data: zstdStream(t, text)}), "zstd (announced 1000 bytes)", 0},
		{"zstd bomb", []chunker.ID{zerosID},
			one(&ncsyncv1.ChunkData{Id: zerosID[:], Codec: zst, Size: 64 << 10, Data: bomb}), "zstd (announced 65536 bytes)", 0},
		{"zstd shorter than announced", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 64<<10 + 1, Data: zstdStream(t, text)}), "decoded 65536 bytes, announced 65537", 0},
		{"zstd garbage", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 64 << 10, Data: text}), "zstd", 0},
		{"zstd data of another chunk", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 64 << 10, Data: zstdFrame(t, textChunk(9, 64<<10))}), "does not hash to its id", 0},
		{"raw data of another chunk", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: raw, Size: 64 << 10, Data: textChunk(9, 64<<10)}), "does not hash to its id", 0},
		{"raw size mismatch", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: raw, Size: 100, Data: text}), "65536 bytes, announced 100", 0},
		{"size over MaxChunkBytes", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: zst, Size: 256<<10 + 1, Data: zstdFrame(t, text)}), "outside 1..262144", 0},
		{"unknown codec", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: 9, Size: 64 << 10, Data: text}), "unknown codec 9", 0},
		{"frame expands past announced size", []chunker.ID{textID},
			framed(zstdFrame(t, append(slices.Clone(text), text...)), &ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10}), "frame: zstd (announced 65536 bytes)", 0},
		{"frame bomb", []chunker.ID{zerosID},
			framed(bomb, &ncsyncv1.ChunkData{Id: zerosID[:], Codec: inFrame, Size: 64 << 10}), "frame: zstd (announced 65536 bytes)", 0},
		{"frame shorter than announced", []chunker.ID{textID, textID},
			framed(zstdFrame(t, text), &ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10},
				&ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10}), "decoded 65536 bytes, announced 131072", 0},
		{"frame bytes left over", []chunker.ID{textID, textID},
			framed(zstdFrame(t, append(slices.Clone(text), text...)), &ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10},
				&ncsyncv1.ChunkData{Id: textID[:], Missing: true, Codec: inFrame, Size: 64 << 10}), "bytes left after its chunks", 0},
		{"frame larger than MaxFrameBytes", repeatID(textID, 17),
			framed(zstdFrame(t, text), repeatCD(&ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 256 << 10}, 17)...), "more than 4194304", 0},
		{"frame without chunks in it", []chunker.ID{textID},
			framed(zstdFrame(t, text), &ncsyncv1.ChunkData{Id: textID[:], Codec: raw, Size: 64 << 10, Data: text}), "a frame that no chunk is in", 0},
		{"in-frame chunk without a frame", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10}), "chunks in a frame, but no frame", 0},
		{"in-frame chunk with data", []chunker.ID{textID},
			framed(zstdFrame(t, text), &ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10, Data: text}), "in the frame but has data", 0},
		{"frame of another chunk", []chunker.ID{textID},
			framed(zstdFrame(t, textChunk(9, 64<<10)), &ncsyncv1.ChunkData{Id: textID[:], Codec: inFrame, Size: 64 << 10}), "does not hash to its id", 0},
		{"missing with data", []chunker.ID{textID},
			one(&ncsyncv1.ChunkData{Id: textID[:], Missing: true, Data: text}), "missing but has data", 0},
		{"wrong order", []chunker.ID{textID, randomID}, []*ncsyncv1.FetchChunksResponse{{Chunks: []*ncsyncv1.ChunkData{
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random},
			{Id: textID[:], Codec: raw, Size: uint32(len(text)), Data: text}}}}, "want " + textID.String(), 0},
		{"more chunks than requested", []chunker.ID{textID}, []*ncsyncv1.FetchChunksResponse{{Chunks: []*ncsyncv1.ChunkData{
			{Id: textID[:], Codec: raw, Size: uint32(len(text)), Data: text},
			{Id: textID[:], Codec: raw, Size: uint32(len(text)), Data: text}}}}, "2 chunks in a response when 1 are due", 0},
		{"extra response", []chunker.ID{textID}, []*ncsyncv1.FetchChunksResponse{
			{Chunks: []*ncsyncv1.ChunkData{{Id: textID[:], Codec: raw, Size: uint32(len(text)), Data: text}}},
			{Chunks: []*ncsyncv1.ChunkData{{Id: textID[:], Missing: true}}}}, "more than requested", 0},
		{"fewer chunks", []chunker.ID{textID, randomID}, one(&ncsyncv1.ChunkData{Id: textID[:], Codec: raw, Size: uint32(len(text)), Data: text}),
			"response ended after 1 of 2 chunks", 0},
		{"empty response", []chunker.ID{textID}, []*ncsyncv1.FetchChunksResponse{{}}, "0 chunks in a response", 0},
		{"oversize message", []chunker.ID{randomID, randomID, randomID, randomID, randomID}, []*ncsyncv1.FetchChunksResponse{{Chunks: []*ncsyncv1.ChunkData{
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random},
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random},
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random},
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random},
			{Id: randomID[:], Codec: raw, Size: uint32(len(random)), Data: random}}}}, "larger than max", codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{
				fetch: func(req *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
					for _, m := range tt.send {
						if err := s.Send(m); err != nil {
							return err
						}
					}
					return nil
				}})
			c := dial(t, addr, p.clientTLS(t, "s1"), clientLim)
			cs, err := c.FetchChunks(context.Background(), "f", tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			start := time.Now()
			_, err = readAll(cs)
			t.Logf("error after %v: %v", time.Since(start), err)
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tt.code != codes.OK && status.Code(errors.Unwrap(err)) != tt.code:
				t.Errorf("code %v, want %v", status.Code(errors.Unwrap(err)), tt.code)
			case tt.code == codes.OK && !errors.Is(err, ErrProtocol):
				t.Errorf("error does not wrap ErrProtocol")
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error %q does not contain %q", err, tt.substr)
			}
			if _, err2 := cs.Next(); err2 == nil {
				t.Error("Next after an error succeeded")
			}
		})
	}
}

func TestSyncMalicious(t *testing.T) {
	p := cluster(t)
	welcome := &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: &ncsyncv1.Welcome{ProtocolVersion: ProtocolVersion, ClusterId: p.cluster, Node: "p1"}}}
	batch := func(t *testing.T, tamper func(*ncsyncv1.Entry), es ...index.Entry) *ncsyncv1.SyncResponse {
		ms := collect(t, Batch{Folder: "f", Entries: es}, DefaultLimits())
		if tamper != nil {
			tamper(ms[0].GetBatch().Entries[0])
		}
		return ms[0]
	}
	file := fileEntry("a", 1, 3, 10)
	tests := []struct {
		name       string
		msgs       func(t *testing.T) []*ncsyncv1.SyncResponse
		syncSubstr string // error from Sync, or "" for one from Recv
		substr     string
	}{
		{"wrong chunk count", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{welcome, batch(t, func(e *ncsyncv1.Entry) { e.ChunkCount = 5 }, file), batch(t, nil, fileEntry("b", 2, 1, 1))}
		}, "", "still awaits chunks"},
		{"ends inside a batch", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{welcome, batch(t, func(e *ncsyncv1.Entry) { e.ChunkCount = 5 }, file)}
		}, "", "session ended inside a batch"},
		{"an order inside a batch", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{welcome, batch(t, func(e *ncsyncv1.Entry) { e.ChunkCount = 5 }, file),
				{Msg: &ncsyncv1.SyncResponse_ApplyStaged{ApplyStaged: &ncsyncv1.ApplyStaged{FolderId: "f"}}}}
		}, "", "still awaits chunks"},
		{"apply staged as a batch with entries (protocol 1)", func(t *testing.T) []*ncsyncv1.SyncResponse {
			m := batch(t, nil, file)
			m.GetBatch().ApplyStaged = true
			return []*ncsyncv1.SyncResponse{welcome, m}
		}, "", "(protocol 1)"},
		{"a tree hash query without an id", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{welcome, {Msg: &ncsyncv1.SyncResponse_TreeHashQuery{TreeHashQuery: &ncsyncv1.TreeHashQuery{FolderId: "f"}}}}
		}, "", "tree hash query with folder"},
		{"second welcome", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{welcome, welcome}
		}, "", "unexpected *ncsyncv1.SyncResponse_Welcome"},
		{"batch before welcome", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{batch(t, nil, file)}
		}, "expected a Welcome", ""},
		{"welcome of another protocol", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: &ncsyncv1.Welcome{ProtocolVersion: 1, ClusterId: p.cluster}}}}
		}, "protocol version 1, this secondary speaks 2: upgrade ncsync on every node together", ""},
		{"welcome to another cluster", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: &ncsyncv1.Welcome{ProtocolVersion: ProtocolVersion, ClusterId: "x"}}}}
		}, `welcome to cluster "x"`, ""},
		{"welcome with a folder twice", func(t *testing.T) []*ncsyncv1.SyncResponse {
			return []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: &ncsyncv1.Welcome{ProtocolVersion: ProtocolVersion, ClusterId: p.cluster,
				Folders: []*ncsyncv1.FolderPosition{{FolderId: "a"}, {FolderId: "a"}}}}}}
		}, `folder "a" listed twice`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := tt.msgs(t)
			addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{
				sync: func(s grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]) error {
					if _, err := s.Recv(); err != nil {
						return err
					}
					for _, m := range msgs {
						if err := s.Send(m); err != nil {
							return err
						}
					}
					return nil
				}})
			c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
			sess, _, err := c.Sync(context.Background(), Hello{ClusterID: p.cluster, Node: "s1"})
			if tt.syncSubstr != "" {
				if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.syncSubstr) {
					t.Fatalf("Sync error = %v, want a protocol error with %q", err, tt.syncSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			for {
				_, err = sess.Recv()
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("Recv error = %v, want a protocol error with %q", err, tt.substr)
			}
		})
	}
}

// TestCraftedClient sends bad requests with the generated client alone.
func TestCraftedClient(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{MaxFetchIDs: 10}, src)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(p.clientTLS(t, "s1"))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rpc := ncsyncv1.NewReplicationServiceClient(conn)
	hello := func(mod func(*ncsyncv1.Hello)) *ncsyncv1.SyncRequest {
		h := &ncsyncv1.Hello{ProtocolVersion: ProtocolVersion, ClusterId: p.cluster, Node: "s1", Role: ncsyncv1.Role_ROLE_SECONDARY}
		if mod != nil {
			mod(h)
		}
		return &ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Hello{Hello: h}}
	}
	ack := &ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "f", Sequence: 1}}}
	syncTests := []struct {
		name   string
		send   []*ncsyncv1.SyncRequest
		code   codes.Code
		substr string
	}{
		{"another cluster id", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.ClusterId = "garbage" })}, codes.PermissionDenied, `hello names cluster "garbage"`},
		{"another node", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.Node = "p1" })}, codes.PermissionDenied, `hello names node "p1"`},
		{"primary role", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.Role = ncsyncv1.Role_ROLE_PRIMARY })}, codes.PermissionDenied, "claims role primary"},
		{"bad role", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.Role = 9 })}, codes.InvalidArgument, "invalid role 9"},
		{"protocol version", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.ProtocolVersion = 0 })}, codes.InvalidArgument, "protocol version 0"},
		{"folder twice", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) {
			h.Positions = []*ncsyncv1.FolderPosition{{FolderId: "a"}, {FolderId: "a", Sequence: 3}}
		})}, codes.InvalidArgument, `folder "a" listed twice`},
		{"ack first", []*ncsyncv1.SyncRequest{ack}, codes.InvalidArgument, "must be a Hello"},
		{"hello after welcome", []*ncsyncv1.SyncRequest{hello(nil), ack, hello(nil)}, codes.InvalidArgument, "expected an Ack"},
		{"ack without folder", []*ncsyncv1.SyncRequest{hello(nil), {Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{}}}}, codes.InvalidArgument, "empty folder id"},
		{"tree hash report in an ack (protocol 1)", []*ncsyncv1.SyncRequest{hello(nil), {Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "f",
			TreeHash: &ncsyncv1.TreeHashReport{Query: 1, Error: "x"}}}}}, codes.InvalidArgument, "(protocol 1)"},
		{"tree hash report without folder", []*ncsyncv1.SyncRequest{hello(nil), {Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{Query: 1, Error: "x"}}}},
			codes.InvalidArgument, "tree hash report with folder"},
		{"tree hash report with a short hash", []*ncsyncv1.SyncRequest{hello(nil), {Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{FolderId: "f", Query: 1, Hash: []byte{1}}}}},
			codes.InvalidArgument, "tree hash has 1 bytes"},
		{"hello of protocol 1", []*ncsyncv1.SyncRequest{hello(func(h *ncsyncv1.Hello) { h.ProtocolVersion = 1 })}, codes.InvalidArgument,
			"protocol version 1, this primary speaks 2: upgrade ncsync on every node together"},
	}
	for _, tt := range syncTests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := rpc.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.send {
				if err := s.Send(m); err != nil {
					break
				}
			}
			for err == nil {
				_, err = s.Recv()
			}
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error = %v, want %v with %q", err, tt.code, tt.substr)
			}
		})
	}
	id := chunker.Sum(nil)
	fetchTests := []struct {
		name   string
		req    *ncsyncv1.FetchChunksRequest
		substr string
	}{
		{"short id", &ncsyncv1.FetchChunksRequest{FolderId: "f", Ids: [][]byte{id[:], id[:31]}}, "id 1 has 31 bytes"},
		{"too many ids", &ncsyncv1.FetchChunksRequest{FolderId: "f", Ids: bytes.Split(bytes.Repeat(id[:], 11), nil)[:11]}, "11 ids is outside 1..10"},
		{"no ids", &ncsyncv1.FetchChunksRequest{FolderId: "f"}, "0 ids"},
		{"no folder", &ncsyncv1.FetchChunksRequest{Ids: [][]byte{id[:]}}, "empty folder id"},
	}
	for _, tt := range fetchTests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rpc.FetchChunks(context.Background(), tt.req)
			if err == nil {
				_, err = s.Recv()
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("error = %v, want InvalidArgument with %q", err, tt.substr)
			}
		})
	}
	if _, err := rpc.TreeHash(context.Background(), &ncsyncv1.TreeHashRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("TreeHash without folder: %v", err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.hellos) != 5 { // the valid hellos only
		t.Errorf("source saw %d hellos, want 5", len(src.hellos))
	}
}
