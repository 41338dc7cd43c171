package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/health"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/metrics"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/primary"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/secondary"
	"github.com/ncsync/ncsync/transport"
)

// daemon is the running node as the control socket sees it. Its role can
// change once, from secondary to primary (`ncsync promote`): run owns the
// switch, the control methods forward to whichever node is current.
type daemon struct {
	cfg   *config.Config
	db    *index.DB
	id    pki.Identity
	log   *slog.Logger
	hooks daemonHooks
	tlsm  *tlsMaterial // revocation lists, reloaded on SIGHUP
	// live is the config as last loaded (reload.go): cfg's reloadable
	// keys may have changed since the start, the others never do.
	live atomic.Pointer[config.Config]
	// events counts scans and barriers for metrics; nil without
	// metrics_listen.
	events *metrics.Events

	promotions chan promoteRequest // Promote → run

	mu     sync.Mutex
	node   control.Node   // the current node; nil until started
	health *health.Server // nil without health_listen
}

// promoteRequest is one `ncsync promote` handed to the daemon's run loop.
type promoteRequest struct {
	expected uint64
	force    bool
	reply    chan promoteReply // buffered: run never blocks on it
}

type promoteReply struct {
	start map[string]uint64
	err   error
}

func newDaemon(cfg *config.Config, db *index.DB, id pki.Identity, tlsm *tlsMaterial, hooks daemonHooks, log *slog.Logger) *daemon {
	d := &daemon{cfg: cfg, db: db, id: id, log: log, hooks: hooks, tlsm: tlsm, promotions: make(chan promoteRequest)}
	d.live.Store(cfg)
	return d
}

func (d *daemon) current() control.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node
}

func (d *daemon) setNode(n control.Node) {
	d.mu.Lock()
	d.node = n
	d.mu.Unlock()
}

// primarySetup is what a primary serves with: from the config for a
// primary, from its promote section for a promoted secondary.
type primarySetup struct {
	listen      string
	secondaries []string
	tls         *tls.Config
}

// runPrimary runs a primary until ctx ends.
func (d *daemon) runPrimary(ctx context.Context, ps primarySetup) error {
	live := d.live.Load() // a reload before the node is set changes it here
	if d.cfg.Role == pki.RolePrimary {
		ps.secondaries = live.Secondaries
	}
	p, err := primary.New(d.db, primary.Options{
		Node: d.cfg.Node, ClusterID: d.id.ClusterID, Secondaries: ps.secondaries,
		Folders: live.Folders, ScanInterval: d.cfg.ScanInterval,
		Quiet: d.cfg.Watch.Quiet, MaxLatency: d.cfg.Watch.MaxLatency, AuditInterval: d.cfg.Watch.AuditInterval,
		Log: d.log, OnScan: onScan(d.events), FlushDir: filepath.Join(d.cfg.StateDir, "flush"),
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", ps.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", ps.listen, err)
	}
	srv := transport.NewServer(ps.tls, transport.DefaultLimits(), p, d.log)
	lim := live.Limits
	srv.SetBandwidth(lim.Bandwidth, lim.BandwidthPerPeer)
	d.setNode(primaryNode{Primary: p, srv: srv})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(lis) })
	g.Go(func() error { <-ctx.Done(); srv.Stop(); return nil })
	g.Go(func() error { return p.Run(ctx) })
	d.log.Info("primary serving", "listen", lis.Addr().String(), "secondaries", ps.secondaries)
	if d.hooks.ready != nil {
		d.hooks.ready(lis.Addr().String())
	}
	return g.Wait()
}

