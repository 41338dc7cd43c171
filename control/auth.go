package control

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Caller is the process at the other end of a control connection, as the
// kernel reports it (SO_PEERCRED, SO_PEERGROUPS) at connect time: it
// cannot be forged by the client.
type Caller struct {
	UID, GID uint32
	PID      int32
	// Groups are the process's supplementary groups; nil when the kernel
	// could not report them (then the user database is asked instead).
	Groups []uint32
}

// Listener is the control socket: every connection it accepts carries the
// peer credentials of the process that connected, which the server checks
// against the access policy on every call.
type Listener struct {
	net.Listener
	access *access
}

// Policy says who may run what on this socket, for the daemon's log.
func (l *Listener) Policy() string { return l.access.describe() }

// Accept waits for the next connection and reads its peer credentials.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &callerConn{Conn: c, access: l.access}
	cc.caller, cc.err = peerCred(c)
	return cc, nil
}

// callerConn is an accepted connection with its peer's credentials.
type callerConn struct {
	net.Conn
	caller Caller
	err    error // reading the credentials failed
	access *access
}

// peerCred reads SO_PEERCRED of a unix socket connection.
func peerCred(c net.Conn) (Caller, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Caller{}, fmt.Errorf("control connection %T has no peer credentials", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Caller{}, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Caller{}, err
	}
	if credErr != nil {
		return Caller{}, fmt.Errorf("read peer credentials: %w", credErr)
	}
	caller := Caller{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}
	if err := raw.Control(func(fd uintptr) { caller.Groups = peerGroups(int(fd)) }); err != nil {
		return Caller{}, err
	}
	return caller, nil
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13 and later): the supplementary
// groups of the peer when it connected. It returns nil when the kernel
// cannot tell (an older kernel, an architecture where the option has
// another number).
func peerGroups(fd int) []uint32 {
	if soPeerGroups < 0 {
		return nil
	}
	buf := make([]uint32, 64)
	for range 3 {
		n := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, uintptr(soPeerGroups),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch errno {
		case 0:
			return append(make([]uint32, 0, n/4), buf[:n/4]...)
		case unix.ERANGE: // n is the size needed
			buf = make([]uint32, n/4+1)
		default:
			return nil
		}
	}
	return nil
}

// peerCredentials is the server's gRPC transport credentials: no
// encryption (the socket is local), but each connection's AuthInfo
// carries its Caller and the access policy of the socket.
type peerCredentials struct{}

// callerInfo is the AuthInfo of a control connection.
type callerInfo struct {
	credentials.CommonAuthInfo
	caller Caller
	access *access // nil: the connection did not come through a Listener
}

func (callerInfo) AuthType() string { return "peercred" }

func (peerCredentials) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	info := callerInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	if cc, ok := c.(*callerConn); ok {
		if cc.err != nil {
			return nil, nil, cc.err
		}
		info.caller, info.access = cc.caller, cc.access
	}
	return c, info, nil
}

func (peerCredentials) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, callerInfo{}, nil
}

func (peerCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (c peerCredentials) Clone() credentials.TransportCredentials { return c }

func (peerCredentials) OverrideServerName(string) error { return nil }

// callerOf returns the caller and policy of the connection behind ctx.
func callerOf(ctx context.Context) (Caller, *access, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}, nil, false
	}
	info, ok := p.AuthInfo.(callerInfo)
	if !ok || info.access == nil {
		return Caller{}, nil, false
	}
	return info.caller, info.access, true
}

// commandName turns a full gRPC method name into the command's name
// ("/ncsync.v1.ControlService/Barrier" → "barrier").
func commandName(method string) string {
	return strings.ToLower(method[strings.LastIndexByte(method, '/')+1:])
}
