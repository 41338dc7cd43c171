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

// daemon is one running `ncsync run`.
type daemon struct {
	name   string
	config string
	cmd    *exec.Cmd
	socket string
	log    string
	done   chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait's result, once done
}

// cluster is a primary and a secondary, the secondary connected through
// a counting proxy.
type cluster struct {
	primary, secondary *daemon
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
		var prof string
		if cs.profileDir != "" {
			prof = filepath.Join(cs.profileDir, filepath.Base(cs.dir)+"-"+nc.Node+".pprof")
		}
		d, err := startDaemon(cs.bin, cs.dir, nc, tn, prof)
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

func startDaemon(bin, dir string, nc NodeConfig, tn *targetNet, profile string) (*daemon, error) {
	cfg := filepath.Join(dir, nc.Node+".yaml")
	if err := nc.Write(cfg); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, nc.Node+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %q: %w", logPath, err)
	}
	defer logf.Close() // the child has its own descriptor
	args := []string{"run", "--config", cfg}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := tn.command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", nc.Node, err)
	}
	d := &daemon{name: nc.Node, config: cfg, cmd: cmd, socket: nc.ControlSocket, log: logPath, done: make(chan struct{})}
	go func() { // joined through d.done in stop
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// restartDaemon starts a stopped daemon again with the same command and
// config, its output appended to the same log.
func restartDaemon(d *daemon) (*daemon, error) {
	logf, err := os.OpenFile(d.log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(d.cmd.Path, d.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("restart %s: %w", d.name, err)
	}
	nd := &daemon{name: d.name, config: d.config, cmd: cmd, socket: d.socket, log: d.log, done: make(chan struct{})}
	go func() { // joined through nd.done in stop
		nd.err = cmd.Wait()
		close(nd.done)
	}()
	return nd, nil
}

// exited reports an error if the daemon is no longer running.
func (d *daemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s exited (%v); see its log %q", d.name, d.err, d.log)
	default:
		return nil
	}
}

// stop ends the daemon (SIGTERM, then SIGKILL after 15 s) and returns what
// the kernel accounted for it.
func (d *daemon) stop() usage {
	if d == nil {
		return usage{}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	return usageOf(d.cmd.ProcessState)
}

// dumpStacks makes both daemons print every goroutine's stack into their
// logs and exit (SIGQUIT, the Go runtime's default handling): what a stuck
// run leaves for diagnosis.
func (c *cluster) dumpStacks() {
	for _, d := range []*daemon{c.secondary, c.primary} {
		if d != nil && d.exited() == nil {
			d.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-d.done:
			case <-time.After(5 * time.Second):
			}
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
