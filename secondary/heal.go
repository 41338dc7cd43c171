package secondary

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ncsync/ncsync/scanner"
	"github.com/ncsync/ncsync/transport"
	"github.com/ncsync/ncsync/watcher"
)

// A secondary heals. It watches its own folders (inotify, as the primary
// does) and audits them (a stat compare of the whole tree with the index,
// at start and every AuditInterval), looking for paths that differ from
// what ncsync last wrote there: the entry's replicated metadata, and the
// stat recorded right after the write (inode, size, mtime, ctime; a chmod
// or chown moves the ctime). ncsync's own writes match it, since a batch
// holds the folder's applyMu from its first write until its index commit
// and a repair pass takes applyMu too; anything else is a local change.
//
// A local change is put back (heal_repair.go): the index's version is
// applied again through the confined writer, which first keeps the local
// version in the conflict store when it holds data that version does not
// (the rule of local.go), and builds the file from local chunks where
// they still match, the rest fetched from the primary. An object the
// primary does not have (made on this node, outside this node's ignore
// patterns) is kept in the conflict store, then removed, as when a
// primary's change replaces a local object. Nothing is destroyed without
// being kept first; a keep that fails leaves the path as it is and the
// repair is tried again with backoff.
//
// Repairs restore the index's version: the primary's tree at the applied
// position which, while the node is paused, is the pause point. They wait
// while the node is not following its primary (the chunks come from it),
// while a folder catches up (the batches bring the tree forward and keep
// local changes at the paths they touch; a tree seeded before the first
// sync is reused by them, not removed) and while its batches fail (see
// failing). A repair never moves a
// position and is never acknowledged: barriers see only applied batches.

// HealOptions tune how a secondary watches and audits its own folders.
type HealOptions struct {
	// Quiet and MaxLatency tune the watcher (package watcher); zero takes
	// its defaults.
	Quiet, MaxLatency time.Duration
	// AuditInterval is how often the whole tree is compared with the
	// index; zero means an hour.
	AuditInterval time.Duration
}

// Bounds of a heal loop's waits.
const (
	healPoll       = 250 * time.Millisecond // while repairs wait for the session or the catch-up
	healMinBackoff = time.Second            // after a failed repair, doubling
	healMaxBackoff = time.Minute
	healWatchRetry = time.Minute // after the watcher failed
	// healQuiet is how long a folder's position must stay still (no batch
	// applied) before a repair pass runs.
	healQuiet = 300 * time.Millisecond
)

// healState is the client of the session following the primary, while
// there is one: repairs fetch their chunks through it.
type healState struct {
	mu     sync.Mutex
	client *transport.Client
}

// follow records c as the session's client, until the returned function
// is called.
func (h *healState) follow(c *transport.Client) func() {
	h.mu.Lock()
	h.client = c
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.client == c {
			h.client = nil
		}
		h.mu.Unlock()
	}
}

func (h *healState) current() *transport.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.client
}

// healer watches, audits and repairs one folder. Its methods run on its
// own goroutine (run), except the watcher's.
type healer struct {
	s    *Secondary
	f    *folder
	id   string
	log  *slog.Logger
	opts HealOptions
	div  *divergence      // the scanner's store: records differences (heal_scan.go)
	scan *scanner.Scanner // over div

	lastPos  uint64    // the folder's position when last looked at
	posMoved time.Time // when it was seen to move
	auditDue bool
	auditAt  time.Time // not before, after a failed audit
	auditErr time.Duration
	pending  map[string]bool // paths to look at
	failed   map[string]bool // paths whose repair failed, tried again at retryAt
	retryAt  time.Time
	backoff  time.Duration
}

// failing reports whether the folder's last batch failed. The tree may
// then hold files ncsync wrote but could not record (the index commit
// failed: a full state_dir), which the batch's retry recognises by their
// content; a repair would take them for local changes.
func (f *folder) failing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr != ""
}

// startHealing starts one heal loop per folder; they end with ctx.
func (s *Secondary) startHealing(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, id := range s.order {
		h, err := s.newHealer(id)
		if err != nil {
			s.log.Error("cannot watch and audit this folder: local changes stay until the primary changes the same paths", "folder", id, "err", err)
			continue
		}
		wg.Go(func() { h.run(ctx) })
	}
	return &wg
}

func (s *Secondary) newHealer(id string) (*healer, error) {
	f := s.folders[id]
	opts := *s.opts.Heal
	if opts.AuditInterval <= 0 {
		opts.AuditInterval = time.Hour
	}
	h := &healer{s: s, f: f, id: id, log: s.log.With("folder", id), opts: opts,
		div: &divergence{db: s.db, folder: id}, pending: map[string]bool{}, failed: map[string]bool{}}
	var err error
	h.scan, err = scanner.New(h.div, scanner.Options{Root: f.cfg.Path, Folder: id, Ignore: f.ignore,
		Version: noVersion, Log: h.log.With("audit", true), Hashers: 1})
	return h, err
}

