package transport

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
)

// PeerStats counts the chunk data a server sent to one peer.
type PeerStats struct {
	Chunks         uint64 // chunks sent with data
	Missing        uint64 // chunks answered as missing
	ChunkBytesRaw  uint64 // their decoded size
	ChunkBytesWire uint64 // their size on the wire (after zstd where it paid)
}

// ServerStats is a snapshot of a server's counters, by peer node.
type ServerStats struct {
	Peers map[string]PeerStats
}

// ClientStats counts the chunk data a client received.
type ClientStats struct {
	Chunks         uint64 // chunks received with data
	Missing        uint64 // chunks the primary reported missing
	ChunkBytesRaw  uint64 // their decoded size
	ChunkBytesWire uint64 // their size on the wire
}

// chunkCounters are the atomic counters behind PeerStats and ClientStats.
type chunkCounters struct {
	chunks, missing, raw, wire atomic.Uint64
	patched, refused           atomic.Uint64 // client only
}

func (c *chunkCounters) add(raw, wire int) {
	c.chunks.Add(1)
	c.raw.Add(uint64(raw))
	c.wire.Add(uint64(wire))
}

// peerState is what the server keeps per peer node.
type peerState struct {
	counters chunkCounters
	codec    codecTuner    // compression level of the chunks sent
	fetches  chan struct{} // semaphore of concurrent FetchChunks streams

	mu      sync.Mutex
	session *sessionSlot // the running Sync session, if any
}

// sessionSlot lets a new session of a peer end the previous one and wait
// for it.
type sessionSlot struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	tls    *tls.ConnectionState // of the session's connection, for Recheck
}

// peer returns the state of node, creating it on first use. Nodes are named
// by certificates of the cluster CA, so the map stays small.
func (s *Server) peer(node string) *peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.peers[node]
	if ps == nil {
		ps = &peerState{fetches: make(chan struct{}, s.lim.MaxPeerFetches)}
		s.peers[node] = ps
	}
	return ps
}

// Stats returns a snapshot of the per-peer chunk counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServerStats{Peers: make(map[string]PeerStats, len(s.peers))}
	for node, ps := range s.peers {
		c := &ps.counters
		st.Peers[node] = PeerStats{Chunks: c.chunks.Load(), Missing: c.missing.Load(), ChunkBytesRaw: c.raw.Load(), ChunkBytesWire: c.wire.Load()}
	}
	return st
}
