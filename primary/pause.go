package primary

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/transport"
)

// A pause holds one secondary at a point of each folder's journal where
// its tree equals the primary's tree at that point, for as long as a
// backup reads it.
//
// Why a point must be chosen, not just taken: the journal keeps only the
// latest version of each path, so a peer that stopped at an arbitrary
// sequence S may lack a version that was current at S and has since been
// superseded. But a batch read up to the head of its snapshot brings the
// peer exactly to the primary's state at that head. So the pause first
// flushes the watcher and takes the heads (Target), then lets each
// folder's sender go on until it has sent a batch that ends at the head of
// its snapshot at or past Target: that head is the hold point. Once the
// peer has acknowledged every hold point (durably applied, no temp files
// left), the pause is established and recorded in the index, so it
// survives a restart of either node; the senders send nothing past it
// until Resume or the pause's expiry.
//
// Folders are held independently: each folder's point is one consistent
// state of that folder.
//
// Held is not idle: a peer that announced a stage limit in its Hello is
// sent the batches past its hold point marked Stage, which it stores
// without applying them (see package secondary), as long as their bytes
// fit in its limit; past that the sender holds. When the pause ends the
// sender sends an ApplyStaged message first, and the peer applies what it
// staged before anything new, so resume does not send it all again.

// Errors of Pause and Resume.
var (
	ErrUnknownPeer   = errors.New("not a configured secondary")
	ErrAlreadyPaused = errors.New("already paused")
	ErrNotPaused     = errors.New("not paused")
)

// DefaultPauseTTL is how long a pause lasts when no TTL is given.
const DefaultPauseTTL = 2 * time.Hour

// pauseBook holds the pauses, established or being established.
type pauseBook struct {
	mu     sync.Mutex
	pauses map[string]*index.Pause // by peer; Hold filled in as points are chosen
	stages map[string]*stageBudget // by peer, from its latest Hello
	wake   chan struct{}           // closed and replaced on every change
}

// stageBudget is what a peer may stage while paused.
type stageBudget struct {
	limit  int64             // bytes; 0: the peer does not stage
	used   int64             // stage.EntryCost of what was sent to stage (an upper bound of what it stores)
	stored map[string]uint64 // bytes its stage holds, per folder, as it last acknowledged
}

func (b *pauseBook) init(recorded []index.Pause) {
	b.pauses = make(map[string]*index.Pause)
	b.stages = make(map[string]*stageBudget)
	b.wake = make(chan struct{})
	for _, p := range recorded {
		b.pauses[p.Peer] = &p
	}
}

// changed wakes everyone waiting on the book; b.mu must be held.
func (b *pauseBook) changed() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// gate is what a folder's sender to one peer may do next.
type gate struct {
	hold  bool            // send nothing now
	stage bool            // send batches to stage, costing at most budget (stage.EntryCost)
	wake  <-chan struct{} // closed when pauses change

	budget int64
	heldAt uint64 // with stage: the hold point, which the batches name
}

// sendGate tells the sender of folder to peer, at position pos, whether
// it must hold.
func (p *Primary) sendGate(peer, folder string, pos uint64) gate {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	g := gate{wake: b.wake}
	pa, ok := b.pauses[peer]
	if !ok {
		return g
	}
	hold, ok := pa.Hold[folder]
	switch {
	case !ok:
		return g // the point is still to be chosen
	case pos >= hold:
		if sb := b.stages[peer]; sb != nil && sb.used < sb.limit {
			g.stage, g.budget, g.heldAt = true, sb.limit-sb.used, hold
		} else {
			g.hold = true
		}
	default:
		// The peer is behind its hold point: its index was rebuilt or
		// rolled back. Choose a new point from where it is.
		p.log.Warn("paused secondary is behind its hold point; choosing a new one", "peer", peer,
			"folder", folder, "position", pos, "hold", hold)
		delete(pa.Hold, folder)
		b.changed()
	}
	return g
}

// setStage records what peer staged and may stage, from its Hello.
func (p *Primary) setStage(peer string, limit, used uint64) {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	// What it holds already counts, under no folder until it acknowledges more.
	b.stages[peer] = &stageBudget{limit: int64(min(limit, 1<<62)), used: int64(min(used, 1<<62)), stored: map[string]uint64{"": used}}
	b.changed()
}

// spendStage counts n bytes (stage.EntryCost) sent to peer to stage; full says its
// budget has no room for the next batch, so the senders hold.
func (p *Primary) spendStage(peer string, n int64, full bool) {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	if sb := b.stages[peer]; sb != nil {
		sb.used += n
		if full {
			sb.used = max(sb.used, sb.limit)
		}
	}
}

// stagedAck records what peer's stage of folder holds.
func (p *Primary) stagedAck(peer, folder string, stored uint64) {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	if sb := b.stages[peer]; sb != nil {
		delete(sb.stored, "")
		sb.stored[folder] = stored
	}
}

