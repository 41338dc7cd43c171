package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ncsync/ncsync/metrics/metricstest"
)

// TestStatusSecondary: `ncsync status` on a running secondary names the
// primary it follows (node, address, epoch, connected since), shows a
// local change it repaired, and says since when it is disconnected once
// the primary stops. Its metrics label the primary by node name too.
func TestStatusSecondary(t *testing.T) {
	skipShort(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := newCluster(t, clusterOptions{extraConfig: func(name string) string {
		if name == primaryName {
			return ""
		}
		return "metrics_listen: " + metricsAddr + "\n"
	}})
	data := c.tree(primaryName, "data")
	writeFile(t, filepath.Join(data, "docs/a.txt"), []byte("the primary's a.txt\n"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	epoch := c.mustStatus(primaryName).Epoch
	statusOf := func() string { return c.mustCLI("status", "--socket", c.node("nfs2").socket) }

	following := regexp.MustCompile(fmt.Sprintf(`(?m)^following primary %s at %s, epoch %d: connected since `,
		primaryName, regexp.QuoteMeta(c.addr), epoch))
	out := statusOf()
	if !following.MatchString(out) {
		t.Errorf("status does not name the primary it follows (want %q):\n%s", following, out)
	}
	if !regexp.MustCompile(`(?m)^` + primaryName + `\s+primary\s+since `).MatchString(out) {
		t.Errorf("the peer row does not name the primary by node:\n%s", out)
	}
	st := c.mustStatus("nfs2")
	if p := st.Peers[0]; p.Node != primaryName || p.Address != c.addr || p.Epoch != epoch {
		t.Errorf("status --json: primary %q at %q, epoch %d; want %q at %q, epoch %d", p.Node, p.Address, p.Epoch, primaryName, c.addr, epoch)
	}

	// A file deleted by hand on the secondary is put back and counted
	// (with its directory's mtime, which the deletion changed).
	repaired := regexp.MustCompile(`(?m)^REPAIRED folder data: [1-9]\d* local changes put back`)
	if repaired.MatchString(out) {
		t.Fatalf("a repair before any local change:\n%s", out)
	}
	mustOK(t, os.Remove(filepath.Join(c.tree("nfs2", "data"), "docs/a.txt")))
	waitFor(t, convergeTimeout, func() string { return "no repair in status:\n" + statusOf() }, func() bool {
		return repaired.MatchString(statusOf())
	})
	if !regexp.MustCompile(`(?m)^data\s.*\s[1-9]\d*\s+-$`).MatchString(statusOf()) {
		t.Errorf("the folder row does not count the repair:\n%s", statusOf())
	}
	fams, err := scrape(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := metricstest.Value(fams, "ncsync_repairs_total", "folder", "data"); v < 1 {
		t.Errorf("ncsync_repairs_total{folder=data} = %v (present %v), want at least 1", v, ok)
	}
	if v, ok := metricstest.Value(fams, "ncsync_peer_connected", "peer", primaryName); v != 1 {
		t.Errorf("ncsync_peer_connected{peer=%s} = %v (present %v), want 1", primaryName, v, ok)
	}
	if v, ok := metricstest.Value(fams, "ncsync_peer_info", "peer", primaryName, "address", c.addr); v != 1 {
		t.Errorf("ncsync_peer_info{peer=%s, address=%s} = %v (present %v), want 1", primaryName, c.addr, v, ok)
	}

	// The primary stops: the secondary says since when it is without it.
	c.stop(primaryName)
	disconnected := regexp.MustCompile(fmt.Sprintf(`(?m)^following primary %s at %s, epoch %d: disconnected since `,
		primaryName, regexp.QuoteMeta(c.addr), epoch))
	waitFor(t, convergeTimeout, func() string { return "status does not show the primary gone:\n" + statusOf() }, func() bool {
		return disconnected.MatchString(statusOf())
	})
}
