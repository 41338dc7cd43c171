package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/bench"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// Bounds of the watch tests. With scan_interval and audit_interval at an
// hour, a change can only reach a secondary through the watcher, so these
// are only there to fail in bounded time.
const (
	watchStepTimeout = 15 * time.Second
	watchLong        = time.Hour
)

// inotifyLimits is held for writing while a test has lowered a global
// inotify limit (fs.inotify.max_queued_events), and for reading by every
// watch test while its primary creates its inotify instance, so that no
// other watch test's primary is born with the lowered limit.
var inotifyLimits sync.RWMutex

// watchConfig is the primary's change detection in a watch test.
type watchConfig struct {
	// quiet, maxLatency and audit are the watch: keys; zero leaves a key
	// out (the daemon's default).
	quiet, maxLatency, audit time.Duration
	// scanInterval is scan_interval (degraded rescans); zero means an hour,
	// so that only the watcher can find changes.
	scanInterval time.Duration
	// ignore is the folder's own patterns, after defaultIgnore (and the
	// Nextcloud defaults, unless noDefaultIgnores).
	ignore           []string
	noDefaultIgnores bool
	// daemonDefaults writes neither scan_interval nor a watch block.
	daemonDefaults bool
}

// nodeSpec is everything a node's config file says.
type nodeSpec struct {
	name, role       string
	stateDir, socket string
	addr             string        // primary: listen; secondary: the primary's address
	secondaries      []string      // primary only
	scanInterval     time.Duration // primary only, without watch
	watch            *watchConfig  // primary only: scan_interval and the watch block, else none
	tls              [3]string
	folders          []folderSpec
	extra            string // YAML appended (clusterOptions.extraConfig)
}

// folderSpec is one folder of a nodeSpec: yaml holds more keys of the
// folder, one per line (clusterOptions.folderYAML).
type folderSpec struct{ id, path, yaml string }

// writeNodeConfig writes the config file of a node, as the bench writes
// its nodes' (bench.NodeConfig).
func writeNodeConfig(tb testing.TB, path string, s nodeSpec) {
	tb.Helper()
	nc := bench.NodeConfig{Node: s.name, Role: pki.Role(s.role), StateDir: s.stateDir, ControlSocket: s.socket,
		TLS: bench.TLSConfig{CA: s.tls[0], Cert: s.tls[1], Key: s.tls[2]}, Extra: s.extra}
	var w watchConfig
	if s.watch != nil {
		w = *s.watch
	}
	if s.role == "primary" {
		nc.Listen, nc.Secondaries = s.addr, s.secondaries
		switch {
		case s.watch == nil:
			nc.ScanInterval = s.scanInterval.String()
		case !w.daemonDefaults:
			nc.ScanInterval = cmpDuration(w.scanInterval, watchLong).String()
			nc.Watch = &bench.WatchConfig{Quiet: durationKey(w.quiet), MaxLatency: durationKey(w.maxLatency),
				AuditInterval: cmpDuration(w.audit, watchLong).String()}
		}
	} else {
		nc.Primary = primaryName + "@" + s.addr
	}
	for _, f := range s.folders {
		fc := bench.FolderConfig{ID: f.id, Path: f.path, NoDefaultIgnores: w.noDefaultIgnores,
			Ignore: append(append([]string(nil), defaultIgnore...), w.ignore...)}
		if err := yaml.Unmarshal([]byte(f.yaml), &fc.More); err != nil {
			tb.Fatalf("folder %s: %v", f.id, err)
		}
		nc.Folders = append(nc.Folders, fc)
	}
	if err := nc.Write(path); err != nil {
		tb.Fatal(err)
	}
}

