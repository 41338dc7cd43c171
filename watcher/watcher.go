// Package watcher turns inotify events for one folder into batches of dirty
// paths for the primary's scanner. It watches every directory of the tree
// (inotify is not recursive), debounces events per path, and says when it
// has lost events (queue overflow: rescan the whole folder) or cannot watch
// some directories (out of watches: those need periodic rescans).
//
// A path is dirty on any event (create, write, remove, rename, attribute
// change); the watcher never waits for close-write, which the kernel NFS
// server sends late. A new directory is watched first and then listed, so
// nothing created in it before its watch existed is lost.
package watcher

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/ignore"
)

// Defaults for Options.
const (
	DefaultQuiet      = 75 * time.Millisecond
	DefaultMaxLatency = 500 * time.Millisecond
	DefaultMaxBatch   = 10000
	DefaultRetry      = time.Minute
)

// maxPending bounds the paths held (pending or waiting to be sent); beyond
// it they collapse into one whole-folder rescan, as after an overflow.
const maxPending = 1 << 20

// Errors returned by the watcher.
var (
	// ErrRootGone is returned by Run when the folder root itself is removed
	// or moved away: nothing below it can be watched any more.
	ErrRootGone = errors.New("folder root was removed or moved")
	// ErrNotRunning is returned by Flush when Run has returned.
	ErrNotRunning = errors.New("watcher is not running")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("watcher is already running")
	// ErrNoMarkerDir is returned by Flush on a watcher without
	// Options.MarkerDir.
	ErrNoMarkerDir = errors.New("watcher has no flush marker directory")
)

// Options configure a Watcher.
type Options struct {
	// Root is the folder root (made absolute; symlinks in it are resolved).
	Root string
	// Ignore may be nil. Ignored directories are never watched and ignored
	// paths produce no events.
	Ignore *ignore.Matcher
	// Quiet is how long a path must see no event before it is emitted.
	// Default DefaultQuiet. Due paths are gathered at most every Quiet/2
	// (capped at 50ms), so a burst makes a few large batches: a path may be
	// emitted up to that much after its window.
	Quiet time.Duration
	// MaxLatency is how long a path that keeps changing may stay dirty
	// before it is emitted anyway. Default DefaultMaxLatency; not less
	// than Quiet.
	MaxLatency time.Duration
	// MaxBatch bounds the paths in one Batch. Default DefaultMaxBatch.
	MaxBatch int
	// Retry is how often directories that could not be watched are tried
	// again (only while there are some). Default DefaultRetry.
	Retry time.Duration
	// Log receives the watcher's logs; nil discards them.
	Log *slog.Logger
	// MarkerDir is where Flush makes its marker files: a private
	// directory outside the folder (under the daemon's state_dir, which
	// config keeps out of every folder), made with mode 0700 by the first
	// Flush. It must not be shared with
	// another Watcher (each removes the markers it finds there when it
	// starts). Empty: Flush is not available.
	MarkerDir string
}

// Batch is a set of dirty paths. Each is relative to the root, clean and
// slash separated; the scanner lstats it and compares it with its index: a
// directory means "rescan its subtree", a missing path a deletion, "" the
// whole folder, and index.RootPath (".") the root's own metadata only.
type Batch struct {
	Paths []string
	// Overflow says events were lost before this batch (kernel queue
	// overflow, or more pending paths than the watcher holds); Paths is
	// then [""].
	Overflow bool
}

// Stats are the watcher's counters.
type Stats struct {
	Watched   int    // directories watched
	Overflows uint64 // event losses (kernel queue overflows and pending-set overflows)
	Events    uint64 // inotify events received
	Unwatched int    // directories that could not be watched
	// Degraded, when some directories are unwatched, says why and what
	// to do about it.
	Degraded string
}

