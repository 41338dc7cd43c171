package primary

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/scanner"
)

// Files a scan deferred (scanner.Result.Deferred) are scanned again by the
// folder's loop: one locked by a writer is polled with a doubling backoff
// (no event announces that a lock was released), an empty one held back is
// scanned when its hold ends. Until then the index keeps the version read
// before, which is what the secondaries hold.
const (
	deferPollMin = 10 * time.Millisecond
	deferPollMax = 250 * time.Millisecond
	// maxHeldShown bounds the deferred files listed in status.
	maxHeldShown = 20
)

// deferredSet is the folder's deferred files. It belongs to the folder's
// loop goroutine; status reads what publish copies under folder.mu.
type deferredSet struct {
	paths map[string]*deferredPath
	timer *time.Timer // fires at the earliest next; nil while empty
}

type deferredPath struct {
	reason  scanner.DeferReason
	since   time.Time // deferred for this reason since
	until   time.Time // held empty: when the hold ends
	next    time.Time // when to scan it again
	backoff time.Duration
	warned  bool // logged as being written for longer than max_latency
}

// due fires when some deferred file is to be scanned again; nil (never)
// while there is none.
func (d *deferredSet) due() <-chan time.Time {
	if d.timer == nil {
		return nil
	}
	return d.timer.C
}

func (d *deferredSet) empty() bool { return len(d.paths) == 0 }

// take returns the deferred files due by now, or every one if all is set.
func (d *deferredSet) take(now time.Time, all bool) []string {
	var out []string
	for p, dp := range d.paths {
		if all || !dp.next.After(now) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// update records what a scan of targets found: files it deferred are
// (still) deferred, the others it covered are done. A failed scan (ok
// false) may not have reached every target, so nothing is taken off then.
// It returns the files that have been locked by a writer for longer than
// maxLatency and were not reported yet, and those reported before that are
// no longer deferred.
func (d *deferredSet) update(targets []string, res scanner.Result, ok bool, now time.Time, maxLatency time.Duration) (stuck, released []string) {
	found := make(map[string]scanner.Deferred, len(res.Deferred))
	for _, df := range res.Deferred {
		found[df.Path] = df
	}
	if ok {
		for p, dp := range d.paths {
			if _, still := found[p]; !still && coveredBy(p, targets) {
				if dp.warned {
					released = append(released, p)
				}
				delete(d.paths, p)
			}
		}
	}
	if d.paths == nil && len(found) > 0 {
		d.paths = make(map[string]*deferredPath)
	}
	for p, df := range found {
		dp := d.paths[p]
		if dp == nil || dp.reason != df.Reason {
			dp = &deferredPath{reason: df.Reason, since: now, backoff: deferPollMin}
			d.paths[p] = dp
		}
		switch df.Reason {
		case scanner.ReasonHeldEmpty:
			dp.until, dp.next = df.Until, df.Until.Add(time.Millisecond)
		default:
			dp.next = now.Add(dp.backoff)
			dp.backoff = min(2*dp.backoff, deferPollMax)
			if !dp.warned && now.Sub(dp.since) > maxLatency {
				dp.warned = true
				stuck = append(stuck, p)
			}
		}
	}
	d.arm(now)
	slices.Sort(stuck)
	slices.Sort(released)
	return stuck, released
}

// arm sets the timer to the earliest next.
func (d *deferredSet) arm(now time.Time) {
	if len(d.paths) == 0 {
		if d.timer != nil {
			d.timer.Stop()
			d.timer = nil
		}
		return
	}
	var first time.Time
	for _, dp := range d.paths {
		if first.IsZero() || dp.next.Before(first) {
			first = dp.next
		}
	}
	wait := max(first.Sub(now), 0)
	if d.timer == nil {
		d.timer = time.NewTimer(wait)
	} else {
		d.timer.Reset(wait)
	}
}

// stop releases the timer (the folder's loop ended).
func (d *deferredSet) stop() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// held lists the deferred files for status: those held empty, and those
// locked by a writer for longer than maxLatency (shorter is routine: a
// writer rewriting a file), oldest first, at most maxHeldShown; and how
// many there are in all.
func (d *deferredSet) held(now time.Time, maxLatency time.Duration) ([]report.Held, uint64) {
	var out []report.Held
	for p, dp := range d.paths {
		if dp.reason == scanner.ReasonBeingWritten && now.Sub(dp.since) <= maxLatency {
			continue
		}
		out = append(out, report.Held{Path: p, Reason: dp.reason.String(), Since: dp.since, Until: dp.until})
	}
	slices.SortFunc(out, func(a, b report.Held) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	n := uint64(len(out))
	return out[:min(len(out), maxHeldShown)], n
}

// noteDeferred records a scan's deferred files in f's set, logs the ones
// locked for longer than max_latency and their release, and publishes the
// set for status.
func (p *Primary) noteDeferred(f *folder, targets []string, res scanner.Result, ok bool) {
	now := time.Now()
	stuck, released := f.deferred.update(targets, res, ok, now, p.maxLatency())
	for _, path := range stuck {
		p.log.Warn("file locked by a writer for longer than max_latency: not sending it until the lock is released; retrying",
			"folder", f.cfg.ID, "path", strconv.Quote(path), "max_latency", p.maxLatency())
	}
	for _, path := range released {
		p.log.Info("file no longer locked by a writer: sent", "folder", f.cfg.ID, "path", strconv.Quote(path))
	}
	held, n := f.deferred.held(now, p.maxLatency())
	f.mu.Lock()
	f.held, f.heldTotal = held, n
	f.mu.Unlock()
}

func (p *Primary) maxLatency() time.Duration {
	if p.opts.MaxLatency > 0 {
		return p.opts.MaxLatency
	}
	return config.DefaultMaxLatency
}

// describeDeferred says which files keep a flush from completing.
func describeDeferred(f *folder) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.held) == 0 {
		return ""
	}
	h := f.held[0]
	s := "folder " + strconv.Quote(f.cfg.ID) + ": " + strconv.Quote(h.Path) + " is " + h.Reason + " since " + h.Since.Format(time.TimeOnly)
	if f.heldTotal > 1 {
		s += " (and " + strconv.FormatUint(f.heldTotal-1, 10) + " more)"
	}
	return s
}

// heldError is a Flush that ended (ctx) while deferred files were not sent
// yet; what names them.
type heldError struct {
	what string
	err  error
}

func (e *heldError) Error() string { return e.err.Error() + ": waiting for a file to send: " + e.what }
func (e *heldError) Unwrap() error { return e.err }
