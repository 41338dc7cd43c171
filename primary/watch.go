package primary

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/ncsync/ncsync/scanner"
	"github.com/ncsync/ncsync/watcher"
)

// errRewatch ends a folder's watcher so that it starts again with new
// ignore patterns (SetIgnore).
var errRewatch = errors.New("ignore patterns changed")

// maxBatchPaths bounds the dirty paths gathered into one scan: more
// batches waiting than that are left for the next scan.
const maxBatchPaths = 50_000

// watchFolder watches one folder and scans what changes until ctx ends or
// the watcher stops (its root removed or moved away, which it returns).
// After the watcher has covered the whole tree (Ready), one full scan
// brings the index up to date: a stat compare, so unchanged files are not
// read. From then on only dirty paths are scanned, plus:
//   - the whole folder when the watcher lost events (queue overflow);
//   - directories the watcher cannot watch (out of inotify watches), every
//     ScanInterval;
//   - the whole folder every AuditInterval, counting what it finds: changes
//     inotify cannot see, such as writes through mmap;
//   - the paths whose scan failed, with backoff (retry.go).
func (p *Primary) watchFolder(ctx context.Context, f *folder) error {
	select { // a watcher made from now on has the patterns asked for
	case <-f.rewatch:
	default:
	}
	w, err := watcher.New(watcher.Options{
		Root:       f.cfg.Path,
		Ignore:     f.ignore,
		Quiet:      p.opts.Quiet,
		MaxLatency: p.opts.MaxLatency,
		Log:        p.log.With("folder", f.cfg.ID),
		MarkerDir:  filepath.Join(p.opts.FlushDir, f.cfg.ID),
	})
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	batches := make(chan watcher.Batch)
	ended := make(chan error, 1)
	go func() { ended <- w.Run(wctx, batches) }()
	defer func() {
		stop()
		if ended != nil {
			<-ended
		}
	}()

	select {
	case <-w.Ready():
	case err := <-ended:
		ended = nil
		return err
	case <-ctx.Done():
		return nil
	case <-f.rewatch:
		return errRewatch
	}
	f.watcher.Store(w)
	defer f.watcher.Store(nil)
	if s := w.Stats(); s.Degraded != "" {
		p.log.Warn("some directories cannot be watched: rescanning them every scan_interval", "folder", f.cfg.ID,
			"unwatched", s.Unwatched, "why", s.Degraded, "scan_interval", p.opts.ScanInterval)
	}
	// Files read within the scanner's racy window of their last change are
	// stored so that their next scan reads them again (scanner.Result.Racy);
	// that scan is made here once the window has passed, while the tree is
	// quiet, so that they are not read again after a restart.
	var rs racySet
	scan := func(audit bool, paths ...string) error {
		res, err := p.scan(ctx, f, audit, paths...)
		rs.add(res.Racy, f.scan.RacyWindow())
		return err
	}
	scan(false, "")
	defer f.deferred.stop()
	var flushes flushWaiters
	defer flushes.fail(errors.New("the folder's watcher stopped"))

	audit := time.NewTicker(p.opts.AuditInterval)
	defer audit.Stop()
	rescan := time.NewTicker(p.opts.ScanInterval)
	defer rescan.Stop()
	var rt retryTimer
	defer rt.stop()
	for {
		rt.arm(f.retry)
		select {
		case <-ctx.Done():
			return nil
		case err := <-ended:
			ended = nil
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("watcher stopped")
			}
			return err
		case b := <-batches:
			paths, overflow := gather(b, batches)
			if overflow {
				p.log.Warn("events were lost (inotify queue overflow): rescanning the folder", "folder", f.cfg.ID)
				paths = []string{""}
			}
			scan(false, paths...)
		case done := <-f.sync:
			// Dirty paths were handled in order before this request; only
			// directories without a watch, paths whose scan failed and
			// deferred files (locked by a writer, or empty and held) need a
			// look (none: no walk at all). A failure is answered at once;
			// otherwise the answer waits until no file is deferred.
			u := append(w.Unwatched(), f.retry.pending()...)
			if u = append(u, f.deferred.take(time.Now(), true)...); len(u) > 0 {
				scan(false, u...)
			}
			flushes.add(done, f.retry.failure(f.cfg.ID), &f.deferred)
		case <-rt.c:
			rt.fired()
			if paths := f.retry.take(time.Now()); len(paths) > 0 {
				scan(false, paths...)
			}
		case <-f.deferred.due():
			scan(false, f.deferred.take(time.Now(), false)...)
		case <-rescan.C:
			if u := w.Unwatched(); len(u) > 0 {
				scan(false, u...)
			}
		case <-rs.due:
			// A racy path the watcher holds dirty (the file is still being
			// written) is scanned with the watcher's batch, within
			// max_latency, not once more every racy window.
			paths := rs.take()
			if pend := w.Pending(ctx, paths); len(pend) > 0 {
				skip := make(map[string]bool, len(pend))
				for _, p := range pend {
					skip[p] = true
				}
				paths = slices.DeleteFunc(paths, func(p string) bool { return skip[p] })
			}
			if len(paths) > 0 {
				scan(false, paths...)
			}
		case <-audit.C:
			scan(true, "")
		case <-f.rewatch:
			return errRewatch
		}
		flushes.answer(&f.deferred, func() error { return f.retry.failure(f.cfg.ID) })
	}
}

