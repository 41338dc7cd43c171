package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withoutLogLevelFlag starts a daemon without --log-level, so that its
// level is the config's log.level, which a reload changes.
func withoutLogLevelFlag(cmd *exec.Cmd) {
	if i := slices.Index(cmd.Args, "--log-level"); i >= 0 {
		cmd.Args = slices.Delete(cmd.Args, i, i+2)
	}
}

// rewriteConfig rewrites node name's config file with edit, which must
// change it.
func (c *cluster) rewriteConfig(name string, edit func(string) string) {
	c.t.Helper()
	p := c.node(name).cfgPath
	data, err := os.ReadFile(p)
	if err != nil {
		c.t.Fatal(err)
	}
	out := edit(string(data))
	if out == string(data) {
		c.t.Fatalf("editing %s's config changed nothing", name)
	}
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// editConfig replaces, in node name's config, each old string of pairs
// (old, new, old, new…) by its new one.
func (c *cluster) editConfig(name string, pairs ...string) {
	c.t.Helper()
	c.rewriteConfig(name, func(s string) string {
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				c.t.Fatalf("config of %s has no %q:\n%s", name, pairs[i], s)
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return s
	})
}

// logSince returns what node name logged after the first line containing
// mark (everything if mark is empty), or "" if no line has it.
func logSince(t *testing.T, c *cluster, name, mark string) string {
	t.Helper()
	b, err := os.ReadFile(c.node(name).logPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, mark)
	if i < 0 {
		return ""
	}
	return s[i:]
}

// TestReload: SIGHUP applies a new ignore list (a directory no longer
// ignored is copied and watched, a pattern added keeps new files back), a
// new secondaries list (a node added may connect) and a new log level,
// on a running primary, without a restart.
func TestReload(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	c.editConfig(primaryName, "secondaries: [nfs2, nfs3]", "secondaries: [nfs2]",
		`ignore: [/nextcloud.log]`, `ignore: ["/nextcloud.log", "/skipdir/"]`)
	src := c.tree(primaryName, "data")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a\n"), 0o644)
	writeFile(t, filepath.Join(src, "skipdir", "s.txt"), []byte("ignored at first\n"), 0o644)
	c.startWith(primaryName, withoutLogLevelFlag)
	c.waitReady(primaryName)
	c.start("nfs2")
	c.start("nfs3")
	sec2, sec3 := c.tree("nfs2", "data"), c.tree("nfs3", "data")
	waitFor(t, convergeTimeout, func() string { return "a.txt never reached nfs2" }, func() bool {
		return fileExists(filepath.Join(sec2, "a.txt"))
	})
	waitFor(t, convergeTimeout, func() string { return "nfs3 was never refused" }, func() bool {
		return strings.Contains(logSince(t, c, "nfs3", ""), "not one of this primary's secondaries")
	})
	if fileExists(filepath.Join(sec2, "skipdir")) || fileExists(filepath.Join(sec3, "a.txt")) {
		t.Fatal("before the reload: the ignored directory reached nfs2, or the unlisted nfs3 got a file")
	}
	if strings.Contains(logSince(t, c, primaryName, ""), "level=DEBUG") {
		t.Fatal("before the reload: the primary logs at debug level")
	}

	c.editConfig(primaryName, "secondaries: [nfs2]", "secondaries: [nfs2, nfs3]\nlog: {level: debug}",
		`ignore: ["/nextcloud.log", "/skipdir/"]`, `ignore: ["/nextcloud.log", "*.tmp"]`)
	c.sendSignal(primaryName, syscall.SIGHUP)
	waitFor(t, 30*time.Second, func() string { return "no reload in the primary's log:\n" + tail(c.node(primaryName).logPath, 20) }, func() bool {
		return logSince(t, c, primaryName, "reloaded the config") != ""
	})
	line := logSince(t, c, primaryName, "reloaded the config")
	line, _, _ = strings.Cut(line, "\n")
	if want := `changed="secondaries, log.level, folders[data].ignore"`; !strings.Contains(line, want) {
		t.Errorf("reload logged %q, want %s", line, want)
	}

	// secondaries: nfs3 may connect now and catches up.
	waitFor(t, convergeTimeout, func() string { return "a.txt never reached nfs3 after it was added" }, func() bool {
		return fileExists(filepath.Join(sec3, "a.txt"))
	})
	// ignore: the directory no longer ignored is copied, and watched.
	writeFile(t, filepath.Join(src, "skipdir", "later.txt"), []byte("written after the reload\n"), 0o644)
	writeFile(t, filepath.Join(src, "new.tmp"), []byte("ignored from now on\n"), 0o644)
	writeFile(t, filepath.Join(src, "after.txt"), []byte("after\n"), 0o644)
	for _, s := range []string{sec2, sec3} {
		for _, p := range []string{"skipdir/s.txt", "skipdir/later.txt", "after.txt"} {
			waitFor(t, convergeTimeout, func() string { return p + " never reached " + s }, func() bool {
				return fileExists(filepath.Join(s, p))
			})
		}
		if fileExists(filepath.Join(s, "new.tmp")) {
			t.Errorf("%s: new.tmp, ignored since the reload, was replicated", s)
		}
	}
	// log level: debug lines after the reload.
	if !strings.Contains(logSince(t, c, primaryName, "reloaded the config"), "level=DEBUG") {
		t.Error("after the reload to log.level debug, the primary logs no debug line")
	}
}

// TestReloadRefused: a change of a key that needs a restart (node) is
// refused with the key named; the daemon keeps its config, reloadable
// changes made with it included, and keeps replicating.
func TestReloadRefused(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	src := c.tree(primaryName, "data")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a\n"), 0o644)
	c.startWith(primaryName, withoutLogLevelFlag)
	c.waitReady(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	c.editConfig(primaryName, "node: nfs1", "node: nfs9\nlog: {level: debug}")
	c.sendSignal(primaryName, syscall.SIGHUP)
	waitFor(t, 30*time.Second, func() string { return "no refusal in the primary's log:\n" + tail(c.node(primaryName).logPath, 20) }, func() bool {
		return logSince(t, c, primaryName, "reload refused") != ""
	})
	line, _, _ := strings.Cut(logSince(t, c, primaryName, "reload refused"), "\n")
	if !strings.Contains(line, "keys=node") {
		t.Errorf("refusal logged %q, want keys=node (only the key that needs a restart)", line)
	}
	writeFile(t, filepath.Join(src, "b.txt"), []byte("after the refused reload\n"), 0o644)
	c.waitConsistent(ctx, "nfs2")
	if st := c.mustStatus(primaryName); st.Node != primaryName {
		t.Errorf("after a refused reload the primary reports node %q", st.Node)
	}
	if strings.Contains(logSince(t, c, primaryName, "reload refused"), "level=DEBUG") {
		t.Error("a refused reload changed the log level")
	}
}