// runSecondary follows the config's primary until ctx ends or a promotion
// succeeds; it then runs the primary in its place.
func (d *daemon) runSecondary(ctx context.Context, tlsConf *tls.Config) error {
	s, err := secondary.New(d.db, secondary.Options{
		Node: d.cfg.Node, ClusterID: d.id.ClusterID, Primary: d.cfg.Primary, TLS: tlsConf,
		PrimaryNode: d.cfg.PrimaryNode, Promotable: d.cfg.Promotable,
		Limits: transport.DefaultLimits(), Folders: d.live.Load().Folders, Log: d.log,
		Apply:     apply.Options{Chown: os.Geteuid() == 0, Log: d.log},
		OnApplied: d.hooks.onApplied,
		StageDir:  filepath.Join(d.cfg.StateDir, "stage"), StageLimit: d.cfg.StageLimit,
		ConflictDir: conflictDir(d.cfg), ConflictLimits: conflictLimits(d.cfg),
		Heal: healOptions(d.cfg),
	})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	d.setNode(s)
	if d.hooks.ready != nil {
		d.hooks.ready("")
	}
	for {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(sctx) }()
		var req promoteRequest
		select {
		case err := <-done:
			stop()
			return err
		case req = <-d.promotions:
		}
		stop()
		if err := <-done; err != nil { // joined: the session is over
			req.reply <- promoteReply{err: err}
			return err
		}
		ps, start, err := d.takeOver(s, req)
		if err != nil {
			d.log.Warn("promotion refused; following the primary again", "err", err)
			req.reply <- promoteReply{err: err}
			continue
		}
		closed = true
		if err := s.Close(); err != nil {
			d.log.Warn("closing the secondary's folders", "err", err)
		}
		d.log.Warn("promoted: this node is now the primary", "epoch", req.expected, "start", start)
		req.reply <- promoteReply{start: start}
		return d.runPrimary(ctx, ps)
	}
}

// takeOver checks that s may be promoted and records the new epoch. s's
// session has stopped.
func (d *daemon) takeOver(s *secondary.Secondary, req promoteRequest) (primarySetup, map[string]uint64, error) {
	ps, err := d.promotedSetup()
	if err != nil {
		return primarySetup{}, nil, err
	}
	items, err := s.Unsettled()
	if err != nil {
		return primarySetup{}, nil, err
	}
	if len(items) > 0 && !req.force {
		return primarySetup{}, nil, fmt.Errorf("this node holds %d unverified or failed items; it would serve them as the primary's tree:\n  %s\nresolve them (see the log), or promote with --force",
			len(items), strings.Join(items, "\n  "))
	}
	for _, it := range items {
		d.log.Warn("promoted with --force over an unsettled item", "item", it)
	}
	mk, err := primary.TakeOver(d.db, d.cfg.Node, s.Order(), req.expected, true)
	if err != nil {
		return primarySetup{}, nil, err
	}
	return ps, mk.Start, nil
}

// promotedSetup loads what the node serves with once promoted: the config's
// promote section and its primary certificate.
func (d *daemon) promotedSetup() (primarySetup, error) {
	pr := d.cfg.Promote
	if pr == nil {
		return primarySetup{}, fmt.Errorf("the config %s has no promote section: add promote: {listen: HOST:PORT, secondaries: [...], tls: {cert: FILE, key: FILE}} with a primary certificate for %q (ncsync certs issue --node %s --role primary), then try again",
			d.cfg.Path, d.cfg.Node, d.cfg.Node)
	}
	t := d.cfg.PromotedTLS()
	conf, _, err := loadTLS(d.cfg, t, pki.RolePrimary, "promote.tls", d.tlsm, d.log)
	if err != nil {
		return primarySetup{}, err
	}
	return primarySetup{listen: pr.Listen, secondaries: pr.Secondaries, tls: conf}, nil
}

// Status implements control.Node.
func (d *daemon) Status(ctx context.Context) (report.Node, error) {
	n := d.current()
	if n == nil {
		return report.Node{}, errors.New("the daemon is starting")
	}
	st, err := n.Status(ctx)
	// A secondary that has not reached its primary since it started
	// (the usual state when promote is needed) knows its epoch from
	// the index only.
	if m, merr := d.db.Meta(); merr == nil && m.Epoch > st.Epoch {
		st.Epoch = m.Epoch
	}
	return st, err
}