// gather merges b with the batches already waiting, up to maxBatchPaths,
// so that a burst is scanned in few index transactions.
func gather(b watcher.Batch, more <-chan watcher.Batch) (paths []string, overflow bool) {
	paths, overflow = b.Paths, b.Overflow
	for len(paths) < maxBatchPaths && !overflow {
		select {
		case b := <-more:
			paths = append(paths, b.Paths...)
			overflow = b.Overflow
		default:
			return paths, overflow
		}
	}
	return paths, overflow
}

// pollFolder is the fallback while a folder cannot be watched: it scans
// the whole folder every ScanInterval until ctx ends or retry passes.
func (p *Primary) pollFolder(ctx context.Context, f *folder, retry time.Duration) {
	t := time.NewTicker(p.opts.ScanInterval)
	defer t.Stop()
	deadline := time.After(retry)
	defer f.deferred.stop()
	var flushes flushWaiters
	defer flushes.fail(errors.New("folder scan loop restarted"))
	p.scan(ctx, f, false, "")
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case done := <-f.sync:
			p.scan(ctx, f, false, "")
			flushes.add(done, f.retry.failure(f.cfg.ID), &f.deferred)
		case <-f.deferred.due():
			p.scan(ctx, f, false, f.deferred.take(time.Now(), false)...)
		case <-t.C:
			// The whole folder, failed paths included.
			p.scan(ctx, f, false, "")
		}
		flushes.answer(&f.deferred, func() error { return f.retry.failure(f.cfg.ID) })
	}
}

// runFolder keeps one folder's change detection going until ctx ends:
// watching it when it can, polling it while it cannot.
func (p *Primary) runFolder(ctx context.Context, f *folder) {
	for ctx.Err() == nil {
		err := p.watchFolder(ctx, f)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRewatch) {
			continue
		}
		f.setWatchErr(err)
		p.log.Error("cannot watch folder: rescanning it every scan_interval, and trying again in a minute",
			"folder", f.cfg.ID, "err", err, "scan_interval", p.opts.ScanInterval)
		p.pollFolder(ctx, f, time.Minute)
		f.setWatchErr(nil)
	}
}

// scan scans paths of f. What fails stays pending in f.retry, and is
// logged and shown in status. An audit scan counts what it found.
func (p *Primary) scan(ctx context.Context, f *folder, audit bool, paths ...string) (scanner.Result, error) {
	start := time.Now()
	res, err := p.scanFolder(ctx, f, paths...)
	if ctx.Err() != nil {
		return res, err // stopping: a restart scans the whole folder
	}
	if p.opts.OnScan != nil {
		kind := ScanPaths
		switch {
		case audit:
			kind = ScanAudit
		case len(paths) == 0 || slices.Contains(paths, ""):
			kind = ScanFull
		}
		p.opts.OnScan(ScanDone{Folder: f.cfg.ID, Kind: kind, Took: time.Since(start), Err: err})
	}
	was := f.retry.status()
	if f.retry.record(paths, res, err, time.Now()) {
		p.log.Info("scan recovered: the paths that failed are journaled", "folder", f.cfg.ID,
			"failing_since", was.Since.Format(time.DateTime), "retries", was.Retries)
	} else if now := f.retry.status(); now != nil && (was == nil || was.Error != now.Error) {
		p.log.Error("scan failed: the paths stay pending and are retried, at least every scan_interval",
			"folder", f.cfg.ID, "pending", now.Pending, "err", now.Error, "scan_interval", p.opts.ScanInterval)
	}
	targets := paths
	if len(targets) == 0 {
		targets = []string{""}
	}
	p.noteDeferred(f, targets, res, err == nil)
	if err != nil {
		return res, err
	}
	if audit {
		found := uint64(res.Changed + res.Deleted)
		f.mu.Lock()
		f.audits++
		f.auditFound += found
		f.mu.Unlock()
		if found > 0 {
			p.log.Warn("audit scan found changes the watcher did not report", "folder", f.cfg.ID,
				"changed", res.Changed, "deleted", res.Deleted)
		}
	}
	return res, nil
}

