package primary

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/scanner"
)

// A scan that fails never drops its paths. When the index cannot be
// written (ENOSPC, EIO on the state_dir) every path the scan was given
// stays pending; when single files or directories cannot be read (EACCES,
// EIO, a file that never settles) those do (scanner.Result.Failed). The
// folder's loop scans the pending paths again with backoff, from
// retryFirst doubling up to scan_interval, until a scan of them succeeds;
// a barrier's flush (Primary.Flush) tries them once more at once and fails,
// naming the folder and the error, while they still fail. Until then the
// folder's status shows the failure (report.ScanError).

const (
	// retryFirst is the first retry's delay (or scan_interval if shorter).
	retryFirst = 500 * time.Millisecond
	// maxRetryPaths bounds the pending paths; more become the whole folder.
	maxRetryPaths = 50_000
)

// scanRetry is one folder's paths whose scan failed. Safe for concurrent
// use: the folder's loop writes, status reads.
type scanRetry struct {
	max time.Duration // the longest backoff: scan_interval

	mu      sync.Mutex
	paths   map[string]struct{} // relative; "" is the whole folder
	err     error               // the last failure
	since   time.Time           // when the set last became non-empty
	retries uint64              // retries since then
	backoff time.Duration       // the next retry's delay
	next    time.Time           // when the next retry is due
}

func newScanRetry(max time.Duration) *scanRetry {
	return &scanRetry{max: max, paths: make(map[string]struct{})}
}

// record updates the set after a scan of targets ("" or none: the whole
// folder) that returned res and err, at now. A scan that failed as a
// whole leaves every target pending; one that succeeded clears the
// targets and what lies below them, except the paths it reports failed.
// It reports whether the set is empty again after having held paths.
func (r *scanRetry) record(targets []string, res scanner.Result, err error, now time.Time) (recovered bool) {
	if len(targets) == 0 {
		targets = []string{""}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	had := len(r.paths) > 0
	if err != nil {
		r.add(targets)
		r.err = err
	} else {
		if had {
			for p := range r.paths {
				if coveredBy(p, targets) {
					delete(r.paths, p)
				}
			}
		}
		if len(res.Failed) > 0 {
			r.add(res.Failed)
			r.err = res.FailErr
		}
	}
	switch {
	case len(r.paths) == 0:
		r.err, r.since, r.retries, r.backoff, r.next = nil, time.Time{}, 0, 0, time.Time{}
		return had
	case !had:
		r.since = now
		r.backoff = min(retryFirst, r.max)
		r.next = now.Add(r.backoff)
	}
	return false
}

// add adds paths, collapsing the set into the whole folder past
// maxRetryPaths. Under mu.
func (r *scanRetry) add(paths []string) {
	if _, whole := r.paths[""]; whole {
		return
	}
	for _, p := range paths {
		r.paths[p] = struct{}{}
	}
	if _, whole := r.paths[""]; whole || len(r.paths) > maxRetryPaths {
		clear(r.paths)
		r.paths[""] = struct{}{}
	}
}

// coveredBy reports whether a scan of targets scans p.
func coveredBy(p string, targets []string) bool {
	for _, t := range targets {
		if t == "" || t == p || strings.HasPrefix(p, t+"/") {
			return true
		}
	}
	return false
}

// due returns how long until the next retry is due, and false when
// nothing is pending.
func (r *scanRetry) due(now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.paths) == 0 {
		return 0, false
	}
	return max(r.next.Sub(now), 0), true
}

// take returns the pending paths for a retry due now, and doubles the
// delay of the one after it (up to the maximum).
func (r *scanRetry) take(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.paths) == 0 {
		return nil
	}
	r.retries++
	r.backoff = min(2*r.backoff, r.max)
	r.next = now.Add(r.backoff)
	return r.pendingLocked()
}

// pending returns the pending paths, sorted.
func (r *scanRetry) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pendingLocked()
}

func (r *scanRetry) pendingLocked() []string {
	return slices.Sorted(maps.Keys(r.paths))
}

// status returns the failure state for status, nil when nothing is pending.
func (r *scanRetry) status() *report.ScanError {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.paths) == 0 {
		return nil
	}
	se := &report.ScanError{Since: r.since, Pending: uint64(len(r.paths)), Retries: r.retries, NextRetry: r.next}
	if r.err != nil {
		se.Error = r.err.Error()
	}
	return se
}

// failure returns the error a barrier, pause or verify fails with while
// paths of folder id are pending, nil when none is.
func (r *scanRetry) failure(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.paths) == 0 {
		return nil
	}
	what := fmt.Sprintf("%d paths", len(r.paths))
	switch p := r.pendingLocked(); {
	case len(p) == 1 && p[0] == "":
		what = "the folder"
	case len(p) == 1:
		what = fmt.Sprintf("%q", p[0])
	default:
		what += fmt.Sprintf(" (%q, ...)", p[0])
	}
	return &ScanFailedError{Folder: id, What: what, Since: r.since, Err: r.err}
}

// ScanFailedError is the error of a barrier, pause or verify taken while
// a folder's scan fails: changes made before it may not be journaled.
type ScanFailedError struct {
	Folder string
	What   string // what could not be scanned
	Since  time.Time
	Err    error // the last failure
}

func (e *ScanFailedError) Error() string {
	return fmt.Sprintf("folder %s: cannot scan %s since %s: %v; its changes are not journaled until the cause is fixed (ncsync retries by itself, at least every scan_interval)",
		e.Folder, e.What, e.Since.Format(time.DateTime), e.Err)
}

func (e *ScanFailedError) Unwrap() error { return e.Err }