// Promote implements control.Promoter: it hands the request to the run
// loop, which owns the switch, and waits for the outcome.
func (d *daemon) Promote(ctx context.Context, expected uint64, force bool) (map[string]uint64, error) {
	if _, ok := d.current().(*secondary.Secondary); !ok {
		return nil, errors.New("this node is not a secondary: only a secondary can be promoted")
	}
	req := promoteRequest{expected: expected, force: force, reply: make(chan promoteReply, 1)}
	select {
	case d.promotions <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		return nil, errors.New("the daemon is not following a primary right now (starting or stopping): try again")
	}
	select {
	case r := <-req.reply:
		return r.start, r.err
	case <-ctx.Done():
		// The switch goes on; status shows where it ended.
		return nil, ctx.Err()
	}
}

// Pause implements control.Pauser when the current node does.
func (d *daemon) Pause(ctx context.Context, peer string, ttl time.Duration) (report.Pause, error) {
	p, ok := d.current().(control.Pauser)
	if !ok {
		return report.Pause{}, errors.New("this node cannot pause right now")
	}
	return p.Pause(ctx, peer, ttl)
}

// Resume implements control.Pauser when the current node does.
func (d *daemon) Resume(ctx context.Context, peer string) (report.Pause, error) {
	p, ok := d.current().(control.Pauser)
	if !ok {
		return report.Pause{}, errors.New("this node cannot resume a pause right now")
	}
	return p.Resume(ctx, peer)
}

// Barrier implements control.Barrierer when the current node does.
func (d *daemon) Barrier(ctx context.Context, req control.BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error) {
	b, ok := d.current().(control.Barrierer)
	if !ok {
		return report.BarrierProgress{}, errors.New("this node cannot run a barrier: run `ncsync barrier` on the primary")
	}
	start := time.Now()
	res, err := b.Barrier(ctx, req, progress)
	d.events.Barrier(time.Since(start), res.Reached, err)
	return res, err
}

// Conflicts implements control.ConflictLister: the current node's, or,
// on a node without one (a primary, also after a promotion), the stores of
// the config as they are on disk.
func (d *daemon) Conflicts(ctx context.Context) ([]preserve.Record, error) {
	if l, ok := d.current().(control.ConflictLister); ok {
		return l.Conflicts(ctx)
	}
	stores, err := openConflictStores(d.cfg)
	defer closeStores(stores)
	if err != nil {
		return nil, err
	}
	return preserve.ListAll(stores)
}

// PruneConflicts implements control.ConflictPruner like Conflicts.
func (d *daemon) PruneConflicts(ctx context.Context, cutoff time.Time, dryRun bool) ([]preserve.Pruned, error) {
	if p, ok := d.current().(control.ConflictPruner); ok {
		return p.PruneConflicts(ctx, cutoff, dryRun)
	}
	stores, err := openConflictStores(d.cfg)
	defer closeStores(stores)
	if err != nil {
		return nil, err
	}
	return preserve.PruneAll(ctx, stores, cutoff, dryRun)
}

// Changes implements control.ChangeLister from the node's index, on a
// primary and a secondary alike.
func (d *daemon) Changes(_ context.Context, folder string, since, until uint64, fn func(index.Change) error) (index.ChangeRange, error) {
	if !slices.ContainsFunc(d.cfg.Folders, func(f config.Folder) bool { return f.ID == folder }) {
		ids := make([]string, 0, len(d.cfg.Folders))
		for _, f := range d.cfg.Folders {
			ids = append(ids, f.ID)
		}
		return index.ChangeRange{}, fmt.Errorf("this node replicates no folder %q (its folders: %s)", folder, strings.Join(ids, ", "))
	}
	return d.db.Changes(folder, since, until, fn)
}

// healOptions are how a secondary watches and audits its own tree; nil
// when watch.repair is off.
func healOptions(cfg *config.Config) *secondary.HealOptions {
	if !cfg.Watch.Repair {
		return nil
	}
	return &secondary.HealOptions{Quiet: cfg.Watch.Quiet, MaxLatency: cfg.Watch.MaxLatency,
		AuditInterval: cfg.Watch.AuditInterval}
}
