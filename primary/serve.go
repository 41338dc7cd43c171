package primary

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/stage"
	"github.com/ncsync/ncsync/transport"
)

// peer is the primary's view of one secondary.
type peer struct {
	node string

	mu       sync.Mutex
	sessions int // open Sync sessions (a reconnect may overlap the old one)
	addr     string
	since    time.Time
	lastSeen time.Time
	lastErr  string
	acked    map[string]uint64
	applyErr map[string]string                     // folder → why the peer cannot apply it, until it acks without error
	ends     map[*context.CancelCauseFunc]struct{} // running sessions (admit.go)
	traffic  map[string]traffic                    // folder → what was sent and refused since start (traffic.go)
}

func newPeer(node string) *peer {
	return &peer{node: node, acked: make(map[string]uint64), applyErr: make(map[string]string), traffic: make(map[string]traffic)}
}

// Welcome admits a secondary (Admit has checked that it is configured) of
// this cluster that is not from a newer epoch than ours.
func (p *Primary) Welcome(ctx context.Context, pe transport.Peer, h transport.Hello) (transport.Welcome, error) {
	if h.ClusterID != p.opts.ClusterID {
		return transport.Welcome{}, transport.Refuse(transport.ErrNotMember,
			"node %q belongs to cluster %s, this primary to cluster %s", pe.Node, h.ClusterID, p.opts.ClusterID)
	}
	meta, err := p.db.Meta()
	if err != nil {
		return transport.Welcome{}, err
	}
	if h.Epoch > meta.Epoch {
		return transport.Welcome{}, transport.Refuse(transport.ErrStaleEpoch,
			"node %q has seen epoch %d but this primary (%s) is at epoch %d: this primary is stale; restart it as a secondary of the current primary",
			pe.Node, h.Epoch, p.opts.Node, meta.Epoch)
	}
	w := transport.Welcome{ClusterID: p.opts.ClusterID, Node: p.opts.Node, Epoch: meta.Epoch,
		Folders: make(map[string]uint64), Lineage: meta.Lineage}
	for _, id := range p.order {
		head, err := p.db.Head(id)
		if err != nil {
			return transport.Welcome{}, err
		}
		if pos, ok := h.Positions[id]; ok && pos > head {
			return transport.Welcome{}, transport.Refuse(transport.ErrStaleEpoch,
				"node %q is at sequence %d of folder %q, ahead of this primary's %d: its data came from another primary term or index; refusing to replicate over it",
				pe.Node, pos, id, head)
		}
		w.Folders[id] = head
	}
	return w, nil
}

