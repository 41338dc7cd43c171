// Package control is the daemon's local control socket: a gRPC service on a
// unix socket that the ncsync command line uses for status, barrier, pause
// and the other operator commands. Every call is checked against the
// caller's kernel-reported credentials (see Listen).
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/report"
)

// Node is what the control service asks of the running daemon. Its methods
// are called concurrently.
type Node interface {
	Status(ctx context.Context) (report.Node, error)
}

// Listen creates the control socket at path: its directory 0750 and the
// socket 0660, both owned by groups.Read (or groups.Admin when Read is
// empty) so that members of that group can reach it. A stale socket left
// by a crash is replaced; a socket with a live daemon behind it is an
// error.
//
// The file modes keep others out; in addition the server checks every
// call's peer credentials (SO_PEERCRED, SO_PEERGROUPS): root and the
// daemon's own user may run every command, members of groups.Admin too,
// members of groups.Read the read-only ones (status, conflicts, verify, changes),
// anyone else nothing.
func Listen(path string, groups Groups) (*Listener, error) {
	readers, err := resolveGroup("control_group", groups.Read)
	if err != nil {
		return nil, err
	}
	admins, err := resolveGroup("control_admin_group", groups.Admin)
	if err != nil {
		return nil, err
	}
	gid := readers.gid
	if gid < 0 {
		gid = admins.gid
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return nil, fmt.Errorf("control socket directory: %w", err)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s exists and is not a socket: remove it or choose another control_socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use: is another ncsync daemon running with this config?", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	old := syscall.Umask(0o117)
	lis, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		lis.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			lis.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	return &Listener{Listener: lis, access: newAccess(readers, admins, uint32(os.Geteuid()))}, nil
}

// Server serves the control service.
type Server struct {
	ncsyncv1.UnimplementedControlServiceServer
	node     Node
	log      *slog.Logger
	grpc     *grpc.Server
	barriers barrierBook
}

// NewServer builds a control server for node. Every call is checked
// against the policy of the Listener its connection came from (see
// Listen); calls over connections from any other listener are refused.
func NewServer(node Node, log *slog.Logger) *Server {
	s := &Server{node: node, log: log}
	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(1<<20), grpc.Creds(peerCredentials{}),
		grpc.UnaryInterceptor(s.unaryAuth), grpc.StreamInterceptor(s.streamAuth))
	ncsyncv1.RegisterControlServiceServer(s.grpc, s)
	return s
}

// Serve accepts connections until Stop. lis should come from Listen.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop closes the socket; in-flight calls are cancelled.
func (s *Server) Stop() { s.grpc.Stop() }

// Status implements ncsyncv1.ControlServiceServer.
func (s *Server) Status(ctx context.Context, _ *ncsyncv1.StatusRequest) (*ncsyncv1.StatusResponse, error) {
	st, err := s.node.Status(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	st.Barriers = s.barriers.list()
	return statusToWire(st), nil
}

// Client talks to a daemon's control socket.
type Client struct {
	conn *grpc.ClientConn
	rpc  ncsyncv1.ControlServiceClient
	path string
}

// Dial connects to the control socket at path. It fails early, with advice,
// when nothing is listening there.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the ncsync daemon at %s: %w (is `ncsync run` running with this config, and are you root or in its control group?)", path, err)
	}
	c.Close()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, rpc: ncsyncv1.NewControlServiceClient(conn), path: path}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Status asks the daemon for its status.
func (c *Client) Status(ctx context.Context) (report.Node, error) {
	r, err := c.rpc.Status(ctx, &ncsyncv1.StatusRequest{})
	if err != nil {
		return report.Node{}, fromRPC(err)
	}
	return statusFromWire(r), nil
}

// fromRPC turns a gRPC status into a plain error carrying its message.
func fromRPC(err error) error {
	if st, ok := status.FromError(err); ok {
		return errors.New(st.Message())
	}
	return err
}