// sentUpTo tells the pause book that the sender of folder to peer has sent
// everything up to last, reading a snapshot whose head was head. If a
// pause is choosing its point in that folder and this is a complete
// snapshot at or past the target, last becomes the hold point.
func (p *Primary) sentUpTo(peer, folder string, last, head uint64) {
	if last != head {
		return
	}
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	pa, ok := b.pauses[peer]
	if !ok || pa.Target == nil { // no pause, or its target is still being taken
		return
	}
	if _, chosen := pa.Hold[folder]; chosen || last < pa.Target[folder] {
		return
	}
	pa.Hold[folder] = last
	b.changed()
}

// Pause brings peer to a hold point in every folder it replicates and
// holds it there until Resume or until ttl (DefaultPauseTTL if zero) runs
// out. It returns the established pause. If ctx ends first, the pause is
// abandoned and the peer goes on replicating.
func (p *Primary) Pause(ctx context.Context, peer string, ttl time.Duration) (report.Pause, error) {
	pa, err := p.pause(ctx, peer, ttl)
	return statusOfPause(pa), err
}

func (p *Primary) pause(ctx context.Context, peer string, ttl time.Duration) (index.Pause, error) {
	if configured := p.Secondaries(); !slices.Contains(configured, peer) {
		return index.Pause{}, fmt.Errorf("pause %q: %w (secondaries: %q)", peer, ErrUnknownPeer, configured)
	}
	if ttl <= 0 {
		ttl = DefaultPauseTTL
	}
	var idb [6]byte
	rand.Read(idb[:])
	pa := &index.Pause{ID: hex.EncodeToString(idb[:]), Peer: peer, Hold: make(map[string]uint64)}
	b := &p.pauses
	b.mu.Lock()
	if old, ok := b.pauses[peer]; ok {
		b.mu.Unlock()
		return index.Pause{}, fmt.Errorf("pause %q: %w (pause %s since %s): resume it first", peer, ErrAlreadyPaused,
			old.ID, old.Since.Format(time.DateTime))
	}
	b.pauses[peer] = pa // reserved while the target is taken
	b.mu.Unlock()
	established := false
	defer func() {
		if !established {
			b.mu.Lock()
			delete(b.pauses, peer)
			b.changed()
			b.mu.Unlock()
		}
	}()

	if err := p.Flush(ctx); err != nil {
		return index.Pause{}, fmt.Errorf("pause %q: flush: %w", peer, err)
	}
	target := make(map[string]uint64)
	for _, id := range p.order {
		head, err := p.db.Head(id)
		if err != nil {
			return index.Pause{}, err
		}
		target[id] = head
	}
	b.mu.Lock()
	pa.Target = target
	b.changed()
	b.mu.Unlock()

	for {
		b.mu.Lock()
		wake := b.wake
		hold := maps.Clone(pa.Hold)
		b.mu.Unlock()
		if p.holdReached(peer, hold) {
			break
		}
		select {
		case <-ctx.Done():
			return index.Pause{}, fmt.Errorf("pause %q: %w before it reached a hold point (%s)", peer, ctx.Err(), p.pauseProgress(peer, target, hold))
		case <-wake:
		case <-time.After(10 * time.Millisecond): // acknowledgements
		}
	}

	b.mu.Lock()
	now := time.Now()
	pa.Since, pa.Expires = now, now.Add(ttl)
	rec := *pa
	rec.Target, rec.Hold = maps.Clone(pa.Target), maps.Clone(pa.Hold)
	b.changed() // established: tellPause tells the peer
	b.mu.Unlock()
	if err := p.db.SetPause(rec); err != nil {
		return index.Pause{}, err
	}
	established = true
	p.log.Info("secondary paused", "peer", peer, "pause", rec.ID, "hold", rec.Hold, "expires", rec.Expires)
	return rec, nil
}

// holdReached reports whether peer has acknowledged the hold point of
// every folder it replicates.
func (p *Primary) holdReached(peer string, hold map[string]uint64) bool {
	ps := p.peer(peer)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.sessions == 0 {
		return false
	}
	for id := range ps.acked {
		h, ok := hold[id]
		if !ok || ps.acked[id] < h {
			return false
		}
	}
	return len(ps.acked) > 0
}

// pauseProgress describes where peer is, for an error.
func (p *Primary) pauseProgress(peer string, target, hold map[string]uint64) string {
	ps := p.peer(peer)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.sessions == 0 {
		return "the peer is not connected"
	}
	var parts []string
	for _, id := range p.order {
		acked, ok := ps.acked[id]
		if !ok {
			continue
		}
		if h, ok := hold[id]; ok {
			parts = append(parts, fmt.Sprintf("%s: at %d of hold point %d", id, acked, h))
		} else {
			parts = append(parts, fmt.Sprintf("%s: at %d, target %d, no hold point yet", id, acked, target[id]))
		}
	}
	return fmt.Sprint(parts)
}

