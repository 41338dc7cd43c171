package primary

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/transport"
)

// errRemoved ends the sessions of a node that is no longer a secondary.
var errRemoved = errors.New("no longer one of this primary's secondaries")

// Secondaries returns the nodes this primary serves now.
func (p *Primary) Secondaries() []string {
	return slices.Clone(*p.members.Load())
}

// SetSecondaries replaces the nodes this primary serves, while it runs (a
// config reload): a node no longer listed can call nothing from now on
// (Admit), and its running sessions end.
func (p *Primary) SetSecondaries(nodes []string) {
	nodes = slices.Clone(nodes)
	p.members.Store(&nodes)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range nodes {
		if p.peers[n] == nil {
			p.peers[n] = newPeer(n)
		}
	}
	for n, ps := range p.peers {
		if !slices.Contains(nodes, n) {
			ps.endSessions(errRemoved)
		}
	}
}

// Admit implements transport.Source: only the configured secondaries may
// call anything (Sync, FetchChunks, TreeHash, pauses, verify uploads). The
// transport asks before every RPC.
func (p *Primary) Admit(pe transport.Peer) error {
	nodes := *p.members.Load()
	if slices.Contains(nodes, pe.Node) {
		return nil
	}
	return transport.Refuse(transport.ErrNotMember,
		"node %q is not one of this primary's secondaries %q: add it to `secondaries` in the primary's config", pe.Node, nodes)
}

// trackSession registers a session's cancel with its peer, so that
// SetSecondaries can end it; the returned func unregisters it.
func (ps *peer) trackSession(cancel context.CancelCauseFunc) (untrack func()) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ends == nil {
		ps.ends = make(map[*context.CancelCauseFunc]struct{})
	}
	key := &cancel
	ps.ends[key] = struct{}{}
	return func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		delete(ps.ends, key)
	}
}

func (ps *peer) endSessions(cause error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for c := range ps.ends {
		(*c)(cause)
	}
}

// SetIgnore gives folder id the ignore patterns of m while the primary runs
// (a config reload). The folder's watcher starts again with them, so that
// directories no longer ignored are watched, and its first full scan
// journals what they hold. Paths now ignored keep their entries, and the
// secondaries their copies (see scanner: an ignore pattern added later
// deletes nothing).
func (p *Primary) SetIgnore(id string, m *ignore.Matcher) error {
	f, ok := p.folders[id]
	if !ok {
		return fmt.Errorf("no folder %q", id)
	}
	f.ignore.Replace(m)
	select {
	case f.rewatch <- struct{}{}:
	default: // one is already asked for
	}
	p.log.Info("ignore patterns changed: watching the folder again", "folder", id, "ignore", m.Patterns())
	return nil
}