// Serve streams each folder's journal after the peer's position, keeping at
// most Window unacknowledged batches per folder in flight, until ctx ends or
// the peer goes away. A slow peer only slows its own session: entries are
// read from the index as they are sent, so a far-behind peer costs no memory.
func (p *Primary) Serve(ctx context.Context, pe transport.Peer, h transport.Hello, send func(transport.Message) error, replies <-chan transport.Reply) error {
	ps := p.peer(pe.Node)
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	defer ps.trackSession(end)()
	if err := p.Admit(pe); err != nil { // removed since the session was welcomed
		return err
	}
	ps.connect(pe.Addr)
	defer ps.disconnect()
	defer p.serving().files.closeIdle()

	g, ctx := errgroup.WithContext(ctx)
	var sendMu sync.Mutex
	lockedSend := func(m transport.Message) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return send(m)
	}
	windows := make(map[string]*window)
	p.setStage(pe.Node, h.StageLimit, h.StagedBytes)
	defer p.trees.attach(pe.Node, lockedSend)()
	for _, id := range p.order {
		pos, ok := h.Positions[id]
		if !ok {
			continue // the secondary does not replicate this folder
		}
		ps.setAcked(id, pos)
		w := newWindow(p.opts.Window)
		windows[id] = w
		from, staging := pos, false
		if st := h.Staged[id]; st > pos { // it staged past its position while paused
			from, staging = st, true
		}
		g.Go(func() error { return p.sendFolder(ctx, pe.Node, id, from, staging, h.ChunkDeltas, w, lockedSend) })
	}
	g.Go(func() error { return p.tellPause(ctx, pe.Node, lockedSend) })
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case r, ok := <-replies:
				if !ok {
					return errPeerGone
				}
				var a transport.Ack
				switch r := r.(type) {
				case transport.TreeHashReport: // an answer, not an ack
					if !p.trees.answer(pe.Node, r) {
						p.log.Warn("ignored a tree hash answer to a query this peer was not asked", "peer", pe.Node, "folder", r.Folder)
					}
					continue
				case transport.Ack:
					a = r
				}
				w, ok := windows[a.Folder]
				if !ok {
					return fmt.Errorf("ack for folder %q that was not sent", a.Folder)
				}
				if a.ApplyError != "" { // it retries; the batch stays in flight
					if ps.setApplyErr(a.Folder, a.ApplyError) {
						p.log.Warn("secondary cannot apply", "peer", pe.Node, "folder", a.Folder, "err", a.ApplyError)
					}
					continue
				}
				if a.Staged { // stored by the paused peer, not applied
					p.stagedAck(pe.Node, a.Folder, a.StagedBytes)
					w.ack(a.Seq)
					continue
				}
				// Seq is what the peer durably holds (barriers, pauses, lag);
				// it may have processed further, past an entry it skipped
				// until a newer version arrives: that only frees the window.
				if err := p.db.SetPeerAck(pe.Node, a.Folder, a.Seq); err != nil {
					return err
				}
				ps.ack(a)
				w.ack(max(a.Seq, a.Processed))
				for _, f := range a.Failures {
					p.log.Warn("secondary refused an entry", "peer", pe.Node, "folder", a.Folder,
						"path", f.Path, "seq", f.Seq, "err", f.Message)
				}
			}
		}
	})
	err := g.Wait()
	if errors.Is(context.Cause(ctx), errRemoved) {
		p.log.Warn("ended the session of a node that is no longer a secondary", "peer", pe.Node)
		return p.Admit(pe)
	}
	if errors.Is(err, errPeerGone) || errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		ps.setErr(err)
	}
	return err
}

var errPeerGone = errors.New("peer closed its session")

