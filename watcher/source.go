package watcher

import "github.com/fsnotify/fsnotify"

// source is where events come from: inotify through fsnotify in
// production, a fake in the tests of the run loop. Add and Remove are
// called from the run loop only; Events and Errors are drained by it.
// Close stops the source, joins its goroutines and drops every watch.
type source interface {
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	// Add watches one directory (not recursively); it returns the
	// syscall's error (ENOSPC when out of watches).
	Add(path string) error
	// Remove drops the watch of one directory; it fails harmlessly when
	// the kernel has already dropped it.
	Remove(path string) error
	Close() error
}

// eventBuffer is how many events fsnotify holds between its reader and the
// run loop: while the loop walks a new directory tree, the kernel queue
// keeps draining into it.
const eventBuffer = 50000

// fsnotifySource adapts *fsnotify.Watcher (whose channels are fields).
type fsnotifySource struct{ w *fsnotify.Watcher }

func newFsnotifySource(buffer int) (source, error) {
	w, err := fsnotify.NewBufferedWatcher(uint(buffer))
	if err != nil {
		return nil, err
	}
	return fsnotifySource{w}, nil
}

func (s fsnotifySource) Events() <-chan fsnotify.Event { return s.w.Events }
func (s fsnotifySource) Errors() <-chan error          { return s.w.Errors }
func (s fsnotifySource) Add(path string) error         { return s.w.Add(path) }
func (s fsnotifySource) Remove(path string) error      { return s.w.Remove(path) }
func (s fsnotifySource) Close() error                  { return s.w.Close() }
