package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ncsync/ncsync/pki"
)

// Node names of the benchmark cluster.
const (
	primaryNode   = "nfs1"
	secondaryNode = "nfs2"
	benchFolder   = "data"
)

// certs creates the cluster CA and both nodes' certificates in dir with
// the ncsync binary, as an operator would.
func certs(ctx context.Context, bin, dir string) error {
	for _, args := range [][]string{
		{"certs", "init", "--dir", dir},
		{"certs", "issue", "--dir", dir, "--node", primaryNode, "--role", "primary"},
		{"certs", "issue", "--dir", dir, "--node", secondaryNode, "--role", "secondary"},
	} {
		if err := runNcsync(ctx, bin, args...); err != nil {
			return err
		}
	}
	return nil
}

// runNcsync runs one ncsync command to its end.
func runNcsync(ctx context.Context, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ncsync %v: %w: %s", args, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// cluster is a primary and a secondary, the secondary connected through
// a counting proxy.
type cluster struct {
	primary, secondary *Daemon
	proxy              *Proxy
}

// clusterSpec says where a cluster's files go.
type clusterSpec struct {
	bin, pki     string
	dir          string // configs, state, logs
	sockDir      string // short path for the control sockets
	src, dst     string
	scanInterval time.Duration // 0: the daemon's default
	tn           *targetNet    // where the secondary runs; nil: loopback
	// profileDir, when set, gets a CPU profile of each daemon, named after
	// dir and the node (`ncsync run --cpuprofile`).
	profileDir string
	// bandwidth is the primary's limits.bandwidth ("10MB/s"); "" for none.
	bandwidth string
}

// startCluster writes both configs and starts both daemons; the clock of a
// measurement starts before this call.
func startCluster(cs clusterSpec) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	proxy, err := cs.tn.startProxy(listen)
	if err != nil {
		return nil, err
	}
	c := &cluster{proxy: proxy}
	pc := cs.node(primaryNode, pki.RolePrimary, cs.src)
	pc.Listen, pc.Secondaries = listen, []string{secondaryNode}
	sc := cs.node(secondaryNode, pki.RoleSecondary, cs.dst)
	sc.Primary = primaryNode + "@" + proxy.Addr()
	for _, nc := range []NodeConfig{pc, sc} {
		os.Remove(nc.ControlSocket) // a stale one from an earlier run
		tn := cs.tn
		if nc.Role == pki.RolePrimary {
			tn = nil
		}
		d, err := startDaemon(cs.bin, cs.dir, nc, tn, cs.profile(nc.Node))
		if err != nil {
			c.stop()
			return nil, err
		}
		if nc.Role == pki.RolePrimary {
			c.primary = d
		} else {
			c.secondary = d
		}
	}
	return c, nil
}

// profile is the CPU profile file of node's daemon, named after the run's
// directory and the node; "" when not profiling.
func (cs clusterSpec) profile(node string) string {
	if cs.profileDir == "" {
		return ""
	}
	return filepath.Join(cs.profileDir, filepath.Base(cs.dir)+"-"+node+".pprof")
}

// node is the config of one daemon of the cluster: its state in dir, its
// control socket in sockDir, its certificate from pki, folder replicated;
// the primary's with the bandwidth cap.
func (cs clusterSpec) node(name string, role pki.Role, folder string) NodeConfig {
	nc := NodeConfig{
		Node: name, Role: role,
		StateDir:      filepath.Join(cs.dir, "state-"+name),
		ControlSocket: filepath.Join(cs.sockDir, name+".sock"),
		TLS: TLSConfig{CA: filepath.Join(cs.pki, "ca.pem"),
			Cert: filepath.Join(cs.pki, name+".pem"), Key: filepath.Join(cs.pki, name+".key")},
		Folders: []FolderConfig{{ID: benchFolder, Path: folder}},
	}
	if cs.scanInterval > 0 {
		nc.ScanInterval = cs.scanInterval.String()
	}
	if role == pki.RolePrimary && cs.bandwidth != "" {
		nc.Limits = &LimitsConfig{Bandwidth: cs.bandwidth}
	}
	return nc
}

// dumpStacks makes both daemons print every goroutine's stack into their
// logs and exit (SIGQUIT, the Go runtime's default handling): what a stuck
// run leaves for diagnosis.
func (c *cluster) dumpStacks() {
	for _, d := range []*Daemon{c.secondary, c.primary} {
		if d != nil && d.Signal(syscall.SIGQUIT) == nil {
			d.Wait(5 * time.Second)
		}
	}
}

// stop ends both daemons and the proxy.
func (c *cluster) stop() (primary, secondary usage) {
	secondary = c.secondary.stop()
	primary = c.primary.stop()
	c.proxy.Close()
	return primary, secondary
}

// running reports an error if either daemon has exited.
func (c *cluster) running() error {
	return errors.Join(c.primary.exited(), c.secondary.exited())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
