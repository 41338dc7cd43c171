// Package secondary runs a secondary node: it follows its primary, applies
// the journal entries it is sent beneath its folder roots, fetching only the
// chunks it does not already hold, and acknowledges what is durable.
package secondary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/stage"
	"github.com/ncsync/ncsync/transport"
)

// Options configure a Secondary.
type Options struct {
	Node      string
	ClusterID string
	Primary   string // host:port
	// PrimaryNode is the node the config names as the primary: its
	// certificate must name it (see identity.go). Required.
	PrimaryNode string
	// Promotable are the nodes this secondary follows once they show, in
	// their lineage, that they were promoted after the primary it follows.
	Promotable []string
	TLS        *tls.Config
	Limits     transport.Limits
	Folders    []config.Folder
	Apply      apply.Options
	Log        *slog.Logger
	// OnApplied, if set, is called after each durable batch (for the demo).
	OnApplied func(Applied)
	// MinBackoff and MaxBackoff bound the wait between reconnects; default
	// 0.5 s and 10 s: a secondary started before its primary is following
	// it within 10 s of the primary coming up, and a primary that is down
	// costs one refused dial (and one log line) every 5–10 s.
	MinBackoff, MaxBackoff time.Duration
	// StageDir, if set, holds the changes that arrive while this node is
	// paused (one stage per folder, see stage.go), up to StageLimit bytes;
	// past that the primary holds them back. Without it the primary holds
	// back everything while paused.
	StageDir   string
	StageLimit int64
	// ConflictDir, if set, is the conflict store (package preserve) where
	// local changes are kept before the primary's changes replace them
	// (local.go). Without it such changes fail their entries and wait.
	// A rejoin (rejoin.go) keeps diverged versions there too, and is
	// refused without it. A folder on another file system keeps its own
	// store instead (its conflicts.dir, or one at its root: see
	// preserve.PlaceFor), so that local files are kept by a hard link.
	ConflictDir string
	// ConflictLimits bound each conflict store: a version that would not
	// fit is not kept, and its entry waits (status shows it).
	ConflictLimits preserve.Limits
	// SkipRetryMin and SkipRetryMax bound the wait, after everything
	// received was applied, before a session with a skipped entry still
	// pending ends so that the primary sends it again (skips.go); default
	// 1 s and 30 s.
	SkipRetryMin, SkipRetryMax time.Duration
	// Heal, if set, makes the node watch its own folders and audit them,
	// putting back what differs from what ncsync last wrote (heal.go).
	Heal *HealOptions
}

// Applied describes one applied entry.
type Applied struct {
	Folder  string
	Entry   index.Entry
	Err     error
	Fetched int64 // chunk bytes fetched from the primary
	Reused  int64 // chunk bytes copied from local files
	Took    time.Duration
}

// Secondary is a running secondary. Its exported methods are safe for
// concurrent use.
type Secondary struct {
	opts    Options
	db      *index.DB
	log     *slog.Logger
	folders map[string]*folder
	order   []string
	started time.Time

	fetchedBytes atomic.Int64
	reusedBytes  atomic.Int64
	stagedBytes  atomic.Int64
	probe        atomic.Bool // the next session only asks for the primary's lineage (session.go)
	skipRetry    skipRetry   // the wait before a pending skip is asked for again (skips.go)
	skipRetries  atomic.Int64

	verifySlot    chan struct{} // held by the one verify walk running (verify.go)
	verifyWaiting atomic.Int32  // verify requests held, waiting or running

	stages map[string]*stage.Stage // by folder; nil without StageDir; used by the session only
	local  *localState             // conflict store and per-folder keepers; nil without ConflictDir
	heal   healState               // the session's client, for repairs (heal.go)

	mu        sync.Mutex
	connected bool
	since     time.Time
	lastSeen  time.Time
	lastErr   string
	epoch     uint64 // the primary's, as its last Welcome announced it
	// primaryNode is the node of the session's primary (its certificate's).
	primaryNode string
	downSince   time.Time         // when the last session ended (zero: none yet)
	heads       map[string]uint64 // the primary's head per folder, as last heard
	// catchUp is the head per folder when the current session began: the
	// folder catches up until it holds that much (see Status).
	catchUp map[string]uint64
	// behind is when the folder last fell behind the head it knew of: the
	// age of its oldest change not yet applied.
	behind map[string]time.Time
	// pause is whether a pause holds this node, as the primary last told
	// it in the current session (PauseState); cleared when it ends.
	pause transport.PauseState
}