// run watches the folder and repairs what differs until ctx ends: the
// paths the watcher reports, and everything at the first chance after
// start, after lost events and every AuditInterval.
func (h *healer) run(ctx context.Context) {
	batches := make(chan watcher.Batch)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.watch(ctx, batches) })
	audit := time.NewTicker(h.opts.AuditInterval)
	defer audit.Stop()
	h.auditDue = true
	timer := time.NewTimer(healPoll)
	defer timer.Stop()
	for {
		h.work(ctx)
		timer.Stop()
		var wake <-chan time.Time
		if d, ok := h.nextTry(); ok {
			timer.Reset(d)
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case b := <-batches:
			if b.Overflow {
				h.auditDue = true
			}
			for _, p := range b.Paths {
				if p == "" {
					h.auditDue = true
					continue
				}
				h.pending[p] = true
			}
		case <-audit.C:
			h.auditDue = true
		case <-wake:
		}
	}
}

// nextTry says how long until work has something to do without a new
// event, if ever.
func (h *healer) nextTry() (time.Duration, bool) {
	switch {
	case h.auditDue && time.Now().Before(h.auditAt):
		return time.Until(h.auditAt), true // after a failed audit
	case h.auditDue || len(h.pending) > 0:
		return healPoll, true // waiting for the session or the catch-up
	case len(h.failed) > 0:
		return max(time.Until(h.retryAt), 0), true
	}
	return 0, false
}

// watch runs the folder's watcher, sending its batches to out, until ctx
// ends; after a failure it asks for an audit and starts it again later.
func (h *healer) watch(ctx context.Context, out chan<- watcher.Batch) {
	for {
		w, err := watcher.New(watcher.Options{Root: h.f.cfg.Path, Ignore: h.f.ignore,
			Quiet: h.opts.Quiet, MaxLatency: h.opts.MaxLatency, Log: h.log.With("watch", "local changes")})
		if err == nil {
			err = w.Run(ctx, out)
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Error("cannot watch the folder for local changes: audits still find them; trying again later",
			"err", err, "in", healWatchRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(healWatchRetry):
		}
		select { // what changed meanwhile was not seen
		case out <- watcher.Batch{Paths: []string{""}, Overflow: true}:
		case <-ctx.Done():
			return
		}
	}
}

// work audits if one is due and repairs what is pending, once the folder
// may be repaired (ready).
func (h *healer) work(ctx context.Context) {
	if !h.ready() {
		return
	}
	if h.auditDue && !time.Now().Before(h.auditAt) {
		found, err := h.audit(ctx) // heal_scan.go
		if err != nil {
			if ctx.Err() == nil {
				h.auditErr = min(max(2*h.auditErr, healMinBackoff), healMaxBackoff)
				h.auditAt = time.Now().Add(h.auditErr)
				h.log.Warn("audit of the folder failed; trying again", "err", err, "in", h.auditErr)
			}
			return
		}
		h.auditDue, h.auditErr = false, 0
		for _, p := range found {
			h.pending[p] = true
		}
	}
	if len(h.failed) > 0 && !time.Now().Before(h.retryAt) {
		maps.Copy(h.pending, h.failed)
		clear(h.failed)
	}
	if len(h.pending) == 0 {
		return
	}
	paths := slices.Sorted(maps.Keys(h.pending))
	clear(h.pending)
	retry := h.pass(ctx, paths) // heal_repair.go
	if ctx.Err() != nil {
		return
	}
	if len(retry) == 0 {
		h.backoff = 0
		return
	}
	for _, p := range retry {
		h.failed[p] = true
	}
	h.backoff = min(max(2*h.backoff, healMinBackoff), healMaxBackoff)
	h.retryAt = time.Now().Add(h.backoff)
}

// ready reports whether the folder may be repaired now: the node follows
// its primary, the folder has caught up with the head it learnt of when
// the session began, its last batch did not fail, and no batch was
// applied for healQuiet.
func (h *healer) ready() bool {
	if h.s.heal.current() == nil || h.f.failing() {
		return false
	}
	h.s.mu.Lock()
	target, began := h.s.catchUp[h.id]
	h.s.mu.Unlock()
	pos, err := h.s.db.Position(h.id)
	if !began || err != nil || pos < target {
		return false
	}
	// Not while batches keep coming: they take precedence, and the
	// watcher's paths wait until the folder is quiet.
	now := time.Now()
	if pos != h.lastPos {
		h.lastPos, h.posMoved = pos, now
	}
	return now.Sub(h.posMoved) >= healQuiet
}
