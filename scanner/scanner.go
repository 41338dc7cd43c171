// Package scanner finds what changed in a folder since the index last saw
// it: it walks the tree with lstat (never following symlinks), compares
// each path with its index entry by the stat fingerprint (dev, inode, size,
// mtime, ctime), reads changed files through the chunker, and journals
// every difference in the order a secondary can apply it.
//
// Order of one Scan's journal: new and changed entries first, parents
// before children; then deletions, children before parents. A rename, seen
// as a create and a delete, thus lets a secondary reuse the old file's
// chunks before it removes the old file. The one exception is a directory
// that became a file or symlink: its children's tombstones come right
// before the new entry, since a secondary refuses entries under a parent
// that is not a directory.
//
// The folder root is journaled as the entry index.RootPath, for its own
// metadata (mode, owner, mtime) only; every scan looks at it.
//
// What is never journaled: ignored paths (a path
// that becomes ignored keeps its index entry and is not tombstoned, so a
// pattern added later does not delete the secondaries' copies); ncsync's
// own names (ignore.Reserved); fifos, sockets and devices, names and symlink
// targets that are not valid UTF-8 and paths over index.MaxPathLen bytes,
// which are skipped with a logged reason. An indexed path now holding such
// an object is tombstoned.
//
// A file is journaled only from a read whose fstat before and after agree
// (inode, size, mtime, ctime); one that changes while read is retried with
// backoff and, if it never settles, reported in Result.Failed. A file is read
// only under the locks its writers use (a shared flock and an OFD read
// lock, see fsys.LockForRead); one locked by a writer is not read and is
// listed in Result.Deferred, as is an empty file that Options.HoldEmpty
// holds back (see hold.go). A fingerprint
// taken within the kernel's timestamp granularity of a change is stored
// "smudged" so that the next scan reads the file again (see smudge).
package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ncsync/ncsync/internal/relpath"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// ErrInvalidPath is wrapped by the error Scan returns for a path argument
// that is not clean and relative.
var ErrInvalidPath = errors.New("not a clean relative path")

// Options configure a Scanner.
type Options struct {
	Root      string               // absolute path of the folder root
	Folder    string               // folder id, for logs
	Ignore    *ignore.Matcher      // may be nil: nothing ignored
	Chunker   chunker.Config       // zero value: chunker.DefaultConfig()
	Version   func() index.Version // epoch and node stamped on new entries; Journal fills Seq
	Log       *slog.Logger         // nil: discard
	BatchSize int                  // entries in a scan's first index transaction (later ones grow, see commit); default 1000
	Hashers   int                  // files read in parallel; default 2

	// HoldEmpty matches the files that are not journaled while they are
	// empty, until they have been empty for longer than HoldEmptyFor
	// (Nextcloud's config.php: see hold.go). Nil holds nothing.
	HoldEmpty    *ignore.Matcher
	HoldEmptyFor time.Duration
}

// Scanner scans one folder. Scan may be called from several goroutines;
// calls are serialized.
type Scanner struct {
	store Store
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex // held for the whole of a Scan
	ctr   counters

	hashers   []*hasher  // one per reading goroutine, reused by every Scan (under mu)
	racyPaths []string   // this Scan's Result.Racy (under mu, written by the committer)
	deferred  []Deferred // this Scan's Result.Deferred (under mu, written by the committer)

	failMu  sync.Mutex // the walker and the hashers record failures
	failed  []string   // this Scan's Result.Failed
	failErr error      // and its FailErr

	// Tunables, fixed after New; tests change them.
	maxAttempts int                            // reads of a file that keeps changing
	retryDelay  time.Duration                  // first backoff; doubles per attempt
	racy        time.Duration                  // see readFile
	cacheLimit  int                            // index entries the lister may hold
	afterRead   func(path string, attempt int) // test hook: after reading, before the re-stat
	now         func() time.Time               // the clock of the empty-file hold
}

// Defaults for Options and the tunables.
const (
	DefaultBatchSize = 1000
	DefaultHashers   = 2

	// batchGrowth bounds a scan's later index transactions, as a multiple
	// of BatchSize (see commit).
	batchGrowth = 8

	defaultMaxAttempts = 5
	defaultRetryDelay  = 10 * time.Millisecond
	// defaultRacy is five of the coarsest kernel clock ticks (10 ms), and
	// shorter than the watcher's quiet window, so that a file read after
	// its quiet window is not racy and is read once, not twice.
	defaultRacy       = 50 * time.Millisecond
	defaultCacheLimit = 32 << 10
	maxRacy           = 50_000 // Result.Racy paths; more become the whole folder
	maxFailed         = 50_000 // Result.Failed paths; more become the whole folder
	orderQueue        = 256    // items between the walker and the committer
)