// Watcher watches one folder. Run it once; Flush, Pending, Stats,
// Unwatched and Ready are safe to call from any goroutine.
type Watcher struct {
	root   string // absolute, symlinks resolved, clean
	prefix string // root + "/"
	opts   Options
	log    *slog.Logger
	reg    *registry

	events    atomic.Uint64
	overflows atomic.Uint64
	initErr   atomic.Pointer[string] // set while no inotify instance exists

	flushCh   chan flushMsg
	pendingCh chan pendingReq
	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{}
	started   atomic.Bool

	// Seams for tests.
	newSource  func(buffer int) (source, error)
	buffer     int
	makeMarker func(path string) error
	listDirs   func(f *os.File) ([]string, error) // subdirs
	onEvent    func()                             // called by the run loop before each event
	maxPending int
}

// New checks opts and returns a Watcher; it watches nothing until Run.
func New(opts Options) (*Watcher, error) {
	if opts.Root == "" {
		return nil, errors.New("watcher: empty root")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("resolve root %q: %w", opts.Root, err)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("resolve root %q: %w", opts.Root, err)
	}
	if root == "/" {
		return nil, errors.New("watcher: refusing to watch the whole file system")
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("stat root %q: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch %q: not a directory", root)
	}
	if opts.MarkerDir != "" {
		if opts.MarkerDir, err = filepath.Abs(opts.MarkerDir); err != nil {
			return nil, fmt.Errorf("resolve flush marker directory %q: %w", opts.MarkerDir, err)
		}
	}
	if opts.Quiet < 0 || opts.MaxLatency < 0 || opts.Retry < 0 || opts.MaxBatch < 0 {
		return nil, fmt.Errorf("watch %q: negative Quiet, MaxLatency, Retry or MaxBatch", root)
	}
	if opts.Quiet == 0 {
		opts.Quiet = DefaultQuiet
	}
	if opts.MaxLatency == 0 {
		opts.MaxLatency = max(DefaultMaxLatency, opts.Quiet)
	}
	if opts.MaxLatency < opts.Quiet {
		return nil, fmt.Errorf("watch %q: MaxLatency %v is shorter than Quiet %v", root, opts.MaxLatency, opts.Quiet)
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Retry == 0 {
		opts.Retry = DefaultRetry
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Root = root
	return &Watcher{
		root:       root,
		prefix:     root + "/",
		opts:       opts,
		log:        log.With("root", root),
		reg:        newRegistry(),
		flushCh:    make(chan flushMsg),
		pendingCh:  make(chan pendingReq),
		ready:      make(chan struct{}),
		done:       make(chan struct{}),
		newSource:  newFsnotifySource,
		buffer:     eventBuffer,
		makeMarker: touchMarker,
		listDirs:   subdirs,
		maxPending: maxPending,
	}, nil
}

// Root returns the absolute, symlink-free folder root being watched.
func (w *Watcher) Root() string { return w.root }

// Ready is closed once Run has watched the whole tree (as far as it could):
// a full scan started after it misses nothing that the watcher will not
// report.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Stats returns the current counters.
func (w *Watcher) Stats() Stats {
	watched, unwatched := w.reg.counts()
	s := Stats{
		Watched:   watched,
		Unwatched: unwatched,
		Overflows: w.overflows.Load(),
		Events:    w.events.Load(),
	}
	if msg := w.initErr.Load(); msg != nil {
		s.Degraded = *msg
		s.Unwatched = max(s.Unwatched, 1)
		return s
	}
	s.Degraded = w.reg.causes().message()
	return s
}

// Unwatched returns the topmost directories (relative; "" is the whole
// folder) that could not be watched, sorted. Changes below them are not
// reported: rescan each (as a subtree) periodically.
func (w *Watcher) Unwatched() []string {
	if w.initErr.Load() != nil {
		return []string{""}
	}
	return w.reg.unwatched()
}

// abs returns the absolute path of relative path p.
func (w *Watcher) abs(p string) string {
	if p == "" {
		return w.root
	}
	return w.prefix + p
}

// rel returns the relative path of an absolute event path below the root.
func (w *Watcher) rel(name string) (string, bool) {
	if name == w.root {
		return "", true
	}
	if len(name) > len(w.prefix) && name[:len(w.prefix)] == w.prefix {
		return name[len(w.prefix):], true
	}
	return "", false
}

func (w *Watcher) markReady() { w.readyOnce.Do(func() { close(w.ready) }) }
