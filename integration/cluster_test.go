package integration

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncsync/ncsync/bench"
	"github.com/ncsync/ncsync/report"
)

// Timing of the harness: every wait is bounded and polls.
const (
	pollEvery       = 40 * time.Millisecond
	convergeTimeout = 60 * time.Second
	startTimeout    = 30 * time.Second
	stopTimeout     = 10 * time.Second
	cliLimit        = 15 * time.Second
)

// primaryName is the primary of every test cluster.
const primaryName = "nfs1"

// defaultIgnore is every folder's ignore list; compareTrees checks it.
var defaultIgnore = []string{"/nextcloud.log"}

// clusterOptions shape a test cluster.
type clusterOptions struct {
	secondaries  []string      // listed in the primary's config and set up; default nfs2
	folders      []string      // folder ids; default data
	scanInterval time.Duration // primary rescan interval; default 200ms
	logLevel     string        // daemon --log-level; default $NCSYNC_IT_LOG_LEVEL or info
	proxy        bool          // secondaries reach the primary through a proxy that can stall and cut the link
	// extraConfig returns YAML lines appended to node name's config.
	extraConfig func(name string) string
	folderYAML  map[string]string // folder id → more keys of that folder, one per line ("hold_empty: []")
}

// cluster is a primary and its secondaries, each a real `ncsync run`
// process on loopback, with a CA and certificates made by `ncsync certs`.
type cluster struct {
	t       *testing.T
	opts    clusterOptions
	dir     string // everything but the sockets
	sockDir string // short, for unix socket path limits
	pkiDir  string
	addr    string       // the primary's listen address
	proxy   *bench.Proxy // between the secondaries and the primary, if clusterOptions.proxy

	mu    sync.Mutex
	nodes map[string]*node
	order []string
}

// node is one daemon of a cluster.
type node struct {
	name, role string
	cfgPath    string
	socket     string
	stateDir   string
	logPath    string
	trees      map[string]string // folder id → path
	daemon     *bench.Daemon
}

// newCluster creates the CA, certificates, configs and empty folders of a
// primary (nfs1) and its secondaries. Nothing is started.
func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	if opts.secondaries == nil {
		opts.secondaries = []string{"nfs2"}
	}
	if opts.folders == nil {
		opts.folders = []string{"data"}
	}
	if opts.scanInterval == 0 {
		opts.scanInterval = 200 * time.Millisecond
	}
	if opts.logLevel == "" {
		opts.logLevel = cmp.Or(os.Getenv("NCSYNC_IT_LOG_LEVEL"), "info")
	}
	sockDir, err := os.MkdirTemp("", "ncs")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, opts: opts, dir: t.TempDir(), sockDir: sockDir,
		addr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		nodes: map[string]*node{},
	}
	c.pkiDir = filepath.Join(c.dir, "pki")
	t.Cleanup(c.cleanup)
	if opts.proxy {
		if c.proxy, err = bench.StartProxy(c.addr); err != nil {
			t.Fatal(err)
		}
	}
	c.mustCLI("certs", "init", "--dir", c.pkiDir)
	c.addNode(primaryName, "primary", c.tlsFiles(primaryName))
	for _, s := range opts.secondaries {
		c.addNode(s, "secondary", c.tlsFiles(s))
	}
	return c
}

// tlsFiles are the CA and certificate paths of name in the cluster's PKI
// directory, issuing the certificate if it does not exist yet.
func (c *cluster) tlsFiles(name string) [3]string {
	return c.issue(c.pkiDir, name, c.roleOf(name))
}

func (c *cluster) roleOf(name string) string {
	if name == primaryName {
		return "primary"
	}
	return "secondary"
}

// issue makes sure dir (a CA directory) holds a certificate for name and
// returns the CA, certificate and key paths.
func (c *cluster) issue(dir, name, role string) [3]string {
	cert := filepath.Join(dir, name+".pem")
	if !fileExists(cert) {
		c.mustCLI("certs", "issue", "--dir", dir, "--node", name, "--role", role)
	}
	return [3]string{filepath.Join(dir, "ca.pem"), cert, filepath.Join(dir, name+".key")}
}