// Resume ends peer's pause: it catches up from its hold points.
func (p *Primary) Resume(_ context.Context, peer string) (report.Pause, error) {
	pa, err := p.resume(peer)
	return statusOfPause(pa), err
}

func (p *Primary) resume(peer string) (index.Pause, error) {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	pa, ok := b.pauses[peer]
	if !ok || pa.Since.IsZero() {
		return index.Pause{}, fmt.Errorf("resume %q: %w", peer, ErrNotPaused)
	}
	if err := p.db.DeletePause(peer); err != nil {
		return index.Pause{}, err
	}
	delete(b.pauses, peer)
	if sb := b.stages[peer]; sb != nil { // the peer applies and clears its stage now
		sb.used = 0
		clear(sb.stored)
	}
	b.changed()
	p.log.Info("secondary resumed", "peer", peer, "pause", pa.ID, "paused for", time.Since(pa.Since).Round(time.Second))
	return *pa, nil
}

// statusOfPause is pa as status reports it.
func statusOfPause(pa index.Pause) report.Pause {
	return report.Pause{ID: pa.ID, Peer: pa.Peer, Since: pa.Since, Expires: pa.Expires, Hold: maps.Clone(pa.Hold)}
}

// stagedBytes returns what peer's stages hold, as it last acknowledged.
func (p *Primary) stagedBytes(peer string) uint64 {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	var n uint64
	if sb := b.stages[peer]; sb != nil {
		for _, v := range sb.stored {
			n += v
		}
	}
	return n
}

// Pauses returns the established pauses, sorted by peer.
func (p *Primary) Pauses() []index.Pause {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []index.Pause
	for _, pa := range b.pauses {
		if !pa.Since.IsZero() {
			c := *pa
			c.Target, c.Hold = maps.Clone(pa.Target), maps.Clone(pa.Hold)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b index.Pause) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// pauseState is whether an established pause holds peer, as the peer is
// told it, and a channel closed when pauses change.
func (p *Primary) pauseState(peer string) (transport.PauseState, <-chan struct{}) {
	b := &p.pauses
	b.mu.Lock()
	defer b.mu.Unlock()
	pa, ok := b.pauses[peer]
	if !ok || pa.Since.IsZero() {
		return transport.PauseState{}, b.wake
	}
	return transport.PauseState{Paused: true, ID: pa.ID, Since: pa.Since, Expires: pa.Expires, Hold: maps.Clone(pa.Hold)}, b.wake
}

// tellPause tells peer, with send, whether a pause holds it: at the start
// of its session if one does, then whenever that changes (established,
// resumed, expired), until ctx ends.
func (p *Primary) tellPause(ctx context.Context, peer string, send func(transport.Message) error) error {
	var told transport.PauseState
	for {
		ps, wake := p.pauseState(peer)
		if ps.Paused != told.Paused || ps.ID != told.ID {
			if err := send(ps); err != nil {
				return err
			}
			told = ps
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// expirePauses resumes pauses whose TTL ran out, every second until ctx
// ends: a backup script that crashed never leaves a secondary paused.
func (p *Primary) expirePauses(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, pa := range p.Pauses() {
				if now.After(pa.Expires) {
					p.log.Warn("pause expired: resuming", "peer", pa.Peer, "pause", pa.ID, "ttl", pa.Expires.Sub(pa.Since))
					if _, err := p.resume(pa.Peer); err != nil && !errors.Is(err, ErrNotPaused) {
						p.log.Error("resume expired pause", "peer", pa.Peer, "err", err)
					}
				}
			}
		}
	}
}

// PauseSelf implements transport.Pauser: a secondary pausing itself.
func (p *Primary) PauseSelf(ctx context.Context, pe transport.Peer, ttl time.Duration) (transport.PausePoint, error) {
	pa, err := p.pause(ctx, pe.Node, ttl)
	if err != nil {
		return transport.PausePoint{}, refusal(err)
	}
	return transport.PausePoint{ID: pa.ID, Since: pa.Since, Expires: pa.Expires, Hold: pa.Hold}, nil
}

// ResumeSelf implements transport.Pauser.
func (p *Primary) ResumeSelf(_ context.Context, pe transport.Peer) error {
	_, err := p.resume(pe.Node)
	return refusal(err)
}

// refusal turns the errors a caller can act on into refusals, so that
// their message reaches the secondary as they are.
func refusal(err error) error {
	if errors.Is(err, ErrAlreadyPaused) || errors.Is(err, ErrNotPaused) || errors.Is(err, ErrUnknownPeer) {
		return &transport.Refusal{Reason: transport.ErrRefused, Msg: err.Error()}
	}
	return err
}
