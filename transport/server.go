package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Flow-control windows for bulk transfer, larger than gRPC's 64 KiB default
// so that one stream can fill a fast link without waiting for updates.
// Fixed windows turn off gRPC-Go's BDP estimation; they were measured
// against it at 100 Mbit/s with 100 ms RTT (4 MiB is three times that
// link's bandwidth-delay product): 95 % of the link against 94 %, and
// 13.4 against 17.7 CPU-seconds for the same copy (docs/benchmarks.md).
const (
	initialWindowSize     = 4 << 20
	initialConnWindowSize = 16 << 20
	// ioBufferSize is the read and write buffer of each connection.
	ioBufferSize = 256 << 10
	// handshakeTimeout bounds a connection's TLS handshake.
	handshakeTimeout = 10 * time.Second
	// maxHeaderListBytes bounds request headers; ncsync sends few.
	maxHeaderListBytes = 16 << 10
)

// stopGrace is how long Stop lets running RPCs finish before closing
// connections.
const stopGrace = 5 * time.Second

// errServerStopping ends sessions when the server stops.
var errServerStopping = errors.New("primary is shutting down")

// Server serves the replication service of a primary to verified
// secondaries. Create it with NewServer.
type Server struct {
	grpc *grpc.Server
	lim  Limits
	err  error // invalid configuration, returned by Serve
	src  Source
	log  *slog.Logger
	enc  *zstd.Encoder // zstd fastest
	// encBetter is zstd level 3, for peers whose chunk streams wait on
	// the link (codecTuner).
	encBetter *zstd.Encoder
	// recheck verifies a caller's certificate again at every RPC (the
	// TLS configuration's own check: revocation list as last loaded,
	// validity), so that a certificate revoked since its connection was
	// made calls nothing more.
	recheck func(tls.ConnectionState) error

	// stopping is cancelled by Stop to end Sync sessions, which would
	// otherwise hold a graceful stop until its bound.
	stopping context.Context
	stop     context.CancelFunc

	bw bandwidth // caps on the chunk bytes sent (SetBandwidth)

	// frames shares prepared chunks among the secondaries while more
	// than one has a session (sessions).
	frames   *frameCache
	sessions atomic.Int32
	// fixedCodec turns the codec tuning off (zstd fastest always), for
	// tests that check how chunks are encoded.
	fixedCodec bool
	// conns are the connections' sockets, asked whether a stream waits on
	// the link (see linkprobe.go).
	conns connTable

	mu    sync.Mutex
	peers map[string]*peerState
}

// NewServer returns a Server that serves src over TLS with tlsConf (from
// pki.ServerTLS) within lim; zero fields of lim take their defaults. A
// configuration error is returned by Serve.
func NewServer(tlsConf *tls.Config, lim Limits, src Source, log *slog.Logger) *Server {
	lim = lim.withDefaults()
	s := &Server{lim: lim, src: src, log: log, peers: make(map[string]*peerState), frames: newFrameCache(frameCacheBytes)}
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.bw.init()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.err = lim.Validate(); s.err == nil && tlsConf == nil {
		s.err = errors.New("transport server: no TLS configuration")
	}
	if s.err == nil && src == nil {
		s.err = errors.New("transport server: no Source")
	}
	enc, err := newChunkEncoder(zstd.SpeedFastest)
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("transport server: zstd encoder: %w", err)
	}
	s.enc = enc
	s.encBetter, err = newChunkEncoder(zstd.SpeedDefault)
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("transport server: zstd encoder: %w", err)
	}
	if s.err != nil {
		return s
	}
	conf := tlsConf.Clone()
	conf.MinVersion = tls.VersionTLS13
	s.recheck = conf.VerifyConnection
	s.grpc = grpc.NewServer(
		grpc.Creds(&loggedServerCreds{TransportCredentials: credentials.NewTLS(conf), log: s.log, conns: &s.conns}),
		grpc.MaxRecvMsgSize(lim.MaxMessageBytes),
		grpc.MaxSendMsgSize(lim.fetchMessageBytes()),
		grpc.MaxConcurrentStreams(lim.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: lim.KeepaliveTime, Timeout: lim.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: lim.KeepaliveTime / 2, PermitWithoutStream: true}),
		grpc.InitialWindowSize(initialWindowSize),
		grpc.InitialConnWindowSize(initialConnWindowSize),
		grpc.ReadBufferSize(ioBufferSize),
		grpc.WriteBufferSize(ioBufferSize),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.WaitForHandlers(true),
		experimental.BufferPool(messageBuffers),
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
	)
	ncsyncv1.RegisterReplicationServiceServer(s.grpc, &service{s: s})
	return s
}

// messageBuffers hold the server's marshalled messages. gRPC's default
// pool has no size between 32 KiB and 1 MiB, so every response of chunks
// took a 1 MiB buffer whatever its size; with a size class at each power
// of two a buffer is at most twice its message.
var messageBuffers = mem.NewTieredBufferPool(1<<8, 1<<12, 1<<14, 1<<15, 1<<16, 1<<17, 1<<18, 1<<19, 1<<20)

