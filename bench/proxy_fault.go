package bench

import (
	"net"
	"sync"
)

// Faults. A test or a bench run can make the link behind a Proxy fail the
// two ways a real one does: a stall (every packet dropped, nothing
// closed: both ends learn of it only from their own timeouts) and a cut
// (every connection reset at once). A stall holds what the proxy has
// read in both directions until Unstall; connections opened meanwhile are
// accepted and stalled too.

// linkGate holds the copy loops while the link is stalled.
type linkGate struct {
	mu      sync.Mutex
	stalled bool
	resume  chan struct{} // closed by Unstall
}

// wait returns once the link is not stalled, or when stop is closed
// (false then).
func (g *linkGate) wait(stop <-chan struct{}) bool {
	g.mu.Lock()
	if !g.stalled {
		g.mu.Unlock()
		return true
	}
	resume := g.resume
	g.mu.Unlock()
	select {
	case <-resume:
		return true
	case <-stop:
		return false
	}
}

// Stall stops forwarding in both directions without closing anything.
func (p *Proxy) Stall() {
	g := &p.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stalled {
		g.stalled, g.resume = true, make(chan struct{})
	}
}

// Unstall forwards again, starting with what was held.
func (p *Proxy) Unstall() {
	g := &p.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled {
		g.stalled = false
		close(g.resume)
	}
}

// StallAfterDown stalls the link once n bytes have gone from the target
// to the client (counted from the proxy's start), within one read of n.
func (p *Proxy) StallAfterDown(n int64) {
	p.stallAt.Store(n)
}

// Cut resets every open connection (both sides see ECONNRESET); new
// connections are accepted as before.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// Stalled reports whether the link is stalled.
func (p *Proxy) Stalled() bool {
	p.gate.mu.Lock()
	defer p.gate.mu.Unlock()
	return p.gate.stalled
}
