package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/pki"
)

// TestPromoteRefusesUnsettled: a secondary holding batches staged during a
// pause, never applied, is not promoted: `ncsync promote` lists them and
// fails, and so does a promotion that is not confirmed (the prompt names
// the new epoch); --force promotes it anyway, at epoch 2.
func TestPromoteRefusesUnsettled(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	addr2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f := &failover{cluster: c, addr2: addr2}
	tls := c.issue(f.caCopy("pki-primary"), "nfs2", "primary")
	appendFile(t, c.node("nfs2").cfgPath, fmt.Sprintf("promote:\n  listen: %s\n  secondaries: [nfs1]\n  tls: {cert: %q, key: %q}\n", addr2, tls[1], tls[2]))
	root := c.tree(primaryName, "data")
	smallTree(t, root, 20, 5)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	if st := c.mustStatus(primaryName); st.Epoch != 1 {
		t.Errorf("a fresh primary is at epoch %d, want 1 from its first term on", st.Epoch)
	}
	// Its first session: the primary at 1, the fresh secondary had seen none.
	if data, err := os.ReadFile(c.node(primaryName).logPath); err != nil || !strings.Contains(string(data), "epoch=1 peer_epoch=0") {
		t.Errorf("the primary's first session is not logged at epoch 1 (%v):\n%s", err, tail(c.node(primaryName).logPath, 20))
	}

	// Changes staged by a paused nfs2, then the primary dies.
	c.mustCLI("pause", "--socket", c.node(primaryName).socket, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	writeFile(t, filepath.Join(root, "staged.txt"), []byte("staged, never applied\n"), 0o644)
	waitFor(t, convergeTimeout, func() string { return "nfs2 did not stage the change" }, func() bool {
		return stagedOf(c, "nfs2") > 0
	})
	c.stop(primaryName)

	sock := c.node("nfs2").socket
	out, errOut, code, err := cli(ctx, "promote", "--socket", sock)
	if err != nil || code == 0 || !strings.Contains(out, `Promote node "nfs2" to primary of epoch 2?`) || !strings.Contains(errOut, "not confirmed") {
		t.Fatalf("promote without an answer: exit %d, %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	out, errOut, code, err = cli(ctx, "promote", "--yes", "--socket", sock)
	if err != nil || code == 0 || !strings.Contains(errOut, "unverified or failed items") ||
		!strings.Contains(errOut, `folder "data": entries`) || !strings.Contains(errOut, "never applied") || !strings.Contains(errOut, "--force") {
		t.Fatalf("promote over staged entries: exit %d, %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	if st := c.mustStatus("nfs2"); st.Role != pki.RoleSecondary || st.Epoch != 1 {
		t.Fatalf("after a refused promotion nfs2 is the %s of epoch %d, want still a secondary at 1", st.Role, st.Epoch)
	}

	out = c.mustCLI("promote", "--yes", "--force", "--socket", sock)
	if !strings.Contains(out, `node "nfs2" is now the primary of epoch 2`) {
		t.Fatalf("promote --force said %q", out)
	}
	if st := c.mustStatus("nfs2"); st.Role != pki.RolePrimary || st.Epoch != 2 {
		t.Fatalf("after promote --force nfs2 is the %s of epoch %d, want the primary of 2", st.Role, st.Epoch)
	}
	if log := tail(c.node("nfs2").logPath, 40); !strings.Contains(log, "promoted with --force over an unsettled item") {
		t.Errorf("nfs2's log does not name what --force promoted over:\n%s", log)
	}
}
