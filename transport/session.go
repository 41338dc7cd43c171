package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Session is a secondary's replication session with its primary.
type Session struct {
	c      *Client
	stream grpc.BidiStreamingClient[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]
	cancel context.CancelFunc
	asm    assembler
	err    error // sticky error of Recv

	idle   *idleWatch   // ends a Recv that waits longer than the idle timeout
	sent   atomic.Int64 // unix ns of the last message sent
	stopHB func()       // ends the heartbeats

	sendMu sync.Mutex
}

// Sync opens a session: it sends h and waits for the primary's Welcome. A
// refusal comes back as an error wrapping a *Refusal with the primary's
// message. An empty h.Role means secondary.
func (c *Client) Sync(ctx context.Context, h Hello) (*Session, Welcome, error) {
	if h.Role == "" {
		h.Role = pki.RoleSecondary
	}
	h.Heartbeat = c.lim.heartbeatInterval()
	ph, err := helloToWire(h)
	if err != nil {
		return nil, Welcome{}, fmt.Errorf("sync with %q: %w", c.addr, err)
	}
	op := fmt.Sprintf("sync with %q", c.addr)
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.Sync(ctx)
	if err != nil {
		cancel()
		return nil, Welcome{}, c.rpcError(op, err)
	}
	if err := stream.Send(&ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Hello{Hello: ph}}); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream ended; its status comes with Recv.
			_, err = stream.Recv()
		}
		cancel()
		return nil, Welcome{}, c.rpcError(op, err)
	}
	m, err := stream.Recv()
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, Welcome{}, fmt.Errorf("%s: %w", op, protocolErr("session ended before a Welcome"))
		}
		return nil, Welcome{}, c.rpcError(op, err)
	}
	pw := m.GetWelcome()
	if pw == nil {
		cancel()
		return nil, Welcome{}, fmt.Errorf("%s: %w", op, protocolErr("expected a Welcome, got %T", m.GetMsg()))
	}
	w, err := welcomeFromWire(pw)
	if err == nil && w.ClusterID != h.ClusterID {
		err = protocolErr("welcome to cluster %q, this node is in cluster %q", w.ClusterID, h.ClusterID)
	}
	if err == nil {
		err = checkWelcome(stream.Context(), w)
	}
	if err != nil {
		cancel()
		return nil, Welcome{}, fmt.Errorf("%s: %w", op, err)
	}
	c.check.pin(w.Node)
	c.patches.Store(w.ChunkPatches)
	sess := &Session{c: c, stream: stream, cancel: cancel, asm: assembler{lim: c.lim}}
	sess.idle = newIdleWatch(c.lim.idleTimeout(w.Heartbeat), cancel)
	sess.sent.Store(time.Now().UnixNano())
	sess.stopHB = func() {}
	if w.Heartbeat > 0 {
		sess.stopHB = heartbeats(ctx, c.lim.heartbeatInterval(), &sess.sent, func() error {
			return sess.send(heartbeatRequest)
		})
	}
	return sess, w, nil
}

// send sends m on the stream, one message at a time.
func (s *Session) send(m *ncsyncv1.SyncRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	err := s.stream.Send(m)
	if err == nil {
		s.sent.Store(time.Now().UnixNano())
	}
	return err
}

// checkWelcome checks a Welcome against the certificate of the server that
// sent it (the connection of the stream whose context is ctx): the node it
// names must be the certificate's. Identity is the certificate's, never
// the message's.
func checkWelcome(ctx context.Context, w Welcome) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return errors.New("no peer information for the session")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return errors.New("session is not over TLS")
	}
	id, err := pki.PeerIdentity(info.State)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if w.Node != id.Node {
		return &ImpersonationError{Cert: id.Node, Claimed: w.Node}
	}
	return nil
}

// ImpersonationError is a Welcome that names another node than the
// certificate of the server that sent it.
type ImpersonationError struct {
	Cert, Claimed string
}

func (e *ImpersonationError) Error() string {
	return fmt.Sprintf("the server's certificate is for node %q but its welcome claims node %q: refusing to follow it (a node impersonating another)", e.Cert, e.Claimed)
}

// Recv returns the primary's next message (a Batch, an ApplyStaged, a
// TreeHashQuery, a VerifyQuery or a PauseState), converted and structurally checked:
// sizes and counts within Limits, 32-byte ids, strictly increasing
// sequences, chunk counts and sizes that add up, file ids that match their
// chunks, a folder and an id on each query. A file's chunk list sent in
// parts is returned whole; one sent as a delta comes in Batch.Deltas, for
// the caller to build (its Hello said it would). A batch the primary sent
// may arrive as several consecutive batches (split to fit messages).
// Paths are not checked here. io.EOF means the primary ended the session;
// after any other error the session is unusable.
func (s *Session) Recv() (Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	m, err := s.recv()
	if err != nil {
		s.err = err
		s.cancel()
	}
	return m, err
}

func (s *Session) recv() (Message, error) {
	for {
		s.idle.arm()
		m, err := s.stream.Recv()
		s.idle.disarm()
		if err != nil && s.idle.expired() {
			return nil, idleError(fmt.Sprintf("receive from %q", s.c.addr), s.idle.timeout)
		}
		if errors.Is(err, io.EOF) {
			if s.asm.active {
				return nil, protocolErr("session ended inside a batch")
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, s.c.rpcError(fmt.Sprintf("receive from %q", s.c.addr), err)
		}
		msg, err := s.asm.next(m)
		if err != nil {
			return nil, fmt.Errorf("receive from %q: %w", s.c.addr, err)
		}
		if msg != nil {
			return msg, nil
		}
	}
}

// Ack tells the primary what has been durably applied. It is safe to call
// concurrently with Recv.
func (s *Session) Ack(a Ack) error {
	if a.Folder == "" {
		return errors.New("ack: empty folder id")
	}
	err := s.send(&ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Ack{Ack: ackToWire(a)}})
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("ack %q seq %d to %q: session ended", a.Folder, a.Seq, s.c.addr)
	}
	if err != nil {
		return fmt.Errorf("ack %q seq %d to %q: %w", a.Folder, a.Seq, s.c.addr, err)
	}
	return nil
}

// ReportTreeHash answers a TreeHashQuery. It is safe to call concurrently
// with Recv and Ack.
func (s *Session) ReportTreeHash(r TreeHashReport) error {
	m, err := treeHashReportToWire(r)
	if err != nil {
		return err
	}
	err = s.send(m)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("tree hash report %d of %q to %q: session ended", r.Query, r.Folder, s.c.addr)
	}
	if err != nil {
		return fmt.Errorf("tree hash report %d of %q to %q: %w", r.Query, r.Folder, s.c.addr, err)
	}
	return nil
}

// Close ends the session. It may be called concurrently with Recv, which
// then fails.
func (s *Session) Close() error {
	s.cancel()
	s.stopHB()
	return nil
}
