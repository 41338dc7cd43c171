package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the folder until ctx ends, sending batches on out. It first
// watches the whole tree (see Ready), then delivers. While the consumer is
// slow, Run keeps draining events into its pending set, where they
// coalesce per path, so a slow consumer never overflows the kernel queue.
//
// Run returns nil when ctx ends, ErrRootGone (wrapped) when the folder root
// is removed or moved away, and ErrRunning if called twice. Running out of
// inotify watches or instances is not an error: the watcher degrades (see
// Stats.Degraded and Unwatched) and retries every Options.Retry. Every
// goroutine Run starts has ended, and every watch is closed, when it
// returns.
func (w *Watcher) Run(ctx context.Context, out chan<- Batch) error {
	if !w.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(w.done)
	w.removeStaleMarkers()
	src, recovered := w.openSource(ctx)
	if src == nil {
		return nil
	}
	l := newLoop(w, src, out)
	defer l.close()
	if err := l.start(recovered); err != nil {
		return err
	}
	return l.run(ctx)
}

// openSource creates the inotify instance. While that fails (the per-user
// instance limit), the whole folder is unwatched: Run says so, answers
// Flush at once and tries again every Retry. It returns a nil source when
// ctx ends, and whether creating it had failed at first (so the whole
// folder needs a rescan).
func (w *Watcher) openSource(ctx context.Context) (source, bool) {
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	failed := false
	for {
		src, err := w.newSource(w.buffer)
		if err == nil {
			if failed {
				w.initErr.Store(nil)
				w.log.Info("inotify is available again; watching the folder")
			}
			return src, failed
		}
		if !failed {
			msg := instanceMessage(err)
			w.initErr.Store(&msg)
			w.log.Error("folder is not watched", "reason", msg)
			failed = true
			w.markReady()
		}
		if retry == nil {
			retry = time.NewTimer(w.opts.Retry)
		} else {
			retry.Reset(w.opts.Retry)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, false
			case m := <-w.flushCh:
				if m.done != nil {
					m.ready <- errNoMarker
					m.done <- nil // nothing is watched: Unwatched() is [""]
				}
			case r := <-w.pendingCh:
				r.reply <- nil
			case <-retry.C:
				break wait
			}
		}
	}
}

// loop is the state of one Run: a single goroutine owns all of it.
type loop struct {
	w          *Watcher
	log        *slog.Logger
	src        source
	out        chan<- Batch
	deb        *debouncer
	box        *outbox
	gen        uint64        // walk generation
	gran       time.Duration // at most one tick per gran
	maxPending int

	timer    *time.Timer
	armed    time.Time // when timer fires; zero when stopped
	lastTick time.Time

	retry    *time.Timer
	retryC   <-chan time.Time // nil unless a retry is armed
	degraded bool

	markers map[string]chan error // Flush markers not seen yet
	flushes []flushWait           // Flushes waiting for delivery
}

func newLoop(w *Watcher, src source, out chan<- Batch) *loop {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &loop{
		w:          w,
		log:        w.log,
		src:        src,
		out:        out,
		deb:        newDebouncer(w.opts.Quiet, w.opts.MaxLatency),
		box:        newOutbox(w.opts.MaxBatch),
		gran:       min(max(w.opts.Quiet/2, time.Millisecond), 50*time.Millisecond),
		maxPending: w.maxPending,
		timer:      timer,
		markers:    make(map[string]chan error),
	}
}

// start watches the whole tree; with rescan (an inotify instance could not
// be created for a while) it also asks for a whole-folder rescan.
func (l *loop) start(rescan bool) error {
	t0 := time.Now()
	l.gen++
	l.addTree("", false)
	if err := l.checkRoot(); err != nil {
		return err
	}
	watched, unwatched := l.w.reg.counts()
	l.log.Info("watching folder", "dirs", watched, "unwatched", unwatched, "took", time.Since(t0))
	l.checkDegraded()
	if rescan {
		l.box.wholeFolder(false)
	}
	l.w.markReady()
	return nil
}

// checkRoot returns ErrRootGone once the root is no longer a directory.
func (l *loop) checkRoot() error {
	if _, ok := l.w.reg.get(""); !ok {
		return fmt.Errorf("watch %q: %w", l.w.root, ErrRootGone)
	}
	return nil
}

