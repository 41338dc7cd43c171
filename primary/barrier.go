package primary

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
)

// A barrier answers: does every named secondary durably hold every change
// made on the primary before the barrier was taken?
//
// It flushes the watcher (so every earlier change is journaled) and takes
// S, the head of each folder. Acknowledging S is not enough on its own:
// the journal keeps only the latest version of each path, so a path whose
// version at S has a sequence s ≤ S and that changes again afterwards moves
// above S, and a peer that had not received it at s can acknowledge S
// without it. So, in the same snapshot in which it takes S, the barrier
// notes the paths with sequences after the lowest peer position (the
// versions some peer may still lack). A peer that has acknowledged A holds
// the latest version of every path whose latest sequence is ≤ A; so it has
// reached the barrier in a folder once A ≥ S and no noted path it lacked
// at the start has an entry above A.
//
// Waiting costs a lock and a map copy per peer every barrierPoll, so an
// idle, consistent cluster answers at once and a busy one within a few
// milliseconds of the acknowledgment; the journal is read only when a
// peer's acknowledgment moves past S, and to count what is left once per
// barrierReport.

// DefaultBarrierTimeout is a barrier's timeout when the request names none.
const DefaultBarrierTimeout = 10 * time.Minute

const (
	barrierPoll   = 5 * time.Millisecond // how often acknowledgments are looked at
	barrierReport = time.Second          // how often progress is counted and reported
	// barrierLimit bounds the journal entries one barrier reads at a time
	// (noting paths, counting what a peer has left).
	barrierLimit = 100_000
)

// ErrVerify is returned by a barrier with Verify when the tree hashes of
// primary and a peer differ at the target or cannot be compared.
var ErrVerify = errors.New("barrier verification failed")

var (
	errBarrierTimeout = errors.New("barrier timeout")
	errStopReading    = errors.New("stop reading")
)

// Barrier flushes the watcher, takes the journal head of every folder and
// waits until every peer of req (default: every configured secondary) holds
// every change up to it, or req.Timeout (default DefaultBarrierTimeout)
// runs out: the result is then Done but not Reached, its message naming
// each laggard with its position and lag. progress is called, never
// concurrently, with the state while it waits. An unknown peer fails with
// ErrUnknownPeer, a mismatch under req.Verify with ErrVerify. Barriers may
// run concurrently.
func (p *Primary) Barrier(ctx context.Context, req control.BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error) {
	peers, err := p.barrierPeers(req.Peers)
	if err != nil {
		return report.BarrierProgress{}, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultBarrierTimeout
	}
	node := &primaryBarrierNode{p: p, durable: make(map[string]map[string]uint64)}
	for _, name := range peers {
		if node.durable[name], err = p.db.PeerAcks(name); err != nil {
			return report.BarrierProgress{}, err
		}
	}
	if progress == nil {
		progress = func(report.BarrierProgress) {}
	}
	b := &barrier{db: p.db, node: node, ids: p.order, names: peers, verify: req.Verify, progress: progress}
	res, err := b.run(ctx, timeout)
	switch {
	case err != nil:
		p.log.Warn("barrier failed", "peers", peers, "err", err)
	case res.Reached:
		p.log.Info("barrier reached", "peers", peers, "target", positions(res.Target), "took", time.Since(b.started).Round(time.Millisecond))
	default:
		p.log.Warn("barrier timed out", "peers", peers, "timeout", timeout, "laggards", res.Message)
	}
	return res, err
}