// encoderWindow is the zstd window of the chunk encoders: a power of two
// above the largest shared frame (frameBytes+maxFramedChunk), so every
// frame and every chunk of the default chunker is one single-segment frame
// that matches across all of its input. Each of an encoder's concurrent
// states keeps a history buffer of about this size (with
// WithLowerEncoderMem; twice it without), so a larger window only costs
// memory.
const encoderWindow = 2 << 20

// newChunkEncoder returns the shared encoder of chunks and frames at level.
func newChunkEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithLowerEncoderMem(true),
		// BLAKE3 ids verify the data; a frame checksum adds nothing.
		zstd.WithEncoderCRC(false))
}

// Serve accepts connections on lis until Stop. It returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	if s.err != nil {
		return s.err
	}
	if err := s.grpc.Serve(lis); err != nil {
		return fmt.Errorf("serve %q: %w", lis.Addr().String(), err)
	}
	return nil
}

// Stop ends all sessions, lets running chunk transfers finish for a short
// bound, then closes every connection. It returns when all handlers have
// returned.
func (s *Server) Stop() {
	s.stop()
	if s.grpc != nil {
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		t := time.NewTimer(stopGrace)
		select {
		case <-done:
		case <-t.C:
			s.grpc.Stop()
			<-done
		}
		t.Stop()
	}
	if s.enc != nil {
		_ = s.enc.Close()
	}
}

// peerKey is the context key of the verified Peer of an RPC.
type peerKey struct{}

// peerFrom returns the Peer that streamAuth or unaryAuth stored in ctx.
func peerFrom(ctx context.Context) Peer {
	p, _ := ctx.Value(peerKey{}).(Peer)
	return p
}

// authenticate returns the verified identity of an RPC's caller. It runs
// before every RPC (unaryAuth, streamAuth), so no handler can forget it:
// the caller must be a secondary of this cluster (the TLS configuration
// checked the CA and the cluster at the handshake, and its check is run
// again here) that the Source admits (Source.Admit: one of the primary's
// secondaries, as configured now).
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "connection is not TLS")
	}
	id, err := pki.PeerIdentity(info.State)
	if err == nil && s.recheck != nil {
		err = s.recheck(info.State)
	}
	if err != nil {
		s.log.Warn("refused peer certificate", "addr", p.Addr.String(), "method", method, "err", err)
		return nil, status.Errorf(codes.Unauthenticated, "peer certificate: %v", err)
	}
	if id.Role != pki.RoleSecondary {
		s.log.Warn("refused peer with wrong role", "node", id.Node, "role", id.Role.String(), "addr", p.Addr.String(), "method", method)
		return nil, refusalError(Refuse(ErrNotMember, "peer %q has role %s; only secondaries may connect", id.Node, id.Role))
	}
	pe := Peer{Node: id.Node, ClusterID: id.ClusterID, Role: id.Role, Addr: p.Addr.String()}
	if err := s.src.Admit(pe); err != nil {
		s.log.Warn("refused peer", "node", id.Node, "addr", p.Addr.String(), "method", method, "err", err)
		r, ok := errors.AsType[*Refusal](err)
		if !ok {
			r = &Refusal{Reason: ErrNotMember, Msg: err.Error()}
		}
		return nil, refusalError(r)
	}
	return context.WithValue(ctx, peerKey{}, pe), nil
}

// tlsState returns the TLS state of the connection of an RPC's context.
func tlsState(ctx context.Context) *tls.ConnectionState {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil
	}
	return &info.State
}

// Recheck verifies the certificate of every running session again (as
// every new RPC is: see authenticate) and ends the sessions whose
// certificate no longer passes, after the revocation list was reloaded.
// It returns how many it ended.
func (s *Server) Recheck() int {
	if s.recheck == nil {
		return 0
	}
	s.mu.Lock()
	peers := make(map[string]*peerState, len(s.peers))
	for n, ps := range s.peers {
		peers[n] = ps
	}
	s.mu.Unlock()
	ended := 0
	for node, ps := range peers {
		ps.mu.Lock()
		slot := ps.session
		ps.mu.Unlock()
		if slot == nil || slot.tls == nil {
			continue
		}
		if err := s.recheck(*slot.tls); err != nil {
			s.log.Warn("ended the session of a peer whose certificate no longer passes", "peer", node, "err", err)
			slot.cancel(fmt.Errorf("peer certificate: %w", err))
			ended++
		}
	}
	return ended
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

// authedStream carries the verified Peer in its context.
type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

// service implements the generated service interface; it is separate from
// Server so that the RPC methods are not part of Server's API.
type service struct {
	ncsyncv1.UnimplementedReplicationServiceServer
	s *Server
}

// statusOf converts an error of the Source (or of sending) to the status
// the peer sees.
func statusOf(ctx context.Context, op string, err error) error {
	if st, ok := refusalStatus(err); ok {
		return st.Err()
	}
	switch {
	case errors.Is(err, errServerStopping) || errors.Is(context.Cause(ctx), errServerStopping):
		return status.Error(codes.Unavailable, errServerStopping.Error())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "%s: %v", op, err)
}