// sendFolder streams folder id's journal to peer from pos, within the
// window, holding or sending to stage where a pause says so (see
// pause.go). staging says the peer has staged batches up to pos that it
// has not applied; deltas that it takes chunk lists as deltas (delta.go).
func (p *Primary) sendFolder(ctx context.Context, peer, id string, pos uint64, staging, deltas bool, w *window, send func(transport.Message) error) error {
	for {
		if err := w.wait(ctx); err != nil {
			return err
		}
		gate := p.sendGate(peer, id, pos)
		if gate.hold {
			select {
			case <-gate.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if staging && !gate.stage {
			// The pause ended: the peer applies what it staged first.
			if err := send(transport.ApplyStaged{Folder: id}); err != nil {
				return err
			}
			w.sent(pos)
			staging = false
			continue
		}
		maxBytes := p.opts.BatchBytes
		if gate.stage {
			maxBytes = min(maxBytes, gate.budget)
		}
		b := transport.Batch{Folder: id, Stage: gate.stage, HeldAt: gate.heldAt}
		var bytes int64
		last, head, err := p.db.SinceHead(id, pos, p.opts.BatchEntries, func(e index.Entry) error {
			var size int64
			switch {
			case gate.stage: // what the peer may store of it
				size = stage.EntryCost(&e)
			case e.Kind == index.KindFile && !e.Deleted:
				size = e.Size
			}
			// A staged batch must fit the peer's stage even with one entry.
			if (len(b.Entries) > 0 || gate.stage) && bytes+size > maxBytes {
				return errBatchFull
			}
			b.Entries = append(b.Entries, e)
			bytes += size
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return err
		}
		if len(b.Entries) == 0 && gate.stage && errors.Is(err, errBatchFull) {
			p.spendStage(peer, 0, true) // the next entry does not fit: hold
			continue
		}
		if len(b.Entries) == 0 {
			p.sentUpTo(peer, id, pos, head)
			if err := p.waitJournal(ctx, id, pos, gate.wake); err != nil {
				return err
			}
			continue
		}
		full := errors.Is(err, errBatchFull) || len(b.Entries) >= p.opts.BatchEntries
		if !gate.stage && !full && w.inFlight() >= partialInFlight {
			// The peer has a batch to apply and the next one behind it: a
			// part batch waits for an ack and leaves with what the journal
			// gained meanwhile (see partialInFlight).
			if err := w.waitBelow(ctx, partialInFlight, gate.wake); err != nil {
				return err
			}
			continue
		}
		last = b.Entries[len(b.Entries)-1].Seq
		b.Head = head
		if deltas {
			if err := p.addDeltas(id, &b, pos); err != nil {
				return err
			}
		}
		p.serving().sent.remember(id, p.folders[id].cfg.Path, b.Entries)
		if gate.stage {
			staging = true
			p.spendStage(peer, bytes, false)
		}
		if err := send(b); err != nil {
			return err
		}
		p.peer(peer).sent(id, b.Entries, len(b.Deltas))
		p.log.Debug("sent batch", "peer", peer, "folder", id, "entries", len(b.Entries), "seq", last, "head", head, "bytes", bytes)
		w.sent(last)
		pos = last
		p.sentUpTo(peer, id, last, head)
	}
}

// waitJournal waits for the journal of folder id to grow past pos, for
// wake to close (pauses changed) or for ctx to end, which alone is an
// error.
func (p *Primary) waitJournal(ctx context.Context, id string, pos uint64, wake <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	woken, done := false, make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-wake:
			woken = true
			cancel()
		case <-wctx.Done():
		}
	}()
	err := p.db.Wait(wctx, id, pos)
	cancel()
	<-done
	if woken && ctx.Err() == nil {
		return nil // a pause changed
	}
	return err
}

var errBatchFull = errors.New("batch full")

// partialInFlight is how many batches may be in flight to a peer before a
// batch that is not full waits for an ack. Two keep the peer busy: one is
// applied while the chunks of the next one flow. During a burst of writes
// the journal grows a little at each scan; sending each such part at once
// would queue many small batches, each paying its own group commit,
// directory syncs, index commit and ack. Held back until the peer is done
// with one, the part grows into one larger batch, made durable once.
// A single change still leaves at once: nothing is in flight then.
const partialInFlight = 2

// window bounds the batches in flight to one peer in one folder.
type window struct {
	max    int
	mu     sync.Mutex
	lasts  []uint64 // last seq of each unacknowledged batch
	wakeup chan struct{}
}

func newWindow(max int) *window { return &window{max: max, wakeup: make(chan struct{}, 1)} }

func (w *window) sent(last uint64) {
	w.mu.Lock()
	w.lasts = append(w.lasts, last)
	w.mu.Unlock()
}

func (w *window) ack(seq uint64) {
	w.mu.Lock()
	i := 0
	for i < len(w.lasts) && w.lasts[i] <= seq {
		i++
	}
	w.lasts = w.lasts[i:]
	w.mu.Unlock()
	select {
	case w.wakeup <- struct{}{}:
	default:
	}
}

func (w *window) wait(ctx context.Context) error { return w.waitBelow(ctx, w.max, nil) }

// inFlight is the number of batches sent and not acknowledged.
func (w *window) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lasts)
}

// waitBelow waits until fewer than n batches are in flight, or wake is
// closed (nil: never).
func (w *window) waitBelow(ctx context.Context, n int, wake <-chan struct{}) error {
	for w.inFlight() >= n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return nil
		case <-w.wakeup:
		}
	}
	return nil
}