// Flush returns once every change made in any folder before the call is
// in the journal: it flushes each folder's watcher (events still queued in
// the kernel included), waits until what it delivered has been scanned,
// and rescans the directories the watcher cannot watch and the paths whose
// scan failed. A folder that is not being watched is scanned whole. While
// paths of a folder still fail it returns a *ScanFailedError: the journal
// lacks their changes.
func (p *Primary) Flush(ctx context.Context) error {
	for _, id := range p.order {
		f := p.folders[id]
		if w := f.watcher.Load(); w != nil {
			if err := w.Flush(ctx); err != nil && !errors.Is(err, watcher.ErrNotRunning) {
				return err
			}
		}
		done := make(chan error, 1)
		select {
		case f.sync <- done:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			if what := describeDeferred(f); what != "" {
				return &heldError{what: what, err: ctx.Err()}
			}
			return ctx.Err()
		}
	}
	return nil
}

// flushWaiters are Flush requests waiting for a folder's deferred files
// to be sent (or to be deleted).
type flushWaiters []chan error

// add answers a Flush request at once if err is set or nothing is
// deferred, and keeps it for later otherwise.
func (fw *flushWaiters) add(done chan error, err error, d *deferredSet) {
	if err != nil || d.empty() {
		done <- err
		return
	}
	*fw = append(*fw, done)
}

// answer answers the waiting requests with failure (the folder's scan
// failure, if any) once nothing is deferred.
func (fw *flushWaiters) answer(d *deferredSet, failure func() error) {
	if len(*fw) > 0 && d.empty() {
		fw.fail(failure())
	}
}

// fail answers every waiting request with err.
func (fw *flushWaiters) fail(err error) {
	for _, done := range *fw {
		done <- err // buffered; a Flush that gave up does not read it
	}
	*fw = nil
}

// racySet gathers racily clean paths to scan again once their window has
// passed. due fires then; take empties the set.
type racySet struct {
	paths map[string]bool
	due   <-chan time.Time
}

func (r *racySet) add(paths []string, window time.Duration) {
	if len(paths) == 0 {
		return
	}
	if r.paths == nil {
		r.paths = make(map[string]bool, len(paths))
	}
	for _, p := range paths {
		r.paths[p] = true
	}
	if r.due == nil {
		r.due = time.After(window + 10*time.Millisecond)
	}
}

func (r *racySet) take() []string {
	paths := slices.Collect(maps.Keys(r.paths))
	r.paths, r.due = nil, nil
	return paths
}

// retryTimer fires when a folder's failed paths are due for a retry.
type retryTimer struct {
	t *time.Timer
	c <-chan time.Time // nil while not armed
}

// arm sets the timer for r's next retry unless it is set already, and
// stops it when nothing is pending.
func (rt *retryTimer) arm(r *scanRetry) {
	d, ok := r.due(time.Now())
	switch {
	case !ok:
		rt.stop()
	case rt.c == nil:
		if rt.t == nil {
			rt.t = time.NewTimer(d)
		} else {
			rt.t.Reset(d)
		}
		rt.c = rt.t.C
	}
}

// fired records that the timer's value was received.
func (rt *retryTimer) fired() { rt.c = nil }

func (rt *retryTimer) stop() {
	if rt.c != nil {
		rt.t.Stop()
		rt.c = nil
	}
}
