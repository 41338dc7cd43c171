package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// replyQueue is how many received replies (acks, tree hash reports) may wait
// for the Source.
const replyQueue = 64

var (
	errSessionReplaced = errors.New("session replaced by a newer one from the same node")
	errSessionEnded    = errors.New("session ended")
)

// Sync runs one secondary's session: Hello, Welcome, then messages out and
// replies in until the Source's Serve returns.
func (v *service) Sync(stream grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]) error {
	s := v.s
	peer := peerFrom(stream.Context())
	compressStream(stream.Context()) // before anything is sent
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ph := first.GetHello()
	if ph == nil {
		return status.Error(codes.InvalidArgument, "the first message of a session must be a Hello")
	}
	h, err := helloFromWire(ph)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := checkHello(peer, h); err != nil {
		s.log.Warn("refused hello", "peer", peer.Node, "addr", peer.Addr, "err", err)
		return refusalError(err)
	}

	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(errSessionEnded)
	defer context.AfterFunc(s.stopping, func() { cancel(errServerStopping) })()
	release, err := s.peer(peer.Node).claimSession(ctx, cancel, tlsState(stream.Context()))
	if err != nil {
		return sessionStatus(ctx, "sync", err)
	}
	defer release()
	s.sessions.Add(1)
	defer s.sessions.Add(-1)

	log := s.log.With("peer", peer.Node, "addr", peer.Addr)
	w, err := s.src.Welcome(ctx, peer, h)
	if err != nil {
		log.Info("session refused", "err", err)
		return sessionStatus(ctx, "welcome", err)
	}
	w.Heartbeat = 0
	w.ChunkPatches = true // FetchChunks answers bases with patches
	if h.Heartbeat > 0 {
		w.Heartbeat = s.lim.heartbeatInterval()
	}
	if err := stream.Send(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: welcomeToWire(w)}}); err != nil {
		return err
	}
	var sendMu sync.Mutex
	var sent atomic.Int64 // unix ns of the last message sent
	sent.Store(time.Now().UnixNano())
	stopHB := heartbeats(ctx, w.Heartbeat, &sent, func() error {
		sendMu.Lock()
		defer sendMu.Unlock()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		err := stream.Send(heartbeatResponse)
		sent.Store(time.Now().UnixNano())
		return err
	})
	defer stopHB()
	log.Info("session started", "epoch", w.Epoch, "peer_epoch", h.Epoch) // peer_epoch: the newest the peer had seen (0 on its first session)

	// The reply reader ends when the stream does, which returning from
	// this handler causes (gRPC offers no way to interrupt a Recv
	// otherwise); after that it only closes replies.
	replies := make(chan Reply, replyQueue)
	go readReplies(ctx, cancel, stream, s.lim, s.lim.idleTimeout(h.Heartbeat), replies)

	send := func(msg Message) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return sendMessage(msg, s.lim, func(m *ncsyncv1.SyncResponse) error {
			err := stream.Send(m)
			sent.Store(time.Now().UnixNano())
			return err
		})
	}
	err = s.src.Serve(ctx, peer, h, send, replies)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrProtocol):
		log.Warn("session ended: bad message from peer", "err", cause)
		return status.Error(codes.InvalidArgument, cause.Error())
	case errors.Is(cause, errIdle):
		log.Warn("session ended: peer silent", "err", cause)
		return status.Error(codes.Unavailable, cause.Error())
	}
	if err != nil {
		log.Info("session ended", "err", err)
		return sessionStatus(ctx, "serve", err)
	}
	log.Info("session ended")
	return nil
}

// checkHello checks a Hello against the peer's certificate.
func checkHello(peer Peer, h Hello) *Refusal {
	switch {
	case h.ClusterID != peer.ClusterID:
		return Refuse(ErrNotMember, "hello names cluster %q, but the certificate of node %q is for cluster %q", h.ClusterID, peer.Node, peer.ClusterID)
	case h.Node != peer.Node:
		return Refuse(ErrNotMember, "hello names node %q, but the certificate is for node %q", h.Node, peer.Node)
	case h.Role != "" && h.Role != pki.RoleSecondary:
		return Refuse(ErrNotMember, "hello of node %q claims role %s; only secondaries may follow", peer.Node, h.Role)
	}
	return nil
}

// readReplies passes the peer's acks and tree hash reports to replies
// until the stream ends, then closes replies. Anything but a valid Ack,
// TreeHashReport or Heartbeat cancels the session with an ErrProtocol
// cause.
//
// A Recv that waits longer than idle (0: no limit) cancels the session
// with an errIdle cause.
func readReplies(ctx context.Context, cancel context.CancelCauseFunc, stream grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse], lim Limits, idle time.Duration, replies chan<- Reply) {
	defer close(replies)
	watch := newIdleWatch(idle, func() { cancel(idleError("secondary", idle)) })
	for {
		watch.arm()
		m, err := stream.Recv()
		watch.disarm()
		if err != nil {
			return
		}
		r, err := replyFromWire(m, lim)
		if err != nil {
			cancel(err)
			return
		}
		if r == nil { // a heartbeat
			continue
		}
		select {
		case replies <- r:
		case <-ctx.Done():
			return
		}
	}
}

// claimSession makes the caller the peer's only session: it ends a running
// one and waits for it. release must be called when the session ends.
func (ps *peerState) claimSession(ctx context.Context, cancel context.CancelCauseFunc, state *tls.ConnectionState) (release func(), err error) {
	me := &sessionSlot{cancel: cancel, done: make(chan struct{}), tls: state}
	for {
		ps.mu.Lock()
		prev := ps.session
		if prev == nil {
			ps.session = me
			ps.mu.Unlock()
			return func() {
				ps.mu.Lock()
				if ps.session == me {
					ps.session = nil
				}
				ps.mu.Unlock()
				close(me.done)
			}, nil
		}
		ps.mu.Unlock()
		prev.cancel(errSessionReplaced)
		select {
		case <-prev.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// sessionStatus is statusOf with the session's own reasons to end.
func sessionStatus(ctx context.Context, op string, err error) error {
	if errors.Is(context.Cause(ctx), errSessionReplaced) {
		return status.Error(codes.Aborted, errSessionReplaced.Error())
	}
	return statusOf(ctx, op, err)
}
