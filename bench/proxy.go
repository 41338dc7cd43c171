package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP forwarder on 127.0.0.1 that counts the bytes it carries:
// the harness puts it between a tool's two sides to measure bytes on the
// wire the same way for every tool (TCP payload, so TLS and protocol
// framing count; TCP/IP headers do not). It can also stall and cut the
// link (proxy_fault.go).
type Proxy struct {
	ln     net.Listener
	target string
	// up counts client → target bytes, down target → client.
	up, down atomic.Int64
	// upLink and downLink emulate a link in each direction (Link).
	upLink, downLink shaper

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every copy goroutine

	// Faults (proxy_fault.go).
	gate    linkGate
	stallAt atomic.Int64  // stall once down reaches it; 0: never
	stop    chan struct{} // closed by Close: stalled copies give up
}

// StartProxy listens on a free loopback port and forwards each connection
// to target. Close stops it and waits for its goroutines.
func StartProxy(target string) (*Proxy, error) {
	return StartProxyOn("127.0.0.1", target)
}

// StartProxyOn is StartProxy listening on a free port of host.
func StartProxyOn(host, target string) (*Proxy, error) {
	return StartLinkProxy(host, target, Link{})
}

// StartLinkProxy is StartProxyOn carrying its connections over the
// emulated link l: every connection in one direction shares that
// direction's rate, and each direction adds half the round-trip time.
func StartLinkProxy(host, target string, l Link) (*Proxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}), stop: make(chan struct{})}
	p.upLink, p.downLink = l.shapers()
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Bytes returns the bytes carried so far: client → target and back.
func (p *Proxy) Bytes() (up, down int64) { return p.up.Load(), p.down.Load() }

// Close stops accepting, cuts every connection and waits for the goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		close(p.stop)
	}
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		t, err := p.dialTarget()
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, t) {
			return
		}
		pr := &pair{a: c, b: t}
		pr.open.Store(2)
		p.wg.Add(2)
		go p.pipe(pr, t, c, &p.up, p.upLink)
		go p.pipe(pr, c, t, &p.down, p.downLink)
	}
}

// dialTarget connects to the target, retrying for a while: a client may
// reach the proxy before the target listens (both daemons start at once),
// and without the proxy it would have waited for the target anyway.
func (p *Proxy) dialTarget() (net.Conn, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		t, err := net.Dial("tcp", p.target)
		if err == nil || time.Now().After(deadline) {
			return t, err
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// track registers a connection pair; false once the proxy is closed.
func (p *Proxy) track(c ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, x := range c {
			x.Close()
		}
		return false
	}
	for _, x := range c {
		p.conns[x] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// pair is a proxied connection: the client's and the one to the target.
type pair struct {
	a, b net.Conn
	open atomic.Int32 // directions still carrying data
}

// pipe copies src to dst over the link sh, counting as it goes (so Bytes
// is current while a connection is still open). An end of stream is
// passed on as a half-close; the pair is closed when both directions have
// ended, or at once on an error or when the link is cut.
func (p *Proxy) pipe(pr *pair, dst, src net.Conn, n *atomic.Int64, sh shaper) {
	defer p.wg.Done()
	err := sh.copy(dst, src, func() bool { return p.gate.wait(p.stop) }, func(k int) {
		total := n.Add(int64(k))
		if at := p.stallAt.Load(); n == &p.down && at > 0 && total >= at && p.stallAt.CompareAndSwap(at, 0) {
			p.Stall()
		}
	})
	if errors.Is(err, io.EOF) {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil && pr.open.Add(-1) > 0 {
			return
		}
	}
	p.untrack(pr.a)
	p.untrack(pr.b)
}
