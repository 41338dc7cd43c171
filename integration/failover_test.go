package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/pki"
)

// failover is a cluster after a failover: nfs1 was the primary of nfs2 and
// nfs3, nfs1 stopped (with writes on its disk after that), nfs2 was
// promoted to primary of epoch 2 with `ncsync promote`, and nfs3 follows
// nfs2.
type failover struct {
	*cluster
	addr2    string // where nfs2 serves once promoted
	secPKI   string // CA directory with a secondary certificate for nfs1
	shared   []string
	offline  map[string][]byte // what nfs1 wrote while stopped, by path ("" = deleted)
	onNfs2   map[string][]byte // what was written on nfs2 after the promotion
	deletedP string            // the file nfs1 deleted while stopped
}

// setupFailover builds the failover scenario up to "nfs3
// follows nfs2".
func setupFailover(t *testing.T) *failover {
	t.Helper()
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	f := &failover{cluster: c, addr2: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	root := c.tree(primaryName, "data")
	f.shared = smallTree(t, root, 40, 7)

	// nfs2 gets a promote section with a primary certificate of its own,
	// issued from a copy of the CA (a node's certificates are NAME.pem).
	primPKI := f.caCopy("pki-primary")
	tls := c.issue(primPKI, "nfs2", "primary")
	appendFile(t, c.node("nfs2").cfgPath, fmt.Sprintf("promote:\n  listen: %s\n  secondaries: [nfs1, nfs3]\n  tls: {cert: %q, key: %q}\n", f.addr2, tls[1], tls[2]))
	f.secPKI = f.caCopy("pki-secondary")

	ctx := context.Background()
	c.start("nfs2")
	c.start("nfs3")
	c.start(primaryName)
	c.waitConsistent(ctx, "nfs2", "nfs3")

	// The primary goes away; its disk is written to meanwhile.
	c.stop(primaryName)
	f.offline = map[string][]byte{
		f.shared[0]:           []byte("edited on nfs1 after it stopped\n"),
		f.shared[1]:           []byte("nfs1's version of a file nfs2 changes too\n"),
		"only-on-nfs1.txt":    []byte("created on nfs1 while it was down\n"),
		"newdir/deep/new.txt": []byte("a new directory on nfs1\n"),
	}
	for p, data := range f.offline {
		writeFile(t, filepath.Join(root, p), data, 0o640)
	}
	f.deletedP = f.shared[2]
	if err := os.Remove(filepath.Join(root, f.deletedP)); err != nil {
		t.Fatal(err)
	}

	// Promote nfs2: it serves at once, at epoch 2.
	out := c.mustCLI("promote", "--yes", "--socket", c.node("nfs2").socket)
	if !strings.Contains(out, "primary of epoch 2") {
		t.Fatalf("promote said %q, want it to name epoch 2", out)
	}
	st := c.mustStatus("nfs2")
	if st.Role != pki.RolePrimary || st.Epoch != 2 {
		t.Fatalf("nfs2 after promote: role %s epoch %d, want primary at 2", st.Role, st.Epoch)
	}

	// nfs3 is pointed at nfs2 and follows it.
	c.stop("nfs3")
	f.rewriteConfig("nfs3", func(s string) string {
		return strings.Replace(s, "primary: "+primaryName+"@"+c.addr, "primary: nfs2@"+f.addr2, 1)
	})
	c.start("nfs3")

	f.onNfs2 = map[string][]byte{
		f.shared[1]:        []byte("nfs2's version, written after the promotion\n"),
		"only-on-nfs2.txt": []byte("created on nfs2 as primary\n"),
	}
	for p, data := range f.onNfs2 {
		writeFile(t, filepath.Join(c.tree("nfs2", "data"), p), data, 0o644)
	}
	f.waitSame("nfs3")
	if st := c.mustStatus("nfs3"); st.Epoch != 2 {
		t.Fatalf("nfs3 follows nfs2 but shows epoch %d", st.Epoch)
	}
	return f
}

// caCopy makes a CA directory with the cluster's CA, for a second
// certificate of a node.
func (f *failover) caCopy(name string) string {
	f.t.Helper()
	dir := filepath.Join(f.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	for _, n := range []string{"ca.pem", "ca.key"} {
		data, err := os.ReadFile(filepath.Join(f.pkiDir, n))
		if err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	return dir
}

// waitSame waits until name's data tree equals nfs2's.
func (f *failover) waitSame(name string) {
	f.t.Helper()
	var diffs []string
	waitFor(f.t, convergeTimeout, func() string {
		return fmt.Sprintf("%s differs from nfs2 (%d differences):\n  %s", name, len(diffs), strings.Join(limit(diffs, 20), "\n  "))
	}, func() bool {
		diffs = compareTrees(f.t, f.tree("nfs2", "data"), f.tree(name, "data"), defaultIgnore)
		return len(diffs) == 0
	})
}

// failoverConflict is one entry of `ncsync conflicts --json`.
type failoverConflict struct {
	ID     string `json:"id"`
	Folder string `json:"folder"`
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Epoch  uint64 `json:"epoch"`
	Node   string `json:"node"`
	Cause  string `json:"cause"`
	Size   int64  `json:"size"`
	BLAKE3 string `json:"blake3"`
	KeptAt string `json:"kept_at"`
}

// TestFailoverRejoin: P → S1, S2; P stops and is written to; S1 is
// promoted (epoch 2); S2 follows S1; S1 is written to; P is started as a
// secondary of S1. P converges to S1's tree, and each of its divergent
// writes is listed by `ncsync conflicts` and restorable byte for byte.
func TestFailoverRejoin(t *testing.T) {
	skipShort(t)
	f := setupFailover(t)
	c := f.cluster

	// nfs1 comes back as a secondary of nfs2, with a secondary certificate.
	tls := c.issue(f.secPKI, primaryName, "secondary")
	f.rewriteConfig(primaryName, func(s string) string {
		var out []string
		for _, line := range strings.Split(s, "\n") {
			switch {
			case line == "role: primary":
				line = "role: secondary"
			case strings.HasPrefix(line, "listen: "):
				line = "primary: nfs2@" + f.addr2
			case strings.HasPrefix(line, "secondaries: "), strings.HasPrefix(line, "scan_interval: "):
				continue
			case strings.HasPrefix(line, "tls: "):
				line = fmt.Sprintf("tls: {ca: %q, cert: %q, key: %q}", tls[0], tls[1], tls[2])
			}
			out = append(out, line)
		}
		return strings.Join(out, "\n")
	})
	c.start(primaryName)
	f.waitSame(primaryName)
	f.waitSame("nfs3")
	if st := c.mustStatus(primaryName); st.Role != pki.RoleSecondary || st.Epoch != 2 {
		t.Errorf("nfs1 after rejoining: role %s epoch %d, want a secondary at epoch 2", st.Role, st.Epoch)
	}
	root := c.tree(primaryName, "data")
	if _, err := os.Stat(filepath.Join(root, f.deletedP)); err != nil {
		t.Errorf("the file nfs1 deleted while down was not brought back from nfs2: %v", err)
	}

	out := c.mustCLI("conflicts", "--json", "--socket", c.node(primaryName).socket)
	var recs []failoverConflict
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("conflicts --json: %v\n%s", err, out)
	}
	byPath := map[string]failoverConflict{}
	for _, r := range recs {
		if r.Cause != "rejoin" || r.Node != primaryName || r.Epoch != 1 || r.Folder != "data" {
			t.Errorf("unexpected record %+v", r)
		}
		byPath[r.Path] = r
	}
	restoreDir := filepath.Join(c.dir, "restored")
	if err := os.MkdirAll(restoreDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, want := range f.offline {
		r, ok := byPath[p]
		if !ok {
			t.Errorf("nfs1's write to %q is not listed as a conflict (listed: %v)", p, recs)
			continue
		}
		if r.Kind != "file" || r.Size != int64(len(want)) || r.BLAKE3 == "" {
			t.Errorf("record of %q: %+v", p, r)
		}
		to := filepath.Join(restoreDir, strings.ReplaceAll(p, "/", "_"))
		c.mustCLI("conflicts", "restore", r.ID, "--to", to, "--config", c.node(primaryName).cfgPath)
		if got, err := os.ReadFile(to); err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %q: %q, %v; want %q", p, got, err, want)
		}
	}
	if len(recs) != len(f.offline) {
		t.Errorf("%d records, want exactly nfs1's %d changed files: %+v", len(recs), len(f.offline), recs)
	}
	// The winner's versions are in nfs1's tree.
	for p, want := range f.onNfs2 {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q on nfs1 is %q, %v; want nfs2's %q", p, got, err, want)
		}
	}

	// It goes on following nfs2.
	writeFile(t, filepath.Join(c.tree("nfs2", "data"), "after-rejoin.txt"), []byte("later\n"), 0o644)
	f.waitSame(primaryName)
}

// TestFailoverStalePrimaryRefused: the old primary started again as a
// primary while nfs2 is primary at epoch 2. nfs3, which has seen epoch 2,
// refuses to follow it with an error naming both epochs (and nfs1 refuses
// nfs3), and keeps its tree; the promoted nfs2 refuses to start again with
// its old secondary config.
func TestFailoverStalePrimaryRefused(t *testing.T) {
	skipShort(t)
	f := setupFailover(t)
	c := f.cluster
	c.start(primaryName) // its unchanged primary config: epoch 1
	before := treeSnapshot(t, c.tree("nfs3", "data"))

	c.stop("nfs3")
	f.rewriteConfig("nfs3", func(s string) string {
		return strings.Replace(s, "primary: nfs2@"+f.addr2, "primary: "+primaryName+"@"+c.addr, 1)
	})
	c.start("nfs3")
	// Either side may say no first (the stale primary checks the
	// secondary's epoch, the secondary the primary's lineage): nfs3
	// reports the refusal, naming both epochs.
	wants := []string{"epoch 1", "epoch 2", "stale", "nfs1"}
	var lastErr string
	waitFor(t, convergeTimeout, func() string {
		return fmt.Sprintf("nfs3 does not report refusing nfs1 (last error %q)", lastErr)
	}, func() bool {
		st, err := c.status("nfs3")
		if err != nil || len(st.Peers) == 0 {
			return false
		}
		lastErr = st.Peers[0].LastError
		for _, w := range wants {
			if !strings.Contains(lastErr, w) {
				return false
			}
		}
		return true
	})
	// Both refusals happen: nfs1 refuses nfs3's Hello (it has seen a
	// newer epoch), and nfs3, having learnt nfs1's lineage from a probe,
	// refuses nfs1 itself.
	for _, w := range []struct{ node, msg string }{
		{"nfs3", "it is at epoch 1 but this node has seen epoch 2: it is stale"},
		{primaryName, "has seen epoch 2 but this primary (nfs1) is at epoch 1: this primary is stale"},
	} {
		waitFor(t, convergeTimeout, func() string {
			return fmt.Sprintf("%s's log does not say %q:\n%s", w.node, w.msg, tail(c.node(w.node).logPath, 20))
		}, func() bool {
			data, err := os.ReadFile(c.node(w.node).logPath)
			return err == nil && strings.Contains(string(data), w.msg)
		})
	}
	if st := c.mustStatus("nfs3"); st.Epoch != 2 {
		t.Errorf("nfs3 epoch %d after refusing the stale primary, want 2", st.Epoch)
	}
	if after := treeSnapshot(t, c.tree("nfs3", "data")); after != before {
		t.Errorf("nfs3's tree changed while it refused the stale primary")
	}

	// The promoted nfs2 restarted with its old secondary config refuses
	// to start, naming what to change.
	c.stop("nfs2")
	c.startNoWait("nfs2")
	if code := c.waitExit("nfs2", startTimeout); code == 0 {
		t.Fatal("nfs2 started with its secondary config after its promotion")
	}
	if log := tail(c.node("nfs2").logPath, 5); !strings.Contains(log, "promoted to primary of epoch 2") || !strings.Contains(log, "role: primary") {
		t.Errorf("nfs2's refusal does not explain itself:\n%s", log)
	}
}

// treeSnapshot is a cheap fingerprint of a tree: paths, sizes and mtimes.
func treeSnapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverSecondaryAheadRejoins: nfs2 stopped before the primary's
// last writes, which only nfs3 applied; nfs1 dies and nfs2 (behind) is
// promoted. nfs3, ahead of nfs2's takeover point, is refused at first
// (ahead of the new primary's head), learns the new lineage, keeps the
// entries nfs2 never had as conflicts and converges to nfs2's tree.
func TestFailoverSecondaryAheadRejoins(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	f := &failover{cluster: c, addr2: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	root := c.tree(primaryName, "data")
	shared := smallTree(t, root, 30, 9)
	tls := c.issue(f.caCopy("pki-primary"), "nfs2", "primary")
	appendFile(t, c.node("nfs2").cfgPath, fmt.Sprintf("promote:\n  listen: %s\n  secondaries: [nfs1, nfs3]\n  tls: {cert: %q, key: %q}\n", f.addr2, tls[1], tls[2]))
	ctx := context.Background()
	c.start("nfs2")
	c.start("nfs3")
	c.start(primaryName)
	c.waitConsistent(ctx, "nfs2", "nfs3")

	c.stop("nfs2")
	late := map[string][]byte{
		shared[0]:       []byte("changed on nfs1, applied by nfs3 only\n"),
		"late/new1.txt": []byte("created on nfs1, applied by nfs3 only\n"),
		"late/new2.txt": []byte("another\n"),
	}
	for p, data := range late {
		writeFile(t, filepath.Join(root, p), data, 0o644)
	}
	c.waitConsistent(ctx, "nfs3")
	c.stop(primaryName)

	c.start("nfs2")
	out := c.mustCLI("promote", "--yes", "--socket", c.node("nfs2").socket)
	if !strings.Contains(out, "primary of epoch 2") {
		t.Fatalf("promote said %q", out)
	}
	c.stop("nfs3")
	f.rewriteConfig("nfs3", func(s string) string {
		return strings.Replace(s, "primary: "+primaryName+"@"+c.addr, "primary: nfs2@"+f.addr2, 1)
	})
	c.start("nfs3")
	f.waitSame("nfs3")
	if _, err := os.Stat(filepath.Join(c.tree("nfs3", "data"), "late/new1.txt")); err == nil {
		t.Errorf("nfs3 kept a file the new primary never had")
	}
	out = c.mustCLI("conflicts", "--json", "--socket", c.node("nfs3").socket)
	var recs []failoverConflict
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("conflicts --json: %v\n%s", err, out)
	}
	kept := map[string]bool{}
	for _, r := range recs {
		if r.Cause == "rejoin" && r.Epoch == 1 && r.Node == primaryName {
			kept[r.Path] = true
		}
	}
	for p := range late {
		if !kept[p] {
			t.Errorf("%q, which only nfs3 had, is not kept as a conflict (records: %+v)", p, recs)
		}
	}
}
