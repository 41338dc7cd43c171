package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM to a replicating primary and secondary
// at once: both exit with status 0 within 10 s.
func TestGracefulShutdown(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	smallTree(t, c.tree(primaryName, "data"), 300, 8)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	// Keep the primary busy while it is told to stop.
	writeRandomFile(t, filepath.Join(c.tree(primaryName, "data"), "busy.bin"), 16*miB, 81, 0o644)

	start := time.Now()
	c.sendSignal(primaryName, syscall.SIGTERM)
	c.sendSignal("nfs2", syscall.SIGTERM)
	for _, name := range []string{primaryName, "nfs2"} {
		if code := c.waitExit(name, stopTimeout); code != 0 {
			t.Errorf("%s exited with status %d after SIGTERM, want 0; log:\n%s", name, code, tail(c.node(name).logPath, 30))
		}
	}
	t.Logf("both daemons exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{primaryName, "nfs2"} {
		if _, err := os.Lstat(c.node(name).socket); err == nil {
			t.Logf("note: %s left its control socket %s behind", name, c.node(name).socket)
		}
	}
}

// TestStatusMissingSocket: `ncsync status` against a socket nobody listens
// on exits 1 with a message that names the socket and says what to do.
func TestStatusMissingSocket(t *testing.T) {
	skipShort(t)
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "nope", "control.sock")
	out, errOut, code, err := cli(context.Background(), "status", "--json", "--socket", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stderr: %s", strings.TrimSpace(errOut))
	if code != 1 {
		t.Errorf("exit status %d, want 1 (stdout %q, stderr %q)", code, out, errOut)
	}
	if !strings.Contains(errOut, sock) {
		t.Errorf("the message does not name the socket %s: %q", sock, errOut)
	}
	hints := []string{"ncsync run", "is the daemon running", "is ncsync running", "start the daemon", "--socket", "--config", "control_socket"}
	found := false
	for _, h := range hints {
		found = found || strings.Contains(strings.ToLower(errOut), strings.ToLower(h))
	}
	if !found {
		t.Errorf("the message does not say how to fix it (start the daemon, or point --socket/--config at it): %q", errOut)
	}
}

// TestRunBadConfig: `ncsync run` with an unknown key exits non-zero and
// names the key and its line.
func TestRunBadConfig(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"node: nfs1",
		"role: primary",
		"state_dir: " + strconv.Quote(filepath.Join(dir, "state")),
		"control_socket: " + strconv.Quote(filepath.Join(dir, "ctl", "control.sock")),
		"listen: 127.0.0.1:7399",
		"secondaries: [nfs2]",
		"scan_intervall: 1s", // the unknown key, line 7
		"tls: {ca: /nonexistent/ca.pem, cert: /nonexistent/nfs1.pem, key: /nonexistent/nfs1.key}",
		"folders:",
		"  - id: data",
		"    path: " + strconv.Quote(tree),
	}
	cfg := filepath.Join(dir, "ncsync.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, errOut, code, err := cli(ctx, "run", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exit %d, stderr: %s", code, strings.TrimSpace(errOut))
	if code == 0 {
		t.Errorf("ncsync run with an unknown config key exited 0")
	}
	if !strings.Contains(errOut, "scan_intervall") {
		t.Errorf("the error does not name the unknown key scan_intervall: %q", errOut)
	}
	if !strings.Contains(errOut, ":7:") && !strings.Contains(errOut, "line 7") {
		t.Errorf("the error does not name line 7 (as %q or %q): %q", cfg+":7:", "line 7", errOut)
	}
}

// TestDemo runs `ncsync demo --for 8s`: it exits 0 after reporting that the
// initial replication is done.
func TestDemo(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, errOut, code, err := cliWith(ctx, "demo", "--for", "8s", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	if code != 0 || !strings.Contains(out, "initial replication done") {
		t.Errorf("demo: exit %d, want 0 and \"initial replication done\" in its output\nstdout:\n%s\nstderr:\n%s\ndemo.log:\n%s",
			code, out, errOut, tail(filepath.Join(dir, "demo.log"), 40))
	}
}
