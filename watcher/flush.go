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

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
)

// flushPrefix starts the name of the marker files Flush creates in
// Options.MarkerDir (and, in earlier versions, in the root: a crash may have
// left some there). It is a reserved name: never scanned, never replicated.
const flushPrefix = ignore.ReservedPrefix + "flush-"

var (
	// errFlushRetry tells Flush that events (maybe its marker's) were lost.
	errFlushRetry = errors.New("events lost during flush")
	// errNoMarker tells Flush that no marker is needed: the root is not
	// watched, so the flush point is now.
	errNoMarker = errors.New("no flush marker needed")
)

// flushMsg asks the run loop to report when marker's event arrives, or to
// forget marker (cancel).
type flushMsg struct {
	marker string
	ready  chan error // buffered, one value: the marker may be made (nil), or why not
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
// queue included. It creates and removes a marker file in
// Options.MarkerDir, watched by the same inotify instance as the folder,
// and waits for its event, which the kernel queues after every earlier
// event of the instance; then everything pending is emitted at once,
// without waiting for quiet windows. The folder itself is never written:
// a flush leaves the tree, and its root's mtime, as they were, and works
// on a read-only folder.
//
// Directories listed by Unwatched are not covered: a barrier must rescan
// them itself. Flush blocks until Run has watched the tree; it returns
// ErrNotRunning once Run has returned, ErrNoMarkerDir without a MarkerDir
// (while the root is watched), and ctx's error when ctx ends.
func (w *Watcher) Flush(ctx context.Context) error {
	for {
		var b [8]byte
		rand.Read(b[:])
		marker := flushPrefix + hex.EncodeToString(b[:])
		ready, done := make(chan error, 1), make(chan error, 1)
		select {
		case w.flushCh <- flushMsg{marker: marker, ready: ready, done: done}:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.done:
			return ErrNotRunning
		}
		var err error
		select {
		case err = <-ready:
		case <-w.done:
			return ErrNotRunning
		}
		switch {
		case errors.Is(err, errNoMarker):
			err = nil
		case err == nil:
			err = w.makeMarker(filepath.Join(w.opts.MarkerDir, marker))
		}
		if err != nil {
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

// removeStaleMarkers removes marker files left by a crash: in the marker
// directory, and in the root, where earlier versions made them.
func (w *Watcher) removeStaleMarkers() {
	removeMarkersIn(w.root, w.log)
	if w.opts.MarkerDir != "" {
		removeMarkersIn(w.opts.MarkerDir, w.log)
	}
}

func removeMarkersIn(dir string, log *slog.Logger) {
	f, err := os.Open(dir)
	if err != nil {
		return // Run's walk reports a root it cannot read; a marker directory is made by the first Flush
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if !strings.HasPrefix(n, flushPrefix) {
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("remove stale flush marker", "dir", dir, "name", n, "err", err)
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
		m.ready <- errNoMarker
		l.flushPoint(m.done)
		return
	}
	if err := l.watchMarkerDir(); err != nil {
		m.ready <- err
		return
	}
	m.ready <- nil
	l.markers[m.marker] = m.done
}

// watchMarkerDir makes the marker directory if it is missing (its first
// Flush, or removed since), checks that it is the daemon's own and
// private, and watches it: all cheap when done already.
func (l *loop) watchMarkerDir() error {
	dir := l.w.opts.MarkerDir
	if dir == "" {
		return ErrNoMarkerDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make the flush marker directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("flush marker directory: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("flush marker directory %q: not a directory of uid %d that only it can write (uid %d, mode %#o): remove it, ncsync makes it",
			dir, os.Geteuid(), st.Uid, st.Mode&0o7777)
	}
	if err := l.src.Add(dir); err != nil {
		return fmt.Errorf("watch the flush marker directory %q: %w", dir, err)
	}
	return nil
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
