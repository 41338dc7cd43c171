package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/secondary"
)

type demoOptions struct {
	Dir string
	For time.Duration
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Run a primary and a secondary on loopback and watch live replication",
		Long: `Set up a two-node cluster on this machine and replicate a small sample
Nextcloud tree: creates a CA and certificates, two configs, a sample tree,
then runs primary "nfs1" and secondary "nfs2" in this process over real
mutual TLS on 127.0.0.1. Change, add or delete files under the primary's
folders and watch them arrive. Stop with Ctrl-C.

Without --dir a temporary directory is used and removed at the end; with
--dir everything (configs, certificates, trees, logs) is kept there, and a
second run resumes from the state it left.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDemo(c.Context(), o, c.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory for the demo cluster (default: a temporary one)")
	cmd.Flags().DurationVar(&o.For, "for", 0, "stop after this long (default: run until Ctrl-C)")
	return cmd
}

// demoNode is one node of the demo cluster.
type demoNode struct {
	name    string
	role    pki.Role
	cfgPath string
	cfg     *config.Config
}

func runDemo(ctx context.Context, o demoOptions, out io.Writer) error {
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "ncsync-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	nodes, err := setupDemo(dir)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "demo.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))

	fmt.Fprintf(out, "ncsync demo in %s\n", dir)
	fmt.Fprintf(out, "  primary   nfs1: %s, %s (config %s)\n", nodes[0].cfg.Folders[0].Path, nodes[0].cfg.Folders[1].Path, nodes[0].cfgPath)
	fmt.Fprintf(out, "  secondary nfs2: %s, %s (config %s)\n", nodes[1].cfg.Folders[0].Path, nodes[1].cfg.Folders[1].Path, nodes[1].cfgPath)
	fmt.Fprintf(out, "  logs: %s\n", logPath)

	if o.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	var live atomic.Bool
	var outMu sync.Mutex
	hooks := daemonHooks{onApplied: func(a secondary.Applied) {
		if !live.Load() {
			return
		}
		outMu.Lock()
		defer outMu.Unlock()
		printApplied(out, a)
	}}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		g.Go(func() error { return runDaemon(gctx, n.cfg, hooks, log) })
	}
	g.Go(func() error {
		start := time.Now()
		st, err := waitConsistent(gctx, nodes[0].cfg.ControlSocket, "nfs2")
		if err != nil {
			return err
		}
		outMu.Lock()
		fmt.Fprintf(out, "\ninitial replication done in %s: %d files, %s; nfs2 equals nfs1.\n",
			time.Since(start).Round(time.Millisecond), st.files, report.HumanBytes(st.bytes))
		fmt.Fprintf(out, "Now change files under %s and watch them arrive (Ctrl-C to stop):\n\n", filepath.Dir(nodes[0].cfg.Folders[0].Path))
		outMu.Unlock()
		live.Store(true)
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		fmt.Fprintln(out, "\nstopped.")
		return nil
	}
	return err
}

func printApplied(out io.Writer, a secondary.Applied) {
	e := a.Entry
	what := "wrote"
	switch {
	case a.Err != nil:
		fmt.Fprintf(out, "%s  nfs2 ✗ %s/%s: %v\n", time.Now().Format("15:04:05.000"), a.Folder, e.Path, a.Err)
		return
	case e.Deleted:
		what = "deleted"
	case e.Kind.String() == "dir":
		what = "dir"
	case e.Kind.String() == "symlink":
		what = "symlink"
	}
	fmt.Fprintf(out, "%s  nfs2 ← %-7s %s/%s", time.Now().Format("15:04:05.000"), what, a.Folder, e.Path)
	if what == "wrote" {
		fmt.Fprintf(out, "  %s (fetched %s, reused %s)", report.HumanBytes(e.Size), report.HumanBytes(a.Fetched), report.HumanBytes(a.Reused))
	}
	fmt.Fprintf(out, "  in %s\n", a.Took.Round(time.Millisecond))
}

type treeSize struct {
	files int
	bytes int64
}

// waitConsistent polls the primary until peer has acknowledged every folder's
// head.
func waitConsistent(ctx context.Context, socket, peer string) (treeSize, error) {
	var c *control.Client
	for c == nil {
		var err error
		if c, err = control.Dial(socket); err != nil {
			select {
			case <-ctx.Done():
				return treeSize{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	defer c.Close()
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return treeSize{}, err
		}
		done := len(st.Folders) > 0
		var size treeSize
		for _, f := range st.Folders {
			size.files += int(f.Files)
			size.bytes += int64(f.Bytes)
			if f.Seq == 0 {
				done = false
			}
		}
		for _, p := range st.Peers {
			if p.Node != peer {
				continue
			}
			for i, pf := range p.Folders {
				if pf.AckedSeq < st.Folders[i].Seq {
					done = false
				}
			}
		}
		if done {
			return size, nil
		}
		select {
		case <-ctx.Done():
			return treeSize{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setupDemo creates (or reuses) the CA, certificates, trees and configs.
func setupDemo(dir string) ([]demoNode, error) {
	pkiDir := filepath.Join(dir, "pki")
	if _, err := os.Stat(filepath.Join(pkiDir, "ca.pem")); errors.Is(err, os.ErrNotExist) {
		if _, err := pki.InitCA(pkiDir); err != nil {
			return nil, err
		}
		if err := pki.Issue(pkiDir, "nfs1", pki.RolePrimary); err != nil {
			return nil, err
		}
		if err := pki.Issue(pkiDir, "nfs2", pki.RoleSecondary); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	nodes := []demoNode{{name: "nfs1", role: pki.RolePrimary}, {name: "nfs2", role: pki.RoleSecondary}}
	for i := range nodes {
		n := &nodes[i]
		base := filepath.Join(dir, n.name)
		folders := []config.Folder{
			{ID: "webroot", Path: filepath.Join(base, "nextcloud")},
			{ID: "data", Path: filepath.Join(base, "data"), Ignore: []string{"/nextcloud.log", "/audit.log", "/*/uploads/", "*.ocTransferId*.part"}},
		}
		for _, f := range folders {
			if err := os.MkdirAll(f.Path, 0o755); err != nil {
				return nil, err
			}
		}
		p := config.ExampleParams{
			Node: n.name, Role: n.role,
			StateDir: filepath.Join(base, "state"), ControlSocket: filepath.Join(base, "control.sock"),
			TLS:     config.TLS{CA: filepath.Join(pkiDir, "ca.pem"), Cert: filepath.Join(pkiDir, n.name+".pem"), Key: filepath.Join(pkiDir, n.name+".key")},
			Folders: folders,
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if n.role == pki.RolePrimary {
			p.Listen, p.Secondaries = addr, []string{"nfs2"}
			if err := writeSampleTree(folders[0].Path, folders[1].Path); err != nil {
				return nil, err
			}
		} else {
			p.Primary, p.PrimaryNode = addr, "nfs1"
		}
		n.cfgPath = filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(n.cfgPath, []byte(config.Example(p)), 0o600); err != nil {
			return nil, err
		}
		if n.cfg, err = config.Load(n.cfgPath); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeSampleTree fills an empty webroot and data directory with a small
// Nextcloud-shaped tree.
func writeSampleTree(webroot, data string) error {
	if ents, _ := os.ReadDir(webroot); len(ents) > 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		words := []string{"<?php", "declare(strict_types=1);", "namespace", "OCA\\Files;", "use", "function", "return", "$this->", "array(", ");", "if", "{", "}", "\n"}
		b := make([]byte, 0, n)
		for len(b) < n {
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, ' ')
		}
		return b[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		filepath.Join(webroot, "index.php"):                            text(1200),
		filepath.Join(webroot, "version.php"):                          text(400),
		filepath.Join(webroot, "config", "config.php"):                 text(2000),
		filepath.Join(webroot, "apps", "files", "appinfo", "info.xml"): text(3000),
		filepath.Join(webroot, "apps", "files", "lib", "App.php"):      text(9000),
		filepath.Join(webroot, "core", "js", "main.js"):                text(40000),
		filepath.Join(data, ".ocdata"):                                 {},
		filepath.Join(data, "alice", "files", "Photos", "beach.jpg"):   random(3 << 20),
		filepath.Join(data, "alice", "files", "Documents", "notes.md"): text(5000),
		filepath.Join(data, "bob", "files", "report final (v2).odt"):   random(300 << 10),
		filepath.Join(data, "nextcloud.log"):                           []byte("per-node log: never replicated\n"),
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o640); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(data, "alice", "files", "Empty folder"), 0o750); err != nil {
		return err
	}
	return os.Symlink("apps/files", filepath.Join(webroot, "files-app"))
}