// addNode writes the config and creates the folders of a node. A primary
// lists the cluster's secondaries; a secondary follows the primary.
func (c *cluster) addNode(name, role string, tls [3]string) *node {
	c.t.Helper()
	base := filepath.Join(c.dir, name)
	n := &node{
		name: name, role: role,
		cfgPath:  filepath.Join(base, "ncsync.yaml"),
		socket:   filepath.Join(c.sockDir, name, "control.sock"),
		stateDir: filepath.Join(base, "state"),
		logPath:  filepath.Join(base, "daemon.log"),
		trees:    map[string]string{},
	}
	n.daemon = &bench.Daemon{Bin: ncsyncBin, Name: name, Config: n.cfgPath, Socket: n.socket,
		Log: n.logPath, Args: []string{"--log-level", c.opts.logLevel}}
	for _, id := range c.opts.folders {
		tree := filepath.Join(base, "tree-"+id)
		if err := os.MkdirAll(tree, 0o755); err != nil {
			c.t.Fatal(err)
		}
		n.trees[id] = tree
	}
	writeNodeConfig(c.t, n.cfgPath, c.spec(n, tls))
	c.mu.Lock()
	if _, ok := c.nodes[name]; !ok {
		c.order = append(c.order, name)
	}
	c.nodes[name] = n // a node set up again replaces the old one (not running)
	c.mu.Unlock()
	return n
}

// spec is what node n's config says in this cluster: a primary lists the
// cluster's secondaries; a secondary follows the primary (through the
// proxy, if any).
func (c *cluster) spec(n *node, tls [3]string) nodeSpec {
	s := nodeSpec{
		name: n.name, role: n.role, stateDir: n.stateDir, socket: n.socket, addr: c.addr,
		secondaries: c.opts.secondaries, scanInterval: c.opts.scanInterval, tls: tls,
	}
	if n.role != "primary" && c.proxy != nil {
		s.addr = c.proxy.Addr()
	}
	for _, id := range c.opts.folders {
		s.folders = append(s.folders, folderSpec{id: id, path: n.trees[id], yaml: c.opts.folderYAML[id]})
	}
	if c.opts.extraConfig != nil {
		s.extra = c.opts.extraConfig(n.name)
	}
	return s
}

// node returns the named node.
func (c *cluster) node(name string) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		c.t.Fatalf("no node %q in the cluster", name)
	}
	return n
}

// tree is the path of folder id on node name.
func (c *cluster) tree(name, id string) string { return c.node(name).trees[id] }

// start launches the node's daemon and waits until its control socket
// answers.
func (c *cluster) start(name string) {
	c.t.Helper()
	c.startNoWait(name)
	c.waitReady(name)
}

// startNoWait launches the node's daemon without waiting for it.
func (c *cluster) startNoWait(name string) {
	c.t.Helper()
	c.startWith(name, nil)
}

// startWith is startNoWait with the daemon's command changed by wrap
// (another user namespace, limits) when wrap is not nil.
func (c *cluster) startWith(name string, wrap func(*exec.Cmd)) {
	c.t.Helper()
	n := c.node(name)
	n.daemon.Wrap = wrap
	if err := n.daemon.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// waitReady polls the node's status until it answers; it fails the test if
// the process exits first or does not answer in time.
func (c *cluster) waitReady(name string) {
	c.t.Helper()
	n := c.node(name)
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if c.exited(name) {
			c.t.Fatalf("%s exited while starting (%v); log:\n%s", name, c.exitErr(name), tail(n.logPath, 60))
		}
		if _, err := c.status(name); err == nil {
			return
		} else {
			last = err
		}
		time.Sleep(pollEvery)
	}
	c.t.Fatalf("%s did not answer status within %s: %v", name, startTimeout, last)
}

// running reports whether the node's process is alive.
func (c *cluster) running(name string) bool { return c.node(name).daemon.Running() }

func (c *cluster) exited(name string) bool { return c.node(name).daemon.Exited() }

func (c *cluster) exitErr(name string) error { return c.node(name).daemon.Err() }

// sendSignal sends sig to the node's running process.
func (c *cluster) sendSignal(name string, sig syscall.Signal) {
	c.t.Helper()
	d := c.node(name).daemon
	if err := d.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
	if sig == syscall.SIGSTOP {
		waitStopped(c.t, name, d.Pid())
	}
}

