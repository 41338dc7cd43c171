package transport

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// freezer is a listener whose connections can be frozen: while frozen,
// their reads and writes wait, as over a link that drops every packet
// without closing anything.
type freezer struct {
	net.Listener
	frozen atomic.Bool
}

func (f *freezer) Accept() (net.Conn, error) {
	c, err := f.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frozenConn{Conn: c, f: f}, nil
}

type frozenConn struct {
	net.Conn
	f *freezer
}

func (c *frozenConn) wait() {
	for c.f.frozen.Load() {
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *frozenConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.wait() // what arrived during the freeze is held back until it ends
	return n, err
}

func (c *frozenConn) Write(b []byte) (int, error) {
	c.wait()
	return c.Conn.Write(b)
}

// A quiet session stays up on heartbeats; when the link freezes, both
// sides end it within their idle timeout, the secondary although it is
// only receiving, long before a keepalive would.
func TestHeartbeatsFindFrozenLink(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	src.served = make(chan error, 1)
	lim := Limits{IdleTimeout: 400 * time.Millisecond}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fz := &freezer{Listener: lis}
	srv := NewServer(p.serverTLS(t, "p1"), lim, src, testLog(t))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fz) }()
	defer func() {
		fz.frozen.Store(false)
		srv.Stop()
		<-done
	}()
	c := dial(t, lis.Addr().String(), p.clientTLS(t, "s1"), lim)
	sess, w, err := c.Sync(context.Background(), Hello{ClusterID: p.cluster, Node: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if w.Heartbeat != lim.heartbeatInterval() {
		t.Fatalf("welcome heartbeat %v, want %v", w.Heartbeat, lim.heartbeatInterval())
	}
	recvd := make(chan error, 1)
	go func() {
		_, err := sess.Recv()
		recvd <- err
	}()
	// Quiet for several idle timeouts: the heartbeats keep it up.
	select {
	case err := <-recvd:
		t.Fatalf("quiet session ended: %v", err)
	case err := <-src.served:
		t.Fatalf("primary ended a quiet session: %v", err)
	case <-time.After(5 * lim.IdleTimeout):
	}
	fz.frozen.Store(true)
	select {
	case err := <-recvd:
		if !errors.Is(err, errIdle) {
			t.Fatalf("Recv: %v, want the idle timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the secondary did not notice the frozen link")
	}
	select {
	case <-src.served:
	case <-time.After(10 * time.Second):
		t.Fatal("the primary did not notice the frozen link")
	}
}

// A peer that announces no heartbeats is sent none and given no idle
// timeout (an older node).
func TestNoHeartbeatsWithoutAnnouncement(t *testing.T) {
	lim := Limits{IdleTimeout: time.Second}.withDefaults()
	if got := lim.idleTimeout(0); got != 0 {
		t.Fatalf("idle timeout without heartbeats %v, want none", got)
	}
	if got := lim.idleTimeout(time.Second); got != 3*time.Second {
		t.Fatalf("idle timeout for a 1 s peer %v, want 3 s", got)
	}
	if got := lim.idleTimeout(time.Hour); got != maxIdleTimeout {
		t.Fatalf("idle timeout for a 1 h peer %v, want the cap", got)
	}
}