// barrierPeers checks the requested peers against the configured ones.
func (p *Primary) barrierPeers(req []string) ([]string, error) {
	if len(req) == 0 {
		return p.Secondaries(), nil
	}
	configured := p.Secondaries()
	var out []string
	for _, name := range req {
		if !slices.Contains(configured, name) {
			return nil, fmt.Errorf("barrier: peer %q: %w: the configured secondaries are %q", name, ErrUnknownPeer, configured)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// barrierNode is what a barrier needs of the primary besides its index.
type barrierNode interface {
	// flush returns once every change made before the call is journaled.
	flush(ctx context.Context) error
	// peer is what is known of a secondary's progress now. It is called
	// every barrierPoll, so it must be cheap.
	peer(name string) peerProgress
	// peerTreeHash asks a secondary for its tree hash of folder at seq.
	peerTreeHash(ctx context.Context, name, folder string, seq uint64) (treeHash, error)
}

// peerProgress is a secondary's state as the primary knows it.
type peerProgress struct {
	connected bool
	acked     map[string]uint64 // folder → durably applied sequence
	lastSeen  time.Time
	lastErr   string
	applyErr  map[string]string // folder → why the peer cannot apply it; nil if none
	paused    string            // the peer's pause, which holds it back, described; "" if none
}

// treeHash is a hash over a folder's tree at a sequence (index.DB.TreeHash).
type treeHash struct {
	hash    chunker.ID
	entries uint64
	seq     uint64
}

// primaryBarrierNode is barrierNode over a running Primary.
type primaryBarrierNode struct {
	p       *Primary
	durable map[string]map[string]uint64 // peer → folder → ack in the index when the barrier began
}

func (n *primaryBarrierNode) flush(ctx context.Context) error { return n.p.Flush(ctx) }

func (n *primaryBarrierNode) peer(name string) peerProgress {
	pp := peerProgress{acked: make(map[string]uint64, len(n.p.order))}
	for f, seq := range n.durable[name] {
		pp.acked[f] = seq
	}
	for _, pa := range n.p.Pauses() {
		if pa.Peer == name {
			pp.paused = describeHold(pa)
		}
	}
	n.p.mu.Lock()
	ps := n.p.peers[name]
	n.p.mu.Unlock()
	if ps == nil {
		return pp
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp.connected, pp.lastSeen, pp.lastErr = ps.sessions > 0, ps.lastSeen, ps.lastErr
	if len(ps.applyErr) > 0 {
		pp.applyErr = maps.Clone(ps.applyErr)
	}
	// The session's positions win over the index's: a secondary rebuilt
	// from scratch starts again from 0.
	for f, seq := range ps.acked {
		pp.acked[f] = seq
	}
	return pp
}

func (n *primaryBarrierNode) peerTreeHash(ctx context.Context, name, folder string, _ uint64) (treeHash, error) {
	r, err := n.p.trees.ask(ctx, name, folder)
	if err != nil {
		return treeHash{}, err
	}
	return treeHash{hash: r.Hash, entries: r.Entries, seq: r.Seq}, nil
}

// barrier is one barrier being waited for.
type barrier struct {
	db       *index.DB
	node     barrierNode
	ids      []string // folders
	names    []string // peers
	verify   bool
	progress func(report.BarrierProgress)

	started time.Time
	folders []*barrierFolder // in ids order, once the target is taken
	peers   []*barrierPeer   // in names order
}

// barrierFolder is a folder's target and the paths whose version at the
// target some peer may lack.
type barrierFolder struct {
	id      string
	target  uint64
	noted   map[string]uint64 // path → sequence of its version at target, for sequences after the lowest start
	partial bool              // too many to note: any entry above a peer's acknowledgment holds it back
}

// barrierPeer is one peer's progress, per folder in ids order.
type barrierPeer struct {
	name  string
	last  peerProgress
	pairs []*barrierPair
}

// barrierPair is one peer in one folder.
type barrierPair struct {
	start   uint64 // the peer's position when the target was taken
	acked   uint64
	reset   bool // the peer went back behind start (rebuilt): any entry above acked holds it back
	checked bool // the journal was read for acked already
	reached bool
	left    index.Lag // what the peer still has to apply, as last counted
}

func (bp *barrierPeer) reached() bool {
	for _, pr := range bp.pairs {
		if !pr.reached {
			return false
		}
	}
	return true
}

// run takes the target and waits for the peers until timeout.
func (b *barrier) run(ctx context.Context, timeout time.Duration) (report.BarrierProgress, error) {
	b.started = time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errBarrierTimeout)
	defer cancel()
	for _, name := range b.names {
		b.peers = append(b.peers, &barrierPeer{name: name, last: b.node.peer(name)})
	}
	// Positions are read before the flush: a peer can only be further on
	// when the target is taken, which keeps the noted paths a superset.
	if err := b.node.flush(ctx); err != nil {
		if context.Cause(ctx) == errBarrierTimeout {
			why := "the primary did not finish journaling the changes made before the barrier (a large scan running?)"
			var held *heldError
			if errors.As(err, &held) {
				why = "the primary holds back a file it may not send yet: " + held.what
			}
			return b.timedOut(timeout, why), nil
		}
		return report.BarrierProgress{}, fmt.Errorf("barrier: flush: %w", err)
	}
	if err := b.takeTarget(); err != nil {
		return report.BarrierProgress{}, err
	}
	if _, err := b.observe(); err != nil {
		return report.BarrierProgress{}, err
	}
	if !b.reached() {
		if err := b.count(); err != nil {
			return report.BarrierProgress{}, err
		}
		b.progress(b.state())
		if err := b.wait(ctx); err != nil {
			if context.Cause(ctx) == errBarrierTimeout {
				if err := b.count(); err != nil {
					return report.BarrierProgress{}, err
				}
				return b.timedOut(timeout, b.laggards()), nil
			}
			return report.BarrierProgress{}, err
		}
	}
	res := b.state()
	res.Done, res.Reached = true, true
	verb := "hold"
	if len(b.names) == 1 {
		verb = "holds"
	}
	res.Message = fmt.Sprintf("barrier reached: %s %s every change up to %s (took %s)",
		strings.Join(b.names, ", "), verb, positions(res.Target), time.Since(b.started).Round(time.Millisecond))
	if len(b.names) == 0 {
		res.Message = "barrier reached: no secondaries are configured, so there is nothing to wait for"
	}
	if b.verify {
		if err := b.verifyTrees(ctx); err != nil {
			return res, err
		}
		res.Message += "; tree hashes verified equal"
	}
	return res, nil
}

// wait polls the peers until every one has reached the target or ctx ends.
func (b *barrier) wait(ctx context.Context) error {
	poll := time.NewTicker(barrierPoll)
	defer poll.Stop()
	report := time.NewTicker(barrierReport)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
			changed, err := b.observe()
			if err != nil {
				return err
			}
			if b.reached() {
				return nil
			}
			if changed {
				b.progress(b.state())
			}
		case <-report.C:
			if err := b.count(); err != nil {
				return err
			}
			b.progress(b.state())
		}
	}
}

func (b *barrier) reached() bool {
	for _, bp := range b.peers {
		if !bp.reached() {
			return false
		}
	}
	return true
}

// takeTarget takes each folder's head and notes, in the same snapshot, the
// paths whose latest version came after the lowest peer position.
func (b *barrier) takeTarget() error {
	for _, id := range b.ids {
		from := uint64(1<<64 - 1)
		for _, bp := range b.peers {
			start := bp.last.acked[id]
			bp.pairs = append(bp.pairs, &barrierPair{start: start, acked: start})
			from = min(from, start)
		}
		f := &barrierFolder{id: id, noted: make(map[string]uint64)}
		_, head, err := b.db.SinceHead(id, from, barrierLimit, func(e index.Entry) error {
			f.noted[e.Path] = e.Seq
			return nil
		})
		if err != nil {
			return fmt.Errorf("barrier: folder %q: %w", id, err)
		}
		f.target = head
		if len(f.noted) >= barrierLimit {
			f.noted, f.partial = nil, true
		}
		b.folders = append(b.folders, f)
	}
	return nil
}

// observe reads every peer's acknowledgments and checks the pairs whose
// acknowledgment moved past the target. It reports whether anything shown
// in progress changed.
func (b *barrier) observe() (bool, error) {
	changed := false
	for _, bp := range b.peers {
		if bp.reached() {
			continue
		}
		now := b.node.peer(bp.name)
		changed = changed || now.connected != bp.last.connected || !maps.Equal(now.applyErr, bp.last.applyErr)
		bp.last = now
		for i, pr := range bp.pairs {
			if pr.reached {
				continue
			}
			if a := now.acked[b.folders[i].id]; a != pr.acked {
				pr.acked, pr.checked = a, false
				pr.reset = pr.reset || a < pr.start
			}
			was := pr.reached
			if err := b.check(b.folders[i], pr); err != nil {
				return false, err
			}
			changed = changed || pr.reached != was
		}
	}
	return changed, nil
}

// check decides whether pr has reached f's target: its acknowledgment is
// at or past the target and no path it may have lacked has a newer entry
// above it.
func (b *barrier) check(f *barrierFolder, pr *barrierPair) error {
	if pr.acked < f.target || pr.checked {
		return nil
	}
	pr.checked = true
	lag, err := b.readAfter(f.id, pr.acked, 0, func(e index.Entry) bool {
		if f.partial || pr.reset {
			return true
		}
		seq, ok := f.noted[e.Path]
		return ok && seq > pr.start
	})
	if err != nil {
		return err
	}
	pr.left = lag
	pr.reached = lag.Exact && lag.Entries == 0
	return nil
}

// count refreshes what each waiting peer has left to apply: the entries up
// to the target, or, past it, the newer versions of noted paths.
func (b *barrier) count() error {
	for _, bp := range b.peers {
		for i, pr := range bp.pairs {
			f := b.folders[i]
			if pr.reached || pr.acked >= f.target {
				continue // check keeps left up to date past the target
			}
			lag, err := b.readAfter(f.id, pr.acked, f.target, func(index.Entry) bool { return true })
			if err != nil {
				return err
			}
			pr.left = lag
		}
	}
	return nil
}

// readAfter counts the entries of folder after `after` (up to upTo unless
// it is 0) that keep accepts, and the bytes of the live files among them,
// reading at most barrierLimit entries.
func (b *barrier) readAfter(folder string, after, upTo uint64, keep func(index.Entry) bool) (index.Lag, error) {
	lag := index.Lag{Exact: true}
	n := 0
	_, _, err := b.db.SinceHead(folder, after, 0, func(e index.Entry) error {
		if upTo > 0 && e.Seq > upTo {
			return errStopReading
		}
		if n++; n > barrierLimit {
			lag.Exact = false
			return errStopReading
		}
		if keep(e) {
			lag.Entries++
			if e.Kind == index.KindFile && !e.Deleted {
				lag.Bytes += uint64(e.Size)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopReading) {
		return lag, fmt.Errorf("barrier: folder %q: %w", folder, err)
	}
	return lag, nil
}

// state is the barrier's progress as reported.
func (b *barrier) state() report.BarrierProgress {
	var st report.BarrierProgress
	for _, f := range b.folders {
		st.Target = append(st.Target, report.Position{Folder: f.id, Seq: f.target})
	}
	for _, bp := range b.peers {
		sp := report.BarrierPeer{Node: bp.name, Connected: bp.last.connected, Message: peerNote(bp.last),
			Reached: len(b.folders) > 0 && bp.reached()}
		for i, pr := range bp.pairs {
			pf := report.PeerFolder{Folder: b.folders[i].id, AckedSeq: pr.acked}
			if !pr.reached {
				pf.LagEntries, pf.LagBytes, pf.LagAtLeast = pr.left.Entries, pr.left.Bytes, !pr.left.Exact
			}
			sp.Folders = append(sp.Folders, pf)
		}
		st.Peers = append(st.Peers, sp)
	}
	return st
}

// timedOut is the outcome of a barrier that ran out of time.
func (b *barrier) timedOut(timeout time.Duration, why string) report.BarrierProgress {
	st := b.state()
	st.Done = true
	st.Message = fmt.Sprintf("barrier not reached within %s: %s", timeout, why)
	return st
}

// laggards names each peer that has not reached the target, with its
// position and what it has left, per folder.
func (b *barrier) laggards() string {
	var out []string
	for _, bp := range b.peers {
		if bp.reached() {
			continue
		}
		var folders []string
		for i, pr := range bp.pairs {
			if pr.reached {
				continue
			}
			f := b.folders[i]
			at := ""
			if !pr.left.Exact {
				at = "at least "
			}
			if pr.acked < f.target {
				folders = append(folders, fmt.Sprintf("folder %s at %d of %d, %s%d entries (%s) left",
					f.id, pr.acked, f.target, at, pr.left.Entries, humanBytes(pr.left.Bytes)))
			} else {
				folders = append(folders, fmt.Sprintf("folder %s at %d, past %d, but %s%d paths changed since are not applied yet",
					f.id, pr.acked, f.target, at, pr.left.Entries))
			}
		}
		note := ""
		if n := peerNote(bp.last); n != "" {
			note = " (" + n + ")"
		}
		out = append(out, fmt.Sprintf("%s%s: %s", bp.name, note, strings.Join(folders, ", ")))
	}
	return strings.Join(out, "; ")
}

// describeHold describes a pause for a barrier's laggard list: a paused
// peer applies nothing past its hold point until it is resumed.
func describeHold(pa index.Pause) string {
	hold := make([]report.Position, 0, len(pa.Hold))
	for f, seq := range pa.Hold {
		hold = append(hold, report.Position{Folder: f, Seq: seq})
	}
	slices.SortFunc(hold, func(a, b report.Position) int { return strings.Compare(a.Folder, b.Folder) })
	at := "not yet at its point"
	if len(hold) > 0 {
		at = "held at " + positions(hold)
	}
	return fmt.Sprintf("paused (pause %s since %s, %s, until `ncsync resume --peer %s` or %s)",
		pa.ID, pa.Since.Format(time.DateTime), at, pa.Peer, pa.Expires.Format(time.DateTime))
}

// peerNote says why a peer may be behind: paused, disconnected, or its
// last error.
func peerNote(pp peerProgress) string {
	var parts []string
	if pp.paused != "" {
		parts = append(parts, pp.paused)
	}
	switch {
	case pp.connected:
	case pp.lastSeen.IsZero():
		parts = append(parts, "disconnected, not seen since the primary started")
	default:
		parts = append(parts, "disconnected, last seen "+pp.lastSeen.Format(time.DateTime))
	}
	for _, f := range slices.Sorted(maps.Keys(pp.applyErr)) {
		parts = append(parts, fmt.Sprintf("cannot apply folder %s: %s", f, pp.applyErr[f]))
	}
	if pp.lastErr != "" {
		parts = append(parts, "last error: "+pp.lastErr)
	}
	return strings.Join(parts, "; ")
}

// verifyTrees compares the primary's tree hash of every folder with each
// peer's, at the target. The primary's tree must still be at the target.
func (b *barrier) verifyTrees(ctx context.Context) error {
	var problems []string
	for _, f := range b.folders {
		hash, entries, head, err := b.db.TreeHash(f.id)
		if err != nil {
			return fmt.Errorf("barrier: tree hash of folder %q: %w", f.id, err)
		}
		if head != f.target {
			return fmt.Errorf("%w: folder %s changed after the barrier point (sequence %d, now %d): verifying needs a tree that holds still (maintenance mode on)",
				ErrVerify, f.id, f.target, head)
		}
		for _, name := range b.names {
			th, err := b.node.peerTreeHash(ctx, name, f.id, f.target)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s, folder %s: %v", name, f.id, err))
			case th.seq != f.target:
				problems = append(problems, fmt.Sprintf("%s, folder %s: hashed at sequence %d, not at the barrier point %d", name, f.id, th.seq, f.target))
			case th.hash != hash || th.entries != entries:
				problems = append(problems, fmt.Sprintf("%s, folder %s: the tree differs from the primary's at sequence %d (%d entries on the primary, %d on %s): run `ncsync verify --peer %s` for the differences",
					name, f.id, f.target, entries, th.entries, name, name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrVerify, strings.Join(problems, "; "))
	}
	return nil
}

// positions formats a target as "data@150, webroot@20".
func positions(ps []report.Position) string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s@%d", p.Folder, p.Seq))
	}
	return strings.Join(out, ", ")
}

func humanBytes(n uint64) string { return report.HumanBytes(int64(n)) }
