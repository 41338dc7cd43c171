package transport

import (
	"context"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// Compressing a session's messages. The entries of an initial copy of the
// bench's webroot (20,000 files, 124 MiB) are 3.9 MB, an eighth of what
// goes to the secondary once the chunks are compressed: paths, modes,
// times and chunk lists, which zstd fastest takes to 2.1 MB (the 64 bytes
// of ids of each file do not shrink). A primary
// compresses its Sync stream with zstd when the secondary advertises it
// (gRPC's grpc-accept-encoding, which a client fills with the compressors
// its process registered); a secondary that does not know it gets the
// stream as it was. Chunk streams are not compressed again: their chunks
// are compressed already, or not worth it.

// streamCompressorName is the gRPC name of the zstd message compressor.
const streamCompressorName = "zstd"

// Bounds of the message compressor.
const (
	// streamWindow is the encoder's window: a batch message is at most a
	// few MiB, and each pooled decoder keeps a window of history.
	streamWindow = 1 << 20
	// streamMaxWindow and streamMaxMemory bound what a peer's frame may
	// make a decoder allocate; gRPC bounds the decoded message itself.
	streamMaxWindow = 8 << 20
	streamMaxMemory = 64 << 20
)

func init() { encoding.RegisterCompressor(&zstdCompressor{}) }

// zstdCompressor is a gRPC encoding.Compressor with pooled encoders and
// decoders. Safe for concurrent use.
type zstdCompressor struct {
	encoders, decoders sync.Pool
}

func (*zstdCompressor) Name() string { return streamCompressorName }

func (c *zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	enc, _ := c.encoders.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		enc, err = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(streamWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
	} else {
		enc.Reset(w)
	}
	return &zstdWriter{Encoder: enc, pool: &c.encoders}, nil
}

// zstdWriter returns its encoder to the pool when closed.
type zstdWriter struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (w *zstdWriter) Close() error {
	err := w.Encoder.Close()
	w.Encoder.Reset(nil)
	w.pool.Put(w.Encoder)
	w.Encoder = nil
	return err
}

func (c *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	dec, _ := c.decoders.Get().(*zstd.Decoder)
	if dec == nil {
		var err error
		dec, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(streamMaxWindow), zstd.WithDecoderMaxMemory(streamMaxMemory))
		if err != nil {
			return nil, err
		}
	} else if err := dec.Reset(r); err != nil {
		c.decoders.Put(dec)
		return nil, err
	}
	return &zstdReader{dec: dec, pool: &c.decoders}, nil
}

// zstdReader returns its decoder to the pool when closed (gRPC closes it
// after reading the message).
type zstdReader struct {
	dec  *zstd.Decoder
	pool *sync.Pool
}

func (r *zstdReader) Read(p []byte) (int, error) {
	if r.dec == nil {
		return 0, io.ErrClosedPipe
	}
	return r.dec.Read(p)
}

func (r *zstdReader) Close() error {
	if r.dec != nil {
		_ = r.dec.Reset(nil)
		r.pool.Put(r.dec)
		r.dec = nil
	}
	return nil
}

// compressStream makes the stream of the server handler's ctx send its
// messages compressed with zstd when the client accepts it, and reports
// whether it does.
func compressStream(ctx context.Context) bool {
	names, err := grpc.ClientSupportedCompressors(ctx)
	if err != nil || !slices.Contains(names, streamCompressorName) {
		return false
	}
	return grpc.SetSendCompressor(ctx, streamCompressorName) == nil
}
