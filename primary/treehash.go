package primary

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ncsync/ncsync/transport"
)

// treeQueries asks connected secondaries for their tree hash of a folder
// (ncsync barrier --verify). The question travels in the session's batch
// stream, so the answer describes the secondary's tree after everything
// sent before it; the answer comes back with the acks.
type treeQueries struct {
	mu      sync.Mutex
	last    uint64
	links   map[string]*peerLink // by peer: its current session
	pending map[uint64]chan transport.TreeHashReport
}

// peerLink is a session's way to send to its peer.
type peerLink struct {
	send func(transport.Batch) error
}

// errPeerNotConnected: a tree hash needs the peer's session.
var errPeerNotConnected = errors.New("not connected")

// attach makes send the way to reach peer until the returned detach.
func (q *treeQueries) attach(peer string, send func(transport.Batch) error) (detach func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.links == nil {
		q.links = make(map[string]*peerLink)
		q.pending = make(map[uint64]chan transport.TreeHashReport)
	}
	l := &peerLink{send: send}
	q.links[peer] = l
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.links[peer] == l { // not replaced by a newer session meanwhile
			delete(q.links, peer)
		}
	}
}

// answer delivers a report to the query waiting for it, if any.
func (q *treeQueries) answer(r transport.TreeHashReport) {
	q.mu.Lock()
	ch := q.pending[r.Query]
	delete(q.pending, r.Query)
	q.mu.Unlock()
	if ch != nil {
		ch <- r // buffered
	}
}

// ask asks peer for its tree hash of folder and waits for the answer.
func (q *treeQueries) ask(ctx context.Context, peer, folder string) (transport.TreeHashReport, error) {
	q.mu.Lock()
	l := q.links[peer]
	if l == nil {
		q.mu.Unlock()
		return transport.TreeHashReport{}, errPeerNotConnected
	}
	q.last++
	id := q.last
	ch := make(chan transport.TreeHashReport, 1)
	q.pending[id] = ch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}()
	if err := l.send(transport.Batch{Folder: folder, TreeHashQuery: id}); err != nil {
		return transport.TreeHashReport{}, fmt.Errorf("ask for its tree hash: %w", err)
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, fmt.Errorf("its tree hash: %s", r.Error)
		}
		return r, nil
	case <-ctx.Done():
		return transport.TreeHashReport{}, fmt.Errorf("waiting for its tree hash: %w", ctx.Err())
	}
}
