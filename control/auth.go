package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Caller is the process at the other end of a control connection, as the
// kernel reports it (SO_PEERCRED): it cannot be forged by the client.
type Caller struct {
	UID, GID uint32
	PID      int32
}

// Listener is the control socket: every connection it accepts carries the
// peer credentials of the process that connected, which the server checks
// against the access policy on every call.
type Listener struct {
	net.Listener
	access *access
}

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
	return Caller{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
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

// level is what a command may do.
type level int

const (
	readOnly level = iota // status, conflicts, verify
	mutating              // barrier, pause, resume, promote, anything not listed
)

// access is the policy of one control socket: root and the daemon's own
// user may do anything; members of the readers group may run read-only
// commands, members of the admins group mutating ones too. Today both
// groups are the config's control_group.
type access struct {
	self    uint32 // the daemon's effective uid
	readers group
	admins  group

	lookup func(uid uint32) ([]uint32, error) // the user's groups from the user database
	now    func() time.Time

	mu    sync.Mutex
	cache map[uint32]cachedGroups
}

// group is a group that the policy admits; gid < 0 means none.
type group struct {
	name string
	gid  int
}

type cachedGroups struct {
	gids []uint32
	err  error
	at   time.Time
}

// groupCacheTTL is how long a user's group list is reused: a user added
// to or removed from the group is seen within this time.
const groupCacheTTL = 10 * time.Second

func newAccess(name string, gid int, self uint32) *access {
	g := group{name: name, gid: gid}
	return &access{self: self, readers: g, admins: g, lookup: userGroups, now: time.Now, cache: make(map[uint32]cachedGroups)}
}

// userGroups returns the groups of uid in the user database (primary and
// supplementary).
func userGroups(uid uint32) ([]uint32, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(ids))
	for _, id := range ids {
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// errNoCaller: the connection did not come through the control Listener,
// so who is calling is unknown.
var errNoCaller = errors.New("cannot identify the caller: control connections must come through the control socket")

// allow decides whether c may run a command of level lv. The error says
// who was refused and who is allowed.
func (a *access) allow(c Caller, lv level, command string) error {
	if c.UID == 0 || c.UID == a.self {
		return nil
	}
	g := a.readers
	if lv == mutating {
		g = a.admins
	}
	if g.gid >= 0 && a.member(c, uint32(g.gid)) {
		return nil
	}
	who := "root"
	if a.self != 0 {
		who = fmt.Sprintf("root and uid %d (the daemon's user)", a.self)
	}
	if g.gid >= 0 {
		who += fmt.Sprintf(" and members of group %q (control_group)", g.name)
	} else {
		who += " only (set control_group in the config to admit a group)"
	}
	return fmt.Errorf("uid %d (pid %d) may not run %s: this control socket allows %s", c.UID, c.PID, command, who)
}

// member reports whether c is in gid: its process's group, or the user's
// groups in the user database (looked up at most every groupCacheTTL).
func (a *access) member(c Caller, gid uint32) bool {
	if c.GID == gid {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cg, ok := a.cache[c.UID]
	if !ok || a.now().Sub(cg.at) > groupCacheTTL {
		gids, err := a.lookup(c.UID)
		cg = cachedGroups{gids: gids, err: err, at: a.now()}
		if len(a.cache) > 1024 {
			clear(a.cache)
		}
		a.cache[c.UID] = cg
	}
	for _, g := range cg.gids {
		if g == gid {
			return true
		}
	}
	return false
}

// commandName turns a full gRPC method name into the command's name
// ("/ncsync.v1.ControlService/Barrier" → "barrier").
func commandName(method string) string {
	return strings.ToLower(method[strings.LastIndexByte(method, '/')+1:])
}
