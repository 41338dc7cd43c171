// Package primary runs a primary node: it scans its folders into the index
// journal and serves every connected secondary the entries and chunk data it
// lacks, each at its own pace.
package primary

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/scanner"
	"github.com/ncsync/ncsync/watcher"
)

// Options configure a Primary.
type Options struct {
	Node        string
	ClusterID   string
	Secondaries []string // the peers allowed to connect
	Folders     []config.Folder
	// ScanInterval is how often directories the watcher cannot watch are
	// rescanned (and whole folders, while a folder cannot be watched at
	// all). Default config.DefaultScanInterval.
	ScanInterval time.Duration
	// Quiet and MaxLatency tune the watcher's debounce (see
	// watcher.Options); zero means the watcher's defaults.
	Quiet, MaxLatency time.Duration
	// AuditInterval is how often each folder gets a full stat walk.
	// Default config.DefaultAudit.
	AuditInterval time.Duration
	Chunker       chunker.Config
	// Window is how many batches a peer may have unacknowledged per folder.
	Window int
	// BatchEntries and BatchBytes bound one batch sent to a peer.
	BatchEntries int
	BatchBytes   int64
	Log          *slog.Logger
	// FlushDir is the private directory where the folders' watchers make
	// the markers of a flush (a barrier's, a pause's), one directory per
	// folder, outside the folders so that a flush never writes in a tree.
	// Default: "flush" next to the index file (in state_dir).
	FlushDir string
	// OnScan, when set, is told of every scan once it ends (metrics):
	// called from the folder's goroutine, it must not block.
	OnScan func(ScanDone)
}

// ScanDone is one finished scan of a folder.
type ScanDone struct {
	Folder string
	Kind   ScanKind
	Took   time.Duration
	Err    error // nil when it succeeded
}

// ScanKind says what a scan covered and why.
type ScanKind string

const (
	ScanPaths ScanKind = "paths" // paths the watcher reported, or retries of failed ones
	ScanFull  ScanKind = "full"  // the whole folder: at start, or while it cannot be watched
	ScanAudit ScanKind = "audit" // the whole folder, to find what the watcher missed
)

// Primary is a running primary node. Its exported methods are safe for
// concurrent use.
type Primary struct {
	opts    Options
	db      *index.DB
	log     *slog.Logger
	folders map[string]*folder
	order   []string // folder ids in config order
	started time.Time

	// members are the secondaries allowed to call anything (admit.go).
	members atomic.Pointer[[]string]

	mu    sync.Mutex
	peers map[string]*peer

	pauses pauseBook
	trees  treeQueries // tree hash questions to secondaries (treehash.go)
	verifs verifyBook  // ncsync verify: manifests asked of secondaries (verify.go)

	serve serveState // chunk-serving state (chunkread.go)
}

type folder struct {
	cfg     config.Folder
	ignore  *ignore.Matcher
	scan    *scanner.Scanner
	watcher atomic.Pointer[watcher.Watcher] // nil while the folder is not watched
	sync    chan chan error                 // Flush's requests to the folder's loop
	rewatch chan struct{}                   // SetIgnore: start the watcher again (buffered 1)

	retry *scanRetry // paths whose scan failed (retry.go)

	mu         sync.Mutex
	lastScan   time.Time
	watchErr   string        // why the folder is not watched, if it is not
	audits     uint64        // audit scans done
	auditFound uint64        // changes the audit scans found
	commits    []commit      // journal heads with their times, for lag in seconds
	held       []report.Held // deferred files for status (see deferred.go)
	heldTotal  uint64

	deferred deferredSet // owned by the folder's loop (watchFolder, pollFolder)
}

func (f *folder) setWatchErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchErr = ""
	if err != nil {
		f.watchErr = err.Error()
	}
}

// commit records when the journal head of a folder reached seq.
type commit struct {
	seq uint64
	at  time.Time
}