// waitStopped waits until every thread of pid is stopped: a signal takes
// effect when the target is next scheduled, and a test that stalls a
// process must not act before it really is stalled.
func waitStopped(t *testing.T, name string, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			// The state follows the command name, which is in parentheses.
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) did not stop within 5s of SIGSTOP", name, pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitExit waits up to timeout for the node's process to exit and returns
// its exit status (-1 for death by signal). After the timeout it kills the
// process and fails the test.
func (c *cluster) waitExit(name string, timeout time.Duration) int {
	c.t.Helper()
	n := c.node(name)
	if !n.daemon.Wait(timeout) {
		n.daemon.Kill()
		c.t.Fatalf("%s did not exit within %s; log:\n%s", name, timeout, tail(n.logPath, 40))
	}
	return exitCode(c.exitErr(name))
}

// signal sends sig to the node's process and waits up to timeout for it to
// exit; it returns the exit code (-1 for death by signal) and how long the
// exit took.
func (c *cluster) signal(name string, sig syscall.Signal, timeout time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	c.sendSignal(name, sig)
	code := c.waitExit(name, timeout)
	return code, time.Since(start)
}

// stop sends SIGTERM and requires a clean exit (status 0) within 10 s.
func (c *cluster) stop(name string) {
	c.t.Helper()
	code, took := c.signal(name, syscall.SIGTERM, stopTimeout)
	if code != 0 {
		c.t.Fatalf("%s exited with status %d after SIGTERM (took %s); log:\n%s", name, code, took, tail(c.node(name).logPath, 40))
	}
}

// kill9 sends SIGKILL and waits for the process to die.
func (c *cluster) kill9(name string) {
	c.t.Helper()
	c.signal(name, syscall.SIGKILL, stopTimeout)
}

// exitCode turns a Wait error into an exit status; -1 means killed by a
// signal.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -2
}

// cleanup kills every daemon still running, shows the logs of a failed test
// and removes the socket directory.
func (c *cluster) cleanup() {
	c.mu.Lock()
	names := slices.Clone(c.order)
	c.mu.Unlock()
	for _, name := range names {
		c.nodes[name].daemon.Kill()
	}
	if c.proxy != nil {
		c.proxy.Close()
	}
	if c.t.Failed() {
		for _, name := range names {
			c.t.Logf("----- log of %s (%s), last lines -----\n%s", name, c.nodes[name].logPath, tail(c.nodes[name].logPath, 150))
		}
	}
	os.RemoveAll(c.sockDir)
}

// cli runs ncsync with args (for at most 15 s) and returns its stdout,
// stderr and exit code.
func cli(ctx context.Context, args ...string) (string, string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, cliLimit)
	defer cancel()
	return cliWith(ctx, args...)
}

// cliWith runs ncsync with args until it exits or ctx ends.
func cliWith(ctx context.Context, args ...string) (string, string, int, error) {
	cmd := exec.CommandContext(ctx, ncsyncBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0, nil
	case errors.As(err, &ee) && ctx.Err() == nil:
		return stdout.String(), stderr.String(), ee.ExitCode(), nil
	}
	return stdout.String(), stderr.String(), -1, fmt.Errorf("ncsync %s: %w (stderr: %s)", strings.Join(args, " "), err, stderr.String())
}

// mustCLI runs ncsync and fails the test unless it exits 0.
func (c *cluster) mustCLI(args ...string) string {
	c.t.Helper()
	out, errOut, code, err := cli(context.Background(), args...)
	if err != nil || code != 0 {
		c.t.Fatalf("ncsync %s: exit %d, %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, err, out, errOut)
	}
	return out
}

// status asks the node's daemon for its status through
// `ncsync status --json --socket`.
func (c *cluster) status(name string) (report.Node, error) {
	n := c.node(name)
	out, errOut, code, err := cli(context.Background(), "status", "--json", "--socket", n.socket)
	if err != nil {
		return report.Node{}, err
	}
	if code != 0 {
		return report.Node{}, fmt.Errorf("status %s: exit %d: %s", name, code, strings.TrimSpace(errOut))
	}
	var st report.Node
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return report.Node{}, fmt.Errorf("status %s: decode %q: %w", name, out, err)
	}
	return st, nil
}

