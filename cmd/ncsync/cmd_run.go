package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/ratelog"
	"github.com/ncsync/ncsync/internal/sdnotify"
	"github.com/ncsync/ncsync/metrics"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/primary"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/secondary"
	"github.com/ncsync/ncsync/transport"
)

const defaultConfig = "/etc/ncsync/ncsync.yaml"

type runOptions struct {
	ConfigPath string
	LogLevel   string
	LogFormat  string
	Rejoin     bool
	CPUProfile string
	MemProfile string
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the ncsync daemon (primary or secondary, as the config says)",
		Long: `Run the daemon. The config's role decides what it does:

  primary    scans its folders, journals every change and serves its
             secondaries on 'listen'.
  secondary  connects to 'primary', applies what it is sent beneath its
             folders (crash-safe: temp file, fsync, rename, directory fsync)
             and acknowledges what is durable.

Both sides keep their state in state_dir/index.db and resume from it after
a restart. SIGINT or SIGTERM stops the daemon cleanly. SIGHUP reloads the
config: ignore patterns, secondaries, limits, log.level and health apply at
once, the revocation list (tls.crl) and the certificate and key files are
read again (a renewal); a change to any other key
is refused (logged with the key) and the daemon keeps its config.

A secondary whose config has a promote section becomes the primary of a
new epoch in place on 'ncsync promote'; set role: primary in its config
before its next restart (see 'ncsync promote --help'). An old primary
started with a secondary config rejoins: its changes since the promotion
are kept as conflicts, then it copies the new primary's tree.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := config.Load(o.ConfigPath)
			if err != nil {
				return err
			}
			// The flags, when given, override the config's log settings.
			level, format := cfg.Log.Level.String(), cfg.Log.Format
			if o.LogLevel != "" {
				level = o.LogLevel
			}
			if o.LogFormat != "" {
				format = o.LogFormat
			}
			log, lv, err := newLogger(os.Stderr, level, format)
			if err != nil {
				return usageError("%v", err)
			}
			hooks := daemonHooks{rejoin: o.Rejoin}
			if o.LogLevel == "" { // the flag holds the level; the config's is reloaded
				hooks.level = lv
			}
			if o.CPUProfile != "" {
				f, err := os.Create(o.CPUProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			if o.MemProfile != "" {
				ctx, cancel := context.WithCancel(c.Context())
				prof := newPeakHeapProfile(o.MemProfile)
				tick := time.NewTicker(peakHeapEvery)
				defer tick.Stop()
				done := make(chan error, 1)
				go func() { done <- prof.run(ctx, tick.C) }()
				err := runDaemon(c.Context(), cfg, hooks, log)
				cancel()
				if perr := <-done; perr != nil {
					log.Warn("heap profile not written", "err", perr)
				}
				return err
			}
			return runDaemon(c.Context(), cfg, hooks, log)
		},
	}
	cmd.Flags().StringVar(&o.ConfigPath, "config", defaultConfig, "config file")
	cmd.Flags().StringVar(&o.LogLevel, "log-level", "", "debug, info, warn or error (default: the config's log.level, info)")
	cmd.Flags().StringVar(&o.LogFormat, "log-format", "", "text or json (default: the config's log.format, text)")
	cmd.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile to FILE until the daemon stops (read it with go tool pprof)")
	cmd.Flags().StringVar(&o.MemProfile, "memprofile", "", "write to FILE the heap profile taken at the daemon's largest live heap, checked every second (read it with go tool pprof)")
	cmd.Flags().BoolVar(&o.Rejoin, "rejoin", false, "start a node that was promoted with a secondary config: it follows its config's primary (which must be at a newer epoch) and its own changes since become conflicts")
	return cmd
}

// newLogger returns the daemon's logger and the level it writes from, which
// a reload may change.
func newLogger(w *os.File, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, ho)
	case "json":
		h = slog.NewJSONHandler(w, ho)
	default:
		return nil, nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
	// A peer that stays unreachable must not flood the log.
	return slog.New(ratelog.New(h, slog.LevelWarn, ratelog.DefaultInterval)), lv, nil
}

// daemonHooks let the demo and tests observe a daemon run in-process.
type daemonHooks struct {
	onApplied func(secondary.Applied)
	// ready is called once the daemon serves (primary: with its address).
	ready func(addr string)
	// rejoin: a node that was promoted may start with a secondary config
	// (ncsync run --rejoin).
	rejoin bool
	// level is the log's level, which a reload sets to the config's
	// log.level; nil: the level stays (set by --log-level).
	level *slog.LevelVar
}

// runDaemon runs one node until ctx ends.
func runDaemon(ctx context.Context, cfg *config.Config, hooks daemonHooks, log *slog.Logger) error {
	log = log.With("node", cfg.Node)
	if err := applyLimits(cfg.Limits, log); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	want := pki.RolePrimary
	if cfg.Role == pki.RoleSecondary {
		want = pki.RoleSecondary
	}
	tlsm := &tlsMaterial{}
	tlsConf, id, err := loadTLS(cfg, cfg.TLS, want, "tls", tlsm, log)
	if err != nil {
		return err
	}

	db, err := index.Open(cfg.DBPath(), index.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ensureMeta(db, cfg, id, hooks.rejoin); err != nil {
		return err
	}

	healthLis, err := listenHealth(cfg)
	if err != nil {
		return err
	}
	if healthLis != nil {
		defer healthLis.Close()
	}
	metricsLis, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	if metricsLis != nil {
		defer metricsLis.Close()
	}
	ctlLis, err := control.Listen(cfg.ControlSocket, control.Groups{Read: cfg.ControlGroup, Admin: cfg.ControlAdminGroup})
	if err != nil {
		return err
	}
	log.Info("control socket", "path", cfg.ControlSocket, "access", ctlLis.Policy())
	defer os.Remove(cfg.ControlSocket)

	// The role can change once, from secondary to primary (ncsync
	// promote): the daemon's run loop owns the switch (daemon_role.go).
	d := newDaemon(cfg, db, id, tlsm, hooks, log)
	if metricsLis != nil {
		d.events = metrics.NewEvents()
	}
	g, ctx := errgroup.WithContext(ctx)
	ctl := control.NewServer(d, log)
	g.Go(func() error { return ctl.Serve(ctlLis) })
	g.Go(func() error { <-ctx.Done(); ctl.Stop(); return nil })
	g.Go(func() error { superviseService(ctx, d, sdnotify.FromEnv(), log); return nil })
	if healthLis != nil {
		hs := d.startHealth(healthThresholds(cfg.Health))
		g.Go(func() error { return serveHealth(ctx, healthLis, hs, log) })
	}
	g.Go(func() error { reloadOnHangup(ctx, d, sdnotify.FromEnv(), log); return nil })
	if metricsLis != nil {
		g.Go(func() error { return serveMetrics(ctx, metricsLis, d, d.events, log) })
	}
	g.Go(func() error {
		if cfg.Role == pki.RolePrimary {
			return d.runPrimary(ctx, primarySetup{listen: cfg.Listen, secondaries: cfg.Secondaries, tls: tlsConf})
		}
		return d.runSecondary(ctx, tlsConf)
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// ensureMeta binds the index to the cluster of the node's certificate and,
// on a primary's first start, opens epoch 1. It also keeps the role the
// index records and the config's role in step (see README, Failover):
//
//   - a node that `ncsync promote` made primary refuses to start with its
//     old secondary config (it would follow someone else and leave the
//     cluster without its primary), unless rejoin says that is meant;
//   - a node becomes primary only by its config on first start or by
//     promote: a config that says primary on a node whose index follows
//     another node's epoch is refused (a second primary of that epoch).
func ensureMeta(db *index.DB, cfg *config.Config, id pki.Identity, rejoin bool) error {
	m, err := db.Meta()
	if err != nil {
		return err
	}
	switch {
	case m.ClusterID == "":
		m.ClusterID, m.Node = id.ClusterID, cfg.Node
	case m.ClusterID != id.ClusterID:
		return fmt.Errorf("the index %s belongs to cluster %s but the certificates to cluster %s: use the right certificates, or another state_dir for a new cluster",
			cfg.DBPath(), m.ClusterID, id.ClusterID)
	}
	switch cfg.Role {
	case pki.RolePrimary:
		if m.Epoch == 0 {
			m.Epoch = 1
			m.Lineage = []index.EpochMark{{Epoch: 1, Node: cfg.Node, Start: map[string]uint64{}, StartedNs: time.Now().UnixNano()}}
		} else if len(m.Lineage) > 0 && !m.Leads(cfg.Node) {
			last := m.Lineage[len(m.Lineage)-1]
			return fmt.Errorf("the config says role: primary, but this node's index follows node %q, the primary of epoch %d: starting a second primary would split the cluster. Run this node as a secondary; to make it the primary, run `ncsync promote` on it",
				last.Node, m.Epoch)
		}
		m.Promoted = false // the config now says what promote did
	case pki.RoleSecondary:
		if m.Promoted && m.Leads(cfg.Node) && !rejoin {
			return fmt.Errorf("this node was promoted to primary of epoch %d (ncsync promote), but the config %s still says role: secondary. Make it a primary config: role: primary, listen and secondaries from the promote section, tls.cert and tls.key the primary certificate of promote.tls. If this node is meant to follow another, newer primary now, start it once with --rejoin",
				m.Epoch, cfg.Path)
		}
		m.Promoted = false
	}
	return db.SetMeta(m)
}

// primaryNode is the primary as the control socket sees it: its status
// with the chunk bytes the transport sent each peer.
type primaryNode struct {
	*primary.Primary
	srv *transport.Server
}

func (n primaryNode) Status(ctx context.Context) (report.Node, error) {
	st, err := n.Primary.Status(ctx)
	sent := n.srv.Stats().Peers
	for i := range st.Peers {
		ps := sent[st.Peers[i].Node]
		st.Peers[i].BytesSent, st.Peers[i].ChunkBytesRaw = ps.ChunkBytesWire, ps.ChunkBytesRaw
	}
	return st, err
}