type folder struct {
	cfg     config.Folder
	w       *apply.Folder
	ignore  *ignore.Matcher // this node's patterns (ignored.go)
	ignored atomic.Uint64   // entries refused because they match them
	counts  applyCounts     // counters.go

	// applyMu is held while the tree and the index may disagree: by a
	// batch from before its writes until its index commit, and by a
	// repair (heal.go), which takes a difference for a local change.
	applyMu sync.Mutex
	repairs atomic.Uint64 // local changes put back since start (heal.go)

	mu        sync.Mutex
	lastErr   string
	storeFull *report.ConflictStoreFull // the entry waiting for room in the conflict store; nil if none

	resumed atomic.Bool // a whole batch was applied since start (resume.go)
	skips   skips       // entries skipped as superseded, pending (skips.go)
	unbuilt unbuilt     // entries whose chunk list delta was not built (delta.go)
	recent  recentLists // bases for chunk list deltas (delta.go)
}

// New opens the folders (cleaning temp files left by a crash).
func New(db *index.DB, opts Options) (*Secondary, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.PrimaryNode == "" {
		return nil, errors.New("secondary: no primary node: the node whose certificate the primary must present is required (primary: NODE@HOST:PORT)")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.SkipRetryMin <= 0 {
		opts.SkipRetryMin = time.Second
	}
	if opts.SkipRetryMax < opts.SkipRetryMin {
		opts.SkipRetryMax = max(30*time.Second, opts.SkipRetryMin)
	}
	if opts.Limits == (transport.Limits{}) {
		opts.Limits = transport.DefaultLimits()
	}
	s := &Secondary{opts: opts, db: db, log: opts.Log, folders: make(map[string]*folder),
		started: time.Now(), heads: make(map[string]uint64), catchUp: make(map[string]uint64),
		behind: make(map[string]time.Time), verifySlot: make(chan struct{}, 1)}
	if err := s.openConflicts(); err != nil {
		return nil, err
	}
	for _, fc := range opts.Folders {
		ao := opts.Apply
		ao.Log = opts.Log.With("folder", fc.ID)
		ao.Local = s.keeper(fc.ID)
		ao.RefuseSymlinks, ao.StripSetID = fc.RefuseSymlinks, fc.StripSetID
		m, err := ignore.New(fc.IgnorePatterns())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("folder %q: ignore: %w", fc.ID, err)
		}
		w, err := apply.Open(fc.Path, ao)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("folder %q: %w", fc.ID, err)
		}
		s.folders[fc.ID] = &folder{cfg: fc, w: w, ignore: m}
		s.order = append(s.order, fc.ID)
	}
	if opts.StageDir != "" {
		if err := s.openStages(opts.StageDir); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close releases the folders.
func (s *Secondary) Close() error {
	var errs []error
	for _, f := range s.folders {
		errs = append(errs, f.w.Close())
	}
	for _, st := range s.stages {
		errs = append(errs, st.Close())
	}
	s.closeConflicts()
	return errors.Join(errs...)
}

// Run follows the primary until ctx ends, reconnecting with exponential
// backoff and jitter. A refusal by the primary (another cluster, a stale
// epoch) is logged and retried: the operator fixes the cause and the
// secondary carries on by itself.
func (s *Secondary) Run(ctx context.Context) error {
	if s.opts.Heal != nil {
		ctx, cancel := context.WithCancel(ctx)
		healed := s.startHealing(ctx) // heal.go
		defer func() { cancel(); healed.Wait() }()
	}
	backoff := s.opts.MinBackoff
	for {
		start := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errStartAgain) {
			continue // not a failure: no backoff
		}
		s.setDisconnected(err)
		if errors.Is(err, errSkipPending) {
			// Intended, and paced by its own backoff (skips.go).
			s.log.Debug("replication session ended", "primary", s.opts.Primary, "err", err)
			continue
		}
		s.log.Warn("replication session ended", "primary", s.opts.Primary, "err", err)
		if time.Since(start) > 30*time.Second {
			backoff = s.opts.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// FetchedBytes and ReusedBytes count chunk bytes taken from the primary and
// from local files since start.
func (s *Secondary) FetchedBytes() int64 { return s.fetchedBytes.Load() }

// ReusedBytes counts chunk bytes copied from files already on this node.
func (s *Secondary) ReusedBytes() int64 { return s.reusedBytes.Load() }

func (s *Secondary) setDisconnected(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected || s.downSince.IsZero() {
		s.downSince = time.Now()
	}
	s.connected = false
	s.lastSeen = time.Now()
	if err != nil {
		s.lastErr = err.Error()
	}
}
