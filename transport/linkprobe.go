package transport

import (
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// What a sender blocked in Send waits for: the link, or the peer. gRPC's
// flow control stops a stream alike when the network is slow and when the
// peer is slow to read, and only the first is helped by compressing
// harder. The kernel tells them apart: a socket whose data waits on the
// network (congestion window, send buffer) is busy, one whose peer stopped
// granting window (HTTP/2 or TCP) is idle or receive-window limited. A
// connTable keeps each connection's socket, by its remote address, so that
// a chunk stream can ask (TCP_INFO) how busy its socket has been.

// connTable maps the remote address of each open connection to its
// socket. Safe for concurrent use.
type connTable struct {
	mu    sync.Mutex
	conns map[string]*net.TCPConn
}

// track records raw, which carries conn, until conn is closed.
func (t *connTable) track(raw net.Conn, conn net.Conn) net.Conn {
	tcp, ok := raw.(*net.TCPConn)
	if !ok {
		return conn
	}
	addr := raw.RemoteAddr().String()
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[string]*net.TCPConn)
	}
	t.conns[addr] = tcp
	t.mu.Unlock()
	return &trackedConn{Conn: conn, untrack: func() {
		t.mu.Lock()
		if t.conns[addr] == tcp {
			delete(t.conns, addr)
		}
		t.mu.Unlock()
	}}
}

// linkBusy returns a function reporting how long the socket of the
// connection from addr has been busy sending with data waiting on the
// network, not on the peer's receive window; nil when it cannot be told.
func (t *connTable) linkBusy(addr string) func() (time.Duration, bool) {
	t.mu.Lock()
	tcp := t.conns[addr]
	t.mu.Unlock()
	if tcp == nil {
		return nil
	}
	sc, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return func() (time.Duration, bool) {
		var info *unix.TCPInfo
		var ierr error
		if err := sc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
			return 0, false
		}
		// Kernels before 4.10 report no busy time: never link-bound.
		busy := info.Busy_time - min(info.Rwnd_limited, info.Busy_time)
		return time.Duration(busy) * time.Microsecond, true
	}
}

// trackedConn is a connection that leaves its connTable when closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	untrack func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.untrack)
	return c.Conn.Close()
}
