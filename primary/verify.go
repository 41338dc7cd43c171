package primary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/transport"
	"github.com/ncsync/ncsync/verify"
)

// ncsync verify, primary side. The primary cannot dial a secondary, so it
// asks for a secondary's tree in the session's batch stream (a Batch with
// Verify set); the secondary walks its tree and streams it back with
// UploadManifest, which AcceptManifest hands to the verify waiting for it.
// The primary walks its own tree alongside and merges both (package
// verify), in passes separated by barriers so that changes in flight are
// not reported as differences.

// uploadStartTimeout bounds the wait for a secondary to start its upload
// once asked.
const uploadStartTimeout = 2 * time.Minute

// ErrVerifyRunning refuses a verify while another runs on this daemon: a
// verify reads every file on every node, and two would only compete for
// the same disks.
var ErrVerifyRunning = errors.New("verify already running on this primary (one at a time: it reads every file on every node); wait for it to finish, or stop it")

// verifyBook holds the manifest requests waiting for their upload.
// Ids are unguessable (newQueryID) and each is bound to the peer and
// folder it was sent to (take).
type verifyBook struct {
	running atomic.Bool // a Verify holds the one slot

	mu      sync.Mutex
	pending map[uint64]*manifestWait
}

// manifestWait is one request: the upload arrives on streams; the verify
// closes done once it no longer reads it.
type manifestWait struct {
	peer, folder string
	streams      chan transport.ManifestStream
	done         chan struct{}
}

func (vb *verifyBook) add(peer, folder string) (uint64, *manifestWait) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	if vb.pending == nil {
		vb.pending = make(map[uint64]*manifestWait)
	}
	id := newQueryID(func(id uint64) bool { return vb.pending[id] != nil })
	w := &manifestWait{peer: peer, folder: folder, streams: make(chan transport.ManifestStream, 1), done: make(chan struct{})}
	vb.pending[id] = w
	return id, w
}

func (vb *verifyBook) remove(id uint64) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	delete(vb.pending, id)
}

// take claims the request id for an upload of peer's folder.
func (vb *verifyBook) take(id uint64, peer, folder string) (*manifestWait, error) {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	w := vb.pending[id]
	if w == nil || w.peer != peer || w.folder != folder {
		return nil, transport.Refuse(transport.ErrUnknownQuery,
			"no verify of folder %q asked node %q for manifest %d (it ended, or was never asked)", folder, peer, id)
	}
	delete(vb.pending, id) // one upload per request
	return w, nil
}

// AcceptManifest implements transport.ManifestSink.
func (p *Primary) AcceptManifest(ctx context.Context, pe transport.Peer, query uint64, folder string, m transport.ManifestStream) error {
	w, err := p.verifs.take(query, pe.Node, folder)
	if err != nil {
		return err
	}
	w.streams <- m // buffered, and taken once
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Verify compares the tree of every folder on the primary with the same
// folder on each peer of o (by default every configured secondary):
// metadata and content, read from both disks now. It reports every
// finding, each folder's result and each folder that could not be
// verified (a peer that is not connected, a barrier that timed out) to
// report, which may stop the verify with an error. It returns whether
// anything differed or could not be verified. See verify.Run for how
// changes made during the verify are told from differences.
func (p *Primary) Verify(ctx context.Context, o verify.Request, report func(verify.Report) error) (clean bool, err error) {
	if !p.verifs.running.CompareAndSwap(false, true) {
		return false, ErrVerifyRunning
	}
	defer p.verifs.running.Store(false)
	peers, err := p.barrierPeers(o.Peers)
	if err != nil {
		return false, fmt.Errorf("verify: %w", err)
	}
	if len(peers) == 0 {
		return false, errors.New("verify: this primary has no secondaries configured: there is nothing to compare with")
	}
	clean = true
	for _, peer := range peers {
		for _, id := range p.order {
			f := p.folders[id]
			ro := verify.RunOptions{Options: verify.Options{IgnoreOwner: o.IgnoreOwner}, Progress: o.Progress}
			r := &verifyRemote{p: p, peer: peer, folder: id, ignore: f.cfg.IgnorePatterns()}
			open := func(targets []string) (verify.Tree, error) {
				return verify.NewWalker(f.cfg.Path, f.ignore, wireTargets(targets))
			}
			p.log.Info("verify started", "peer", peer, "folder", id)
			res, err := verify.Run(ctx, id, ro, r, open, func(e verify.Event) error {
				if err := report(verify.Report{Peer: peer, Event: e}); err != nil {
					return &reportError{err}
				}
				return nil
			})
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				var rerr *reportError
				if errors.As(err, &rerr) {
					return false, rerr.err
				}
				clean = false
				p.log.Warn("verify failed", "peer", peer, "folder", id, "err", err)
				if err := report(verify.Report{Peer: peer, Event: verify.Event{Kind: verify.KindError, Folder: id},
					Error: err.Error()}); err != nil {
					return false, err
				}
				continue
			}
			if res.Different() {
				clean = false
			}
			p.log.Info("verify done", "peer", peer, "folder", id, "seq", res.Seq, "compared", res.Compared,
				"differences", res.Differences, "changing", res.Changing, "resolved", res.Resolved, "unchecked", res.Unchecked)
			if err := report(verify.Report{Peer: peer, Event: verify.Event{Kind: verify.KindFolder, Folder: id, Seq: res.Seq},
				Result: &res}); err != nil {
				return false, err
			}
		}
	}
	return clean, nil
}