// ReadChunk reads a chunk from a live file that holds it. Chunks of
// recently sent entries are read where those entries put them, verified by
// the file's stat (see chunkread.go); others are looked up in the index and
// their bytes hashed again (the file may have changed since its scan).
func (p *Primary) ReadChunk(ctx context.Context, folderID string, id chunker.ID, buf []byte) ([]byte, error) {
	out, _, err := p.ReadChunkHint(ctx, folderID, id, buf)
	return out, err
}

// ReadChunkHint implements transport.ChunkHintSource: ReadChunk, and
// whether the chunk's file type is worth compressing.
func (p *Primary) ReadChunkHint(ctx context.Context, folderID string, id chunker.ID, buf []byte) ([]byte, bool, error) {
	f, ok := p.folders[folderID]
	if !ok {
		return nil, false, fmt.Errorf("folder %q: %w", folderID, errNoFolder)
	}
	st := p.serving()
	if c, ok := st.sent.get(folderID, id); ok {
		if out, err := st.files.readChunk(ctx, c, buf); err == nil {
			return out, c.file.compress, nil
		}
	}
	locs, err := p.db.LookupChunk(id, 8)
	if err != nil {
		return nil, false, err
	}
	for _, loc := range locs {
		if loc.Folder != folderID {
			continue
		}
		out, err := readAt(ctx, filepath.Join(f.cfg.Path, filepath.FromSlash(loc.Path)), loc.Offset, int(loc.Size), buf)
		if err == nil && chunker.Sum(out[len(buf):]) == id {
			return out, worthCompressing(loc.Path), nil
		}
	}
	return nil, false, transport.ErrChunkMissing
}

// readAt reads n bytes at off of the file name under the writers' locks
// (lockChunkFile); the caller checks the bytes' hash.
func readAt(ctx context.Context, name string, off int64, n int, buf []byte) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var lockedOut atomic.Bool
	lk := lockChunkFile(ctx, fd, &lockedOut)
	defer lk.Unlock()
	out := slices.Grow(buf, n)[:len(buf)+n]
	if err := preadFull(fd, out[len(buf):], off); err != nil {
		return nil, err
	}
	return out, nil
}

// TreeHash hashes the folder's indexed tree.
func (p *Primary) TreeHash(ctx context.Context, folderID string) (chunker.ID, uint64, uint64, error) {
	if _, ok := p.folders[folderID]; !ok {
		return chunker.ID{}, 0, 0, fmt.Errorf("folder %q: %w", folderID, errNoFolder)
	}
	return p.db.TreeHash(folderID)
}

func (p *Primary) peer(node string) *peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.peers[node]
	if !ok {
		ps = newPeer(node)
		p.peers[node] = ps
	}
	return ps
}

func (ps *peer) connect(addr string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.sessions++
	ps.addr = addr
	ps.since = time.Now()
	ps.lastSeen = ps.since
	ps.lastErr = ""
}

func (ps *peer) disconnect() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.sessions--
	ps.lastSeen = time.Now()
}

func (ps *peer) setAcked(folder string, seq uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.acked[folder] = seq
}

func (ps *peer) ack(a transport.Ack) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if a.Seq > ps.acked[a.Folder] {
		ps.acked[a.Folder] = a.Seq
	}
	delete(ps.applyErr, a.Folder)
	ps.lastSeen = time.Now()
	ps.refused(a.Folder, len(a.Failures))
	if len(a.Failures) > 0 {
		f := a.Failures[len(a.Failures)-1]
		ps.lastErr = fmt.Sprintf("refused %q: %s", f.Path, f.Message)
	}
}

func (ps *peer) setErr(err error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.lastErr = err.Error()
}

// setApplyErr records that the peer cannot apply folder, and reports
// whether the error is new.
func (ps *peer) setApplyErr(folder, msg string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.applyErr[folder] == msg {
		return false
	}
	ps.applyErr[folder] = msg
	return true
}
