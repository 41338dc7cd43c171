package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestZstdCompressorRoundTrip: messages come back as they were through
// pooled encoders and decoders, one after another and interleaved.
func TestZstdCompressorRoundTrip(t *testing.T) {
	c := encoding.GetCompressor(streamCompressorName)
	if c == nil {
		t.Fatal("the zstd compressor is not registered")
	}
	for i := range 20 {
		msg := bytes.Repeat([]byte(fmt.Sprintf("apps/files/lib/Controller%d.php ", i)), 100*i+1)
		var out bytes.Buffer
		w, err := c.Compress(&out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if i > 2 && out.Len() > len(msg)/4 {
			t.Errorf("message %d: %d bytes compressed to %d", i, len(msg), out.Len())
		}
		r, err := c.Decompress(&out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		r.(io.Closer).Close()
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d differs after the round trip", i)
		}
	}
}

// TestZstdCompressorWindowBound: a frame asking for a larger window than
// streamMaxWindow is refused, not allocated.
func TestZstdCompressorWindowBound(t *testing.T) {
	var frame bytes.Buffer
	enc, err := zstd.NewWriter(&frame, zstd.WithWindowSize(64<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = enc.Write(bytes.Repeat([]byte("x"), 1<<20))
	_ = enc.Close()
	r, err := encoding.GetCompressor(streamCompressorName).Decompress(&frame)
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Error("a frame with a 64 MiB window was decoded")
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestCompressStream: a stream whose handler calls compressStream reaches
// a client of this package's process compressed with zstd.
func TestCompressStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	batch := &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: &ncsyncv1.EntryBatch{FolderId: "data"}}}
	for i := range 4000 {
		batch.GetBatch().Entries = append(batch.GetBatch().Entries, &ncsyncv1.Entry{
			Path: fmt.Sprintf("apps/files_sharing/lib/Controller/ShareAPIController%d.php", i), Sequence: uint64(i + 1),
			Mode: 0o644, MtimeNs: 1_700_000_000_000_000_000 + int64(i), Size: 4096})
	}
	compressed := make(chan bool, 1)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		compressed <- compressStream(stream.Context())
		return stream.SendMsg(batch)
	}))
	go srv.Serve(ln)
	defer srv.Stop()

	var read atomic.Int64
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return countingConn{Conn: c, n: &read}, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, "/test.Test/Stream")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got ncsyncv1.SyncResponse
	if err := stream.RecvMsg(&got); err != nil {
		t.Fatal(err)
	}
	if !<-compressed {
		t.Fatal("compressStream did not choose zstd for a client that accepts it")
	}
	if n := len(got.GetBatch().GetEntries()); n != 4000 {
		t.Fatalf("%d entries received, want 4000", n)
	}
	b, err := proto.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(b))
	if r := read.Load(); r > size/3 {
		t.Errorf("read %d bytes for a message of %d", r, size)
	}
}
