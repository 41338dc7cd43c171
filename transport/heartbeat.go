package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Dead links. Two mechanisms find a peer that is gone without a word (a
// cable pulled, a firewall dropping packets, a host frozen): gRPC
// keepalive pings on both ends of the connection (KeepaliveTime,
// KeepaliveTimeout: a ping after that long without a frame, and the
// connection closed if it is not answered in time), and, on the Sync
// stream itself, heartbeats. Each side sends a Heartbeat when it has sent
// nothing else for its heartbeat interval (IdleTimeout/4), and ends the
// session when it has waited in vain for a message for its IdleTimeout.
// The time a side spends not reading (its applier is busy) does not
// count: only the time it waits for the peer does. Either alone notices a
// dead peer within 15 s with the defaults, also on the side that is only
// receiving; heartbeats also catch a peer whose connection stays up while
// its session no longer moves. Both sides announce their interval (Hello,
// Welcome) and send heartbeats only to a peer that announced one.

// errIdle ends a session whose peer sent nothing for the idle timeout.
var errIdle = errors.New("no message from the peer within the idle timeout: the link or the peer is gone")

// heartbeatInterval is how long a side stays quiet before it sends a
// heartbeat.
func (l Limits) heartbeatInterval() time.Duration { return l.IdleTimeout / 4 }

// maxIdleTimeout bounds the idle timeout a peer's announced interval can
// make this side use.
const maxIdleTimeout = 10 * time.Minute

// idleTimeout is how long this side waits for a message from a peer that
// announced heartbeats every peer: its own IdleTimeout, or three of the
// peer's intervals if that is longer. 0 (no deadline) if the peer
// announced none.
func (l Limits) idleTimeout(peer time.Duration) time.Duration {
	if peer <= 0 {
		return 0
	}
	return min(max(l.IdleTimeout, 3*peer), maxIdleTimeout)
}

func durationToMs(d time.Duration) uint32 {
	return uint32(min(d.Milliseconds(), 1<<31))
}

func msToDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// idleWatch ends a wait that lasts longer than its timeout: arm before
// waiting for the peer, disarm after. A zero timeout never fires.
type idleWatch struct {
	timeout time.Duration
	timer   *time.Timer
	fired   atomic.Bool
}

// newIdleWatch calls expire when a wait exceeds timeout.
func newIdleWatch(timeout time.Duration, expire func()) *idleWatch {
	w := &idleWatch{timeout: timeout}
	if timeout > 0 {
		w.timer = time.AfterFunc(time.Hour, func() {
			w.fired.Store(true)
			expire()
		})
		w.timer.Stop()
	}
	return w
}

func (w *idleWatch) arm() {
	if w.timer != nil {
		w.timer.Reset(w.timeout)
	}
}

func (w *idleWatch) disarm() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// expired says whether a wait ran out.
func (w *idleWatch) expired() bool { return w.fired.Load() }

// heartbeats sends a heartbeat with send whenever nothing was sent for
// interval, until stop is called (which waits for it). sent is the time
// of the last send in unix nanoseconds, kept by the caller's sends.
func heartbeats(ctx context.Context, interval time.Duration, sent *atomic.Int64, send func() error) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.UnixNano()-sent.Load() < int64(interval) {
					continue
				}
				if err := send(); err != nil {
					return // the session is ending; its own error says why
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

var (
	heartbeatRequest  = &ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Heartbeat{Heartbeat: &ncsyncv1.Heartbeat{}}}
	heartbeatResponse = &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Heartbeat{Heartbeat: &ncsyncv1.Heartbeat{}}}
)

// idleError says how long the wait was.
func idleError(who string, d time.Duration) error {
	return fmt.Errorf("%s: %w (waited %s)", who, errIdle, d)
}
