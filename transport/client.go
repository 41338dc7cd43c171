package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// maxDecoders is how many chunks a client decodes at once.
const maxDecoders = 4

// connectTimeout bounds one attempt to connect (TCP and TLS).
const connectTimeout = 5 * time.Second

// Client is a secondary's connection to its primary. Its methods are safe
// for concurrent use.
type Client struct {
	addr     string
	lim      Limits
	conn     *grpc.ClientConn
	rpc      ncsyncv1.ReplicationServiceClient
	dec      *zstd.Decoder
	hs       *handshakeState
	check    *serverCheck
	counters chunkCounters
	patches  atomic.Bool // the primary's last Welcome offered chunk patches

	// Chunk streams decode on goroutines of their own: Close ends them
	// (stop) and waits for them before it closes the decoder.
	stop    context.Context
	stopAll context.CancelFunc
	mu      sync.Mutex
	closed  bool
	streams sync.WaitGroup
}

// DialOption tunes Dial.
type DialOption func(*serverCheck)

// WithServerCheck makes every connection of the client refuse a server
// whose verified certificate identity accept refuses (its error says why,
// and is the error of the RPCs that needed the connection). Without it any
// primary of the cluster is accepted.
func WithServerCheck(accept func(pki.Identity) error) DialOption {
	return func(c *serverCheck) { c.accept = accept }
}

// Dial returns a client of the primary at addr, using tlsConf (from
// pki.ClientTLS) within lim; zero fields of lim take their defaults. It does
// not wait for the connection: the first RPC makes it, and fails if the
// server's certificate is not a primary's or is refused by a server check.
// Once a session is welcomed (Sync), the client's later connections are
// accepted only to the node that welcomed it.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, lim Limits, opts ...DialOption) (*Client, error) {
	lim = lim.withDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if tlsConf == nil {
		return nil, fmt.Errorf("dial %q: no TLS configuration", addr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	conf := tlsConf.Clone()
	conf.MinVersion = tls.VersionTLS13
	hs := &handshakeState{}
	check := &serverCheck{}
	for _, o := range opts {
		o(check)
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(&primaryOnly{TransportCredentials: credentials.NewTLS(conf), hs: hs, check: check}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(lim.MaxMessageBytes), grpc.MaxCallSendMsgSize(lim.MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: lim.KeepaliveTime, Timeout: lim.KeepaliveTimeout, PermitWithoutStream: true}),
		// A connection attempt into a dead link gives up after 5 s (gRPC's
		// default is 20 s), so that a secondary tries again soon after the
		// link is back.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: connectTimeout}),
		grpc.WithInitialWindowSize(initialWindowSize),
		grpc.WithInitialConnWindowSize(initialConnWindowSize),
		grpc.WithReadBufferSize(ioBufferSize),
		grpc.WithWriteBufferSize(ioBufferSize),
		grpc.WithMaxHeaderListSize(maxHeaderListBytes),
		grpc.WithDisableServiceConfig(),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	dec, err := newChunkDecoder(lim)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dial %q: zstd decoder: %w", addr, err)
	}
	c := &Client{addr: addr, lim: lim, conn: conn, rpc: ncsyncv1.NewReplicationServiceClient(conn), dec: dec, hs: hs, check: check}
	c.stop, c.stopAll = context.WithCancel(context.Background())
	return c, nil
}

// Close closes the connection; sessions and chunk streams of c fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopAll()
	err := c.conn.Close()
	c.streams.Wait()
	c.dec.Close()
	if err != nil {
		return fmt.Errorf("close connection to %q: %w", c.addr, err)
	}
	return nil
}

// Stats returns a snapshot of the chunk counters.
func (c *Client) Stats() ClientStats {
	k := &c.counters
	return ClientStats{Chunks: k.chunks.Load(), Missing: k.missing.Load(), ChunkBytesRaw: k.raw.Load(), ChunkBytesWire: k.wire.Load()}
}

// ChunkPatches reports whether the primary's last Welcome said it answers
// bases with patches (FetchChunksFrom offers none otherwise).
func (c *Client) ChunkPatches() bool { return c.patches.Load() }

// PatchStats counts the chunks the client built from a patch against a
// base it offered, and the patches that did not build their chunk (which
// it then fetched whole).
func (c *Client) PatchStats() (patched, refused uint64) {
	return c.counters.patched.Load(), c.counters.refused.Load()
}

// TreeHash returns the primary's hash over folder's tree, its entry count
// and sequence.
func (c *Client) TreeHash(ctx context.Context, folder string) (hash chunker.ID, entries, seq uint64, err error) {
	resp, err := c.rpc.TreeHash(ctx, &ncsyncv1.TreeHashRequest{FolderId: folder})
	if err != nil {
		return chunker.ID{}, 0, 0, c.rpcError(fmt.Sprintf("tree hash of %q", folder), err)
	}
	if resp.GetFolderId() != folder {
		return chunker.ID{}, 0, 0, protocolErr("tree hash of %q answered for %q", folder, resp.GetFolderId())
	}
	hash, err = idFromWire(resp.GetHash(), "tree hash")
	if err != nil {
		return chunker.ID{}, 0, 0, fmt.Errorf("tree hash of %q: %w", folder, err)
	}
	return hash, resp.GetEntries(), resp.GetSequence(), nil
}

// rpcError explains a failed RPC: a refused handshake by its own error, a
// deliberate refusal as a *Refusal (errors.go), anything else wrapped.
func (c *Client) rpcError(op string, err error) error {
	st, _ := status.FromError(err)
	if st.Code() == codes.Unavailable {
		if hsErr := c.hs.get(); hsErr != nil {
			return fmt.Errorf("%s: connect to %q: %w", op, c.addr, hsErr)
		}
	}
	if r := refusalFromStatus(st); r != nil {
		return fmt.Errorf("%s: %w", op, r)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// WrongRoleError is the error of a peer whose certificate has the wrong
// role for its place in the connection. It wraps pki.ErrWrongRole.
type WrongRoleError struct {
	Node string
	Role pki.Role
}

func (e *WrongRoleError) Error() string {
	return fmt.Sprintf("server %q presents a %s certificate; refusing to follow it", e.Node, e.Role)
}

func (e *WrongRoleError) Unwrap() error { return pki.ErrWrongRole }

// newChunkDecoder returns the decoder of chunk responses, within lim's
// window and memory bounds.
func newChunkDecoder(lim Limits) (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(maxDecoders),
		zstd.WithDecoderMaxWindow(lim.ZstdMaxWindow),
		zstd.WithDecoderMaxMemory(lim.ZstdMaxMemory),
		// Bound each chunk's output by its announced size while decoding.
		zstd.WithDecodeAllCapLimit(true))
}
