package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/primary"
	"github.com/ncsync/ncsync/secondary"
	"github.com/ncsync/ncsync/status"
	"github.com/ncsync/ncsync/transport"
)

const defaultConfig = "/etc/ncsync/ncsync.yaml"

type runOptions struct {
	ConfigPath string
	LogLevel   string
	LogFormat  string
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
a restart. SIGINT or SIGTERM stops the daemon cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(os.Stderr, o.LogLevel, o.LogFormat)
			if err != nil {
				return usageError("%v", err)
			}
			cfg, err := config.Load(o.ConfigPath)
			if err != nil {
				return err
			}
			return runDaemon(c.Context(), cfg, daemonHooks{}, log)
		},
	}
	cmd.Flags().StringVar(&o.ConfigPath, "config", defaultConfig, "config file")
	cmd.Flags().StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&o.LogFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(w *os.File, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// daemonHooks let the demo and tests observe a daemon run in-process.
type daemonHooks struct {
	onApplied func(secondary.Applied)
	// ready is called once the daemon serves (primary: with its address).
	ready func(addr string)
}

// runDaemon runs one node until ctx ends.
func runDaemon(ctx context.Context, cfg *config.Config, hooks daemonHooks, log *slog.Logger) error {
	log = log.With("node", cfg.Node)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	want := pki.RolePrimary
	tlsFor := pki.ServerTLS
	if cfg.Role == config.RoleSecondary {
		want, tlsFor = pki.RoleSecondary, pki.ClientTLS
	}
	tlsConf, id, err := tlsFor(cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if id.Node != cfg.Node {
		return fmt.Errorf("tls.cert %s is for node %q but the config's node is %q: issue a certificate for %q", cfg.TLS.Cert, id.Node, cfg.Node, cfg.Node)
	}
	if id.Role != want {
		return fmt.Errorf("tls.cert %s has role %s but the config's role is %s: issue a %s certificate for %q", cfg.TLS.Cert, id.Role, want, want, cfg.Node)
	}

	db, err := index.Open(cfg.DBPath(), index.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ensureMeta(db, cfg, id); err != nil {
		return err
	}

	ctlLis, err := control.Listen(cfg.ControlSocket, cfg.ControlGroup)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.ControlSocket)

	g, ctx := errgroup.WithContext(ctx)
	var node control.Node
	switch cfg.Role {
	case config.RolePrimary:
		p, err := primary.New(db, primary.Options{
			Node: cfg.Node, ClusterID: id.ClusterID, Secondaries: cfg.Secondaries,
			Folders: cfg.Folders, ScanInterval: cfg.ScanInterval,
			Quiet: cfg.Watch.Quiet, MaxLatency: cfg.Watch.MaxLatency, AuditInterval: cfg.Watch.AuditInterval,
			Log: log,
		})
		if err != nil {
			ctlLis.Close()
			return err
		}
		lis, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			ctlLis.Close()
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		srv := transport.NewServer(tlsConf, transport.DefaultLimits(), p, log)
		node = primaryNode{Primary: p, srv: srv}
		g.Go(func() error { return srv.Serve(lis) })
		g.Go(func() error { <-ctx.Done(); srv.Stop(); return nil })
		g.Go(func() error { return p.Run(ctx) })
		log.Info("primary serving", "listen", lis.Addr().String(), "secondaries", cfg.Secondaries)
		if hooks.ready != nil {
			hooks.ready(lis.Addr().String())
		}
	case config.RoleSecondary:
		s, err := secondary.New(db, secondary.Options{
			Node: cfg.Node, ClusterID: id.ClusterID, Primary: cfg.Primary, TLS: tlsConf,
			Limits: transport.DefaultLimits(), Folders: cfg.Folders, Log: log,
			Apply:     apply.Options{Chown: os.Geteuid() == 0, Log: log},
			OnApplied: hooks.onApplied,
			StageDir:  filepath.Join(cfg.StateDir, "stage"), StageLimit: cfg.StageLimit,
		})
		if err != nil {
			ctlLis.Close()
			return err
		}
		defer s.Close()
		node = s
		g.Go(func() error { return s.Run(ctx) })
		if hooks.ready != nil {
			hooks.ready("")
		}
	}
	ctl := control.NewServer(node, log)
	g.Go(func() error { return ctl.Serve(ctlLis) })
	g.Go(func() error { <-ctx.Done(); ctl.Stop(); return nil })
	err = g.Wait()
	log.Info("stopped")
	return err
}

// ensureMeta binds the index to the cluster of the node's certificate and,
// on a primary's first start, opens epoch 1.
func ensureMeta(db *index.DB, cfg *config.Config, id pki.Identity) error {
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
	if cfg.Role == config.RolePrimary && m.Epoch == 0 {
		m.Epoch = 1
		m.Lineage = []index.EpochMark{{Epoch: 1, Node: cfg.Node, Start: map[string]uint64{}, StartedNs: time.Now().UnixNano()}}
	}
	return db.SetMeta(m)
}

// primaryNode is the primary as the control socket sees it: its status
// with the chunk bytes the transport sent each peer.
type primaryNode struct {
	*primary.Primary
	srv *transport.Server
}

func (n primaryNode) Status(ctx context.Context) (status.Node, error) {
	st, err := n.Primary.Status(ctx)
	sent := n.srv.Stats().Peers
	for i := range st.Peers {
		st.Peers[i].BytesSent = sent[st.Peers[i].Node].ChunkBytesWire
	}
	return st, err
}
