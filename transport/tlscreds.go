package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/ncsync/ncsync/pki"
)

// handshakeState remembers why the last handshake failed, for errors of
// the RPCs it made fail (gRPC reports them as a bare "unavailable").
type handshakeState struct {
	mu  sync.Mutex
	err error
}

func (h *handshakeState) set(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

func (h *handshakeState) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// primaryOnly completes the TLS handshake only with a server whose
// certificate names a primary that the client's server check accepts, so
// that no request reaches anything else, and only once the server has
// accepted this node's certificate.
type primaryOnly struct {
	credentials.TransportCredentials
	hs    *handshakeState
	check *serverCheck
}

// serverCheck decides which primary a client's connections may reach: the
// caller's check (Dial's WithServerCheck), and once a session was
// welcomed, only the node that welcomed it (pin), so that a reconnect
// under the same Client (for chunks, say) cannot land on another server.
type serverCheck struct {
	accept func(pki.Identity) error // nil: any primary of the cluster
	pinned atomic.Pointer[string]
}

func (c *serverCheck) verify(id pki.Identity) error {
	if p := c.pinned.Load(); p != nil && id.Node != *p {
		return fmt.Errorf("server presents the certificate of node %q, but this connection follows node %q", id.Node, *p)
	}
	if c.accept != nil {
		return c.accept(id)
	}
	return nil
}

// pin restricts later connections to node.
func (c *serverCheck) pin(node string) { c.pinned.Store(&node) }

func (p *primaryOnly) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := p.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		p.hs.set(err)
		return nil, nil, err
	}
	info, ok := ai.(credentials.TLSInfo)
	if !ok {
		err = errors.New("connection is not TLS")
	} else {
		var id pki.Identity
		if id, err = pki.PeerIdentity(info.State); err == nil && id.Role != pki.RolePrimary {
			err = &WrongRoleError{Node: id.Node, Role: id.Role}
		} else if err == nil {
			err = p.check.verify(id)
		}
	}
	if err == nil {
		conn, err = awaitAcceptance(ctx, conn)
	}
	if err != nil {
		_ = conn.Close()
		p.hs.set(err)
		return nil, nil, err
	}
	p.hs.set(nil)
	return conn, ai, nil
}

func (p *primaryOnly) Clone() credentials.TransportCredentials {
	return &primaryOnly{TransportCredentials: p.TransportCredentials.Clone(), hs: p.hs, check: p.check}
}

// awaitAcceptance reads the server's first bytes before anything is
// written. In TLS 1.3 the client's handshake ends before the server has
// checked the client's certificate; a server that rejects it answers with
// an alert, which would otherwise surface as a broken pipe on the client's
// first write. A gRPC server sends its HTTP/2 settings at once, so an
// accepting server is not waited for; what was read is replayed.
func awaitAcceptance(ctx context.Context, conn net.Conn) (net.Conn, error) {
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return conn, err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err == nil {
		err = conn.SetReadDeadline(time.Time{})
	}
	var op *net.OpError
	switch {
	case err == nil:
		return &replayConn{Conn: conn, pending: buf[:n]}, nil
	case errors.As(err, &op) && op.Op == "remote error":
		return conn, fmt.Errorf("the primary rejected this node's certificate (%w): it must be issued by the cluster CA (ncsync certs issue) for this node", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return conn, fmt.Errorf("the primary sent nothing after the TLS handshake: %w", err)
	}
	return conn, fmt.Errorf("the primary closed the connection after the TLS handshake: %w", err)
}

// replayConn returns pending before reading from Conn.
type replayConn struct {
	net.Conn
	pending []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// loggedServerCreds logs failed handshakes: the remote end only sees a TLS
// alert, the reason is here.
// It also keeps each connection's socket in conns (see connTable).
type loggedServerCreds struct {
	credentials.TransportCredentials
	log   *slog.Logger
	conns *connTable
}

func (l *loggedServerCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := l.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		l.log.Warn("refused TLS connection", "addr", raw.RemoteAddr().String(), "err", err)
		return conn, ai, err
	}
	if l.conns != nil {
		conn = l.conns.track(raw, conn)
	}
	return conn, ai, err
}

func (l *loggedServerCreds) Clone() credentials.TransportCredentials {
	return &loggedServerCreds{TransportCredentials: l.TransportCredentials.Clone(), log: l.log, conns: l.conns}
}