// New returns a Scanner journaling into store. It does not touch the disk:
// the root is opened by each Scan.
func New(store Store, opts Options) (*Scanner, error) {
	if store == nil {
		return nil, errors.New("new scanner: nil store")
	}
	if !filepath.IsAbs(opts.Root) {
		return nil, fmt.Errorf("new scanner: root %q is not an absolute path", opts.Root)
	}
	if opts.Chunker == (chunker.Config{}) {
		opts.Chunker = chunker.DefaultConfig()
	}
	if err := opts.Chunker.Validate(); err != nil {
		return nil, fmt.Errorf("new scanner for %q: %w", opts.Root, err)
	}
	if opts.Version == nil {
		return nil, errors.New("new scanner: nil Version func")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Hashers <= 0 {
		opts.Hashers = DefaultHashers
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scanner{
		store:       store,
		opts:        opts,
		log:         log.With("folder", opts.Folder),
		hashers:     make([]*hasher, opts.Hashers),
		maxAttempts: defaultMaxAttempts,
		retryDelay:  defaultRetryDelay,
		racy:        defaultRacy,
		cacheLimit:  defaultCacheLimit,
		now:         time.Now,
	}
	for i := range s.hashers {
		ch, err := chunker.New(nil, opts.Chunker)
		if err != nil {
			return nil, fmt.Errorf("new scanner for %q: %w", opts.Root, err)
		}
		s.hashers[i] = &hasher{ch: ch}
	}
	return s, nil
}

// Scan rescans the given paths recursively and journals every difference
// from the index. Paths are relative to the root, slash separated and clean;
// "" or no path at all means the whole folder, index.RootPath the root's own
// metadata only (which every scan journals if it changed). A path under an ignored
// directory is not scanned. A path whose parent directories are new is
// journaled together with them (each checked like any other path), so the
// journal never holds a child without its parent.
//
// Problems with single paths (a file that cannot be read, one that keeps
// changing while read) are logged and listed in Result.Failed: the caller
// scans them again. Scan fails on a bad argument, when the root cannot be
// opened, when the index fails, or when ctx ends; what was committed before
// stays committed, and a scan of the same paths again finishes the work.
func (s *Scanner) Scan(ctx context.Context, paths ...string) (Result, error) {
	targets, err := targetsOf(paths)
	if err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.Counters()
	s.racyPaths, s.deferred = nil, nil
	s.failMu.Lock()
	s.failed, s.failErr = nil, nil
	s.failMu.Unlock()
	err = s.run(ctx, targets)
	s.ctr.scans.Add(1)
	res := resultOf(before, s.Counters())
	res.Racy, res.Deferred = s.racyPaths, s.deferred
	s.failMu.Lock()
	res.Failed, res.FailErr = s.failed, s.failErr
	s.failed, s.failErr = nil, nil
	s.failMu.Unlock()
	return res, err
}

// RacyWindow is how recent a file's ctime must be, when the file is read,
// for it to be stored racily clean (Result.Racy).
func (s *Scanner) RacyWindow() time.Duration { return s.racy }

func (s *Scanner) run(ctx context.Context, targets []string) error {
	root, err := openRoot(s.opts.Root)
	if err != nil {
		return fmt.Errorf("scan folder %q: %w", s.opts.Folder, err)
	}
	defer unix.Close(root)

	g, gctx := errgroup.WithContext(ctx)
	order := make(chan *item, orderQueue)
	jobs := make(chan *item, s.opts.Hashers)
	g.Go(func() error { return s.commit(gctx, order) })
	for _, h := range s.hashers {
		g.Go(func() error {
			s.hashLoop(gctx, root, h, jobs)
			return nil
		})
	}
	g.Go(func() error {
		defer close(order)
		defer close(jobs)
		w := newWalker(gctx, s, root, order, jobs)
		return w.run(targets)
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("scan folder %q: %w", s.opts.Folder, err)
	}
	return nil
}

// targetsOf validates the paths to scan and drops those inside another.
// index.RootPath asks for the root's own metadata, which every scan looks
// at anyway: it is dropped too.
func targetsOf(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return []string{""}, nil
	}
	ts := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == index.RootPath })
	for _, p := range ts {
		if p != "" && relpath.Check(p) != nil {
			return nil, fmt.Errorf("scan %q: %w", p, ErrInvalidPath)
		}
	}
	slices.Sort(ts) // an ancestor sorts before its descendants
	kept := map[string]bool{}
	out := ts[:0]
	for _, t := range slices.Compact(ts) {
		if kept[""] || kept[t] {
			continue
		}
		inside := false
		for i := 0; i < len(t) && !inside; i++ {
			inside = t[i] == '/' && kept[t[:i]]
		}
		if !inside {
			kept[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

func openRoot(root string) (int, error) {
	fd, err := fsys.RetryEINTR(func() (int, error) {
		return unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return -1, fmt.Errorf("open root %q: %w", root, err)
	}
	return fd, nil
}