// reportError is a failure of the caller's report function: it ends the
// whole verify (the operator went away), not just a folder.
type reportError struct{ err error }

func (e *reportError) Error() string { return e.err.Error() }

// wireTargets turns verify.Targets into the paths of a request: the
// whole folder is no paths.
func wireTargets(targets []string) []string {
	if len(targets) == 1 && targets[0] == "" {
		return nil
	}
	return targets
}

// verifyRemote reaches one peer's folder for verify.Run.
type verifyRemote struct {
	p            *Primary
	peer, folder string
	ignore       []string
}

// Settle takes a barrier on the peer.
func (r *verifyRemote) Settle(ctx context.Context) (uint64, error) {
	if r.p.trees.link(r.peer) == nil {
		return 0, fmt.Errorf("secondary %q is not connected: start it, or check `ncsync status` for why it cannot connect", r.peer)
	}
	for _, pa := range r.p.Pauses() {
		if pa.Peer == r.peer {
			return 0, fmt.Errorf("secondary %q is %s: its tree is held at an earlier point, so it would differ from the primary's; verify it once it is resumed",
				r.peer, describeHold(pa))
		}
	}
	res, err := r.p.Barrier(ctx, control.BarrierRequest{Peers: []string{r.peer}}, nil)
	if err != nil {
		return 0, fmt.Errorf("barrier before comparing: %w", err)
	}
	if !res.Reached {
		return 0, fmt.Errorf("barrier before comparing did not complete: %s", res.Message)
	}
	i := slices.IndexFunc(res.Target, func(t report.Position) bool { return t.Folder == r.folder })
	if i < 0 {
		return 0, fmt.Errorf("barrier before comparing: no target for folder %q", r.folder)
	}
	return res.Target[i].Seq, nil
}

// Open asks the peer for its manifest below targets and waits for the
// upload to start.
func (r *verifyRemote) Open(ctx context.Context, targets []string) (verify.Source, func(), error) {
	l := r.p.trees.link(r.peer)
	if l == nil {
		return nil, nil, fmt.Errorf("secondary %q is not connected", r.peer)
	}
	id, w := r.p.verifs.add(r.peer, r.folder)
	closeFn := func() {
		r.p.verifs.remove(id)
		close(w.done)
	}
	q := transport.VerifyQuery{Folder: r.folder, ID: id, Paths: wireTargets(targets), Ignore: r.ignore}
	if n := querySize(q); n > maxQueryBytes {
		closeFn()
		return nil, nil, fmt.Errorf("the request for the secondary's tree would take %d bytes (paths and ignore patterns), more than %d", n, maxQueryBytes)
	}
	if err := l.send(q); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("ask secondary %q for its tree: %w", r.peer, err)
	}
	t := time.NewTimer(uploadStartTimeout)
	defer t.Stop()
	select {
	case m := <-w.streams:
		return peerSource{m: m, peer: r.peer}, closeFn, nil
	case <-t.C:
		closeFn()
		return nil, nil, fmt.Errorf("secondary %q did not start sending its tree within %s (is it running a version with ncsync verify? see its log)", r.peer, uploadStartTimeout)
	case <-ctx.Done():
		closeFn()
		return nil, nil, ctx.Err()
	}
}

// maxQueryBytes bounds a verify request, which travels as one message of
// the session (transport.DefaultMaxMessageBytes is 8 MiB).
const maxQueryBytes = 6 << 20

func querySize(q transport.VerifyQuery) int {
	n := 0
	for _, p := range q.Paths {
		n += len(p) + 8
	}
	for _, p := range q.Ignore {
		n += len(p) + 8
	}
	return n
}

// peerSource names the peer in the upload's errors.
type peerSource struct {
	m    transport.ManifestStream
	peer string
}

func (s peerSource) Next(ctx context.Context) (verify.Entry, error) {
	e, err := s.m.Next(ctx)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		return e, fmt.Errorf("secondary %q: %w", s.peer, err)
	}
	return e, err
}

// link returns peer's current session link, or nil.
func (q *treeQueries) link(peer string) *peerLink {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.links[peer]
}