// New opens the primary's folders. The index must already carry the
// cluster's meta (see EnsureMeta).
func New(db *index.DB, opts Options) (*Primary, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = config.DefaultScanInterval
	}
	if opts.AuditInterval <= 0 {
		opts.AuditInterval = config.DefaultAudit
	}
	if opts.Window <= 0 {
		opts.Window = 4
	}
	if opts.BatchEntries <= 0 {
		opts.BatchEntries = 4096
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 256 << 20
	}
	if opts.Chunker == (chunker.Config{}) {
		opts.Chunker = chunker.DefaultConfig()
	}
	if opts.FlushDir == "" {
		opts.FlushDir = filepath.Join(filepath.Dir(db.Path()), "flush")
	}
	p := &Primary{
		opts:    opts,
		db:      db,
		log:     opts.Log,
		folders: make(map[string]*folder),
		started: time.Now(),
		peers:   make(map[string]*peer),
		serve:   newServeState(),
	}
	meta, err := db.Meta()
	if err != nil {
		return nil, err
	}
	for _, fc := range opts.Folders {
		m, err := ignore.New(fc.IgnorePatterns())
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", fc.ID, err)
		}
		hold, err := ignore.New(fc.HoldEmpty)
		if err != nil {
			return nil, fmt.Errorf("folder %q: hold_empty: %w", fc.ID, err)
		}
		epoch, node := meta.Epoch, opts.Node
		sc, err := scanner.New(scanner.IndexStore(db, fc.ID), scanner.Options{
			Root:         fc.Path,
			Folder:       fc.ID,
			Ignore:       m,
			Chunker:      opts.Chunker,
			Version:      func() index.Version { return index.Version{Epoch: epoch, Node: node} },
			Log:          opts.Log.With("folder", fc.ID),
			HoldEmpty:    hold,
			HoldEmptyFor: cmp.Or(fc.HoldEmptyFor, config.DefaultHoldEmptyFor),
		})
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", fc.ID, err)
		}
		p.folders[fc.ID] = &folder{cfg: fc, ignore: m, scan: sc, sync: make(chan chan error), rewatch: make(chan struct{}, 1),
			retry: newScanRetry(opts.ScanInterval)}
		p.order = append(p.order, fc.ID)
	}
	p.SetSecondaries(opts.Secondaries)
	recorded, err := db.Pauses()
	if err != nil {
		return nil, err
	}
	p.pauses.init(recorded)
	for _, pa := range recorded {
		p.log.Info("secondary still paused", "peer", pa.Peer, "pause", pa.ID, "hold", pa.Hold, "expires", pa.Expires)
	}
	return p, nil
}

// Run keeps every folder's journal up to date until ctx ends: each folder
// is watched (see watchFolder), fully scanned at start (a stat compare
// against the index: files that did not change are not read again) and
// on every audit. Scan errors are logged and shown in status, never fatal:
// their paths stay pending and are retried (retry.go).
func (p *Primary) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { p.expirePauses(ctx) })
	for _, id := range p.order {
		f := p.folders[id]
		wg.Go(func() { p.runFolder(ctx, f) })
	}
	wg.Wait()
	return nil
}

// scanFolder rescans paths (relative; "" = the whole folder) of f and
// journals what changed.
func (p *Primary) scanFolder(ctx context.Context, f *folder, paths ...string) (scanner.Result, error) {
	id := f.cfg.ID
	if len(paths) == 0 || slices.Contains(paths, "") {
		if err := p.checkRoot(f); err != nil {
			return scanner.Result{}, err
		}
	}
	res, err := f.scan.Scan(ctx, paths...)
	head, herr := p.db.Head(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastScan = time.Now()
	if err != nil {
		return res, err
	}
	if herr == nil && (len(f.commits) == 0 || f.commits[len(f.commits)-1].seq < head) {
		f.commits = append(f.commits, commit{seq: head, at: time.Now()})
		if len(f.commits) > 4096 {
			f.commits = slices.Delete(f.commits, 0, len(f.commits)-4096)
		}
	}
	if res.Changed+res.Deleted > 0 {
		p.log.Debug("scanned", "folder", id, "changed", res.Changed, "deleted", res.Deleted, "hashed", res.Hashed)
	}
	return res, nil
}

// checkRoot refuses to scan a folder root that is empty while the index
// holds entries for it: an unmounted file system looks exactly like that,
// and scanning it would delete the whole tree on every secondary.
func (p *Primary) checkRoot(f *folder) error {
	d, err := os.Open(f.cfg.Path)
	if err != nil {
		return fmt.Errorf("folder %q: %w", f.cfg.ID, err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return nil
	}
	st, err := p.db.Stats(f.cfg.ID)
	if err != nil {
		return err
	}
	if live := st.Files + st.Dirs + st.Symlinks; live > 0 {
		return fmt.Errorf("folder %q: %s is empty but ncsync has %d entries for it: is the file system mounted? Not scanning, so the secondaries keep their copy. If it was emptied on purpose, create any file in it (touch %s/.keep) and the deletions will replicate",
			f.cfg.ID, f.cfg.Path, live, f.cfg.Path)
	}
	return nil
}

// FilesHashed is the number of files read and hashed since start, over all
// folders: a restart over an unchanged tree must not raise it.
func (p *Primary) FilesHashed() uint64 {
	var n uint64
	for _, f := range p.folders {
		n += uint64(f.scan.Counters().FilesHashed)
	}
	return n
}

// lagSince returns how long ago the oldest change after seq was journaled.
func (f *folder) lagSince(seq uint64, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.commits {
		if c.seq > seq {
			return now.Sub(c.at)
		}
	}
	return 0
}

var errNoFolder = errors.New("no such folder")
