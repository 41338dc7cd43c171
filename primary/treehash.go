package primary

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/ncsync/ncsync/transport"
)

// treeQueries asks connected secondaries for their tree hash of a folder
// (ncsync barrier --verify). The question travels in the session's batch
// stream, so the answer describes the secondary's tree after everything
// sent before it; the answer comes back with the acks.
//
// Each query has an unguessable id (newQueryID) and is bound to the peer
// and folder it was sent for: an answer counts only when that peer sends
// it, for that folder, with that id. Another connected secondary cannot
// answer for the one that was asked.
type treeQueries struct {
	mu      sync.Mutex
	links   map[string]*peerLink // by peer: its current session
	pending map[uint64]*treeQuery
}

// treeQuery is one question waiting for its answer.
type treeQuery struct {
	peer, folder string
	ch           chan transport.TreeHashReport // buffered 1
}

// newQueryID returns a random id that is not 0 (0 means "no query" on the
// wire) and for which taken is false.
func newQueryID(taken func(uint64) bool) uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 && !taken(id) {
			return id
		}
	}
}

// peerLink is a session's way to send to its peer.
type peerLink struct {
	send func(transport.Message) error
}

// errPeerNotConnected: a tree hash needs the peer's session.
var errPeerNotConnected = errors.New("not connected")

// attach makes send the way to reach peer until the returned detach.
func (q *treeQueries) attach(peer string, send func(transport.Message) error) (detach func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.links == nil {
		q.links = make(map[string]*peerLink)
		q.pending = make(map[uint64]*treeQuery)
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

// answer delivers a report that peer sent to the query waiting for it. A
// report for a query that was not asked of that peer and folder is ignored
// (and reported false), the query goes on waiting for its own answer.
func (q *treeQueries) answer(peer string, r transport.TreeHashReport) bool {
	q.mu.Lock()
	tq := q.pending[r.Query]
	if tq == nil || tq.peer != peer || tq.folder != r.Folder {
		q.mu.Unlock()
		return false
	}
	delete(q.pending, r.Query)
	q.mu.Unlock()
	tq.ch <- r // buffered
	return true
}

// ask asks peer for its tree hash of folder and waits for the answer.
func (q *treeQueries) ask(ctx context.Context, peer, folder string) (transport.TreeHashReport, error) {
	q.mu.Lock()
	l := q.links[peer]
	if l == nil {
		q.mu.Unlock()
		return transport.TreeHashReport{}, errPeerNotConnected
	}
	id := newQueryID(func(id uint64) bool { return q.pending[id] != nil })
	tq := &treeQuery{peer: peer, folder: folder, ch: make(chan transport.TreeHashReport, 1)}
	q.pending[id] = tq
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}()
	if err := l.send(transport.TreeHashQuery{Folder: folder, ID: id}); err != nil {
		return transport.TreeHashReport{}, fmt.Errorf("ask for its tree hash: %w", err)
	}
	select {
	case r := <-tq.ch:
		if r.Error != "" {
			return r, fmt.Errorf("its tree hash: %s", r.Error)
		}
		return r, nil
	case <-ctx.Done():
		return transport.TreeHashReport{}, fmt.Errorf("waiting for its tree hash: %w", ctx.Err())
	}
}