// durationKey is d as a config value; zero leaves the key out.
func durationKey(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// watchCluster is a cluster whose primary's config has a watch block.
type watchCluster struct {
	*cluster
	cfg watchConfig
}

// newWatchCluster sets up a primary and one secondary (nfs2) with folder
// "data"; nothing is started.
func newWatchCluster(t *testing.T, cfg watchConfig) *watchCluster {
	t.Helper()
	w := &watchCluster{cluster: newCluster(t, clusterOptions{}), cfg: cfg}
	w.setWatchConfig(cfg)
	return w
}

// setWatchConfig rewrites the primary's config with cfg; it takes effect
// at the primary's next start.
func (w *watchCluster) setWatchConfig(cfg watchConfig) {
	w.t.Helper()
	w.cfg = cfg
	n := w.node(primaryName)
	spec := w.spec(n, w.tlsFiles(primaryName))
	spec.watch = &cfg
	writeNodeConfig(w.t, n.cfgPath, spec)
}

// root is the primary's tree of folder data; sec is nfs2's.
func (w *watchCluster) root() string { return w.tree(primaryName, "data") }
func (w *watchCluster) sec() string  { return w.tree("nfs2", "data") }

// startPrimary starts the primary and waits until its watcher has covered
// the tree (see waitWatching).
func (w *watchCluster) startPrimary() {
	w.t.Helper()
	w.startPrimaryWith(nil)
}

// startPrimaryWith is startPrimary with the daemon's command changed by
// wrap (nil: as is).
func (w *watchCluster) startPrimaryWith(wrap func(*exec.Cmd)) {
	w.t.Helper()
	inotifyLimits.RLock()
	defer inotifyLimits.RUnlock()
	w.startWith(primaryName, wrap)
	w.waitReady(primaryName)
	w.waitWatching()
}

// waitWatching waits until the primary reports, for every folder, watched
// directories or why it cannot watch them: its watcher is Ready and the
// start-up scan has begun.
func (w *watchCluster) waitWatching() {
	w.t.Helper()
	waitFor(w.t, startTimeout, func() string {
		st, err := w.status(primaryName)
		return fmt.Sprintf("the primary's watcher is not ready: %+v %v", st.Folders, err)
	}, func() bool {
		st, err := w.status(primaryName)
		if err != nil || len(st.Folders) == 0 {
			return false
		}
		for _, f := range st.Folders {
			if f.Watched == 0 && f.Degraded == "" {
				return false
			}
		}
		return true
	})
}

// folderStatus is the primary's status of folder data.
func (w *watchCluster) folderStatus() report.Folder {
	w.t.Helper()
	st := w.mustStatus(primaryName)
	for _, f := range st.Folders {
		if f.ID == "data" {
			return f
		}
	}
	w.t.Fatalf("no folder data in the primary's status: %+v", st.Folders)
	return report.Folder{}
}

// waitSame polls until nfs2 has acknowledged the primary's head and its
// tree equals the primary's (compareTrees; ignore lists more anchored
// paths that must be absent from the secondary, keep anchored paths that
// the primary ignores but the secondary may still hold). It returns how
// long that took and fails the test after timeout.
func (w *watchCluster) waitSame(timeout time.Duration, ignore, keep []string) time.Duration {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	ign := append(append([]string(nil), defaultIgnore...), ignore...)
	ign = append(ign, keep...)
	var why string
	for {
		st, err := w.status(primaryName)
		switch {
		case err != nil:
			why = err.Error()
		default:
			if ok, lag := acked(st, w.opts.secondaries); !ok {
				why = "not acknowledged: " + lag
				break
			}
			diffs := keepOnly(compareTrees(w.t, w.root(), w.sec(), ign), keep)
			if len(diffs) == 0 {
				return time.Since(start)
			}
			why = fmt.Sprintf("acknowledged, but the trees differ (%d differences):\n  %s", len(diffs), strings.Join(limit(diffs, 40), "\n  "))
		}
		select {
		case <-ctx.Done():
			w.t.Fatalf("nfs2 not consistent with %s after %s: %s", primaryName, time.Since(start).Round(time.Millisecond), why)
		case <-time.After(pollEvery):
		}
	}
}

// keepOnly drops from compareTrees' differences the complaints about
// ignored paths present on the secondary below one of keep.
func keepOnly(diffs, keep []string) []string {
	if len(keep) == 0 {
		return diffs
	}
	var out []string
	for _, d := range diffs {
		if q, err := strconv.QuotedPrefix(d); err == nil && strings.HasSuffix(d, "ignored path present on the secondary") {
			if rel, err := strconv.Unquote(q); err == nil && ignoredBy(rel, keep) {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// pid is the process id of the node's running daemon.
func (c *cluster) pidOf(name string) int {
	pid := c.node(name).daemon.Pid()
	if pid == 0 {
		c.t.Fatalf("%s is not running", name)
	}
	return pid
}

// logHas reports whether the node's log contains every one of parts on
// one line.
func (c *cluster) logHas(name string, parts ...string) bool {
	data, err := os.ReadFile(c.node(name).logPath)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// mustRename renames and fails the test on error.
func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// mustOK fails the test on a non-nil error.
func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// statusText is the primary's `ncsync status` as a person sees it.
func (w *watchCluster) statusText() string {
	w.t.Helper()
	return w.mustCLI("status", "--socket", w.node(primaryName).socket)
}

// statusCell reads, from `ncsync status` text, the value in column (a
// header, such as "AUDIT FOUND") of folder id's row: the table is aligned,
// so the value starts where its header does.
func statusCell(text, id, column string) (string, bool) {
	lines := strings.Split(text, "\n")
	for i, h := range lines {
		at := strings.Index(h, column)
		if !strings.HasPrefix(h, "FOLDER") || at < 0 {
			continue
		}
		for _, row := range lines[i+1:] {
			if f := strings.Fields(row); len(f) > 0 && f[0] == id && len(row) > at {
				v, _, _ := strings.Cut(row[at:], " ")
				return v, true
			}
		}
	}
	return "", false
}