// mustStatus is status that fails the test on error.
func (c *cluster) mustStatus(name string) report.Node {
	c.t.Helper()
	st, err := c.status(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// bytesReceived is a secondary's count of chunk bytes fetched from the
// primary since it started.
func (c *cluster) bytesReceived(name string) uint64 {
	c.t.Helper()
	st := c.mustStatus(name)
	if len(st.Peers) != 1 {
		c.t.Fatalf("%s: status lists %d peers, want exactly the primary: %+v", name, len(st.Peers), st.Peers)
	}
	return st.Peers[0].BytesReceived
}

// acked reports whether the primary's status shows every named secondary
// with AckedSeq ≥ Seq in every folder, and a description of the laggards.
func acked(st report.Node, secondaries []string) (bool, string) {
	var lag []string
	for _, s := range secondaries {
		i := slices.IndexFunc(st.Peers, func(p report.Peer) bool { return p.Node == s })
		if i < 0 {
			lag = append(lag, fmt.Sprintf("%s: not in the primary's peers", s))
			continue
		}
		p := st.Peers[i]
		for _, f := range st.Folders {
			j := slices.IndexFunc(p.Folders, func(pf report.PeerFolder) bool { return pf.Folder == f.ID })
			switch {
			case j < 0:
				lag = append(lag, fmt.Sprintf("%s: no position in folder %s (head %d)", s, f.ID, f.Seq))
			case p.Folders[j].AckedSeq < f.Seq:
				lag = append(lag, fmt.Sprintf("%s: folder %s acked %d < head %d (connected %v, last error %q)",
					s, f.ID, p.Folders[j].AckedSeq, f.Seq, p.Connected, p.LastError))
			}
		}
	}
	return len(lag) == 0, strings.Join(lag, "; ")
}

// waitConsistent polls the primary until every named secondary has
// acknowledged every folder's head and its trees equal the primary's. It
// fails the test with the differences after the deadline (60 s, or ctx's).
func (c *cluster) waitConsistent(ctx context.Context, secondaries ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, convergeTimeout)
	defer cancel()
	start := time.Now()
	var why string
	for {
		st, err := c.status(primaryName)
		switch {
		case err != nil:
			why = err.Error()
		default:
			if ok, lag := acked(st, secondaries); !ok {
				why = "not acknowledged: " + lag
				break
			}
			diffs := c.diffs(secondaries)
			if len(diffs) == 0 {
				c.t.Logf("consistent %v after %s", secondaries, time.Since(start).Round(time.Millisecond))
				return
			}
			why = fmt.Sprintf("acknowledged, but the trees differ (%d differences):\n  %s", len(diffs), strings.Join(limit(diffs, 40), "\n  "))
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%v not consistent with %s after %s: %s", secondaries, primaryName, time.Since(start).Round(time.Millisecond), why)
		case <-time.After(pollEvery):
		}
	}
}

// diffs compares every folder of the primary with the named secondaries.
func (c *cluster) diffs(secondaries []string) []string {
	var out []string
	for _, s := range secondaries {
		for _, id := range c.opts.folders {
			for _, d := range compareTrees(c.t, c.tree(primaryName, id), c.tree(s, id), defaultIgnore) {
				out = append(out, fmt.Sprintf("%s/%s: %s", s, id, d))
			}
		}
	}
	return out
}

// requireEqual fails the test unless the named secondaries' trees equal
// the primary's right now.
func (c *cluster) requireEqual(secondaries ...string) {
	c.t.Helper()
	if d := c.diffs(secondaries); len(d) > 0 {
		c.t.Fatalf("trees differ (%d differences):\n  %s", len(d), strings.Join(limit(d, 40), "\n  "))
	}
}

// scratch is a directory on the same file system as the trees but outside
// every folder, for files that are renamed into a tree whole.
func (c *cluster) scratch() string {
	p := filepath.Join(c.dir, "scratch")
	if err := os.MkdirAll(p, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tail returns the last n lines of a file, for failure reports.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// limit keeps the first n items of a list and says how many it dropped.
func limit(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(slices.Clone(list[:n]), fmt.Sprintf("... and %d more", len(list)-n))
}

// waitFor polls cond until it is true or the timeout passes; it fails the
// test with what() then.
func waitFor(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, what())
		}
		time.Sleep(pollEvery)
	}
}