func (l *loop) close() {
	l.timer.Stop()
	if l.retry != nil {
		l.retry.Stop()
	}
	if err := l.src.Close(); err != nil {
		l.log.Warn("close inotify", "err", err)
	}
}

func (l *loop) run(ctx context.Context) error {
	for {
		l.arm()
		b, ok := l.box.head()
		var send chan<- Batch
		if ok {
			send = l.out
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-l.src.Events():
			if !ok {
				return fmt.Errorf("watch %q: inotify event channel closed", l.w.root)
			}
			if l.w.onEvent != nil {
				l.w.onEvent()
			}
			if err := l.handleEvent(ev); err != nil {
				return err
			}
		case err, ok := <-l.src.Errors():
			if !ok {
				return fmt.Errorf("watch %q: inotify error channel closed", l.w.root)
			}
			if err := l.handleError(err); err != nil {
				return err
			}
		case <-l.timer.C:
			l.armed = time.Time{}
			l.tick()
		case send <- b:
			l.box.delivered(len(b.Paths))
			l.completeFlushes()
		case m := <-l.w.flushCh:
			l.handleFlush(m)
		case r := <-l.w.pendingCh:
			l.pending(r)
		case <-l.retryC:
			l.retryC = nil
			l.retryUnwatched()
		}
	}
}

// tick moves the paths that are due to the outbox.
func (l *loop) tick() {
	now := time.Now()
	for _, p := range l.deb.popDue(now) {
		l.box.add(p)
	}
	l.lastTick = now
}

// arm sets the timer for the next due path, no sooner than gran after the
// last tick, so a burst of events makes a few large batches rather than
// many small ones. Idle, no timer runs.
func (l *loop) arm() {
	due, ok := l.deb.nextDue()
	if !ok {
		if !l.armed.IsZero() {
			l.timer.Stop()
			l.armed = time.Time{}
		}
		return
	}
	if earliest := l.lastTick.Add(l.gran); due.Before(earliest) {
		due = earliest
	}
	if due.Equal(l.armed) {
		return
	}
	l.timer.Reset(time.Until(due))
	l.armed = due
}

// handleError handles an error from inotify: every error loses events.
func (l *loop) handleError(err error) error {
	overflow := errors.Is(err, fsnotify.ErrEventOverflow)
	if overflow {
		l.w.overflows.Add(1)
		l.log.Warn("inotify queue overflow: rescanning the whole folder")
	} else {
		l.log.Error("inotify read error: rescanning the whole folder", "err", err)
	}
	return l.lostEvents(overflow)
}

// lostEvents asks for a whole-folder rescan and rewatches the tree (new
// directories may have gone unnoticed). The rescan batch is sent after the
// rewalk, so the scanner reads the tree only once it is watched again.
func (l *loop) lostEvents(overflow bool) error {
	l.deb.clear()
	l.box.wholeFolder(overflow)
	for m, done := range l.markers {
		done <- errFlushRetry
		delete(l.markers, m)
	}
	l.rewalk()
	if err := l.checkRoot(); err != nil {
		return err
	}
	l.checkDegraded()
	return nil
}

// checkDegraded logs when directories become unwatched or all are watched
// again, and keeps a retry armed while some are unwatched.
func (l *loop) checkDegraded() {
	_, unwatched := l.w.reg.counts()
	now := unwatched > 0
	switch {
	case now && !l.degraded:
		l.log.Error("some directories are not watched", "unwatched", unwatched,
			"reason", l.w.reg.causes().message())
	case !now && l.degraded:
		l.log.Info("all directories are watched again")
	}
	l.degraded = now
	if now && l.retryC == nil {
		if l.retry == nil {
			l.retry = time.NewTimer(l.w.opts.Retry)
		} else {
			l.retry.Reset(l.w.opts.Retry)
		}
		l.retryC = l.retry.C
	}
	if !now && l.retryC != nil {
		l.retry.Stop()
		l.retryC = nil
	}
}

// retryUnwatched tries again to watch the directories that could not be,
// stopping at the first failure (the limit still holds). A directory that
// becomes watched is reported dirty: its changes were not seen.
func (l *loop) retryUnwatched() {
	for _, p := range l.w.reg.unwatched() {
		failed := l.addTree(p, true)
		if st, ok := l.w.reg.get(p); !ok || st.watched {
			l.touch(p)
		}
		if failed {
			break
		}
	}
	l.checkDegraded()
}
