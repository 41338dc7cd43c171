package watcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ncsync/ncsync/ignore"
)

// flushPrefix starts the name of the marker file Flush creates in the root.
// It is a reserved name: never scanned, never replicated.
const flushPrefix = ignore.ReservedPrefix + "flush-"

// errFlushRetry tells Flush that events (maybe its marker's) were lost.
var errFlushRetry = errors.New("events lost during flush")

// flushMsg asks the run loop to report when marker's event arrives, or to
// forget marker (cancel).
type flushMsg struct {
	marker string
	done   chan error // buffered, one value
	cancel bool
}

// flushWait is a Flush waiting for the outbox to deliver up to target.
type flushWait struct {
	target uint64
	done   chan error
}

// Flush returns once every path dirty at the time of the call has been
// delivered in a batch (received from out): events still in the kernel
// queue included. It creates and removes a marker file in the root and
// waits for its event, which comes after every earlier event; then
// everything pending is emitted at once, without waiting for quiet windows.
//
// Directories listed by Unwatched are not covered: a barrier must rescan
// them itself. Flush blocks until Run has watched the tree; it returns
// ErrNotRunning once Run has returned, and ctx's error when ctx ends.
func (w *Watcher) Flush(ctx context.Context) error {
	for {
		var b [8]byte
		rand.Read(b[:])
		marker := flushPrefix + hex.EncodeToString(b[:])
		done := make(chan error, 1)
		select {
		case w.flushCh <- flushMsg{marker: marker, done: done}:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.done:
			return ErrNotRunning
		}
		if err := w.makeMarker(filepath.Join(w.root, marker)); err != nil {
			select {
			case w.flushCh <- flushMsg{marker: marker, cancel: true}:
			case <-w.done:
			}
			return fmt.Errorf("flush %q: %w", w.root, err)
		}
		select {
		case err := <-done:
			if errors.Is(err, errFlushRetry) {
				continue
			}
			return err
		case <-ctx.Done():
			return ctx.Err() // the marker's event still comes and clears it
		case <-w.done:
			return ErrNotRunning
		}
	}
}

// touchMarker creates and removes the marker file at path.
func touchMarker(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return os.Remove(path)
}

// removeStaleMarkers removes marker files left in the root by a crash.
func removeStaleMarkers(root string, log *slog.Logger) {
	f, err := os.Open(root)
	if err != nil {
		return // Run's walk reports a root it cannot read
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if !strings.HasPrefix(n, flushPrefix) {
				continue
			}
			if err := os.Remove(filepath.Join(root, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("remove stale flush marker", "name", n, "err", err)
			}
		}
		if err != nil {
			return
		}
	}
}

// handleFlush registers (or cancels) a Flush. With the root unwatched no
// marker event will come: the flush point is now.
func (l *loop) handleFlush(m flushMsg) {
	if m.cancel {
		delete(l.markers, m.marker)
		return
	}
	if !l.w.reg.rootWatched() {
		l.flushPoint(m.done)
		return
	}
	l.markers[m.marker] = m.done
}

// markerSeen handles the event of a Flush marker: every event before it
// has been handled.
func (l *loop) markerSeen(marker string) {
	done, ok := l.markers[marker]
	if !ok {
		return // the second event of the marker, or a cancelled Flush
	}
	delete(l.markers, marker)
	l.flushPoint(done)
}

// flushPoint makes everything pending due now and completes done once it
// has been delivered.
func (l *loop) flushPoint(done chan error) {
	for _, p := range l.deb.drain() {
		l.box.add(p)
	}
	if l.box.sent >= l.box.added {
		done <- nil
		return
	}
	l.flushes = append(l.flushes, flushWait{target: l.box.added, done: done})
}

// completeFlushes completes the Flushes whose paths have been delivered.
func (l *loop) completeFlushes() {
	keep := l.flushes[:0]
	for _, f := range l.flushes {
		if l.box.sent >= f.target {
			f.done <- nil
			continue
		}
		keep = append(keep, f)
	}
	clear(l.flushes[len(keep):])
	l.flushes = keep
}
