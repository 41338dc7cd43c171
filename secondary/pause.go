package secondary

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/transport"
)

// Pause asks the primary to pause this secondary (`ncsync pause` run on the
// secondary itself) and returns once it is held at a consistent point. The
// primary holds it there (see package primary); peer must be this node.
func (s *Secondary) Pause(ctx context.Context, peer string, ttl time.Duration) (report.Pause, error) {
	if err := s.isSelf(peer); err != nil {
		return report.Pause{}, err
	}
	c, err := s.dialFollowed(ctx)
	if err != nil {
		return report.Pause{}, err
	}
	defer c.Close()
	pt, err := c.PauseSelf(ctx, ttl)
	if errors.Is(err, transport.ErrDeadline) {
		return report.Pause{}, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	if err != nil {
		return report.Pause{}, err
	}
	return report.Pause{ID: pt.ID, Peer: peer, Since: pt.Since, Expires: pt.Expires, Hold: maps.Clone(pt.Hold)}, nil
}

// Resume asks the primary to end this secondary's pause.
func (s *Secondary) Resume(ctx context.Context, peer string) (report.Pause, error) {
	if err := s.isSelf(peer); err != nil {
		return report.Pause{}, err
	}
	c, err := s.dialFollowed(ctx)
	if err != nil {
		return report.Pause{}, err
	}
	defer c.Close()
	return report.Pause{Peer: peer}, c.ResumeSelf(ctx)
}

// setPause records whether a pause holds this node: what the primary
// told it, or, when the session ends, nothing (then it does not know).
func (s *Secondary) setPause(ps transport.PauseState) {
	s.mu.Lock()
	old := s.pause
	s.pause = ps
	s.mu.Unlock()
	switch {
	case ps.Paused && old.ID != ps.ID:
		s.log.Info("paused for a snapshot", "pause", ps.ID, "since", ps.Since, "hold", ps.Hold, "expires", ps.Expires)
	case !ps.Paused && old.Paused:
		s.log.Info("pause ended", "pause", old.ID)
	}
}

// pauseReport is the pause that holds this node, as status shows it.
func pauseReport(node string, ps transport.PauseState, staged uint64) report.Pause {
	return report.Pause{ID: ps.ID, Peer: node, Since: ps.Since, Expires: ps.Expires, Hold: maps.Clone(ps.Hold), StagedBytes: staged}
}

// dialFollowed connects to the primary this node follows now, and to no
// other node (see identity.go).
func (s *Secondary) dialFollowed(ctx context.Context) (*transport.Client, error) {
	meta, err := s.db.Meta()
	if err != nil {
		return nil, err
	}
	follow := expectedPrimary(meta, s.opts.Node, s.opts.PrimaryNode)
	return transport.Dial(ctx, s.opts.Primary, s.opts.TLS, s.opts.Limits,
		transport.WithServerCheck(s.serverCheck(follow, false)))
}

func (s *Secondary) isSelf(peer string) error {
	if peer != s.opts.Node {
		return fmt.Errorf("this secondary (%s) can pause and resume only itself: run `ncsync pause --peer %s` on the primary", s.opts.Node, peer)
	}
	return nil
}
