package transport

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
)

// bandwidth caps the chunk data a Server sends: all peers together and
// each peer, in bytes per second, with token buckets. A zero rate is no
// cap. The caps can change while chunks flow (SetBandwidth).
type bandwidth struct {
	total *rate.Limiter

	mu      sync.Mutex
	perPeer rate.Limit
	peers   map[string]*rate.Limiter
}

// bucketBurst is how much a bucket lets through at once: one message of the
// largest size the server sends, so that a cap never splits a message and
// the rate over any few seconds stays within a message of the cap.
const bucketBurst = 4 << 20

func limitOf(bytesPerSec int64) rate.Limit {
	if bytesPerSec <= 0 {
		return rate.Inf
	}
	return rate.Limit(bytesPerSec)
}

func (b *bandwidth) init() {
	b.total = rate.NewLimiter(rate.Inf, bucketBurst)
	b.perPeer = rate.Inf
	b.peers = make(map[string]*rate.Limiter)
}

// set changes the caps (bytes per second; 0: none).
func (b *bandwidth) set(total, perPeer int64) {
	b.total.SetLimit(limitOf(total))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.perPeer = limitOf(perPeer)
	for _, l := range b.peers {
		l.SetLimit(b.perPeer)
	}
}

func (b *bandwidth) peer(node string) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.peers[node]
	if !ok {
		l = rate.NewLimiter(b.perPeer, bucketBurst)
		b.peers[node] = l
	}
	return l
}

// wait blocks until n bytes may go to node under both caps.
func (b *bandwidth) wait(ctx context.Context, node string, n int) error {
	pl := b.peer(node)
	for _, l := range []*rate.Limiter{pl, b.total} {
		if l.Limit() == rate.Inf {
			continue
		}
		for left := n; left > 0; left -= bucketBurst {
			if err := l.WaitN(ctx, min(left, bucketBurst)); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitSend wraps send so that each message waits for its size in tokens.
func limitSend[M proto.Message](ctx context.Context, b *bandwidth, node string, send func(M) error) func(M) error {
	return func(m M) error {
		if err := b.wait(ctx, node, proto.Size(m)); err != nil {
			return err
		}
		return send(m)
	}
}

// SetBandwidth caps the chunk bytes sent to all peers together and to each
// peer, in bytes per second (0: no cap). It may be called while serving.
func (s *Server) SetBandwidth(total, perPeer int64) {
	s.bw.set(total, perPeer)
}
